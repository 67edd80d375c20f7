"""The Alipay gateway simulator driven by python-alipay-sdk 3.4.0 (ISVAliPay, unchanged, with
_gateway pointed at it): precreate, query, close, refund, refund query, bill download, and
notifies verified with AliPay.verify."""

import io
import urllib.parse
import uuid
import zipfile

import pytest
import requests
from alipay import ISVAliPay
from alipay.exceptions import AliPayException
from Cryptodome.PublicKey import RSA

from sandbox_process import shanghai_today


def new_no(prefix="AP"):
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def precreate(ali, out_trade_no, notify_url=None, amount="1.00", **kwargs):
    r = ali.api_alipay_trade_precreate(subject="茶 tea", out_trade_no=out_trade_no, total_amount=amount,
                                       notify_url=notify_url, **kwargs)
    assert r["code"] == "10000", r
    return r["qr_code"]


def verified_notify(sandbox, notify) -> dict:
    data = dict(urllib.parse.parse_qsl(notify["body"], keep_blank_values=True))
    sign = data.pop("sign")
    assert sandbox.alipay_verifier().verify(dict(data), sign), "notify signature"
    return data


def test_a_qr_code_is_paid_notified_and_queried(sandbox, receiver):
    ali = sandbox.alipay()
    no = new_no()
    qr = precreate(ali, no, f"{receiver.url}/ali/notify")
    assert qr.startswith(f"{sandbox.base_url}/sandbox/cashier?qr=")
    paid = sandbox.pay_alipay(qr, buyer_id="2088102000000123")
    assert paid.status_code == 200, paid.text

    notify = receiver.wait_for(1)[0]
    assert notify["content_type"].startswith("application/x-www-form-urlencoded")
    data = verified_notify(sandbox, notify)
    assert data["notify_type"] == "trade_status_sync" and data["trade_status"] == "TRADE_SUCCESS"
    assert data["out_trade_no"] == no and data["total_amount"] == "1.00"
    assert data["app_id"] == sandbox.isv["app_id"]
    grant = sandbox.isv["grants"][0]
    assert (data["auth_app_id"], data["seller_id"]) == (grant["auth_app_id"], grant["user_id"])
    assert data["buyer_id"] == "2088102000000123" and data["subject"] == "茶 tea"

    q = ali.api_alipay_trade_query(out_trade_no=no)
    assert (q["code"], q["trade_status"], q["trade_no"]) == ("10000", "TRADE_SUCCESS", data["trade_no"])
    assert q["buyer_user_id"] == "2088102000000123" and q["send_pay_date"] == data["gmt_payment"]


def test_before_the_scan_there_is_no_trade_and_the_qr_code_outlives_a_close(sandbox, receiver):
    ali = sandbox.alipay()
    no = new_no()
    qr = precreate(ali, no, f"{receiver.url}/ali/notify")
    q = ali.api_alipay_trade_query(out_trade_no=no)
    assert (q["code"], q["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")
    c = ali.api_alipay_trade_close(out_trade_no=no)
    assert (c["code"], c["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")
    assert sandbox.pay_alipay(qr).status_code == 200
    assert verified_notify(sandbox, receiver.wait_for(1)[0])["trade_status"] == "TRADE_SUCCESS"


def test_a_scanned_trade_can_be_closed_and_then_not_paid(sandbox):
    ali = sandbox.alipay()
    no = new_no()
    qr = precreate(ali, no)
    assert sandbox.scan_alipay(qr).status_code == 200
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "WAIT_BUYER_PAY"
    closed = ali.api_alipay_trade_close(out_trade_no=no)
    assert closed["code"] == "10000"
    assert ali.api_alipay_trade_query(out_trade_no=no)["trade_status"] == "TRADE_CLOSED"
    assert sandbox.pay_alipay(qr).status_code == 409


def test_refunds_move_money_once_per_out_request_no(sandbox, receiver):
    ali = sandbox.alipay()
    no = new_no()
    qr = precreate(ali, no, f"{receiver.url}/ali/notify", amount="10.00")
    sandbox.pay_alipay(qr)
    receiver.wait_for(1)
    first = ali.api_alipay_trade_refund(refund_amount="4.00", out_trade_no=no, out_request_no="R1")
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "4.00")
    retry = ali.api_alipay_trade_refund(refund_amount="4.00", out_trade_no=no, out_request_no="R1")
    assert (retry["code"], retry["fund_change"], retry["refund_fee"]) == ("10000", "N", "4.00")
    over = ali.api_alipay_trade_refund(refund_amount="6.01", out_trade_no=no, out_request_no="R2")
    assert (over["code"], over["sub_code"]) == ("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR")

    q = ali.api_alipay_trade_fastpay_refund_query("R1", out_trade_no=no)
    assert (q["code"], q["refund_status"], q["refund_amount"]) == ("10000", "REFUND_SUCCESS", "4.00")
    missing = ali.api_alipay_trade_fastpay_refund_query("R9", out_trade_no=no)
    assert missing["code"] == "10000" and "refund_status" not in missing

    got = receiver.wait_for(2)
    refund_notify = verified_notify(sandbox, got[1])
    assert (refund_notify["out_biz_no"], refund_notify["refund_fee"]) == ("R1", "4.00")
    trade = next(t for t in sandbox.state()["alipay"]["trades"] if t["out_trade_no"] == no)
    assert [(r["out_request_no"], r["requests"]) for r in trade["refunds"]] == [("R1", 2)]


def test_the_bill_is_a_zip_of_two_gbk_csvs(sandbox):
    ali = sandbox.alipay(grant=1)
    no = new_no("BILL")
    qr = precreate(ali, no, amount="3.00")
    sandbox.pay_alipay(qr)
    ali.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no, out_request_no="B1")
    r = ali.server_api("alipay.data.dataservice.bill.downloadurl.query",
                       biz_content={"bill_type": "trade", "bill_date": shanghai_today().isoformat()})
    assert r["code"] == "10000", r
    archive = zipfile.ZipFile(io.BytesIO(requests.get(r["bill_download_url"], timeout=10).content))
    user_id = sandbox.isv["grants"][1]["user_id"]
    stamp = shanghai_today().strftime("%Y%m%d")
    names = sorted(archive.namelist())
    assert names == sorted([f"{user_id}_{stamp}_业务明细.csv", f"{user_id}_{stamp}_业务明细(汇总).csv"])
    detail = archive.read(f"{user_id}_{stamp}_业务明细.csv").decode("gbk")
    lines = detail.splitlines()
    assert lines[0] == "#支付宝业务明细查询" and lines[1] == f"#账号：[{user_id}]"
    assert lines[4].startswith("支付宝交易号,商户订单号,业务类型")
    rows = [line.split(",") for line in lines if f",{no}," in line]
    assert [(r[2], r[11]) for r in rows] == [("交易", "3.00"), ("退款", "-1.00")]
    assert lines[-2].startswith("#交易合计：") and lines[-1].startswith("#导出时间：")
    summary = archive.read(f"{user_id}_{stamp}_业务明细(汇总).csv").decode("gbk")
    assert summary.splitlines()[4].startswith("门店编号,门店名称,交易订单总笔数")


