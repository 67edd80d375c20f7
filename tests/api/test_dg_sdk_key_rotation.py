"""A platform key rotation does not break a merchant's SDK (issue 14).

dg-sdk verifies every reply with the one platform public key it is configured with and raises
otherwise. After `nkpay keys rotate`, the demo service provider — which has not switched — keeps
getting replies its SDK (configured with the old key) verifies; `GET /v2/platform/keys` lists both
keys and no private material; once the provider is switched through the console API
(`POST /admin/api/platform-keys/assign`), an SDK configured with the new key verifies the replies
and one still configured with the old key refuses them."""

import json
import os
import subprocess

import dg_sdk
import requests
from dg_sdk import DGClient, MerConfig

from conftest import BIN_DIR, start_demo, wait_for


def configure_sdk(c, platform_public_key):
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(c["private_key"], platform_public_key, c["sys_id"], c["product_id"])


def query(c):
    """A query of a trade that does not exist: answered (23000001), signed, verified by the SDK."""
    q = dg_sdk.V2TradePaymentScanpayQueryRequest()
    q.huifu_id = c["merchants"][0]["mer_id"]
    q.org_req_date = "20261129"
    q.org_req_seq_id = "no-such-trade"
    return q.post({})


def verifies_with(c, platform_public_key):
    configure_sdk(c, platform_public_key)
    try:
        query(c)
        return True
    except RuntimeError:
        return False


def nkpay(tmp, *args):
    env = dict(os.environ)
    env.update(
        {
            "NKPAY__DATABASE__URL": f"sqlite://{tmp}/nkpay.db?mode=rwc",
            "NKPAY__SECRETS__MASTER_KEY_FILE": str(tmp / "master.key"),
        }
    )
    out = subprocess.run(
        [str(BIN_DIR / "nkpay"), *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_rotation_keeps_the_old_key_for_a_provider_until_it_switches(tmp_path):
    platform = start_demo(tmp_path, {"NKPAY__PLATFORM_KEYS__REFRESH_SECS": "1"})
    try:
        c = platform.credentials
        old_pem = c["platform_public_key"]
        reply = query_with(c, old_pem)
        assert reply["resp_code"] == "23000001", reply

        rotated = nkpay(tmp_path, "keys", "rotate", "--retire-after-days", "7")
        new_id, new_pem = rotated["key"]["key_id"], rotated["key"]["public_key"]
        assert rotated["replaced"]["key_id"] == c["platform_key_id"]
        assert rotated["replaced"]["status"] == "retiring"

        listed = requests.get(f"{c['base_url']}/v2/platform/keys", timeout=10)
        assert listed.status_code == 200
        assert "PRIVATE" not in listed.text
        ids = [k["key_id"] for k in listed.json()["keys"]]
        assert ids == [new_id, c["platform_key_id"]]

        # Not switched: the SDK with the old key keeps verifying (past the 1 s refresh, too).
        for _ in range(3):
            assert verifies_with(c, old_pem)
        # A reply's key id names the old key.
        r = requests.post(
            f"{c['base_url']}/v2/trade/payment/scanpay/query",
            json={"sys_id": c["sys_id"], "product_id": c["product_id"], "data": {}, "sign": "AAAA"},
            timeout=10,
        )
        assert r.headers["X-Nkp-Key-Id"] == c["platform_key_id"]

        switched = requests.post(
            f"{c['base_url']}/admin/api/platform-keys/assign",
            headers={"Authorization": f"Bearer {c['admin_token']}"},
            json={"sys_id": c["sys_id"], "key_id": new_id},
            timeout=10,
        )
        assert switched.status_code == 200, switched.text
        wait_for(lambda: verifies_with(c, new_pem), timeout=30, what="replies signed with the new key")
        assert not verifies_with(c, old_pem)
    finally:
        platform.proc.terminate()
        try:
            platform.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            platform.proc.kill()


def query_with(c, platform_public_key):
    configure_sdk(c, platform_public_key)
    return query(c)
