"""From an empty database to a merchant's first payments, the way a new operator does it.

`nkpay serve` starts on an empty database (SQLite, then PostgreSQL) with only the built-in
channel simulators beside it. Nothing is seeded: the operator makes the first platform admin and
registers the channel accounts and a service provider with the `nkpay admin` CLI; the service
provider onboards an enterprise and an individual merchant with dg-sdk's own request classes; the
operator approves them through the admin API; WeChat is opened with the sub-merchant number
WeChat (the simulator) issued, Alipay through the ISV authorization page and its callback; an
official-account appid and a JSAPI directory are bound (the simulator shows `addsubdevconfig`);
then a `T_JSAPI` and an `A_NATIVE` payment reach `S` and the merchant is notified of each, and
the review and business results reach the receiver too; the WeChat payment is refunded and the
admin session refreshed. Every reply dg-sdk returns was verified against the platform key the
CLI printed.

The server runs with `log.level = debug` (issue 15): at the end, no log line and no reply of
the platform holds a configured secret (the WeChat API key, the Alipay app private key, the
service provider's private key, the admin password and tokens, the master key, the JWT secret)
or a full personal number (ID card, bank card, mobile)."""

import json
import os
import pathlib
import re
import subprocess
import urllib.parse
import uuid

import dg_sdk
import pytest
import requests
from dg_sdk import DGClient, MerConfig

from conftest import BIN_DIR, drop_database, free_port, postgres_database, wait_for
from test_dg_sdk_interop import query
from test_dg_sdk_onboarding import ent_request, indv_request, seq, today
from test_merchant_notify import Receiver

NKPAY = str(BIN_DIR / "nkpay")
SYS_ID = "E2EAGENT01"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/nkpay.db?mode=rwc"
        return
    if not os.environ.get("NKPAY_TEST_DATABASE_URL"):
        pytest.skip("NKPAY_TEST_DATABASE_URL is not set: no PostgreSQL server to start on")
    url = postgres_database(tmp_path)
    yield url
    drop_database(url)


class Operator:
    """`nkpay serve` on its own empty database, and the CLI beside it on the same configuration."""

    def __init__(self, tmp: pathlib.Path, database_url: str):
        self.tmp = tmp
        port, sandbox_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.env = dict(os.environ)
        self.env.update(
            {
                "NKPAY__SERVER__PORT": str(port),
                "NKPAY__SERVER__PUBLIC_BASE_URL": self.base_url,
                "NKPAY__SANDBOX__ENABLED": "true",
                "NKPAY__SANDBOX__PORT": str(sandbox_port),
                # Where the channels are, for every process on this configuration (the CLI's
                # test call included): here the simulators `serve` starts.
                "NKPAY__CHANNELS__WECHAT_BASE_URL": f"{self.sandbox_url}/",
                "NKPAY__CHANNELS__ALIPAY_GATEWAY_URL": f"{self.sandbox_url}/gateway.do",
                "NKPAY__DATABASE__URL": database_url,
                "NKPAY__SECRETS__MASTER_KEY_FILE": str(tmp / "master.key"),
                # Debug logs, as the config sets them (RUST_LOG would override the level).
                "NKPAY__LOG__LEVEL": "debug",
                "NKPAY__ADMIN__JWT_SECRET": "jwt-" + uuid.uuid4().hex + uuid.uuid4().hex,
            }
        )
        self.env.pop("RUST_LOG", None)
        self.proc = None
        self.log_path = tmp / "nkpay.log"

    def cli(self, *args, stdin=None):
        """Runs `nkpay <args>`; its standard output (JSON when it is JSON)."""
        done = subprocess.run(
            [NKPAY, *args], env=self.env, cwd=self.tmp, input=stdin, capture_output=True, text=True
        )
        assert done.returncode == 0, f"nkpay {' '.join(args)}: {done.stdout}\n{done.stderr}"
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return done.stdout

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def serve(self):
        self.proc = subprocess.Popen(
            [NKPAY, "serve"], env=self.env, cwd=self.tmp, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT
        )

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"nkpay serve exited {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                return requests.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=90, what="nkpay serve to be ready")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture()
def operator(tmp_path, database_url):
    op = Operator(tmp_path, database_url)
    yield op
    op.stop()


def received(receiver, predicate, what):
    """The first form the receiver got whose `resp_data` satisfies `predicate`, as a dict."""

    def find():
        for _, body in list(receiver.received):
            form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            data = json.loads(form.get("resp_data", "{}"))
            if predicate(data):
                return data
        return None

    return wait_for(find, timeout=60, what=what)


