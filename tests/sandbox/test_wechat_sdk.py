"""The WeChat Pay simulator driven by wechatpy 1.8.18, unchanged, as a service provider would:
orders, queries, closes, refunds, refund queries, bills, and notifies verified by wechatpy."""

import gzip
import time
import uuid

import pytest
import requests
import xmltodict
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay.utils import calculate_signature, dict_to_xml

import sandbox_process
from sandbox_process import SandboxProcess, eventually, shanghai_today


def new_no(prefix="WX"):
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def create(client, out_trade_no, notify_url, total_fee=88, **kwargs):
    args = dict(trade_type="JSAPI", body="咖啡 coffee", total_fee=total_fee, notify_url=notify_url,
                client_ip="127.0.0.1", out_trade_no=out_trade_no)
    if client.sub_appid:
        args["sub_user_id"] = "oSubUser0001"
    else:
        args["user_id"] = "oSpUser0001"
    args.update(kwargs)
    return client.order.create(**args)


def test_an_order_is_created_paid_notified_and_queried(sandbox, receiver):
    wx = sandbox.wechat()
    no = new_no()
    r = create(wx, no, f"{receiver.url}/wx/pay", attach="cart-7")
    assert r["result_code"] == "SUCCESS" and len(r["prepay_id"]) == 36
    assert wx.order.query(out_trade_no=no)["trade_state"] == "NOTPAY"

    paid = sandbox.pay_wechat(r["prepay_id"], openid="oSubUser0001")
    assert paid.status_code == 200, paid.text
    notify = receiver.wait_for(1)[0]
    data = wx.parse_payment_result(notify["body"])  # verifies the MD5 signature
    assert data["result_code"] == "SUCCESS"
    assert data["out_trade_no"] == no
    assert data["total_fee"] == 88 and data["cash_fee"] == 88
    assert data["sub_mch_id"] == wx.sub_mch_id and data["sub_appid"] == wx.sub_appid
    assert data["sub_openid"] == "oSubUser0001" and data["attach"] == "cart-7"
    assert len(data["time_end"]) == 14

    q = wx.order.query(transaction_id=data["transaction_id"])
    assert q["trade_state"] == "SUCCESS" and q["out_trade_no"] == no
    assert q["transaction_id"] == data["transaction_id"]


def test_an_official_account_order_uses_openid_without_sub_appid(sandbox, receiver):
    wx = sandbox.wechat(app=None)
    no = new_no()
    r = create(wx, no, f"{receiver.url}/wx/pay")
    sandbox.pay_wechat(r["prepay_id"])
    data = wx.parse_payment_result(receiver.wait_for(1)[0]["body"])
    assert data["openid"] == "oSpUser0001"
    assert "sub_openid" not in data


def test_a_mini_program_order_is_bound_to_its_sub_merchant(sandbox):
    mini = sandbox.wechat(app=1)
    assert sandbox.sp["sub_merchants"][0]["appids"][1]["kind"] == "miniapp"
    assert create(mini, new_no(), "http://127.0.0.1:9/n")["result_code"] == "SUCCESS"
    # The other sub-merchant's appid is not bound to this one.
    stranger = sandbox.wechat(app=None)
    stranger.sub_appid = sandbox.sp["sub_merchants"][1]["appids"][0]["appid"]
    with pytest.raises(WeChatPayException) as e:
        create(stranger, new_no(), "http://127.0.0.1:9/n")
    assert e.value.errcode == "APPID_MCHID_NOT_MATCH"


def test_the_same_order_twice_gives_the_same_prepay_id_and_changed_is_out_trade_no_used(sandbox):
    wx = sandbox.wechat()
    no = new_no()
    # wechatpy stamps time_start/time_expire itself: pin them so a retry repeats them.
    import datetime
    start = datetime.datetime.now() + datetime.timedelta(hours=8)
    times = dict(time_start=start, time_expire=start + datetime.timedelta(hours=1))
    first = create(wx, no, "http://127.0.0.1:9/n", **times)
    again = create(wx, no, "http://127.0.0.1:9/n", **times)
    assert first["prepay_id"] == again["prepay_id"]
    with pytest.raises(WeChatPayException) as e:
        create(wx, no, "http://127.0.0.1:9/n", total_fee=89, **times)
    assert e.value.errcode == "OUT_TRADE_NO_USED"
    calls = sandbox.state()["wechat"]["unifiedorder_calls"][no]
    assert calls == 3


