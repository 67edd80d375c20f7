// The web console in a real browser (issue 13, "Done when"): playwright-core drives Debian's
// /usr/bin/chromium against `nkpay demo` started on free loopback ports with a temporary data
// directory, serving the built console (admin-ui/dist) at /console. One journey, step by step:
// sign in → the dashboard's numbers equal the database's → approve a merchant's application
// and open businesses → a trade made through the merchant API → its notification attempts,
// re-sent → a statement downloaded; finance cannot open settings; an agent admin sees only its
// own merchants. Every page visited is saved as a screenshot under tests/console/artifacts/.
//
// Run: scripts/test (after pytest), or `node --test tests/console/` once `target/debug/nkpay`
// and admin-ui/dist are built and .venv holds dg-sdk.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const BIN = process.env.NKPAY_BIN_DIR ?? path.join(ROOT, "target/debug");
const PYTHON = path.join(ROOT, ".venv/bin/python");
const ARTIFACTS = path.join(HERE, "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// What this machine's closed network needs (docs/console.md): no background connections.
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const WAIT_MS = 60_000;

// ---- helpers ---------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it answers something truthy; fails naming `what` after `ms`, or at
 *  once when `probe` throws an error marked `fatal`. */
async function waitFor(what, probe, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

function shanghaiDay(d = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" })
    .format(d)
    .replaceAll("-", "");
}

/** A merchant receiving notifications: answers 200 and counts what it received. */
function receiver() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(body);
      res.writeHead(200).end("RECV_ORD_ID_ok");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}/notify`, received, close: () => server.close() })),
  );
}

// ---- the platform ----------------------------------------------------------------------------

const state = {};

async function startDemo() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "nkpay-console-"));
  const port = await freePort();
  const sandboxPort = await freePort();
  const env = {
    ...process.env,
    NKPAY__SERVER__PORT: String(port),
    NKPAY__SERVER__PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    NKPAY__SANDBOX__PORT: String(sandboxPort),
    NKPAY__DATABASE__URL: `sqlite://${tmp}/nkpay.db?mode=rwc`,
    NKPAY__SECRETS__MASTER_KEY_FILE: path.join(tmp, "master.key"),
    NKPAY__CONSOLE__DIR: path.join(ROOT, "admin-ui/dist"),
    // The shortest access token allowed, so the journey outlives one and the console renews it.
    NKPAY__ADMIN__ACCESS_TOKEN_TTL_SECS: "60",
    RUST_LOG: process.env.RUST_LOG ?? "info",
  };
  const creds = path.join(tmp, "credentials.json");
  const log = path.join(tmp, "nkpay.log");
  const out = (await import("node:fs")).openSync(log, "w");
  const proc = spawn(path.join(BIN, "nkpay"), ["demo", "--credentials", creds], { cwd: tmp, env, stdio: ["ignore", out, out] });
  let exited = null;
  proc.on("exit", (code) => (exited = code));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor("nkpay demo to be ready", async () => {
      if (exited !== null) {
        throw Object.assign(new Error(`nkpay demo exited with ${exited}:\n${readFileSync(log, "utf8")}`), { fatal: true });
      }
      if (!existsSync(creds)) return false;
      return (await fetch(`${base}/readyz`)).ok;
    }, 120_000);
  } catch (e) {
    // The error carries the log; nothing is left behind.
    const text = existsSync(log) ? readFileSync(log, "utf8") : "";
    proc.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
    throw exited !== null ? e : new Error(`${e.message}\n${text}`);
  }
  return { tmp, env, proc, base, log, credentials: JSON.parse(readFileSync(creds, "utf8")), credentialsPath: creds };
}

/** `nkpay ARGS…` against the demo's database (same configuration through the environment). */
function nkpay(args, input) {
  return execFileSync(path.join(BIN, "nkpay"), args, { cwd: state.demo.tmp, env: state.demo.env, input, encoding: "utf8" });
}

/** The demo's SQLite database, read-only: `sql` → rows as arrays. */
function sqlite(sql) {
  const db = path.join(state.demo.tmp, "nkpay.db");
  const py = "import json,sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True); print(json.dumps(c.execute(sys.argv[2]).fetchall()))";
  return JSON.parse(execFileSync("python3", ["-c", py, db, sql], { encoding: "utf8" }));
}

/** One trade of the demo's first merchant, paid (made once, on first use), notified to the receiver. */
function paidTrade() {
  state.trade ??= merchantApi("pay", state.receiver.url, "6.60");
  return state.trade;
}

