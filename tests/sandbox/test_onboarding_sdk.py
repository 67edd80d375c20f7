"""Onboarding on the simulators, driven by the official SDKs, so that a real client agrees with
them: Alipay third-party app authorization (the page, then python-alipay-sdk 3.4.0's ISVAliPay
exchanging the app_auth_code, querying and refreshing the token), and WeChat's sub-merchant
development configuration (wechatpy has no addsubdevconfig: the call is signed with wechatpy's
calculate_signature and posted with requests and the client certificate).

These tests change the accounts (new sub-merchants, grants), so they run on sandboxes of their
own rather than the shared session ones."""

import json
import urllib.parse
import uuid

import pytest
import requests
import xmltodict
from alipay import ISVAliPay
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from sandbox_process import SandboxProcess, eventually


@pytest.fixture(scope="module")
def own_sandbox(tmp_path_factory):
    sb = SandboxProcess(tmp_path_factory.mktemp("onboarding-sandbox"))
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def own_tls_sandbox(tmp_path_factory, pki):
    sb = SandboxProcess(tmp_path_factory.mktemp("onboarding-tls-sandbox"), extra_args=[
        "--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"], "--client-ca", pki["ca"]])
    sb.verify = pki["ca"]
    yield sb
    sb.stop()


# ---- Alipay ------------------------------------------------------------------------------------