def record_replies(monkeypatch, base_url):
    """Every reply body the platform at `base_url` sends this test, in order."""
    replies = []
    send = requests.adapters.HTTPAdapter.send

    def recording(self, request, *args, **kwargs):
        response = send(self, request, *args, **kwargs)
        if request.url.startswith(base_url):
            replies.append((request.url, response.content.decode("utf-8", errors="replace")))
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", recording)
    return replies


def key_pieces(pem: str) -> list:
    """48-character pieces of a private key's base64 body, past its first 64 characters (the
    structure every key shares): any of them in a log means the key leaked."""
    body = "".join(line.strip() for line in pem.splitlines() if not line.startswith("-----"))
    return [body[i : i + 48] for i in range(64, len(body) - 48, 48)]


def test_from_an_empty_database_to_a_first_payment(operator, monkeypatch):
    op = operator
    receiver = Receiver()
    replies = record_replies(monkeypatch, op.base_url)

    # 1. The first platform admin, before the server ever ran (the CLI migrates the empty database).
    password = "e2e-" + uuid.uuid4().hex
    op.cli("admin", "create-user", "--username", "ops", "--role", "platform-admin", "--password-stdin", stdin=password + "\n")
    op.serve()
    login = requests.post(f"{op.base_url}/admin/api/session", json={"username": "ops", "password": password}, timeout=10)
    assert login.status_code == 200, login.text
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}

    # Nothing else exists yet.
    assert requests.get(f"{op.base_url}/admin/api/merchants", headers=admin, timeout=10).json()["merchants"] == []

    # 2. The channel accounts, with the credentials the channels (here: their simulators) issued.
    channels = requests.get(f"{op.sandbox_url}/sandbox/accounts", timeout=10).json()
    sp = channels["wechat"]["service_providers"][0]
    wechat = op.cli(
        "admin", "channel-account", "add-wechat", "--name", "WeChat SP", "--appid", sp["appid"],
        "--mch-id", sp["mch_id"], "--api-key-file", op.file("wx.key", sp["api_key"]), "--default",
    )
    isv = channels["alipay"]["isv_apps"][0]
    alipay = op.cli(
        "admin", "channel-account", "add-alipay", "--name", "Alipay ISV", "--app-id", isv["app_id"],
        "--private-key-file", op.file("ali-app.pem", isv["app_private_key"]),
        "--alipay-public-key-file", op.file("ali-gw.pem", isv["alipay_public_key"]),
        "--isv-pid", isv["pid"], "--default",
    )
    for account in (wechat, alipay):
        probe = op.cli("admin", "channel-account", "test", "--id", str(account["id"]))
        assert probe["ok"], probe

    # 3. A service provider with a generated key pair; the platform key it verifies replies with.
    provider = op.cli(
        "admin", "service-provider", "create", "--sys-id", SYS_ID, "--product-id", "NKPAY",
        "--name", "E2E Agent", "--generate",
    )
    platform_key = op.cli("admin", "platform-key")
    DGClient.BASE_URL = op.base_url
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(provider["private_key"], platform_key["public_key"], SYS_ID, "NKPAY")

    # 4. Onboarding (进件) with dg-sdk: an enterprise and an individual merchant.
    merchants = []
    for make in (ent_request, indv_request):
        req = make(SYS_ID)
        answer = req.post({"async_return_url": receiver.url})
        assert answer["resp_code"] == "00000000", answer
        assert len(answer["huifu_id"]) == 16 and answer["apply_no"], answer
        status = dg_sdk.V2MerchantBasicdataStatusQueryRequest()
        status.req_date, status.req_seq_id, status.apply_no = today(), seq(), answer["apply_no"]
        assert status.post({"huifu_id": answer["huifu_id"]})["apply_status"] == "P"
        merchants.append(answer)

    # 5. The operator reviews them; each review result reaches the merchant's receiver.
    queue = requests.get(f"{op.base_url}/admin/api/applications?status=P", headers=admin, timeout=10).json()
    assert {a["apply_no"] for a in queue["applications"]} == {m["apply_no"] for m in merchants}
    for m in merchants:
        r = requests.post(f"{op.base_url}/admin/api/applications/{m['apply_no']}/approve", headers=admin, timeout=10)
        assert r.status_code == 200, r.text
        audit = received(receiver, lambda d, m=m: d.get("apply_no") == m["apply_no"], "the audit callback")
        assert audit["audit_status"] == "Y" and audit["huifu_id"] == m["huifu_id"], audit

    ent = merchants[0]["huifu_id"]
    busi_url = receiver.url + "?busi"

    # 6. Business: WeChat and Alipay opened with dg-sdk, each P until its channel says yes.
    opened = dg_sdk.V2MerchantBusiOpenRequest()
    opened.req_date, opened.req_seq_id, opened.huifu_id, opened.upper_huifu_id = today(), seq(), ent, SYS_ID
    answer = opened.post(
        {
            "wx_conf_list": json.dumps([{"pay_scene": "1", "fee_rate": "0.38"}]),
            "ali_conf_list": json.dumps([{"pay_scene": "1", "fee_rate": "0.38"}]),
            "busi_async_return_url": busi_url,
        }
    )
    assert answer["resp_code"] == "00000000", answer
    assert answer["wx_busi_stat"] == "P" and answer["ali_busi_stat"] == "P", answer

    # WeChat issues a sub-merchant number for the merchant; the operator records it.
    issued = requests.post(
        f"{op.sandbox_url}/sandbox/wechat/sub-merchants", json={"mch_id": sp["mch_id"], "name": "上海示例餐饮有限公司"}, timeout=10
    ).json()
    r = requests.put(
        f"{op.base_url}/admin/api/merchants/{ent}/businesses/wechat",
        headers=admin, json={"sub_mch_id": issued["sub_mch_id"]}, timeout=10,
    )
    assert r.status_code == 200, r.text

    # Alipay: the merchant opens the authorization link and agrees; the callback completes it.
    link = requests.get(f"{op.base_url}/admin/api/merchants/{ent}/businesses/alipay/auth-link", headers=admin, timeout=10)
    assert link.status_code == 200, link.text
    page = requests.get(link.json()["url"] + "&sandbox_auto_authorize=true", allow_redirects=False, timeout=10)
    assert page.status_code == 302, page.text
    assert page.headers["Location"].startswith(f"{op.base_url}/callback/alipay/app-auth")
    callback = requests.get(page.headers["Location"], timeout=10)
    assert callback.status_code == 200, callback.text
    state = requests.get(f"{op.sandbox_url}/sandbox/state", timeout=10).json()
    assert [g["code_exchanged"] for g in state["alipay"]["app_auth"]["page_grants"]] == [True]

    for channel in ("wechat", "alipay"):
        result = received(
            receiver,
            lambda d, c=channel: d.get("notify_type") == "BUSINESS" and d.get("huifu_id") == ent and d.get("busi_type") == c,
            f"the {channel} business result",
        )
        assert result["busi_stat"] == "S", result
    assert result["auth_app_id"], result

    # 7. An official-account appid and its JSAPI pay directory, bound upstream by addsubdevconfig.
    appid = "wx" + uuid.uuid4().hex[:16]
    directory = "https://shop.example/pay/"
    config = dg_sdk.V2MerchantBusiConfigRequest()
    config.req_date, config.req_seq_id, config.huifu_id = today(), seq(), ent
    config.fee_type, config.wx_woa_app_id, config.wx_woa_path = "02", appid, directory
    bound = config.post({})
    assert bound["resp_code"] == "00000000" and bound["config_stat"] == "S", bound
    calls = requests.get(f"{op.sandbox_url}/sandbox/state", timeout=10).json()["wechat"]["sub_dev_configs"][issued["sub_mch_id"]]
    assert calls["addsubdevconfig_calls"] == 2 and appid in calls["appids"] and directory in calls["jsapi_paths"], calls

    detail = dg_sdk.V2MerchantBasicdataQueryRequest()
    detail.req_date, detail.req_seq_id, detail.huifu_id = today(), seq(), ent
    shown = detail.post({})
    assert shown["resp_code"] == "00000000", shown
    assert issued["sub_mch_id"] in shown["busi_list"] and appid in shown["appid_list"], shown

    # 8. The first payments: T_JSAPI under the bound appid, A_NATIVE under the new grant.
    merchant = {"mer_id": ent}
    jsapi = dg_sdk.V2TradePaymentJspayRequest()
    jsapi.req_date, jsapi.req_seq_id, jsapi.huifu_id = today(), seq(), ent
    jsapi.goods_desc, jsapi.trade_type, jsapi.trans_amt = "拿铁咖啡 x1", "T_JSAPI", "0.12"
    placed = jsapi.post({"wx_data": json.dumps({"sub_appid": appid, "sub_openid": "o_e2e_payer"}), "notify_url": receiver.url})
    assert placed["resp_code"] == "00000100", placed
    prepay_id = json.loads(placed["pay_info"])["package"].removeprefix("prepay_id=")
    paid = requests.post(
        f"{op.sandbox_url}/sandbox/wechat/pay", json={"prepay_id": prepay_id, "openid": "o_e2e_payer", "result": "SUCCESS"}, timeout=10
    )
    assert paid.status_code == 200, paid.text

    native = dg_sdk.V2TradePaymentJspayRequest()
    native.req_date, native.req_seq_id, native.huifu_id = today(), seq(), ent
    native.goods_desc, native.trade_type, native.trans_amt = "拿铁咖啡 x2", "A_NATIVE", "0.24"
    placed_ali = native.post({"notify_url": receiver.url})
    assert placed_ali["resp_code"] == "00000100", placed_ali
    paid = requests.post(
        f"{op.sandbox_url}/sandbox/alipay/pay",
        json={"qr_code": placed_ali["qr_code"], "buyer_id": "2088102100000009", "result": "SUCCESS"},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text

    for req, placed_answer in ((jsapi, placed), (native, placed_ali)):
        notice = received(
            receiver, lambda d, p=placed_answer: d.get("nkp_seq_id") == p["nkp_seq_id"] and d.get("trans_stat") == "S", "the trade notification"
        )
        assert notice["trans_amt"] == req.trans_amt
        assert query(merchant, req.req_date, req.req_seq_id)["trans_stat"] == "S"

    # 9. A refund of the WeChat payment, settled and notified; the admin session refreshed.
    refund = dg_sdk.V2TradePaymentScanpayRefundRequest()
    refund.req_date, refund.req_seq_id, refund.huifu_id = today(), seq(), ent
    refund.ord_amt, refund.org_req_date = "0.05", jsapi.req_date
    refunded = refund.post({"org_req_seq_id": jsapi.req_seq_id, "notify_url": receiver.url})
    assert refunded["resp_code"] in ("00000000", "00000100"), refunded
    settled = received(
        receiver, lambda d: d.get("req_seq_id") == refund.req_seq_id and d.get("trans_stat") == "S", "the refund notification"
    )
    assert settled["ord_amt"] == "0.05", settled
    refreshed = requests.post(
        f"{op.base_url}/admin/api/session/refresh", json={"refresh_token": login.json()["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 200, refreshed.text

    # 10. Nothing secret in any log line, nor in any reply: the secrets as configured, and every
    # full personal number the applications carried.
    # Without the terminal colours, which would split a value in two.
    log = re.sub(r"\x1b\[[0-9;]*m", "", op.log_path.read_text(errors="replace"))
    assert " DEBUG " in log, "the server did not log at debug level"
    secrets = {
        "the WeChat API key": [sp["api_key"]],
        "the Alipay app private key": key_pieces(isv["app_private_key"]),
        "the service provider's private key": key_pieces(provider["private_key"]),
        "the admin password": [password],
        "the master key": [(op.tmp / "master.key").read_text().strip()],
        "the JWT secret": [op.env["NKPAY__ADMIN__JWT_SECRET"]],
    }
    personal = set()
    for applied in (ent_request("x"), indv_request("x")):
        card = json.loads(applied.card_info)
        personal |= {applied.legal_cert_no.upper(), applied.contact_mobile_no, card["card_no"]}
        personal |= {v.upper() for k, v in card.items() if k in ("cert_no", "mp")}
    secrets["a full personal number"] = sorted(personal)
    bodies = "\n".join(body for _, body in replies)
    for what, values in secrets.items():
        assert values, what
        for value in values:
            assert value.upper() not in log.upper(), f"{what} is in the log"
            assert value.upper() not in bodies.upper(), f"{what} is in a reply"
    # The tokens a session hands out are in its own replies only, never logged.
    tokens = [login.json()["access_token"], login.json()["refresh_token"]]
    tokens += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    for token in tokens:
        assert token not in log, "an admin token is in the log"
    # The grep saw the replies of every kind of call the flow makes.
    seen = {urllib.parse.urlparse(url).path for url, _ in replies}
    for path in (
        "/v2/merchant/basicdata/ent",
        "/v2/merchant/basicdata/indv",
        "/v2/trade/payment/jspay",
        "/v2/trade/payment/scanpay/refund",
        "/admin/api/session",
        "/admin/api/session/refresh",
    ):
        assert path in seen, (path, sorted(seen))
