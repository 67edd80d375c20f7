"""A paid trade's asynchronous notification reaches the merchant's receiver, signed so that the
official SDK's RSA helper verifies it, and the console API shows its delivery."""

import http.server
import json
import threading
import urllib.parse

import dg_sdk
import requests
from dg_sdk import DGClient, MerConfig
from dg_sdk.core.rsa_utils import rsa_design

from conftest import wait_for
from test_dg_sdk_interop import jspay


class Receiver:
    def __init__(self):
        self.received = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((self.headers, body.decode("utf-8")))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"RECV_ORD_ID_ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"


def test_paid_trade_notifies_the_merchant_with_a_verifiable_signature(platform):
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
    receiver = Receiver()
    m = c["merchants"][0]
    req, data = jspay(m, "A_NATIVE", "6.66", {"notify_url": receiver.url, "remark": "订单 42"})
    assert data["resp_code"] == "00000100", data
    r = requests.post(
        f"{platform.sandbox_url}/sandbox/alipay/pay",
        json={"qr_code": data["qr_code"], "buyer_id": "2088102100000002", "result": "SUCCESS"},
        timeout=10,
    )
    assert r.status_code == 200, r.text

    headers, body = wait_for(lambda: receiver.received[0] if receiver.received else None,
                             timeout=30, what="the merchant notification")
    assert headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
    assert headers.get("X-Nkp-Key-Id") == c["platform_key_id"]
    form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    assert form["resp_code"] == "00000000"
    ok, err = rsa_design(form["sign"], form["resp_data"], c["platform_public_key"])
    assert ok, err
    tampered = form["resp_data"].replace("6.66", "6.67")
    assert not rsa_design(form["sign"], tampered, c["platform_public_key"])[0]
    resp_data = json.loads(form["resp_data"])
    assert resp_data["notify_type"] == "TRADE"
    assert resp_data["nkp_seq_id"] == data["nkp_seq_id"]
    assert resp_data["req_seq_id"] == req.req_seq_id
    assert resp_data["trans_stat"] == "S"
    assert resp_data["trans_amt"] == "6.66"
    assert resp_data["remark"] == "订单 42"
    # compact, top-level keys sorted, raw UTF-8
    assert form["resp_data"] == json.dumps(dict(sorted(resp_data.items())), ensure_ascii=False, separators=(",", ":"))

    auth = {"Authorization": f"Bearer {c['admin_token']}"}
    listed = requests.get(f"{c['base_url']}/admin/api/notifications", headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    assert data["nkp_seq_id"] in listed.text
    assert requests.get(f"{c['base_url']}/admin/api/notifications", timeout=10).status_code == 401
    # the demo's platform admin logs in for a short-lived access token that works the same way
    session = requests.post(
        f"{c['base_url']}/admin/api/session",
        json={"username": c["admin_username"], "password": c["admin_password"]},
        timeout=30,
    )
    assert session.status_code == 200, session.text
    access = {"Authorization": f"Bearer {session.json()['access_token']}"}
    assert requests.get(f"{c['base_url']}/admin/api/notifications", headers=access, timeout=10).status_code == 200