def test_gateway_rejections_reach_the_sdk_as_documented_codes(sandbox):
    ali = sandbox.alipay()
    unknown_token = sandbox.alipay(token="202511BBnot-a-grant")
    r = unknown_token.api_alipay_trade_query(out_trade_no=new_no())
    assert (r["code"], r["sub_code"]) == ("20001", "aop.invalid-app-auth-token")

    # Signed with a key that is not the app's.
    other_key = RSA.generate(2048).export_key().decode()
    forger = ISVAliPay(appid=sandbox.isv["app_id"], app_private_key_string=other_key,
                       alipay_public_key_string=sandbox.isv["alipay_public_key"],
                       app_auth_token=sandbox.isv["grants"][0]["app_auth_token"])
    forger._gateway = sandbox.accounts["alipay"]["gateway_url"]
    r = forger.api_alipay_trade_query(out_trade_no=new_no())
    assert (r["code"], r["sub_code"]) == ("40002", "isv.invalid-signature")

    r = ali.api_alipay_trade_precreate(subject="s", out_trade_no=new_no(), total_amount="0.001")
    assert (r["code"], r["sub_code"]) == ("40004", "ACQ.INVALID_PARAMETER")
    r = ali.server_api("alipay.trade.query", biz_content={"query_options": ["x"]})
    assert (r["code"], r["sub_code"]) == ("40001", "isv.missing-parameter")

    # An unknown app cannot be answered with a signature: the SDK raises.
    stranger = sandbox.alipay()
    stranger._appid = "2021999999999999"
    with pytest.raises(AliPayException) as e:
        stranger.api_alipay_trade_query(out_trade_no=new_no())
    assert "isv.invalid-app-id" in str(e.value)


def test_a_system_error_and_a_retry_on_the_same_out_request_no(sandbox):
    ali = sandbox.alipay()
    no = new_no()
    sandbox.pay_alipay(precreate(ali, no))
    sandbox.set_faults(system_error_times=1, system_error_after_processing=True, apis=["alipay.trade.refund"])
    failed = ali.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no, out_request_no="S1")
    assert (failed["code"], failed["sub_code"]) == ("40004", "ACQ.SYSTEM_ERROR")
    retry = ali.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=no, out_request_no="S1")
    # The first call did refund: the retry says so without moving money again.
    assert (retry["code"], retry["fund_change"]) == ("10000", "N")


def test_the_cashier_page_scans_and_pays(sandbox, receiver):
    ali = sandbox.alipay()
    no = new_no()
    qr = precreate(ali, no, f"{receiver.url}/ali/notify")
    page = requests.get(qr, timeout=10)
    assert page.headers["content-type"].startswith("text/html")
    assert no in page.text and "WAIT_BUYER_PAY" in page.text and "1.00" in page.text
    token = urllib.parse.parse_qs(urllib.parse.urlparse(qr).query)["qr"][0]
    done = requests.post(f"{sandbox.base_url}/sandbox/cashier",
                         data={"kind": "alipay", "qr": token, "payer": "", "result": "SUCCESS"}, timeout=10)
    assert "Paid" in done.text
    assert verified_notify(sandbox, receiver.wait_for(1)[0])["trade_status"] == "TRADE_SUCCESS"