/** The merchant API through dg-sdk (tests/console/merchant_api.py). */
function merchantApi(...args) {
  const out = execFileSync(PYTHON, [path.join(HERE, "merchant_api.py"), args[0], state.demo.credentialsPath, ...args.slice(1)], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

async function adminApi(method, p, token, body) {
  const resp = await fetch(`${state.demo.base}${p}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

// ---- the browser -----------------------------------------------------------------------------

async function newPage() {
  const context = await state.browser.newContext({ acceptDownloads: true, viewport: { width: 1440, height: 900 }, locale: "zh-CN" });
  const page = await context.newPage();
  page.on("pageerror", (e) => state.pageErrors.push(String(e)));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Client-side navigation (the access token lives in the page's memory; a reload would drop it). */
async function go(page, route) {
  await page.evaluate((to) => {
    window.history.pushState({}, "", to);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }, `/console${route}`);
}

async function signIn(page, username, password) {
  await page.goto(`${state.demo.base}/console/`);
  await page.getByTestId("login-username").fill(username);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("page-dashboard").waitFor({ timeout: WAIT_MS });
}

function tileValue(page, id) {
  return page.getByTestId(id).locator(".ant-statistic-content").innerText();
}

/** What the dashboard should show, counted in the SQLite file (today = Asia/Shanghai). */
function databaseFigures() {
  const py = `
import datetime, json, sqlite3, sys, zoneinfo
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
sh = zoneinfo.ZoneInfo("Asia/Shanghai")
today = datetime.datetime.now(sh).date()
count = succeeded = amount = 0
for created, status, fen in c.execute("SELECT created_at, status, trans_amt FROM trades"):
    at = datetime.datetime.fromisoformat(str(created))
    at = at if at.tzinfo else at.replace(tzinfo=datetime.timezone.utc)
    if at.astimezone(sh).date() == today:
        count += 1
        if status == "S":
            succeeded += 1
            amount += fen
one = lambda sql: c.execute(sql).fetchone()[0]
print(json.dumps({
    "count": count, "succeeded": succeeded, "amount_fen": amount,
    "pending": one("SELECT COUNT(*) FROM notifications WHERE status = 'pending' AND attempt_count = 0"),
    "failing": one("SELECT COUNT(*) FROM notifications WHERE status = 'pending' AND attempt_count > 0"),
    "all_pending": one("SELECT COUNT(*) FROM notifications WHERE status = 'pending'"),
    "exhausted": one("SELECT COUNT(*) FROM notifications WHERE status = 'dead'"),
    "incidents": one("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL"),
    "applications": one("SELECT COUNT(*) FROM merchant_applications WHERE status = 'P'"),
}))
`;
  return JSON.parse(execFileSync("python3", ["-c", py, path.join(state.demo.tmp, "nkpay.db")], { encoding: "utf8" }));
}

function yuanText(fen) {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;
}

/** The dashboard's tiles equal the database's counts at one moment (they move while the demo's
 *  own notifications are delivered, so both are read again until they agree). */
async function checkDashboard(page, screenshot) {
  const full = (await adminApi("GET", "/admin/api/dashboard", state.demo.credentials.admin_token)).status === 200;
  const tiles = full
    ? { "stat-today-count": "count", "stat-today-succeeded": "succeeded", "stat-today-volume": "amount", "stat-notify-pending": "pending", "stat-notify-failing": "failing", "stat-notify-exhausted": "exhausted", "stat-open-incidents": "incidents", "stat-pending-applications": "applications" }
    : { "stat-notify-all-pending": "all_pending", "stat-notify-exhausted": "exhausted", "stat-open-incidents": "incidents", "stat-pending-applications": "applications" };
  let last;
  await waitFor("dashboard figures equal to the database's", async () => {
    await go(page, "/merchants");
    await go(page, "/");
    const shown = {};
    for (const [id, key] of Object.entries(tiles)) {
      await page.getByTestId(id).waitFor();
      shown[key] = (await tileValue(page, id)).replace(/,/g, "");
    }
    const held = databaseFigures();
    held.amount = yuanText(held.amount_fen);
    const want = Object.fromEntries(Object.values(tiles).map((k) => [k, String(held[k])]));
    last = { shown, want };
    return JSON.stringify(shown) === JSON.stringify(want);
  }).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  });
  if (full) await page.getByTestId("chart-30-days").waitFor();
  await shot(page, screenshot);
}

// ---- the journey -----------------------------------------------------------------------------

describe("the web console in Chromium", () => {
  before(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    state.pageErrors = [];
    state.demo = await startDemo();
    state.receiver = await receiver();
    state.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    state.page = await newPage();
  });

  after(async () => {
    await state.browser?.close();
    state.receiver?.close();
    if (state.demo) {
      state.demo.proc.kill("SIGTERM");
      await waitFor("nkpay demo to stop", () => state.demo.proc.exitCode !== null || state.demo.proc.signalCode !== null, 20_000).catch(() => state.demo.proc.kill("SIGKILL"));
      rmSync(state.demo.tmp, { recursive: true, force: true });
    }
  });

  it("serves the console at /console with a deep link falling back to the page", async () => {
    const root = await fetch(`${state.demo.base}/console/`);
    assert.equal(root.status, 200);
    assert.equal(root.headers.get("cache-control"), "no-cache");
    const html = await root.text();
    const deep = await fetch(`${state.demo.base}/console/trades/0000000000`);
    assert.equal(deep.status, 200);
    assert.equal(await deep.text(), html);
    const asset = /\/console\/assets\/[^"]+\.js/.exec(html)[0];
    const js = await fetch(`${state.demo.base}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control"), /immutable/);
  });

  it("signs in (Chinese by default, English remembered) and lands on the dashboard", async () => {
    const page = state.page;
    await page.goto(`${state.demo.base}/console/`);
    await page.getByTestId("login-submit").waitFor();
    assert.match(await page.getByTestId("login-submit").innerText(), /登\s*录/);
    await shot(page, "01-sign-in");
    // A wrong password is refused on the page.
    await page.getByTestId("login-username").fill(state.demo.credentials.admin_username);
    await page.getByTestId("login-password").fill("not-the-password");
    await page.getByTestId("login-submit").click();
    await page.getByTestId("login-error").waitFor();
    // English, kept across a reload.
    await page.getByTestId("lang-toggle").click();
    await page.reload();
    assert.match(await page.getByTestId("login-submit").innerText(), /Sign in/);
    await page.getByTestId("lang-toggle").click();
    assert.match(await page.getByTestId("login-submit").innerText(), /登\s*录/);

    await signIn(page, state.demo.credentials.admin_username, state.demo.credentials.admin_password);
    assert.equal(await page.getByTestId("whoami").innerText(), state.demo.credentials.admin_username);
    await shot(page, "02-dashboard");
  });

  it("shows on the dashboard the numbers the database holds", async () => {
    await checkDashboard(state.page, "03-dashboard-checked");
  });

  it("reviews and approves a merchant's application, then opens businesses", async () => {
    const page = state.page;
    const c = state.demo.credentials;
    // A second service provider with its own key pair, which applies for a merchant.
    const created = await adminApi("POST", "/admin/api/service-providers", c.admin_token, {
      sys_id: "AGENT02", product_id: c.product_id, name: "第二服务商", generate: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const keyFile = path.join(state.demo.tmp, "agent02.pem");
    writeFileSync(keyFile, created.body.private_key);
    const applied = merchantApi("apply", "AGENT02", c.product_id, keyFile);
    state.agentMerchant = applied.mer_id;

    await page.getByTestId("menu").getByText("进件审核").click();
    await page.getByTestId("page-applications").waitFor();
    const approve = page.getByTestId(`approve-${applied.apply_no}`);
    await approve.waitFor();
    await shot(page, "04-review-queue");
    await approve.click();
    await approve.waitFor({ state: "detached" });
    const after = await adminApi("GET", `/admin/api/merchants/${applied.mer_id}`, c.admin_token);
    assert.equal(after.body.merchant.apply_status, "Y");
    assert.equal(after.body.application.reviewed_by !== null, true);

    await go(page, `/merchants/${applied.mer_id}`);
    await page.getByTestId("page-merchant-detail").waitFor();
    await page.getByTestId("businesses").waitFor();
    // Personal values are masked until revealed (the platform admin may).
    const legal = page.getByTestId("field-legal_cert_no");
    assert.match(await legal.innerText(), /\*/);
    await page.getByTestId("reveal-legal_cert_no").click();
    await waitFor("the revealed ID number", async () => !/\*/.test(await legal.innerText()));
    await shot(page, "05-merchant-approved");
    // Freeze with a reason, then unfreeze.
    await page.getByTestId("freeze").click();
    await page.getByTestId("freeze-reason").fill("资料待核实");
    await page.getByTestId("freeze-confirm").click();
    await page.getByTestId("unfreeze").waitFor();
    assert.match(await page.getByTestId("page-merchant-detail").innerText(), /资料待核实/);
    const frozen = await adminApi("GET", `/admin/api/merchants/${applied.mer_id}`, c.admin_token);
    assert.equal(frozen.body.merchant.frozen, true);
    await page.getByTestId("unfreeze").click();
    await page.getByTestId("freeze").waitFor();

    // The demo's first merchant: businesses open on both channels, appids bound.
    const demoMerchant = c.merchants[0].mer_id;
    await go(page, `/merchants/${demoMerchant}`);
    const businesses = page.getByTestId("table-businesses");
    await waitFor("the demo merchant's businesses", async () => (await businesses.locator("tbody tr.ant-table-row").count()) >= 2);
    // What was revealed on the other merchant's page is not shown here.
    assert.match(await page.getByTestId("field-legal_cert_no").innerText(), /\*/);
    const text = await businesses.innerText();
    assert.match(text, /wechat/);
    assert.match(text, /alipay/);
    await page.getByTestId("table-bindings").locator("tbody tr.ant-table-row").first().waitFor();
    await shot(page, "06-merchant-businesses");
  });

  it("exports the merchant list it shows as CSV", async () => {
    const page = state.page;
    await page.getByTestId("menu").getByText("商户列表").click();
    const table = page.getByTestId("table-merchants");
    await waitFor("merchant rows", async () => (await table.locator("tbody tr.ant-table-row").count()) > 0);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-merchants").click()]);
    const csv = readFileSync(await download.path(), "utf8");
    const lines = csv.replace(/^\uFEFF/, "").trim().split("\r\n");
    assert.match(lines[0], /^mer_id,/);
    assert.equal(lines.length - 1, await table.locator("tbody tr.ant-table-row").count());
    assert.ok(csv.includes(state.demo.credentials.merchants[0].mer_id));
    await shot(page, "07-merchants");
  });

  it("shows a trade made through the merchant API with its timeline, and refunds it", async () => {
    const page = state.page;
    const trade = paidTrade();
    await go(page, "/trades");
    await page.getByTestId("filter-nkp-seq-id").fill(trade.nkp_seq_id);
    await page.getByTestId("trade-search").click();
    const row = page.getByTestId("table-trades").locator("tbody tr.ant-table-row", { hasText: trade.nkp_seq_id });
    await row.waitFor();
    assert.match(await row.innerText(), /6\.60/);
    await shot(page, "08-trades");
    await row.getByRole("link", { name: trade.nkp_seq_id }).click();
    await page.getByTestId("page-trade-detail").waitFor();
    const timeline = page.getByTestId("timeline");
    await waitFor("the merchant notification attempt in the timeline", async () => {
      await page.getByTestId("reload").click();
      return /notification_attempt/.test(await timeline.innerText());
    });
    const events = await timeline.innerText();
    for (const kind of ["merchant_request", "channel_call", "notification_attempt"]) assert.match(events, new RegExp(kind));
    assert.equal(await page.getByTestId("refundable").innerText(), "6.60");
    await shot(page, "09-trade-timeline");

    await page.getByTestId("refund-button").click();
    assert.equal(await page.getByTestId("refund-amount").inputValue(), "6.60");
    await page.getByTestId("refund-confirm").click();
    await waitFor("the refund on the trade's page", async () =>
      (await page.getByTestId("table-trade-refunds").locator("tbody tr.ant-table-row").count()) === 1);
    await waitFor("nothing left to refund", async () => {
      await page.getByTestId("reload").click();
      return (await page.getByTestId("refundable").innerText()) === "0.00";
    });
    assert.equal(await page.getByTestId("refund-button").count(), 0);
    const refunds = sqlite(`SELECT ord_amt, status FROM refunds WHERE org_nkp_seq_id = '${trade.nkp_seq_id}'`);
    assert.deepEqual(refunds.map((r) => r[0]), [660]);
    const audited = sqlite("SELECT COUNT(*) FROM audit_log WHERE action = 'trade.refund'");
    assert.equal(audited[0][0], 1);
    await shot(page, "10-trade-refunded");
    await page.getByTestId("menu").getByText("退款", { exact: true }).click();
    await page.getByTestId("table-refunds").locator("tbody tr.ant-table-row", { hasText: trade.nkp_seq_id }).waitFor();
    await shot(page, "11-refunds");
  });

  it("shows a trade's notification attempts and re-sends one", async () => {
    const page = state.page;
    const trade = paidTrade();
    await waitFor("the merchant notification", () => state.receiver.received.length >= 1);
    await go(page, `/notifications?status=&nkp_seq_id=${trade.nkp_seq_id}`);
    const table = page.getByTestId("table-notifications");
    const link = table.locator("tbody tr.ant-table-row a").first();
    await waitFor("the trade's notification, delivered", async () => {
      await table.getByRole("button", { name: /刷\s*新/ }).click();
      return /delivered/.test(await table.innerText());
    });
    await shot(page, "12-notifications");
    await link.click();
    await page.getByTestId("page-notification-detail").waitFor();
    const attempts = page.getByTestId("table-attempts").locator("tbody tr.ant-table-row");
    await waitFor("an attempt row", async () => (await attempts.count()) >= 1);
    assert.match(await page.getByTestId("table-attempts").innerText(), /200/);
    await shot(page, "13-notification-attempts");
    const before = state.receiver.received.length;
    await page.getByTestId("resend-one").click();
    await waitFor("the re-sent notification to arrive", () => state.receiver.received.length > before);
    const rows = sqlite(`SELECT COUNT(*) FROM notifications WHERE subject_nkp_seq_id = '${trade.nkp_seq_id}'`);
    assert.ok(rows[0][0] >= 2, "the re-send is a new notification row");
    const audited = sqlite("SELECT COUNT(*) FROM audit_log WHERE action = 'notification.resend'");
    assert.ok(audited[0][0] >= 1, "the re-send is audited");
    await shot(page, "14-notification-resent");
  });

  it("downloads a statement", async () => {
    const page = state.page;
    const printed = nkpay(["bill", "generate", "--date", shanghaiDay()]);
    const made = JSON.parse(printed.slice(printed.indexOf("{")));
    assert.ok(made.files.length > 0, JSON.stringify(made));
    const listed = await adminApi("GET", `/admin/api/statements?data_date=${made.data_date}`, state.demo.credentials.admin_token);
    const file = listed.body.files.find((f) => f.huifu_id === state.trade.mer_id && f.bill_type === "TRADE_BILL");
    assert.ok(file, JSON.stringify(listed.body));
    await page.getByTestId("menu").getByText("对账单").click();
    const button = page.getByTestId(`download-${file.file_id}`);
    await button.waitFor();
    await shot(page, "15-statements");
    const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
    const bytes = readFileSync(await download.path());
    assert.equal(bytes.subarray(0, 2).toString(), "PK");
    assert.equal(createHash("sha256").update(bytes).digest("hex"), file.sha256);
  });

  it("shows on the dashboard the day's trades and backlog the database holds", async () => {
    await go(state.page, "/");
    await checkDashboard(state.page, "16-dashboard-after-trades");
  });

  it("opens every other page with the server's rows", async () => {
    const page = state.page;
    const pages = [
      ["/service-providers", "table-service-providers", "20-service-providers"],
      ["/reconciliation", "table-reconciliation-runs", "21-reconciliation"],
      ["/settings/channel-accounts", "table-channel-accounts", "22-channel-accounts"],
      ["/settings/platform-keys", "table-platform-keys", "23-platform-keys"],
      ["/settings/users", "table-users", "24-users"],
      ["/settings/audit", "table-audit", "25-audit"],
    ];
    for (const [route, table, name] of pages) {
      await go(page, route);
      await page.getByTestId(table).waitFor();
      if (table !== "table-reconciliation-runs") {
        await waitFor(`rows on ${route}`, async () => (await page.getByTestId(table).locator("tbody tr.ant-table-row").count()) > 0);
      }
      assert.equal(await page.getByTestId(table.replace("table-", "error-")).count(), 0, `${route} shows an error`);
      await shot(page, name);
    }
    // The audit log holds the approval and the re-send made from the console.
    const audit = await page.getByTestId("table-audit").innerText();
    assert.match(audit, /notification\.resend/);
  });

  it("creates a service provider with a generated key shown once, and sets its fee floors", async () => {
    const page = state.page;
    await page.getByTestId("menu").getByText("服务商", { exact: true }).click();
    await page.getByTestId("create-provider").click();
    await page.getByTestId("provider-sys-id").fill("AGENT03");
    await page.getByTestId("provider-product-id").fill(state.demo.credentials.product_id);
    await page.getByTestId("provider-name").fill("第三服务商");
    await page.getByTestId("provider-confirm").click();
    assert.match(await page.getByTestId("private-key").innerText(), /BEGIN PRIVATE KEY/);
    await page.getByTestId("fee-floors-AGENT03").click();
    await page.getByTestId("floor-T_JSAPI").fill("0.30");
    await page.getByTestId("floors-confirm").click();
    await waitFor("the floor stored", async () => {
      const floors = await adminApi("GET", "/admin/api/service-providers/AGENT03/fee-floors", state.demo.credentials.admin_token);
      return floors.body?.fee_floors?.T_JSAPI?.fee_rate_bp === 30;
    });
    const stored = sqlite("SELECT COUNT(*) FROM service_providers WHERE sys_id = 'AGENT03'");
    assert.equal(stored[0][0], 1);
    await shot(page, "27-provider-created");
  });

  it("keeps finance out of the settings", async () => {
    nkpay(["admin", "create-user", "--username", "finance1", "--role", "finance", "--password-stdin"], "finance-password-1\n");
    const page = await newPage();
    await signIn(page, "finance1", "finance-password-1");
    const menu = await page.getByTestId("menu").innerText();
    assert.doesNotMatch(menu, /平台设置/);
    assert.match(menu, /对账单/);
    await go(page, "/settings/channel-accounts");
    await page.getByTestId("forbidden").waitFor();
    await shot(page, "17-finance-settings-forbidden");
    await go(page, "/settings/users");
    await page.getByTestId("forbidden").waitFor();
    await page.context().close();
  });

  it("shows an agent admin only its own service provider's merchants", async () => {
    nkpay(["admin", "create-user", "--username", "agent02", "--role", "agent-admin", "--sys-id", "AGENT02", "--password-stdin"], "agent-password-02\n");
    const page = await newPage();
    await signIn(page, "agent02", "agent-password-02");
    await page.getByTestId("menu").getByText("商户列表").click();
    const table = page.getByTestId("table-merchants");
    await waitFor("the agent's merchant", async () => (await table.locator("tbody tr.ant-table-row").count()) > 0);
    const rows = table.locator("tbody tr.ant-table-row");
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), new RegExp(state.agentMerchant));
    for (const m of state.demo.credentials.merchants) assert.doesNotMatch(await table.innerText(), new RegExp(m.mer_id));
    await shot(page, "18-agent-merchants");
    // Another provider's merchant is not found for it, on the page as in the API.
    await go(page, `/merchants/${state.demo.credentials.merchants[0].mer_id}`);
    await page.getByTestId("load-error").waitFor();
    await shot(page, "19-agent-other-merchant");
    await page.context().close();
  });

  it("renews an expired access token with the refresh token, and signing out revokes it", async () => {
    const page = state.page;
    const user = state.demo.credentials.admin_username;
    // Wait out the newest access token (60 s from its refresh token's issue), then use the page.
    const issued = sqlite(`SELECT MAX(issued_at) FROM admin_refresh_tokens WHERE username = '${user}'`)[0][0];
    const expired = new Date(String(issued).replace(" ", "T").replace(/(\.\d{3})\d*/, "$1")).getTime() + 61_000;
    await waitFor("the access token to expire", () => Date.now() > expired, 90_000);
    await go(page, "/notifications?status=");
    const rows = page.getByTestId("table-notifications").locator("tbody tr.ant-table-row");
    await waitFor("notifications listed after the renewal", async () => (await rows.count()) > 0);
    assert.equal(await page.getByTestId("login-form").count(), 0);
    const spent = sqlite(`SELECT COUNT(*) FROM admin_refresh_tokens WHERE username = '${user}' AND spent_at IS NOT NULL`);
    assert.ok(spent[0][0] >= 1, "a refresh token was spent");
    await page.getByTestId("sign-out").click();
    await page.getByTestId("login-form").waitFor();
    const live = sqlite(`SELECT COUNT(*) FROM admin_refresh_tokens WHERE username = '${user}' AND revoked_at IS NULL AND spent_at IS NULL`);
    assert.equal(live[0][0], 0, "signing out revoked the refresh token");
    await shot(page, "26-signed-out");
  });

  it("raised no error in any page", () => {
    assert.deepEqual(state.pageErrors, []);
  });
});
