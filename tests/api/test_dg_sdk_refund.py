"""The official Dougong SDK (dg-sdk) refunds and queries refunds against `nkpay demo`.

Each test first pays a trade at the sandbox's payer endpoint, as a buyer would. Refunds go
through dg_sdk.V2TradePaymentScanpayRefundRequest and V2TradePaymentScanpayRefundqueryRequest;
the fields the SDK classes do not name (our `org_req_seq_id`, `org_nkp_seq_id`,
`org_party_order_id`) go through `extend_infos`. dg-sdk verifies every reply's signature with
the platform key and raises otherwise, so each call also proves both signatures."""

import datetime
import json
import time
import uuid
import zoneinfo
from decimal import Decimal

import dg_sdk
import pytest
from dg_sdk import DGClient, MerConfig

from conftest import pay_at_sandbox

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A WeChat refund settles at the simulator 5 s after it is made (real time in the demo).
SETTLE_WAIT = 60


def today():
    return datetime.datetime.now(SHANGHAI).strftime("%Y%m%d")


def seq():
    return "rf" + uuid.uuid4().hex[:20]


@pytest.fixture()
def merchant(platform):
    """dg-sdk configured as the demo service provider acting for its first merchant."""
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
    return c["merchants"][0]


def create_trade(merchant, trade_type, amount):
    req = dg_sdk.V2TradePaymentJspayRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.huifu_id = merchant["mer_id"]
    req.goods_desc = "退款测试 refund test"
    req.trade_type = trade_type
    req.trans_amt = amount
    extend = {}
    if trade_type == "T_JSAPI":
        extend["wx_data"] = json.dumps({"sub_appid": merchant["wx_mp_appids"][0], "sub_openid": "o_refund_payer"})
    data = req.post(extend)
    assert data["resp_code"] == "00000100", data
    return req, data


def query_trade(merchant, req):
    q = dg_sdk.V2TradePaymentScanpayQueryRequest()
    q.huifu_id = merchant["mer_id"]
    q.org_req_date = req.req_date
    q.org_req_seq_id = req.req_seq_id
    data = q.post({})
    assert data["resp_code"] == "00000000", data
    return data


