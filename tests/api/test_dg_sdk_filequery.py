"""dg-sdk 2.0.28 `V2TradeCheckFilequeryRequest`, unchanged, against `nkpay demo`: a trade paid at
the sandbox, the day's statement files made with `nkpay bill generate --date <today>` (today is
made partial), then filequery with `file_date` = the trade day + 1 (Dougong's meaning) answers
the merchant's file with a signed `download_url`; the link downloads the zip (a UTF-8 CSV with a
BOM holding the trade), and an altered link is refused with 403. dg-sdk verifies every reply's
signature with the platform key."""

import csv
import datetime
import io
import json
import os
import pathlib
import subprocess
import time
import uuid
import zipfile
import zoneinfo

import dg_sdk
import pytest
import requests
from dg_sdk import DGClient, MerConfig

from conftest import BIN_DIR

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def shanghai_day(offset=0):
    return (datetime.datetime.now(SHANGHAI) + datetime.timedelta(days=offset)).strftime("%Y%m%d")


def seq():
    return "fq" + uuid.uuid4().hex[:20]


@pytest.fixture()
def merchant(platform):
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
    return c["merchants"][0]


def paid_alipay_trade(platform, merchant):
    req = dg_sdk.V2TradePaymentJspayRequest()
    req.req_date = shanghai_day()
    req.req_seq_id = seq()
    req.huifu_id = merchant["mer_id"]
    req.goods_desc = "对账单 statement"
    req.trade_type = "A_NATIVE"
    req.trans_amt = "3.21"
    data = req.post({})
    assert data["resp_code"] == "00000100", data
    r = requests.post(
        f"{platform.sandbox_url}/sandbox/alipay/pay",
        json={"qr_code": data["qr_code"], "buyer_id": "2088102100000001"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        q = dg_sdk.V2TradePaymentScanpayQueryRequest()
        q.huifu_id = merchant["mer_id"]
        q.org_req_date = req.req_date
        q.org_req_seq_id = req.req_seq_id
        trade = q.post({})
        if trade.get("trans_stat") == "S":
            return trade
        time.sleep(0.2)
    raise AssertionError(f"trade {req.req_seq_id} was never paid")


def bill_generate(platform, date):
    """`nkpay bill generate` on the demo's own database and keys, as an operator would."""
    tmp = pathlib.Path(platform.log_path).parent
    env = dict(os.environ)
    env.update(
        {
            "NKPAY__DATABASE__URL": f"sqlite://{tmp}/nkpay.db?mode=rwc",
            "NKPAY__SECRETS__MASTER_KEY_FILE": str(tmp / "master.key"),
            "NKPAY__SERVER__PUBLIC_BASE_URL": platform.base_url,
            "NKPAY__SANDBOX__ENABLED": "false",
        }
    )
    out = subprocess.run(
        [str(BIN_DIR / "nkpay"), "bill", "generate", "--date", date],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def filequery(huifu_id, file_date, bill_type=None):
    req = dg_sdk.V2TradeCheckFilequeryRequest()
    req.req_date = shanghai_day()
    req.req_seq_id = seq()
    req.huifu_id = huifu_id
    req.file_date = file_date
    return req.post({"bill_type": bill_type} if bill_type else {})


def test_filequery_gives_a_link_that_downloads_the_days_zip(platform, merchant):
    trade = paid_alipay_trade(platform, merchant)
    report = bill_generate(platform, shanghai_day())
    assert report["partial"] is True
    mer_id = merchant["mer_id"]
    assert f"{shanghai_day()}_{mer_id}_TRADE_BILL" in [f["file_id"] for f in report["files"]]

    data = filequery(mer_id, shanghai_day(1))
    assert data["resp_code"] == "00000000", data
    assert data["file_date"] == shanghai_day(1)
    assert data["data_date"] == shanghai_day()
    assert data["task_details"][0]["task_stat"] == "P", "today stays partial until the scheduled run"
    [detail] = data["file_details"]
    assert detail["bill_type"] == "TRADE_BILL"
    assert detail["huifu_id"] == mer_id
    assert detail["file_name"] == f"{shanghai_day()}_{mer_id}_TRADE_BILL.zip"
    assert detail["partial"] == "Y"

    r = requests.get(detail["download_url"], timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    [name] = archive.namelist()
    assert name == f"{shanghai_day()}_{mer_id}_order_1.csv"
    raw = archive.read(name)
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["mer_id", "req_date", "req_seq_id", "nkp_seq_id"]
    ours = [row for row in rows if len(row) > 3 and row[3] == trade["org_nkp_seq_id"] + "\t"]
    assert len(ours) == 1, rows
    assert ours[0][9] == "3.21"

    tampered = detail["download_url"].replace("sign=", "sign=0", 1)
    assert requests.get(tampered, timeout=10).status_code == 403
    other = detail["download_url"].replace("TRADE_BILL", "SETTLE_BILL", 1)
    assert requests.get(other, timeout=10).status_code == 403

    # The service provider's own combined settlement file.
    data = filequery(platform.credentials["sys_id"], shanghai_day(1), "SETTLE_BILL")
    assert data["resp_code"] == "00000000", data
    assert [d["file_name"] for d in data["file_details"]] == [
        f"{shanghai_day()}_{platform.credentials['sys_id']}_SETTLE_BILL.zip"
    ]
