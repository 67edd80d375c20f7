"""The official Dougong SDK (dg-sdk) drives jspay, query and close against `nkpay demo`.

dg-sdk signs requests its own way and returns only `data` after verifying the platform's
signature with the configured public key (it raises otherwise), so every call here also proves
both signatures. Fields the SDK's request classes do not name (our `org_nkp_seq_id`, `wx_data`
…) go through `extend_infos`, as a merchant would pass them."""

import datetime
import hashlib
import json
import uuid
import zoneinfo

import dg_sdk
import pytest
import requests
from dg_sdk import DGClient, MerConfig

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def today():
    return datetime.datetime.now(SHANGHAI).strftime("%Y%m%d")


def seq():
    return "py" + uuid.uuid4().hex[:20]


@pytest.fixture()
def as_merchant(platform):
    """Configure dg-sdk as the demo service provider acting for its first merchant."""
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(
        c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"]
    )
    return c["merchants"][0]


def jspay(merchant, trade_type, amount, extend):
    req = dg_sdk.V2TradePaymentJspayRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.huifu_id = merchant["mer_id"]
    req.goods_desc = "拿铁咖啡 x1"
    req.trade_type = trade_type
    req.trans_amt = amount
    return req, req.post(extend)


def query(merchant, req_date, req_seq_id):
    q = dg_sdk.V2TradePaymentScanpayQueryRequest()
    q.huifu_id = merchant["mer_id"]
    q.org_req_date = req_date
    q.org_req_seq_id = req_seq_id
    return q.post({})


def wait_paid(merchant, req):
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = query(merchant, req.req_date, req.req_seq_id)
        assert data["resp_code"] == "00000000", data
        if data["trans_stat"] == "S":
            return data
        time.sleep(0.2)
    raise AssertionError(f"trade {req.req_seq_id} never became S: {data}")


def wechat_pay_sign(fields, api_key):
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "paySign" and fields[k] != "")
    text += "&key=" + api_key
    if fields["signType"] == "MD5":
        return hashlib.md5(text.encode()).hexdigest().upper()
    import hmac

    return hmac.new(api_key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def test_jsapi_with_sub_appid_pays_and_query_agrees(platform, as_merchant):
    m = as_merchant
    sub_appid = m["wx_mp_appids"][0]
    req, data = jspay(
        m,
        "T_JSAPI",
        "1.23",
        {"wx_data": json.dumps({"sub_appid": sub_appid, "sub_openid": "o_demo_payer_1"}), "remark": "桌号 7"},
    )
    assert data["resp_code"] == "00000100", data
    assert data["trans_stat"] == "P"
    assert data["trans_amt"] == "1.23"
    assert data["remark"] == "桌号 7"
    pay_info = json.loads(data["pay_info"])
    assert pay_info["appId"] == sub_appid
    # paySign recomputed here, independently, with the SP API key the sandbox serves.
    api_key = platform.credentials["sandbox_accounts"]["wechat"]["service_providers"][0]["api_key"]
    assert pay_info["paySign"] == wechat_pay_sign(pay_info, api_key)

    prepay_id = pay_info["package"].removeprefix("prepay_id=")
    r = requests.post(
        f"{platform.sandbox_url}/sandbox/wechat/pay",
        json={"prepay_id": prepay_id, "openid": "o_demo_payer_1", "result": "SUCCESS"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    paid = wait_paid(m, req)
    assert paid["trans_amt"] == "1.23"
    assert paid["org_req_seq_id"] == req.req_seq_id
    assert paid["party_order_id"]
    assert paid["end_time"] and len(paid["end_time"]) == 14


def test_hosted_openid_uses_the_platform_appid(platform, as_merchant):
    m = as_merchant
    _, data = jspay(m, "T_JSAPI", "0.01", {"wx_data": {"openid": "o_platform_payer"}})
    assert data["resp_code"] == "00000100", data
    sp_appid = platform.credentials["sandbox_accounts"]["wechat"]["service_providers"][0]["appid"]
    assert json.loads(data["pay_info"])["appId"] == sp_appid


def test_alipay_native_pays_and_close_of_another_succeeds(platform, as_merchant):
    m = as_merchant
    req, data = jspay(m, "A_NATIVE", "8.80", {})
    assert data["resp_code"] == "00000100", data
    qr = data["qr_code"]
    r = requests.post(
        f"{platform.sandbox_url}/sandbox/alipay/pay",
        json={"qr_code": qr, "buyer_id": "2088102100000001", "result": "SUCCESS"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert wait_paid(m, req)["trans_amt"] == "8.80"

    other, data = jspay(m, "A_NATIVE", "2.00", {})
    assert data["resp_code"] == "00000100", data
    close = dg_sdk.V2TradePaymentScanpayCloseRequest()
    close.req_date = today()
    close.req_seq_id = seq()
    close.huifu_id = m["mer_id"]
    close.org_req_date = other.req_date
    closed = close.post({"org_req_seq_id": other.req_seq_id})
    assert closed["resp_code"] == "00000000", closed
    assert closed["trans_stat"] == "S"
    assert query(m, other.req_date, other.req_seq_id)["trans_stat"] == "F"


def test_same_request_replays_and_changed_content_is_a_duplicate(platform, as_merchant):
    m = as_merchant
    req, first = jspay(m, "A_NATIVE", "3.00", {})
    again = req.post({})
    assert again["nkp_seq_id"] == first["nkp_seq_id"]
    assert again["qr_code"] == first["qr_code"]
    req.trans_amt = "3.01"
    changed = req.post({})
    assert changed["resp_code"] == "20000000", changed


def test_parameter_errors_name_the_field(platform, as_merchant):
    _, data = jspay(as_merchant, "A_NATIVE", "1.0", {})
    assert data["resp_code"] == "10000000"
    assert "trans_amt" in data["resp_desc"]
    _, data = jspay(as_merchant, "T_MINIAPP", "1.00", {"wx_data": {"openid": "o_x"}})
    assert data["resp_code"] in ("10000000", "22000001")
    assert "sub_appid" in data["resp_desc"]


def test_a_forged_request_is_refused_with_a_signed_reply(platform):
    c = platform.credentials
    body = {
        "sys_id": c["sys_id"],
        "product_id": c["product_id"],
        "data": {"huifu_id": c["merchants"][0]["mer_id"], "org_req_date": today(), "org_req_seq_id": "x"},
        "sign": "AAAA",
    }
    r = requests.post(f"{c['base_url']}/v2/trade/payment/scanpay/query", json=body, timeout=10)
    assert r.status_code == 200
    reply = r.json()
    assert reply["data"]["resp_code"] == "10000001"
    ok, _ = dg_sdk.core.api_request.verify_sign(reply["sign"], reply["data"], c["platform_public_key"])
    assert ok
    assert r.headers["X-Nkp-Key-Id"]
