"""dg-sdk 2.0.28 drives the business endpoints unchanged against `nkpay demo`:
`V2MerchantBusiOpenRequest` (busi/open with `wx_conf_list` as the JSON-array string the SDK
passes through `extend_infos`), `V2MerchantBusiConfigRequest` (a JSAPI directory and an
official-account appid bound through the sandbox's `addsubdevconfig`, then paid in by
`T_JSAPI`) and `V2MerchantBusiConfigQueryRequest` (the bindings with their states and what
WeChat reports upstream). The SDK verifies every reply's signature with the platform key."""

import datetime
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
    return "pyb" + uuid.uuid4().hex[:20]


@pytest.fixture()
def provider(platform):
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(
        c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"]
    )
    return c


def wechat_merchant(c):
    return next(m for m in c["merchants"] if m["wx_mp_appids"])


def test_busi_open_answers_each_business_state_and_replays(provider):
    m = wechat_merchant(provider)
    req = dg_sdk.V2MerchantBusiOpenRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.huifu_id = m["mer_id"]
    req.upper_huifu_id = provider["sys_id"]
    extend = {
        "wx_conf_list": json.dumps([{"pay_scene": "1", "fee_rate": "0.38"}]),
        "busi_async_return_url": "virgo://http://127.0.0.1:9/busi",
    }
    first = req.post(extend)
    assert first["resp_code"] == "00000000", first
    assert first["huifu_id"] == m["mer_id"]
    # The demo's merchant is already open on WeChat: it stays S.
    assert first["wx_busi_stat"] == "S", first
    assert json.loads(first["busi_list"])[0]["fee_rate"] == "0.38"
    again = req.post(extend)
    assert again == first

    bad = dg_sdk.V2MerchantBusiOpenRequest()
    bad.req_date = today()
    bad.req_seq_id = seq()
    bad.huifu_id = m["mer_id"]
    bad.upper_huifu_id = provider["sys_id"]
    refused = bad.post({"wx_conf_list": json.dumps([{"pay_scene": "1", "fee_rate": "101"}])})
    assert refused["resp_code"] == "10000000", refused
    assert refused["resp_desc"].startswith("wx_conf_list.fee_rate"), refused


def test_busi_config_binds_through_wechat_and_the_appid_pays(platform, provider):
    m = wechat_merchant(provider)
    appid = "wx" + uuid.uuid4().hex[:16]
    path = f"https://py-{uuid.uuid4().hex[:8]}.example/pay/"
    req = dg_sdk.V2MerchantBusiConfigRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.huifu_id = m["mer_id"]
    req.fee_type = "02"
    req.wx_woa_app_id = appid
    req.wx_woa_path = path
    data = req.post({})
    assert data["resp_code"] == "00000000", data
    assert data["config_stat"] == "S", data
    binds = json.loads(data["bind_list"])
    assert [(b["bind_type"], b["value"], b["bind_stat"]) for b in binds] == [
        ("wx_woa_path", path, "S"),
        ("wx_woa_app_id", appid, "S"),
    ]
    state = requests.get(f"{platform.sandbox_url}/sandbox/state", timeout=10).json()
    configs = state["wechat"]["sub_dev_configs"][data["sub_mch_id"]]
    assert path in configs["jsapi_paths"] and appid in configs["appids"], configs

    pay = dg_sdk.V2TradePaymentJspayRequest()
    pay.req_date = today()
    pay.req_seq_id = seq()
    pay.huifu_id = m["mer_id"]
    pay.goods_desc = "拿铁咖啡 x1"
    pay.trade_type = "T_JSAPI"
    pay.trans_amt = "0.10"
    paid = pay.post({"wx_data": json.dumps({"sub_appid": appid, "sub_openid": "oPy1"})})
    assert paid["resp_code"] == "00000100", paid

    q = dg_sdk.V2MerchantBusiConfigQueryRequest()
    q.req_date = today()
    q.req_seq_id = seq()
    q.huifu_id = m["mer_id"]
    got = q.post({})
    assert got["resp_code"] == "00000000", got
    assert got["wx_busi_stat"] == "S"
    values = {b["value"]: b["bind_stat"] for b in json.loads(got["bind_list"])}
    assert values[appid] == "S" and values[path] == "S", values
    upstream = json.loads(got["upstream_conf"])
    assert upstream["source"] == "wechat.querysubdevconfig"
    assert path in upstream["jsapi_path_list"] and appid in upstream["appid_config_list"], upstream