def test_rejections_reach_wechatpy_as_documented_errors(sandbox):
    wx = sandbox.wechat()
    with pytest.raises(WeChatPayException) as e:
        create(wx, new_no(), "http://127.0.0.1:9/n?with=query")
    assert (e.value.return_code, e.value.errcode) == ("SUCCESS", "INVALID_REQUEST")
    with pytest.raises(WeChatPayException) as e:
        create(wx, "X" * 33, "http://127.0.0.1:9/n")
    assert e.value.errcode == "INVALID_REQUEST"
    with pytest.raises(WeChatPayException) as e:
        wx.order.query(out_trade_no=new_no())
    assert e.value.errcode == "ORDERNOTEXIST"

    wrong_key = sandbox.wechat()
    wrong_key.api_key = "0" * 32
    with pytest.raises(WeChatPayException) as e:
        wrong_key.order.query(out_trade_no=new_no())
    assert (e.value.return_code, e.value.return_msg) == ("FAIL", "签名错误")

    foreign = sandbox.wechat(app=None)
    foreign.sub_mch_id = "1999999999"
    with pytest.raises(WeChatPayException) as e:
        foreign.order.query(out_trade_no=new_no())
    assert e.value.errcode == "NOAUTH"


def test_an_hmac_sha256_order_is_accepted(sandbox):
    wx = sandbox.wechat()
    r = create(wx, new_no(), "http://127.0.0.1:9/n", sign_type="HMAC-SHA256")
    assert r["result_code"] == "SUCCESS"


@pytest.fixture(scope="module")
def real_time_sandbox(tmp_path_factory):
    """A simulator whose channel time runs at its real pace: an order stays minutes short of
    WeChat's five-minute close age however slowly the machine runs the test."""
    saved = sandbox_process.TIME_SCALE
    sandbox_process.TIME_SCALE = "1"
    try:
        sb = SandboxProcess(tmp_path_factory.mktemp("sandbox-real-time"))
    finally:
        sandbox_process.TIME_SCALE = saved
    yield sb
    sb.stop()


def test_an_order_younger_than_five_minutes_is_not_closed(real_time_sandbox):
    wx = real_time_sandbox.wechat()
    no = new_no()
    create(wx, no, "http://127.0.0.1:9/n")
    with pytest.raises(WeChatPayException) as e:
        wx.order.close(no)
    assert e.value.errcode == "SYSTEMERROR"
    assert wx.order.query(out_trade_no=no)["trade_state"] == "NOTPAY"


def test_an_order_closes_only_after_five_minutes_of_channel_time(sandbox):
    wx = sandbox.wechat()
    no = new_no()
    placed = time.monotonic()
    r = create(wx, no, "http://127.0.0.1:9/n")

    # 300 s of channel time is 0.3 s at time scale 0.001: asked again until it closes, every
    # earlier answer being the too-early refusal.
    def close():
        try:
            return wx.order.close(no)
        except WeChatPayException as e:
            assert e.errcode == "SYSTEMERROR", e
            return None

    assert eventually(close, timeout=60, what="the order to become closable")["result_code"] == "SUCCESS"
    # Never sooner than the five minutes (a lower bound: load only adds to it).
    assert time.monotonic() - placed >= 0.3
    assert wx.order.query(out_trade_no=no)["trade_state"] == "CLOSED"
    with pytest.raises(WeChatPayException) as e:
        wx.order.close(no)
    assert e.value.errcode == "ORDERCLOSED"
    assert sandbox.pay_wechat(r["prepay_id"]).status_code == 409


def test_a_refund_is_made_once_notified_encrypted_and_queried(sandbox, receiver):
    wx = sandbox.wechat()
    no = new_no()
    r = create(wx, no, f"{receiver.url}/wx/pay", total_fee=100)
    sandbox.pay_wechat(r["prepay_id"])
    receiver.wait_for(1)
    refund_no = new_no("RF")
    first = wx.refund.apply(total_fee=100, refund_fee=30, out_refund_no=refund_no, out_trade_no=no,
                            notify_url=f"{receiver.url}/wx/refund")
    retry = wx.refund.apply(total_fee=100, refund_fee=30, out_refund_no=refund_no, out_trade_no=no,
                            notify_url=f"{receiver.url}/wx/refund")
    assert first["refund_id"] == retry["refund_id"]

    notify = receiver.wait_for(2)[1]
    assert notify["path"] == "/wx/refund"
    data = wx.parse_refund_notify_result(notify["body"])  # AES-256-ECB with md5(api key)
    assert data["out_refund_no"] == refund_no and data["out_trade_no"] == no
    assert data["refund_id"] == first["refund_id"]
    assert data["refund_fee"] == 30 and data["total_fee"] == 100
    assert data["refund_status"] == "SUCCESS" and data["success_time"]

    q = wx.refund.query(out_refund_no=refund_no)
    assert (q["refund_count"], q["refund_status_0"], q["refund_fee_0"]) == ("1", "SUCCESS", "30")
    assert wx.order.query(out_trade_no=no)["trade_state"] == "REFUND"
    with pytest.raises(WeChatPayException) as e:
        wx.refund.apply(total_fee=100, refund_fee=71, out_refund_no=new_no("RF"), out_trade_no=no)
    assert e.value.errcode == "ERROR"
    order = next(o for o in sandbox.state()["wechat"]["orders"] if o["out_trade_no"] == no)
    assert len(order["refunds"]) == 1 and order["refunds"][0]["requests"] == 2


