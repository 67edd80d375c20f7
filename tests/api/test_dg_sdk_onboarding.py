"""dg-sdk 2.0.28 drives merchant onboarding (进件) unchanged against `nkpay demo`:
`V2MerchantBasicdataEntRequest` and `V2MerchantBasicdataIndvRequest` (required fields as class
attributes, the rest — `card_info` as the JSON string the SDK passes, `async_return_url` —
through `extend_infos`), `V2MerchantBasicdataQueryRequest` (the detail, masked) and
`V2MerchantBasicdataStatusQueryRequest` (`apply_status` P). The SDK verifies every reply's
signature with the platform key. Every number here is made up, its check character computed."""

import datetime
import json
import uuid
import zoneinfo

import dg_sdk
import pytest
from dg_sdk import DGClient, MerConfig

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def today():
    return datetime.datetime.now(SHANGHAI).strftime("%Y%m%d")


def seq():
    return "pyo" + uuid.uuid4().hex[:20]


def uscc(first17="91310000MA1FL0T2X"):
    """A made-up unified social credit code with its GB 32100-2015 check character."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


def resident_id(first17):
    """A made-up citizen identity number with its GB 11643-1999 check character."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS))
    return first17 + ID_CHECK[total % 11]


def luhn_complete(prefix):
    """`prefix` and its Luhn check digit."""
    for d in "0123456789":
        digits = [int(c) for c in prefix + d][::-1]
        total = sum(x if i % 2 == 0 else (x * 2 - 9 if x * 2 > 9 else x * 2) for i, x in enumerate(digits))
        if total % 10 == 0:
            return prefix + d
    raise AssertionError("no Luhn digit")


LEGAL_ID = resident_id("11010519900104321")
HOLDER_ID = resident_id("11010519900105654")
CARD = luhn_complete("622202000000456")
MOBILE = "13700137000"
EMAIL = "boss@example.com"


@pytest.fixture()
def provider(platform):
    c = platform.credentials
    DGClient.BASE_URL = c["base_url"]
    DGClient.env = "prod"
    DGClient.mer_config = MerConfig(
        c["private_key"], c["platform_public_key"], c["sys_id"], c["product_id"]
    )
    return c


def ent_request(sys_id):
    req = dg_sdk.V2MerchantBasicdataEntRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.upper_huifu_id = sys_id
    req.reg_name = "上海示例餐饮有限公司"
    req.short_name = "示例餐饮"
    req.receipt_name = "示例餐饮"
    req.ent_type = "1"
    req.mcc = "5812"
    req.busi_type = "1"
    req.scene_type = "OFFLINE"
    req.license_pic = "57cc7f00-600a-33ab-b614-6221bbf2e530"
    req.license_code = uscc()
    req.license_validity_type = "1"
    req.license_begin_date = "20210301"
    req.found_date = "20210301"
    req.reg_capital = "500.00"
    req.reg_district_id = "310104"
    req.reg_detail = "上海市徐汇区示例路8号"
    req.district_id = "310104"
    req.detail_addr = "上海市徐汇区示例路8号"
    req.legal_name = "赵示例"
    req.legal_cert_type = "00"
    req.legal_cert_no = LEGAL_ID
    req.legal_cert_validity_type = "0"
    req.legal_cert_begin_date = "20210301"
    req.legal_cert_end_date = "20410301"
    req.legal_addr = "上海市徐汇区示例路8号"
    req.contact_mobile_no = MOBILE
    req.contact_email = EMAIL
    # card_info is a JSON string; a legal person's own card (card_type 1).
    req.card_info = json.dumps(
        {"card_type": "1", "card_name": "赵示例", "card_no": CARD, "area_id": "310100", "prov_id": "310000"},
        ensure_ascii=False,
    )
    return req


def indv_request(sys_id):
    req = dg_sdk.V2MerchantBasicdataIndvRequest()
    req.req_date = today()
    req.req_seq_id = seq()
    req.upper_huifu_id = sys_id
    req.reg_name = "钱示例"
    req.mcc = "5812"
    req.scene_type = "ONLINE"
    req.district_id = "310104"
    req.legal_cert_no = LEGAL_ID.lower()
    req.legal_cert_begin_date = "20210301"
    req.legal_cert_end_date = "20410301"
    req.contact_mobile_no = MOBILE
    req.card_info = json.dumps(
        {
            "card_type": "2",
            "card_name": "孙示例",
            "card_no": CARD,
            "cert_type": "00",
            "cert_no": HOLDER_ID,
            "area_id": "310100",
        },
        ensure_ascii=False,
    )
    return req


def test_ent_and_indv_are_pending_and_query_masked(provider, platform):
    sys_id = provider["sys_id"]
    for req in (ent_request(sys_id), indv_request(sys_id)):
        first = req.post({})
        assert first["resp_code"] == "00000000", first
        huifu_id = first["huifu_id"]
        assert len(huifu_id) == 16 and huifu_id.isdigit(), first
        assert first["apply_status"] == "P"
        # The same request again: the first answer.
        again = req.post({})
        assert again["huifu_id"] == huifu_id and again["apply_no"] == first["apply_no"]

        q = dg_sdk.V2MerchantBasicdataQueryRequest()
        q.req_date = today()
        q.req_seq_id = seq()
        q.huifu_id = huifu_id
        detail = q.post({})
        assert detail["resp_code"] == "00000000", detail
        assert detail["huifu_id"] == huifu_id
        assert detail["apply_status"] == "P"
        assert "****" in detail["legal_cert_no"]
        assert "****" in detail["contact_mobile_no"]

        s = dg_sdk.V2MerchantBasicdataStatusQueryRequest()
        s.req_date = today()
        s.req_seq_id = seq()
        s.apply_no = first["apply_no"]
        s.huifu_id = huifu_id
        status = s.post({})
        assert status["resp_code"] == "00000000", status
        assert status["apply_status"] == "P"
        assert status["apply_no"] == first["apply_no"]

        for value in (LEGAL_ID, LEGAL_ID.lower(), HOLDER_ID, CARD, MOBILE, EMAIL):
            for reply in (first, detail, status):
                assert value not in json.dumps(reply, ensure_ascii=False), (value, reply)
    log = platform.log()
    for value in (LEGAL_ID, LEGAL_ID.lower(), HOLDER_ID, CARD, MOBILE, EMAIL):
        assert value not in log, value


def test_a_bad_field_is_refused_by_name(provider):
    req = ent_request(provider["sys_id"])
    req.license_code = req.license_code[:-1] + ("0" if req.license_code[-1] != "0" else "1")
    data = req.post({})
    assert data["resp_code"] == "10000000", data
    assert data["resp_desc"].startswith("license_code"), data

    req = indv_request(provider["sys_id"])
    req.card_info = json.dumps({"card_type": "1", "card_name": "钱示例", "card_no": CARD[:-1] + str((int(CARD[-1]) + 1) % 10)})
    data = req.post({})
    assert data["resp_code"] == "10000000", data
    assert data["resp_desc"].startswith("card_info.card_no"), data


def test_another_providers_upper_huifu_id_is_refused(provider):
    data = ent_request("NOTMINE0001").post({})
    assert data["resp_code"] == "22000000", data
