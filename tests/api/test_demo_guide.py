"""`nkpay demo` prints a guide for newcomers; its examples must run exactly as printed. Its
merchants are onboarded through the same paths an operator and a service provider use (issue 11),
and a second start on the same database finds them instead of onboarding again."""

import datetime
import os
import re
import subprocess
import sys

import dg_sdk
import pytest
import requests
from dg_sdk import DGClient, MerConfig

from conftest import ROOT, start_demo, wait_for
from test_onboarding_e2e import drop_database, postgres_database


def block(log: str, name: str) -> str:
    m = re.search(rf"# BEGIN {name}\n(.*?)# END {name}\n", log, re.S)
    assert m, f"the demo guide has no {name}:\n{log}"
    return m.group(1)


def guide(platform):
    return wait_for(lambda: platform.log() if "# END CALL EXAMPLE" in platform.log() else None,
                    what="the printed guide")


def test_printed_python_example_creates_a_trade(platform):
    script = block(guide(platform), "PYTHON EXAMPLE")
    env = dict(os.environ)
    # `python3` as printed, with dg-sdk installed: the test venv's interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'resp_code': '00000100'" in out.stdout, out.stdout + out.stderr
    assert "'qr_code': 'http" in out.stdout


def test_printed_call_example_verifies_the_reply(platform):
    command = block(guide(platform), "CALL EXAMPLE").strip()
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reply signature: verified" in out.stdout, out.stdout
    assert '"resp_code": "00000100"' in out.stdout, out.stdout
    assert "request string signed by you:" in out.stdout