def paid_trade(platform, merchant, trade_type, amount):
    """A trade paid at the sandbox's payer endpoint; returns the request and the trade query."""
    req, data = create_trade(merchant, trade_type, amount)
    pay_at_sandbox(platform.sandbox_url, trade_type, data, timeout=10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        trade = query_trade(merchant, req)
        if trade["trans_stat"] == "S":
            return req, trade
        time.sleep(0.2)
    raise AssertionError(f"trade {req.req_seq_id} was never paid: {trade}")


def refund(merchant, trade_req, amount, extend):
    r = dg_sdk.V2TradePaymentScanpayRefundRequest()
    r.req_date = today()
    r.req_seq_id = seq()
    r.huifu_id = merchant["mer_id"]
    r.ord_amt = amount
    r.org_req_date = trade_req.req_date
    return r, r.post(extend)


def query_refund(merchant, refund_req=None, extend=None):
    q = dg_sdk.V2TradePaymentScanpayRefundqueryRequest()
    q.huifu_id = merchant["mer_id"]
    if refund_req is not None:
        q.org_req_date = refund_req.req_date
        q.org_req_seq_id = refund_req.req_seq_id
    data = q.post(extend or {})
    assert data["resp_code"] == "00000000", data
    return data


def wait_refund_final(merchant, refund_req):
    deadline = time.monotonic() + SETTLE_WAIT
    while time.monotonic() < deadline:
        data = query_refund(merchant, refund_req)
        if data["trans_stat"] != "P":
            return data
        time.sleep(0.5)
    raise AssertionError(f"refund {refund_req.req_seq_id} still processing: {data}")


def test_wechat_partial_refunds_reach_exactly_the_paid_amount(platform, merchant):
    trade_req, trade = paid_trade(platform, merchant, "T_JSAPI", "2.00")

    first_req, first = refund(merchant, trade_req, "1.50", {"org_req_seq_id": trade_req.req_seq_id})
    assert first["resp_code"] == "00000100", first
    assert first["trans_stat"] == "P"
    assert first["ord_amt"] == "1.50"
    assert first["org_nkp_seq_id"] == trade["org_nkp_seq_id"]
    assert first["nkp_seq_id"] and first["nkp_seq_id"] != trade["org_nkp_seq_id"]

    # 0.50 is left, counting the refund still in flight.
    _, over = refund(merchant, trade_req, "0.51", {"org_req_seq_id": trade_req.req_seq_id})
    assert over["resp_code"] == "23000003", over
    assert "ord_amt" in over["resp_desc"]

    second_req, second = refund(merchant, trade_req, "0.50", {"org_nkp_seq_id": trade["org_nkp_seq_id"]})
    assert second["resp_code"] == "00000100", second

    returned = []
    for req, amount in ((first_req, "1.50"), (second_req, "0.50")):
        done = wait_refund_final(merchant, req)
        assert done["trans_stat"] == "S", done
        assert done["ord_amt"] == amount
        assert done["org_req_seq_id"] == req.req_seq_id
        assert done["trade_nkp_seq_id"] == trade["org_nkp_seq_id"]
        assert len(done["end_time"]) == 14
        returned.append(Decimal(done["fee_amt"]))

    after = query_trade(merchant, trade_req)
    assert after["refunded_amt"] == "2.00", after
    assert after["trans_stat"] == "S"
    # Refunding the whole amount returns exactly the whole fee (docs/statements.md "Fees").
    assert sum(returned) == Decimal(after["fee_amt"]), (returned, after)
    _, none_left = refund(merchant, trade_req, "0.01", {"org_req_seq_id": trade_req.req_seq_id})
    assert none_left["resp_code"] == "23000003", none_left


def test_alipay_full_refund_by_channel_order_number_succeeds_and_replays(platform, merchant):
    trade_req, trade = paid_trade(platform, merchant, "A_NATIVE", "8.80")
    party = trade["party_order_id"]
    assert party

    req, data = refund(merchant, trade_req, "8.80", {"org_party_order_id": party, "remark": "整单退款"})
    assert data["resp_code"] == "00000000", data
    assert data["trans_stat"] == "S"
    assert data["remark"] == "整单退款"
    assert data["party_order_id"] == party

    again = req.post({"org_party_order_id": party, "remark": "整单退款"})
    assert again == data
    changed = req.post({"org_party_order_id": party, "remark": "另一个"})
    assert changed["resp_code"] == "20000000", changed

    by_id = query_refund(merchant, extend={"org_nkp_seq_id": data["nkp_seq_id"]})
    assert by_id["trans_stat"] == "S"
    assert by_id["org_req_seq_id"] == req.req_seq_id
    assert by_id["refunded_amt"] == "8.80"
    assert query_trade(merchant, trade_req)["refunded_amt"] == "8.80"


def test_refund_of_an_unpaid_or_unknown_trade_is_refused(platform, merchant):
    trade_req, _ = create_trade(merchant, "A_NATIVE", "1.00")
    _, unpaid = refund(merchant, trade_req, "1.00", {"org_req_seq_id": trade_req.req_seq_id})
    assert unpaid["resp_code"] == "23000002", unpaid

    _, unknown = refund(merchant, trade_req, "1.00", {"org_req_seq_id": "no-such-trade"})
    assert unknown["resp_code"] == "23000001", unknown

    q = dg_sdk.V2TradePaymentScanpayRefundqueryRequest()
    q.huifu_id = merchant["mer_id"]
    q.org_req_date = today()
    q.org_req_seq_id = "no-such-refund"
    assert q.post({})["resp_code"] == "23000001"
