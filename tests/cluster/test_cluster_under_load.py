"""Three nodes on one PostgreSQL database behind nginx, one of them killed under load (issue 14,
"Done when").

The docker-compose topology, natively: a fresh database of the running PostgreSQL
(NKPAY_TEST_DATABASE_URL), seeded by `nkpay demo` (its service provider and two merchants,
onboarded through the engine), then stopped; `nkpay-sandbox` serving the accounts the demo made;
three `nkpay serve` nodes (node ids 1-3, a short `server.node_lease_secs`) and nginx rendered
from deploy/nginx/ (the template compose uses). Through nginx, a few hundred trades on both
channels — WeChat `T_JSAPI` and Alipay `A_NATIVE` paid at the simulators' payer endpoints, some
partially refunded once or twice, some Alipay ones closed — each telling a receiver that fails
the first attempt of every third trade's notifications. Node 2 is SIGKILLed a third of the way
in and started again (same node id) once its node lease has ended. Then:

- every accepted trade and refund reached its final state, and what the channels saw agrees;
- every notification was delivered (a 2xx answer, signature verified), no two attempts of one
  notification overlapped, and the failed first attempts were retried;
- no `nkp_seq_id` collides, every node minted some (node 2 after its restart too);
- nothing was finalized twice (one notification per final state, made in the same transaction)
  or refunded twice (refunded amounts equal the successful refunds, none over the paid amount);
- after the nodes are started again with `server.clock_offset_secs` putting them on the next day,
  the day's statements are made exactly once across the three, and filequery's link downloads
  the same zip through nginx and from each node.
"""

import csv
import datetime
import io
import json
import os
import random
import shutil
import threading
import time
import uuid
import zipfile
import zoneinfo
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cluster_topology import MerchantApi, Nginx, Node, NotifyReceiver, Postgres, master_key, start_sandbox
from conftest import drop_database, pay_at_sandbox, postgres_database, start_demo, wait_for

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
TRADES = int(os.environ.get("NKPAY_CLUSTER_TRADES", "240"))
WORKERS = 8
NODE_LEASE_SECS = 4
# Channel time runs 100x faster: a WeChat refund settles 50 ms after it is made.
SANDBOX_TIME_SCALE = "0.01"
JSPAY = "/v2/trade/payment/jspay"
QUERY = "/v2/trade/payment/scanpay/query"
CLOSE = "/v2/trade/payment/scanpay/close"
REFUND = "/v2/trade/payment/scanpay/refund"
FILEQUERY = "/v2/trade/check/filequery"