def admin_get(platform, path):
    r = requests.get(
        f"{platform.base_url}{path}",
        headers={"Authorization": f"Bearer {platform.credentials['admin_token']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_demo_merchants_were_onboarded_reviewed_and_bound(platform):
    """The demo's merchants came through the onboarding paths: an enterprise and an individual
    application each approved by `local:demo`, WeChat opened with a sub_mch_id the simulator
    issued at runtime and its appids bound through `addsubdevconfig`, Alipay opened through the
    authorization page (a page grant whose code was exchanged)."""
    c = platform.credentials
    assert [m["kind"] for m in c["merchants"]] == ["ent", "indv"]
    applications = admin_get(platform, f"/admin/api/applications?sys_id={c['sys_id']}")["applications"]
    by_apply_no = {a["apply_no"]: a for a in applications}
    state = requests.get(f"{platform.sandbox_url}/sandbox/state", timeout=10).json()
    issued = {
        s["sub_mch_id"]
        for s in c["sandbox_accounts"]["wechat"]["service_providers"][0]["sub_merchants"]
    }
    for m in c["merchants"]:
        detail = admin_get(platform, f"/admin/api/merchants/{m['mer_id']}")
        assert detail["merchant"]["apply_status"] == "Y", detail
        assert detail["merchant"]["kind"] == m["kind"]
        application = detail["application"]
        assert application["apply_no"] == m["apply_no"]
        assert application["apply_status"] == "Y"
        assert application["reviewed_by"] == "local:demo"
        assert by_apply_no[m["apply_no"]]["mer_id"] == m["mer_id"]
        # Personal data is masked in the console too.
        assert "*" in application["details"]["legal_cert_no"], application

        businesses = {b["channel"]: b for b in detail["businesses"]}
        assert businesses["wechat"]["state"] == "S" and businesses["alipay"]["state"] == "S", businesses
        sub_mch_id = businesses["wechat"]["sub_mch_id"]
        assert sub_mch_id == m["sub_mch_id"] and sub_mch_id in issued, (sub_mch_id, issued)
        assert m["alipay"] is True

        bound = {(b["kind"], b["value"]) for b in detail["bindings"] if b["state"] == "S"}
        wanted = (
            [("jsapi_path", p) for p in m["wx_jsapi_paths"]]
            + [("mp_appid", a) for a in m["wx_mp_appids"]]
            + [("miniapp_appid", a) for a in m["wx_miniapp_appids"]]
        )
        assert m["wx_jsapi_paths"] and m["wx_mp_appids"], m
        assert set(wanted) <= bound, (wanted, bound)
        upstream = state["wechat"]["sub_dev_configs"][sub_mch_id]
        assert upstream["addsubdevconfig_calls"] >= len(wanted), upstream
        assert set(m["wx_jsapi_paths"]) <= set(upstream["jsapi_paths"]), upstream
        assert set(m["wx_mp_appids"] + m["wx_miniapp_appids"]) <= set(upstream["appids"]), upstream

    grants = [g for g in state["alipay"]["app_auth"]["page_grants"] if g["code_exchanged"]]
    assert len(grants) >= len(c["merchants"]), state["alipay"]["app_auth"]
    assert state["alipay"]["app_auth"]["code_exchanges"] >= len(c["merchants"])
    runtime_grants = c["sandbox_accounts"]["alipay"]["isv_apps"][0]["grants"]
    assert {g["user_id"] for g in grants} <= {g["user_id"] for g in runtime_grants}


def onboarded(credentials):
    return [(m["mer_id"], m["apply_no"], m["sub_mch_id"]) for m in credentials["merchants"]]


@pytest.fixture(params=["sqlite", "postgres"])
def demo_database(request, tmp_path):
    """The demo's database: its default SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/nkpay.db?mode=rwc"
        return
    if not os.environ.get("NKPAY_TEST_DATABASE_URL"):
        pytest.skip("NKPAY_TEST_DATABASE_URL is not set: no PostgreSQL server to seed the demo on")
    url = postgres_database(tmp_path)
    yield url
    drop_database(url)


def test_demo_started_again_finds_its_merchants_and_they_still_pay(tmp_path, demo_database):
    """The demo seeds on SQLite and on PostgreSQL; a second `nkpay demo` on the same database
    onboards nothing again: the same merchants, applications and sub-merchants, and the
    simulators, started from the saved accounts, still take their payments (WeChat under the
    bound appid, Alipay under the grant)."""
    env = {"NKPAY__DATABASE__URL": demo_database}
    first = start_demo(tmp_path, env)
    try:
        before = first.credentials
        # A change to the simulators' accounts after seeding reaches the credentials file.
        mch_id = before["sandbox_accounts"]["wechat"]["service_providers"][0]["mch_id"]
        r = requests.post(
            f"{first.sandbox_url}/sandbox/wechat/sub-merchants",
            json={"mch_id": mch_id, "name": "added by hand"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        by_hand = r.json()["sub_mch_id"]
        wait_for(lambda: by_hand in (tmp_path / "credentials.json").read_text(), what="the saved accounts")
    finally:
        first.proc.terminate()
        first.proc.wait(timeout=30)
    second = start_demo(tmp_path, env)
    try:
        after = second.credentials
        assert onboarded(after) == onboarded(before)
        # The simulators started from the saved accounts: the sub-merchant added by hand is there.
        subs = after["sandbox_accounts"]["wechat"]["service_providers"][0]["sub_merchants"]
        assert by_hand in {s["sub_mch_id"] for s in subs}
        assert after["private_key"] == before["private_key"]
        applications = admin_get(second, f"/admin/api/applications?sys_id={after['sys_id']}")["applications"]
        assert sorted(a["apply_no"] for a in applications) == sorted(m["apply_no"] for m in after["merchants"])
        script = f"""
import datetime, json, uuid, dg_sdk
from dg_sdk import DGClient, MerConfig
c = json.load(open({str(tmp_path / 'credentials.json')!r}))
DGClient.BASE_URL = c["base_url"]
DGClient.env = "prod"
DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
for m in c["merchants"]:
    for trade_type, extend in [
        ("A_NATIVE", {{}}),
        ("T_JSAPI", {{"wx_data": json.dumps({{"sub_appid": m["wx_mp_appids"][0], "sub_openid": "o_again"}})}}),
    ]:
        req = dg_sdk.V2TradePaymentJspayRequest()
        req.req_date = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).strftime("%Y%m%d")
        req.req_seq_id = uuid.uuid4().hex
        req.huifu_id = m["mer_id"]
        req.goods_desc = "again"
        req.trade_type = trade_type
        req.trans_amt = "0.01"
        print(trade_type, req.post(extend)["resp_code"])
"""
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.split() == ["A_NATIVE", "00000100", "T_JSAPI", "00000100"] * 2, out.stdout
    finally:
        second.proc.terminate()
        second.proc.wait(timeout=30)


def test_serve_runs_the_business_job_that_binds_an_unknown_outcome_later(platform):
    """`nkpay demo` (as `nkpay serve`) runs onboarding's business job: a binding whose
    `addsubdevconfig` answered SYSTEMERROR stays P, and the job asks WeChat again and binds it
    without anyone retrying by hand."""
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"])
    faults = {"system_error_times": 1, "apis": ["addsubdevconfig"]}
    assert requests.post(f"{platform.sandbox_url}/sandbox/faults", json=faults, timeout=10).status_code == 200
    try:
        m = c["merchants"][1]
        appid = "wxjob" + os.urandom(6).hex()
        req = dg_sdk.V2MerchantBusiConfigRequest()
        req.req_date = shanghai_today()
        req.req_seq_id = "pyjob" + os.urandom(8).hex()
        req.huifu_id = m["mer_id"]
        req.fee_type = "02"
        req.wx_woa_app_id = appid
        data = req.post({})
        assert data["resp_code"] == "00000000", data
        assert data["config_stat"] == "P", data
    finally:
        requests.post(f"{platform.sandbox_url}/sandbox/faults", json={}, timeout=10)

    def bound():
        detail = admin_get(platform, f"/admin/api/merchants/{m['mer_id']}")
        return any(b["value"] == appid and b["state"] == "S" for b in detail["bindings"])

    # The job asks again once the outcome is 30 s old (businesses::jobs::RETRY_AFTER_SECS).
    wait_for(bound, timeout=120, interval=0.5, what="the business job to bind the appid")
    state = requests.get(f"{platform.sandbox_url}/sandbox/state", timeout=10).json()
    assert appid in state["wechat"]["sub_dev_configs"][m["sub_mch_id"]]["appids"]


def shanghai_today():
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).strftime("%Y%m%d")


def test_demo_prints_a_console_login_for_each_role(platform):
    """Issue 13: the demo prints the web console's address (served), makes a console user of
    each role, prints them, and lists them in the credentials file; each signs in, `GET /admin/api/me` names its role (the agent admin bound
    to the demo service provider), the API refuses a role what it may not do, and logout
    revokes the refresh token."""
    printed = guide(platform)
    base = platform.base_url
    # The web console's address is printed and served: the page itself when admin-ui is built
    # (scripts/start), else 503 with a page saying how to build it (this demo runs in a temporary
    # directory, where no build is found).
    assert f"console           {base}/console  " in printed, printed
    page = requests.get(f"{base}/console", timeout=10)
    assert page.status_code in (200, 503), page.status_code
    assert page.headers["content-type"].startswith("text/html"), page.headers
    if page.status_code == 503:
        assert "scripts/start" in page.text, page.text
    logins = platform.credentials["logins"]
    assert [l["role"] for l in logins] == [
        "platform-admin", "operator", "finance", "read-only", "agent-admin"]
    assert logins[0]["username"] == platform.credentials["admin_username"] == "demo-admin"
    for login in logins:
        assert f"{login['username']} / {login['password']}" in printed, printed
        r = requests.post(f"{base}/admin/api/session", timeout=10,
                          json={"username": login["username"], "password": login["password"]})
        assert r.status_code == 200, r.text
        session = r.json()
        bearer = {"Authorization": f"Bearer {session['access_token']}"}
        me = requests.get(f"{base}/admin/api/me", headers=bearer, timeout=10).json()
        assert (me["username"], me["role"], me["sys_id"]) == (
            login["username"], login["role"], login["sys_id"]), me
        # Channel accounts are the platform admin's to register: 403 before the body is read.
        r = requests.post(f"{base}/admin/api/channel-accounts", headers=bearer, json={}, timeout=10)
        assert r.status_code == (400 if login["role"] == "platform-admin" else 403), r.text
        r = requests.delete(f"{base}/admin/api/session", timeout=10,
                            json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 204, r.text
        r = requests.post(f"{base}/admin/api/session/refresh", timeout=10,
                          json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 401, r.text
    agent = logins[-1]
    assert agent["sys_id"] == platform.credentials["sys_id"]
