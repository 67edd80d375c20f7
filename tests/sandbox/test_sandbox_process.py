"""The `nkpay-sandbox` binary itself: the accounts it writes for clients outside, a config file
fed back in, and the control endpoints answering bad input with 4xx, never a 500."""

import json

import pytest
import requests
from Cryptodome.PublicKey import RSA
from wechatpy.exceptions import WeChatPayException

from sandbox_process import SandboxProcess


def test_the_accounts_file_lets_a_client_act_as_the_platform(sandbox):
    acc = sandbox.accounts
    assert acc["wechat"]["api_base_url"] == f"{sandbox.base_url}/"
    assert acc["alipay"]["gateway_url"] == f"{sandbox.base_url}/gateway.do"
    sp = acc["wechat"]["service_providers"][0]
    assert {"appid", "mch_id", "api_key", "sub_merchants"} <= sp.keys()
    kinds = {a["kind"] for m in sp["sub_merchants"] for a in m["appids"]}
    assert kinds == {"mp", "miniapp"}
    app = acc["alipay"]["isv_apps"][0]
    private = RSA.import_key(app["app_private_key"])
    assert private.publickey() == RSA.import_key(app["app_public_key"])
    gateway = RSA.import_key(acc["alipay"]["gateway_private_key"])
    assert gateway.publickey() == RSA.import_key(app["alipay_public_key"])
    assert all({"app_auth_token", "auth_app_id", "user_id"} <= g.keys() for g in app["grants"])
    assert requests.get(f"{sandbox.base_url}/sandbox/accounts", timeout=10).json() == acc


def test_an_accounts_file_is_a_valid_config(tmp_path, sandbox):
    config = tmp_path / "config.json"
    accounts = dict(sandbox.accounts)
    accounts["wechat"] = dict(accounts["wechat"])
    sp = dict(accounts["wechat"]["service_providers"][0], mch_id="1900000999", api_key="k" * 32)
    accounts["wechat"]["service_providers"] = [sp]
    config.write_text(json.dumps(accounts))
    other = SandboxProcess(tmp_path, extra_args=["--config", str(config)])
    try:
        assert other.sp["mch_id"] == "1900000999"
        # The new account is served: its key signs, and the answer is a business one.
        with pytest.raises(WeChatPayException) as e:
            other.wechat().order.query(out_trade_no="NONE")
        assert e.value.errcode == "ORDERNOTEXIST"
        assert other.accounts["alipay"]["isv_apps"] == sandbox.accounts["alipay"]["isv_apps"]
    finally:
        other.stop()


def test_control_and_payer_endpoints_refuse_bad_input_without_500(sandbox):
    base = sandbox.base_url
    cases = [
        requests.post(f"{base}/sandbox/faults", data="{", timeout=10),
        requests.post(f"{base}/sandbox/faults", json={"notify_drop_rate": 3}, timeout=10),
        requests.post(f"{base}/sandbox/wechat/pay", data="x", timeout=10),
        requests.post(f"{base}/sandbox/alipay/pay", json={"qr_code": "nope"}, timeout=10),
        requests.get(f"{base}/nowhere", timeout=10),
        requests.post(f"{base}/sandbox/cashier", data={"kind": "mystery"}, timeout=10),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
    # The gateway with nothing at all answers Alipay-style.
    empty = requests.get(f"{base}/gateway.do", timeout=10)
    assert empty.status_code == 200
    assert empty.json()["error_response"]["sub_code"] == "isv.missing-app-id"
    assert requests.get(f"{base}/sandbox/faults", timeout=10).json()["notify_drop_rate"] == 0.0