def missing(what: str):
    """Skips loudly, or fails under CI (CI=true), where .ci/run provides everything."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} and CI=true: the multi-node test cannot run")
    pytest.skip(f"!! {what}: the multi-node test is SKIPPED")


@pytest.fixture()
def database_url(tmp_path):
    if shutil.which("nginx") is None:
        missing("nginx is not installed (apt-get install -y nginx)")
    if not os.environ.get("NKPAY_TEST_DATABASE_URL"):
        missing("NKPAY_TEST_DATABASE_URL is not set (the multi-node test runs on PostgreSQL only)")
    url = postgres_database(tmp_path)
    yield url
    drop_database(url)


def seq(prefix):
    return prefix + uuid.uuid4().hex[:20]


def yuan(fen):
    return f"{fen // 100}.{fen % 100:02d}"


def node_env(database_url, key, sandbox_url, public_base_url):
    """What every node shares: configuration by environment only, as in docker-compose.yml."""
    env = dict(os.environ)
    env.update(
        {
            "NKPAY__SERVER__PUBLIC_BASE_URL": public_base_url,
            "NKPAY__SERVER__NODE_LEASE_SECS": str(NODE_LEASE_SECS),
            "NKPAY__DATABASE__URL": database_url,
            "NKPAY__DATABASE__MIGRATE_ON_START": "false",
            "NKPAY__DATABASE__MAX_CONNECTIONS": "8",
            "NKPAY__SECRETS__MASTER_KEY": key,
            "NKPAY__SECRETS__CREATE_MASTER_KEY_IF_MISSING": "false",
            "NKPAY__SANDBOX__ENABLED": "false",
            "NKPAY__CHANNELS__WECHAT_BASE_URL": f"{sandbox_url}/",
            "NKPAY__CHANNELS__ALIPAY_GATEWAY_URL": f"{sandbox_url}/gateway.do",
            "NKPAY__CHANNELS__REQUEST_TIMEOUT_MS": "3000",
            "NKPAY__NOTIFY__SCHEDULE_SECS": "[1, 1, 2, 2, 3, 5]",
            "NKPAY__NOTIFY__TIMEOUT_MS": "2000",
            "NKPAY__NOTIFY__POLL_INTERVAL_MS": "200",
            "NKPAY__JOBS__QUERY_DELAYS_SECS": "[2, 2, 3]",
            "NKPAY__JOBS__INTERVAL_MS": "500",
            "NKPAY__JOBS__LEASE_SECS": "6",
            "NKPAY__STATEMENTS__JOB_INTERVAL_SECS": "1",
            "NKPAY__RECONCILIATION__ENABLED": "false",
            "NKPAY__ADMIN__TRUSTED_PROXIES": '["127.0.0.1"]',
            "NKPAY__LOG__FORMAT": "json",
        }
    )
    return env


def plans(merchants, receiver_url):
    """What each trade does: channel, amount in fen, the refunds (fen) after it is paid, or a
    close instead of a payment; every third one tells the receiver's failing endpoint."""
    rnd = random.Random(14)
    out = []
    for i in range(TRADES):
        merchant = merchants[i % len(merchants)]
        channel = "T_JSAPI" if i % 2 == 0 else "A_NATIVE"
        amount = rnd.randint(100, 20000)
        roll = i % 6
        if channel == "A_NATIVE" and roll == 1:
            action, refunds = "close", []
        elif roll in (2, 3):
            action, refunds = "pay", [amount * 3 // 10]
        elif roll == 4:
            action, refunds = "pay", [amount * 3 // 10, amount * 2 // 10]
        else:
            action, refunds = "pay", []
        path = "/flaky" if i % 3 == 0 else "/ok"
        out.append({"i": i, "merchant": merchant, "trade_type": channel, "amount": amount, "action": action,
                    "refunds": refunds, "notify_url": receiver_url + path})
    return out


class Load:
    """Runs the plans on a thread pool and keeps what the API accepted."""

    def __init__(self, api: MerchantApi, sandbox_url: str, day: str):
        self.api = api
        self.sandbox_url = sandbox_url
        self.day = day
        self.accepted = {}  # req_seq_id -> (plan, nkp_seq_id)
        self.refunds = {}  # refund req_seq_id -> (trade req_seq_id, fen)
        self.unplaced = {}  # req_seq_id -> nkp_seq_id: created upstream, answer lost with a node
        self.done = 0
        self._lock = threading.Lock()

    def run(self, plan):
        m = plan["merchant"]
        req_seq_id = seq("cl")
        data = {
            "req_date": self.day,
            "req_seq_id": req_seq_id,
            "huifu_id": m["mer_id"],
            "goods_desc": "多节点 cluster",
            "trade_type": plan["trade_type"],
            "trans_amt": yuan(plan["amount"]),
            "notify_url": plan["notify_url"],
        }
        if plan["trade_type"] == "T_JSAPI":
            data["wx_data"] = json.dumps({"sub_appid": m["wx_mp_appids"][0], "sub_openid": f"o_cluster_{plan['i']}"})
        created, sent = self.api.call_counted(JSPAY, data)
        if sent > 1 and created["resp_code"] == "98888888":
            # The node died between placing the order upstream and keeping the channel's answer;
            # the repeat finds the trade without it (issue 15, fault 1: a create whose reply is
            # lost). Not accepted; it stays `P` until it expires. Counted, not driven further.
            with self._lock:
                self.unplaced[req_seq_id] = created["nkp_seq_id"]
                self.done += 1
            return
        assert created["resp_code"] == "00000100", created
        with self._lock:
            self.accepted[req_seq_id] = (plan, created["nkp_seq_id"])
        original = {"huifu_id": m["mer_id"], "org_req_date": self.day, "org_req_seq_id": req_seq_id}
        if plan["action"] == "close":
            closed = self.api.call(CLOSE, {"req_date": self.day, "req_seq_id": seq("cc"), **original})
            assert closed["resp_code"] == "00000000", closed
        else:
            # The payer pays at the simulator (not through nginx: it is the channel's side).
            pay_at_sandbox(self.sandbox_url, plan["trade_type"], created)
            if plan["refunds"]:
                self.wait_paid(original)
            for fen in plan["refunds"]:
                refund_seq = seq("cr")
                with self._lock:
                    self.refunds[refund_seq] = (req_seq_id, fen)
                answer = self.api.call(REFUND, {"req_date": self.day, "req_seq_id": refund_seq, "ord_amt": yuan(fen),
                                                "notify_url": plan["notify_url"], **original})
                assert answer["resp_code"] in ("00000000", "00000100"), answer
        with self._lock:
            self.done += 1

    def wait_paid(self, original):
        def paid():
            trade = self.api.call(QUERY, original)
            assert trade["resp_code"] == "00000000", trade
            return trade["trans_stat"] == "S"

        wait_for(paid, timeout=90, interval=0.3, what=f"trade {original['org_req_seq_id']} paid")


def channel_view(state):
    """The simulators' state as out_trade_no -> (paid, amount in fen, {out_refund_no: fen}),
    each refund made once (`requests` counts the calls that named it)."""
    out = {}
    for o in state["wechat"]["orders"]:
        made = {r["out_refund_no"]: r["refund_fee"] for r in o["refunds"] if r["refund_status"] == "SUCCESS"}
        out[o["out_trade_no"]] = (o["trade_state"] in ("SUCCESS", "REFUND"), o["total_fee"], made)
    for t in state["alipay"]["trades"]:
        made = {r["out_request_no"]: fen(r["refund_amount"]) for r in t["refunds"]}
        out[t["out_trade_no"]] = (t["trade_status"] == "TRADE_SUCCESS", fen(t["total_amount"]), made)
    return out


def fen(yuan_text):
    whole, _, cents = yuan_text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def lease_ended(db: Postgres, node_id: int) -> bool:
    """No live lease holds `node_id` (the row is gone, released, or its lease_until passed)."""
    return db.value(f"SELECT count(*) FROM node_leases WHERE node_id = {node_id} AND lease_until > now()") == "0"


def test_three_nodes_behind_nginx_survive_a_killed_node(tmp_path, database_url):
    started = time.monotonic()
    db = Postgres(database_url)
    key = master_key()

    # --- seed: the demo's service provider and merchants, on this database --------------------
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    demo = start_demo(seed_dir, {"NKPAY__DATABASE__URL": database_url, "NKPAY__SECRETS__MASTER_KEY": key,
                                 "NKPAY__SERVER__NODE_ID": "9"})
    creds = demo.credentials
    demo.proc.terminate()
    assert demo.proc.wait(timeout=60) == 0, demo.log()[-4000:]
    merchants = creds["merchants"]
    assert len(merchants) >= 2 and all(m["wx_mp_appids"] and m["alipay"] for m in merchants), merchants

    # --- the topology -----------------------------------------------------------------------
    sandbox_url = creds["sandbox_url"]
    sandbox = start_sandbox(tmp_path, int(sandbox_url.rsplit(":", 1)[1]), creds["sandbox_accounts"],
                            SANDBOX_TIME_SCALE)
    receiver = NotifyReceiver(creds["platform_public_key"])
    # nginx's port is chosen before the nodes start: it is their public_base_url.
    nodes = [Node(tmp_path, n) for n in (1, 2, 3)]
    try:
        nginx = Nginx(tmp_path, [n.port for n in nodes])
    except BaseException:
        sandbox.stop()
        receiver.close()
        raise
    env = node_env(database_url, key, sandbox_url, nginx.base_url)
    try:
        for node in nodes:
            node.start(env)
        api = MerchantApi(nginx.base_url, creds["sys_id"], creds["product_id"], creds["private_key"],
                          creds["platform_public_key"])
        day = datetime.datetime.now(SHANGHAI).strftime("%Y%m%d")
        load = Load(api, sandbox_url, day)
        all_plans = plans(merchants, receiver.base_url)

        # --- the load, node 2 killed a third of the way in and started again --------------------
        # The last third starts once node 2 is back, so it takes some of them.
        held_back = TRADES - TRADES // 3
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(load.run, p) for p in all_plans[:held_back]]
            wait_for(lambda: load.done >= TRADES // 3 or any(f.exception(0) for f in futures if f.done()),
                     timeout=180, what="a third of the trades")
            nodes[1].process.kill()
            killed_at = datetime.datetime.now(datetime.timezone.utc)
            wait_for(lambda: lease_ended(db, 2), timeout=60, interval=0.2, what="node 2's lease to end")
            nodes[1].start(env)
            restarted_at = time.time()
            futures += [pool.submit(load.run, p) for p in all_plans[held_back:]]
            for f in futures:
                f.result(timeout=240)
        load_secs = time.monotonic() - started

        # --- every accepted trade and refund final ------------------------------------------------
        unplaced = ",".join(f"'{r}'" for r in load.unplaced) or "''"
        wait_for(lambda: db.value(f"SELECT count(*) FROM trades WHERE status = 'P' AND req_seq_id NOT IN ({unplaced})")
                 == "0" and db.value("SELECT count(*) FROM refunds WHERE status = 'P'") == "0",
                 timeout=120, interval=0.5, what="every trade and refund final")
        trades = {r[0]: r for r in db.rows(
            "SELECT req_seq_id, nkp_seq_id, status, trans_amt, refunded_amt, refund_in_flight_amt, "
            "extract(epoch FROM created_at) "
            "FROM trades WHERE req_seq_id LIKE 'cl%'")}
        for req_seq_id, nkp_seq_id in load.unplaced.items():
            row = trades.pop(req_seq_id)
            assert row[1] == nkp_seq_id and row[2] == "P", row
        assert set(trades) == set(load.accepted), "the database holds exactly the accepted trades"
        for req_seq_id, (plan, nkp_seq_id) in load.accepted.items():
            row = trades[req_seq_id]
            assert row[1] == nkp_seq_id
            assert row[2] == ("C" if plan["action"] == "close" else "S"), (plan, row)
        refunds = {r[0]: r for r in db.rows(
            "SELECT req_seq_id, nkp_seq_id, status, ord_amt, org_nkp_seq_id FROM refunds")}
        assert set(refunds) == set(load.refunds)
        assert all(r[2] == "S" for r in refunds.values()), [r for r in refunds.values() if r[2] != "S"]

        # --- nothing refunded twice ----------------------------------------------------------------
        refunded = {}
        for r in refunds.values():
            refunded[r[4]] = refunded.get(r[4], 0) + int(r[3])
        for req_seq_id, row in trades.items():
            plan = load.accepted[req_seq_id][0]
            assert int(row[4]) == refunded.get(row[1], 0) == sum(plan["refunds"]), (plan, row)
            assert int(row[4]) <= int(row[3]) and row[5] == "0", row
        # What the channels saw agrees: each paid trade paid once with its amount, each closed
        # one never paid, each refund made once upstream with its amount.
        channel = channel_view(requests.get(f"{sandbox_url}/sandbox/state", timeout=30).json())
        refunds_of = {}
        for r in refunds.values():
            refunds_of.setdefault(r[4], {})[r[1]] = int(r[3])
        for row in trades.values():
            paid, amount, made = channel[row[1]]
            assert paid == (row[2] == "S") and amount == int(row[3]), (row, channel[row[1]])
            assert made == refunds_of.get(row[1], {}), (row, made)

        # --- no id collides; every node minted ids, node 2 after its restart too ---------------
        ids = [r[1] for r in trades.values()] + [r[1] for r in refunds.values()]
        assert len(ids) == len(set(ids)), "an nkp_seq_id collides"
        assert db.value("SELECT count(*) - count(DISTINCT nkp_seq_id) FROM "
                        "(SELECT nkp_seq_id FROM trades UNION ALL SELECT nkp_seq_id FROM refunds) ids") == "0"
        minted_by = {int(i[17:22]) for i in ids}
        assert minted_by == {1, 2, 3}, minted_by
        after_restart = [r for r in trades.values() if int(r[1][17:22]) == 2
                         and float(r[6]) > restarted_at]
        assert after_restart, "the restarted node 2 took trades"

        # --- every notification delivered, attempts never overlapping, finalized once -------------
        wait_for(lambda: db.value("SELECT count(*) FROM notifications WHERE status <> 'delivered'") == "0",
                 timeout=120, interval=0.5, what="every notification delivered")
        notes = db.rows("SELECT kind, subject_nkp_seq_id, attempt_count FROM notifications WHERE chain_no = 0")
        keys = [(k, s) for k, s, _ in notes]
        assert len(keys) == len(set(keys)), "a trade or refund was finalized (and notified) twice"
        succeeded = {(("TRADE", r[1])) for r in trades.values() if r[2] == "S"}
        succeeded |= {("REFUND", r[1]) for r in refunds.values()}
        assert succeeded <= set(keys), succeeded - set(keys)
        attempts = receiver.snapshot()
        by_key = {}
        for a in attempts:
            assert a["verified"], a
            by_key.setdefault(a["key"], []).append(a)
        for k in keys:
            tries = sorted(by_key.get(k, []), key=lambda a: a["start"])
            assert any(a["status"] == 200 for a in tries), (k, tries)
            for before, after in zip(tries, tries[1:]):
                assert after["start"] >= before["end"], f"two attempts of {k} overlapped: {before} {after}"
        flaky = [k for k, tries in by_key.items() if tries[0]["status"] == 500]
        assert flaky and all(len(by_key[k]) >= 2 for k in flaky)
        assert set(by_key) == set(keys), "the receiver heard of exactly the enqueued notifications"

        # --- the day closes: statements made once across the nodes -------------------------------
        now = datetime.datetime.now(SHANGHAI)
        next_day_0105 = (now + datetime.timedelta(days=1)).replace(hour=1, minute=5, second=0, microsecond=0)
        offset = int((next_day_0105 - now).total_seconds())
        for node in nodes:
            assert node.process.stop() == 0, node.process.log()[-4000:]
        for node in nodes:
            node.start(env, {"NKPAY__SERVER__CLOCK_OFFSET_SECS": str(offset)})
        wait_for(lambda: db.value(f"SELECT count(*) FROM statement_runs WHERE data_date = '{day}' "
                                  "AND kind = 'daily' AND task_stat = 'S' AND NOT partial") == "1",
                 timeout=120, interval=0.5, what=f"the statements of {day}")


        def runs_logged():
            """The nodes' log lines saying they made the day's files."""
            return [(n.node_id, fields) for n in nodes for fields in n.log_events()
                    if fields.get("message") == "statement files made"
                    and str(fields.get("data_date")) in (day, f"{day[:4]}-{day[4:6]}-{day[6:]}")]

        # The line comes when the node's round ends (the month is made after the day).
        wait_for(runs_logged, timeout=60, interval=0.2, what="the node that made the day to say so")

        # --- the day's files, through nginx and from every node ----------------------------------
        next_day = (datetime.datetime.strptime(day, "%Y%m%d") + datetime.timedelta(days=1)).strftime("%Y%m%d")
        for m in merchants:
            answer = api.call(FILEQUERY, {"req_date": day, "req_seq_id": seq("cf"), "huifu_id": m["mer_id"],
                                          "file_date": next_day})
            assert answer["resp_code"] == "00000000", answer
            [detail] = answer["file_details"]
            assert detail["partial"] == "N"
            link = detail["download_url"]
            assert link.startswith(nginx.base_url), link
            bodies = [requests.get(link, timeout=30) for _ in range(3)]
            bodies += [requests.get(link.replace(nginx.base_url, n.base_url), timeout=30) for n in nodes]
            assert all(b.status_code == 200 for b in bodies), [(b.status_code, b.text[:200]) for b in bodies]
            assert len({b.content for b in bodies}) == 1, "every node serves the same bytes"
            archive = zipfile.ZipFile(io.BytesIO(bodies[0].content))
            rows = list(csv.reader(io.StringIO(archive.read(archive.namelist()[0]).decode("utf-8-sig"))))
            listed = {row[3].strip() for row in rows[1:] if len(row) > 3 and row[0].strip() == m["mer_id"]}
            paid = {r[1] for req, r in trades.items() if r[2] == "S" and load.accepted[req][0]["merchant"] is m}
            assert paid <= listed, paid - listed

        made = runs_logged()
        assert len(made) == 1, f"the day's statements were made {len(made)} times: {made}"
        assert db.value("SELECT count(*) FROM statement_detached_contents") == "0", "a file was made again"

        print(f"\ncluster: {TRADES} trades ({len(load.unplaced)} answered 98888888 after their node died "
              f"mid-create), {len(refunds)} refunds, {len(keys)} notifications "
              f"({sum(len(v) for v in by_key.values())} attempts), {api.repeats} requests repeated after a "
              f"502 or refused connection; load {load_secs:.0f} s, node 2 killed at {killed_at:%H:%M:%S}, "
              f"back {time.strftime('%H:%M:%S', time.gmtime(restarted_at))}; total {time.monotonic() - started:.0f} s")
    finally:
        for node in nodes:
            if node.process is not None:
                node.process.stop()
        nginx.process.stop()
        sandbox.stop()
        receiver.close()