def test_refunds_over_tls_demand_the_merchant_certificate(tls_sandbox, pki):
    bare = tls_sandbox.wechat()
    no = new_no()
    r = create(bare, no, "http://127.0.0.1:9/n", total_fee=10)
    assert tls_sandbox.pay_wechat(r["prepay_id"]).status_code == 200
    with pytest.raises(WeChatPayException) as e:
        bare.refund.apply(total_fee=10, refund_fee=10, out_refund_no=new_no("RF"), out_trade_no=no)
    assert e.value.return_code == "FAIL" and e.value.return_msg.startswith("证书错误")

    certified = tls_sandbox.wechat(mch_cert=pki["client_cert"], mch_key=pki["client_key"])
    done = certified.refund.apply(total_fee=10, refund_fee=10, out_refund_no=new_no("RF"), out_trade_no=no)
    assert done["result_code"] == "SUCCESS"
    assert tls_sandbox.state()["wechat"]["refunds_made"] == 1


def test_the_bill_lists_the_day_in_wechats_format(sandbox):
    wx = sandbox.wechat(sub=1)
    no = new_no("BILL")
    r = create(wx, no, "http://127.0.0.1:9/n", total_fee=250)
    sandbox.pay_wechat(r["prepay_id"])
    text = wx.tools.download_bill(shanghai_today())
    lines = [line for line in text.split("\r\n") if line]
    assert lines[0].startswith("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号")
    row = next(line for line in lines if f"`{no}," in line)
    cells = row.split(",")
    assert len(cells) == 27 and all(c.startswith("`") for c in cells)
    assert cells[3] == f"`{wx.sub_mch_id}" and cells[9] == "`SUCCESS" and cells[12] == "`2.50"
    assert lines[-2].startswith("总交易单数,应结订单总金额")
    assert lines[-1].startswith("`")

    with pytest.raises(WeChatPayException) as e:
        wx.tools.download_bill("20200101")
    assert (e.value.return_code, e.value.return_msg) == ("FAIL", "No Bill Exist")

    # tar_type=GZIP, which wechatpy does not expose: signed by hand the same way.
    fields = {"appid": wx.appid, "mch_id": wx.mch_id, "sub_mch_id": wx.sub_mch_id,
              "nonce_str": uuid.uuid4().hex, "bill_date": shanghai_today().strftime("%Y%m%d"),
              "bill_type": "ALL", "tar_type": "GZIP"}
    body = dict_to_xml(fields, calculate_signature(fields, wx.api_key))
    resp = requests.post(f"{sandbox.base_url}/pay/downloadbill", data=body.encode(), timeout=10)
    assert gzip.decompress(resp.content).decode("utf-8") == text


def test_unacknowledged_notifies_are_retried_until_success(sandbox, make_receiver):
    receiver = make_receiver(refuse_first=2)
    wx = sandbox.wechat()
    no = new_no()
    r = create(wx, no, f"{receiver.url}/wx/pay")
    sandbox.pay_wechat(r["prepay_id"])
    got = receiver.wait_for(3)
    assert got[0]["body"] == got[2]["body"]

    # The simulator marks the notify delivered after the acknowledged attempt and schedules
    # nothing after it.
    def delivered():
        return next((n for n in sandbox.state()["notifies"] if n["out_trade_no"] == no and n["delivered"]), None)

    record = eventually(delivered, timeout=60, what="the notify marked delivered")
    assert record["attempts"] == 3
    assert len(receiver.received) == 3


def test_a_forged_notify_fails_wechatpys_check(sandbox, receiver):
    sandbox.set_faults(notify_bad_signature_rate=1.0)
    wx = sandbox.wechat()
    r = create(wx, new_no(), f"{receiver.url}/wx/pay")
    sandbox.pay_wechat(r["prepay_id"])
    body = receiver.wait_for(1)[0]["body"]
    with pytest.raises(InvalidSignatureException):
        wx.parse_payment_result(body)
    # Same fields, right key: only the signature was wrong.
    assert xmltodict.parse(body)["xml"]["result_code"] == "SUCCESS"


def test_a_system_error_is_answered_and_the_retry_succeeds(sandbox):
    sandbox.set_faults(system_error_times=1, apis=["unifiedorder"])
    wx = sandbox.wechat()
    no = new_no()
    with pytest.raises(WeChatPayException) as e:
        create(wx, no, "http://127.0.0.1:9/n")
    assert e.value.errcode == "SYSTEMERROR"
    assert create(wx, no, "http://127.0.0.1:9/n")["result_code"] == "SUCCESS"
