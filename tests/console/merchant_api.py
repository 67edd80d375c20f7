"""What the browser tests need done through the merchant API, as a service provider does it
with the official dg-sdk (run with the repository's .venv python; prints one JSON object):

  merchant_api.py apply CREDENTIALS SYS_ID PRODUCT_ID KEY_FILE
      an enterprise application (basicdata/ent) under SYS_ID signed with KEY_FILE → {"mer_id", "apply_no"}
  merchant_api.py pay CREDENTIALS NOTIFY_URL AMOUNT
      an Alipay QR trade of the demo's first merchant, paid at the simulator, waited until S
      → {"nkp_seq_id", "req_seq_id", "req_date", "mer_id", "trans_amt"}

The request builders are the cross-process tests' own (tests/api)."""

import json
import pathlib
import sys

import requests
from dg_sdk import DGClient, MerConfig

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "api"))
from test_dg_sdk_interop import jspay, wait_paid  # noqa: E402
from test_dg_sdk_onboarding import ent_request  # noqa: E402


def configure(c, private_key, sys_id, product_id):
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(private_key, c["platform_public_key"], sys_id, product_id)


def apply(c, sys_id, product_id, key_file):
    configure(c, pathlib.Path(key_file).read_text(), sys_id, product_id)
    data = ent_request(sys_id).post({"async_return_url": c["base_url"] + "/healthz"})
    if data.get("resp_code") != "00000000":
        raise SystemExit(f"basicdata/ent refused: {data}")
    return {"mer_id": data["huifu_id"], "apply_no": data["apply_no"]}


def pay(c, notify_url, amount):
    configure(c, c["private_key"], c["sys_id"], c["product_id"])
    m = c["merchants"][0]
    req, data = jspay(m, "A_NATIVE", amount, {"notify_url": notify_url})
    if data.get("resp_code") != "00000100":
        raise SystemExit(f"jspay refused: {data}")
    r = requests.post(
        f"{c['sandbox_url']}/sandbox/alipay/pay",
        json={"qr_code": data["qr_code"], "buyer_id": "2088102100000003", "result": "SUCCESS"},
        timeout=10,
    )
    r.raise_for_status()
    paid = wait_paid(m, req)
    return {
        "nkp_seq_id": data.get("nkp_seq_id") or paid.get("org_nkp_seq_id"),
        "req_seq_id": req.req_seq_id,
        "req_date": req.req_date,
        "mer_id": m["mer_id"],
        "trans_amt": amount,
    }


def main(argv):
    c = json.loads(pathlib.Path(argv[2]).read_text())
    if argv[1] == "apply":
        out = apply(c, argv[3], argv[4], argv[5])
    elif argv[1] == "pay":
        out = pay(c, argv[3], argv[4])
    else:
        raise SystemExit(f"unknown command {argv[1]!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