def authorize(sb, state="st-9"):
    """The merchant opens the authorization page and approves at once; returns the redirect's
    query."""
    query = urllib.parse.urlencode({
        "app_id": sb.isv["app_id"],
        "redirect_uri": "https://pay.example.com/alipay/authorized",
        "state": state,
        "sandbox_auto_authorize": "true",
    })
    r = requests.get(f"{sb.base_url}/oauth2/appToAppAuth.htm?{query}", allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    location = urllib.parse.urlparse(r.headers["Location"])
    assert location.netloc == "pay.example.com"
    return dict(urllib.parse.parse_qsl(location.query))


def isv(sb, **kwargs):
    client = ISVAliPay(
        appid=sb.isv["app_id"],
        app_private_key_string=sb.isv["app_private_key"],
        alipay_public_key_string=sb.isv["alipay_public_key"],
        **kwargs,
    )
    client._gateway = sb.accounts["alipay"]["gateway_url"]
    return client


def test_the_sdk_exchanges_the_code_and_its_token_places_a_trade(own_sandbox):
    sb = own_sandbox
    back = authorize(sb)
    assert back["app_id"] == sb.isv["app_id"] and back["state"] == "st-9"

    # ISVAliPay 3.4.0's app_auth_token property hands the code to api_alipay_open_auth_token_app
    # as its refresh_token argument (grant_type=refresh_token): the gateway rightly refuses that.
    # Called without arguments, the method sends grant_type=authorization_code with the code.
    ali = isv(sb, app_auth_code=back["app_auth_code"])
    exchanged = ali.api_alipay_open_auth_token_app()
    assert exchanged["code"] == "10000", exchanged
    ali._app_auth_token = exchanged["app_auth_token"]
    assert ali.app_auth_token == exchanged["app_auth_token"]

    status = ali.api_alipay_open_auth_token_app_query()
    assert status["code"] == "10000" and status["status"] == "valid"
    assert status["user_id"].startswith("2088") and len(status["user_id"]) == 16

    r = ali.api_alipay_trade_precreate(subject="茶 tea", out_trade_no=f"OB{uuid.uuid4().hex[:20]}",
                                       total_amount="2.00")
    assert r["code"] == "10000", r

    # The code is single use.
    again = isv(sb, app_auth_code=back["app_auth_code"]).api_alipay_open_auth_token_app()
    assert (again["code"], again["sub_code"]) == ("40002", "isv.code-invalid")

    grants = sb.state()["alipay"]["app_auth"]["page_grants"]
    assert [g["code_exchanged"] for g in grants if g["user_id"] == status["user_id"]] == [True]


def test_the_sdk_app_auth_token_property_sends_the_code_as_a_refresh_token_and_is_refused(own_sandbox):
    sb = own_sandbox
    ali = isv(sb, app_auth_code=authorize(sb)["app_auth_code"])
    with pytest.raises(Exception, match="Get auth token by auth code failed"):
        ali.app_auth_token
    assert sb.state()["alipay"]["app_auth"]["refresh_calls"] >= 1


def test_the_sdk_refreshes_and_the_old_token_stops_working(own_sandbox):
    sb = own_sandbox
    first = isv(sb, app_auth_code=authorize(sb)["app_auth_code"]).api_alipay_open_auth_token_app()
    assert first["code"] == "10000"
    assert first["tokens"][0]["app_auth_token"] == first["app_auth_token"]
    assert (first["expires_in"], first["re_expires_in"]) == (31536000, 32140800)

    old = isv(sb, app_auth_token=first["app_auth_token"])
    renewed = old.api_alipay_open_auth_token_app(refresh_token=first["app_refresh_token"])
    assert renewed["code"] == "10000" and renewed["app_auth_token"] != first["app_auth_token"]
    assert renewed["user_id"] == first["user_id"]

    assert old.api_alipay_open_auth_token_app_query()["status"] == "invalid"
    refused = old.api_alipay_trade_query(out_trade_no=f"OB{uuid.uuid4().hex[:20]}")
    assert (refused["code"], refused["sub_code"]) == ("20001", "aop.invalid-app-auth-token")
    fresh = isv(sb, app_auth_token=renewed["app_auth_token"])
    assert fresh.api_alipay_open_auth_token_app_query()["status"] == "valid"

    stale = old.api_alipay_open_auth_token_app(refresh_token=first["app_refresh_token"])
    assert (stale["code"], stale["sub_code"]) == ("40002", "isv.refresh-token-invalid")


def test_the_page_shows_a_button_and_refuses_an_unknown_app(own_sandbox):
    sb = own_sandbox
    page = requests.get(f"{sb.base_url}/oauth2/appToAppAuth.htm", timeout=10, params={
        "app_id": sb.isv["app_id"], "redirect_uri": "https://pay.example.com/back"})
    assert page.status_code == 200 and 'method="post"' in page.text
    # The button's form, posted as a browser would.
    posted = requests.post(f"{sb.base_url}/oauth2/appToAppAuth.htm", allow_redirects=False, timeout=10,
                           data={"app_id": sb.isv["app_id"], "redirect_uri": "https://pay.example.com/back"})
    assert posted.status_code == 302 and "app_auth_code=" in posted.headers["Location"]
    unknown = requests.get(f"{sb.base_url}/oauth2/appToAppAuth.htm", timeout=10, params={
        "app_id": "2021000000009999", "redirect_uri": "https://pay.example.com/back"})
    assert unknown.status_code == 400


# ---- WeChat ------------------------------------------------------------------------------------

def secapi(sb, pki, call, fields, cert=True):
    """A sub-merchant development configuration call signed by wechatpy (MD5, no nonce_str)."""
    sp = sb.sp
    params = {"appid": sp["appid"], "mch_id": sp["mch_id"], **fields}
    body = dict_to_xml(params, calculate_signature(params, sp["api_key"]))
    r = requests.post(f"{sb.base_url}/secapi/mch/{call}", data=body.encode("utf-8"), timeout=10,
                      verify=pki["ca"], cert=(pki["client_cert"], pki["client_key"]) if cert else None)
    assert r.status_code == 200
    reply = dict(xmltodict.parse(r.text)["xml"])
    if reply["return_code"] == "SUCCESS":
        sign = reply.pop("sign")
        assert sign == calculate_signature(reply, sp["api_key"]), "reply signature"
    return reply


def new_sub_merchant(sb):
    r = requests.post(f"{sb.base_url}/sandbox/wechat/sub-merchants", verify=sb.verify, timeout=10,
                      json={"mch_id": sb.sp["mch_id"], "name": "Tea House"})
    assert r.status_code == 200, r.text
    return r.json()["sub_mch_id"]


def test_a_wechatpy_signed_addsubdevconfig_binds_what_wechatpy_then_pays_under(own_tls_sandbox, pki):
    sb = own_tls_sandbox
    sub = new_sub_merchant(sb)
    no_cert = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "jsapi_path": "https://tea.example.com/pay/"},
                     cert=False)
    assert no_cert["return_code"] == "FAIL" and "证书" in no_cert["return_msg"]

    path = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "jsapi_path": "https://tea.example.com/pay/"})
    assert path["result_code"] == "SUCCESS", path
    appid = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "sub_appid": "wx5a6b7c8d9e0f1a2b"})
    assert appid["result_code"] == "SUCCESS", appid
    twice = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "sub_appid": "wx5a6b7c8d9e0f1a2b"})
    assert (twice["result_code"], twice["err_code"]) == ("FAIL", "INVALID_REQUEST")
    assert "已存在" in twice["err_code_des"]

    listed = secapi(sb, pki, "querysubdevconfig", {"sub_mch_id": sub})
    assert json.loads(listed["jsapi_path_list"]) == {"jsapi_path_list": ["https://tea.example.com/pay/"]}
    assert [a["sub_appid"] for a in json.loads(listed["appid_config_list"])["appid_config_list"]] == [
        "wx5a6b7c8d9e0f1a2b"]

    wx = WeChatPay(appid=sb.sp["appid"], api_key=sb.sp["api_key"], mch_id=sb.sp["mch_id"],
                   sub_mch_id=sub, sub_appid="wx5a6b7c8d9e0f1a2b")
    wx.API_BASE_URL = sb.accounts["wechat"]["api_base_url"]
    wx._http.verify = pki["ca"]
    wx._http.trust_env = False
    r = wx.order.create(trade_type="JSAPI", body="茶 tea", total_fee=66, notify_url="http://127.0.0.1:9/n",
                        client_ip="127.0.0.1", out_trade_no=f"OB{uuid.uuid4().hex[:20]}",
                        sub_user_id="oTeaUser0001")
    assert r["result_code"] == "SUCCESS"
    wx.sub_appid = "wx5a6b7c8d9e0f1a2c"
    with pytest.raises(WeChatPayException) as e:
        wx.order.create(trade_type="JSAPI", body="茶 tea", total_fee=66, notify_url="http://127.0.0.1:9/n",
                        client_ip="127.0.0.1", out_trade_no=f"OB{uuid.uuid4().hex[:20]}",
                        sub_user_id="oTeaUser0001")
    assert e.value.errcode == "APPID_MCHID_NOT_MATCH"

    seen = sb.state()["wechat"]["sub_dev_configs"][sub]
    assert seen["addsubdevconfig_calls"] == 3 and seen["querysubdevconfig_calls"] == 1
    assert seen["jsapi_paths"] == ["https://tea.example.com/pay/"] and seen["appids"] == ["wx5a6b7c8d9e0f1a2b"]
    exported = requests.get(f"{sb.base_url}/sandbox/accounts", verify=sb.verify, timeout=10).json()
    subs = exported["wechat"]["service_providers"][0]["sub_merchants"]
    assert [m["bound_appids"] for m in subs if m["sub_mch_id"] == sub] == [["wx5a6b7c8d9e0f1a2b"]]


def test_the_sixth_path_is_refused_and_an_unknown_provider_gets_no_sub_merchant(own_tls_sandbox, pki):
    sb = own_tls_sandbox
    sub = new_sub_merchant(sb)
    for n in range(1, 6):
        r = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "jsapi_path": f"https://tea.example.com/p{n}/"})
        assert r["result_code"] == "SUCCESS", r
    sixth = secapi(sb, pki, "addsubdevconfig", {"sub_mch_id": sub, "jsapi_path": "https://tea.example.com/p6/"})
    assert (sixth["result_code"], sixth["err_code"]) == ("FAIL", "INVALID_REQUEST")
    # The --accounts-out file follows the accounts added while serving.
    eventually(lambda: sub in sb.accounts_path.read_text(), what="the new sub-merchant in the accounts file")
    unknown = requests.post(f"{sb.base_url}/sandbox/wechat/sub-merchants", verify=sb.verify, timeout=10,
                            json={"mch_id": "1999999999", "name": "nobody"})
    assert unknown.status_code == 404 and "error" in unknown.json()
