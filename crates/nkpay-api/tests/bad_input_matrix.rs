//! The bad-input matrix (issue 15): every field of every merchant API endpoint, each sent with a
//! wrong JSON type, empty, too long, off its charset or pattern, with a control character and
//! with injection strings, over real HTTP on SQLite and PostgreSQL; and per endpoint the
//! envelope's own traps (duplicate keys, deep nesting, a body over `body_limit_bytes`, invalid
//! UTF-8, `data` that is a string or an array). Each must get a signed `10000000` naming the
//! field (or the body / `data`), never a 500 or a panic.
//!
//! The cases come from ONE table of field rules, [`RULES`]. The fields each endpoint really
//! reads are listed by `nkpay_api::open::fields_read` over valid requests, and must be exactly
//! the table's: a field read without a rule (or a rule for a field no longer read), or an
//! endpoint without rules, fails the test.

mod onboarding_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use nkpay_api::open;
use serde_json::{Map, Value, json};
use support::*;

/// What a field must look like; each kind yields its own bad values.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Free text of at most this many characters.
    Text(usize),
    /// `[0-9A-Za-z_-]`, at most this many.
    Id(usize),
    /// Letters and digits, at most this many (`org_nkp_seq_id`).
    Alnum(usize),
    /// `yyyyMMdd`.
    Date,
    /// `yyyyMMddHHmmss`.
    DateTime,
    /// Yuan with two decimals.
    Amount,
    /// One of these values.
    OneOf(&'static [&'static str]),
    /// An IPv4 or IPv6 address.
    Ip,
    /// An http(s) URL of at most this many characters.
    Url(usize),
    /// A JSON object, or a string holding one.
    Object,
    /// A string holding a JSON array of objects.
    ObjectList,
    /// A percentage with at most two decimals, 0 to 100 (a JSON number is allowed too).
    Percent,
    /// Comma-separated ids of at most this many characters each.
    IdList(usize),
    /// Comma-separated http(s) directories ending with `/`.
    PathList,
    /// A 4-digit merchant category code.
    Mcc,
    /// A 6-digit administrative division code.
    District,
    /// A certificate type code.
    CertType,
    /// A certificate number (checked by its type).
    CertNo,
    /// A mainland mobile number.
    Mobile,
    /// An e-mail address.
    Email,
    /// A unified social credit code (GB 32100).
    Uscc,
    /// A bank account or card number.
    CardNo,
    /// Exactly this many digits.
    Digits(usize),
    /// At most this many digits.
    DigitsUpTo(usize),
    /// A `yyyyMMdd` date not after today.
    PastDate,
    /// A validity period's type, `0` or `1`.
    ValidityType,
}

use Kind::*;

/// A field's rule: its kind, and whether it is required in the request the cases start from.
type Rule = (&'static str, Kind, bool);

const REQ: [Rule; 2] = [("req_date", Date, true), ("req_seq_id", Id(64), true)];
const MER: [Rule; 2] = [("mer_id", Id(32), false), ("huifu_id", Id(32), false)];
const ORG: [Rule; 3] = [
    ("org_req_date", Date, false),
    ("org_nkp_seq_id", Alnum(32), false),
    ("org_req_seq_id", Id(64), false),
];

const JSPAY: &[Rule] = &[
    (
        "trade_type",
        OneOf(&["T_JSAPI", "T_MINIAPP", "A_NATIVE"]),
        true,
    ),
    ("trans_amt", Amount, true),
    ("goods_desc", Text(127), true),
    ("time_expire", DateTime, false),
    ("remark", Text(255), false),
    ("notify_url", Url(512), false),
    ("wx_data", Object, false),
    ("wx_data.openid", Id(128), false),
    ("wx_data.sub_appid", Id(32), false),
    ("wx_data.sub_openid", Id(128), false),
    ("wx_data.attach", Text(127), false),
    ("wx_data.spbill_create_ip", Ip, false),
    ("alipay_data", Object, false),
];
const REFUND: &[Rule] = &[
    ("ord_amt", Amount, true),
    ("remark", Text(255), false),
    ("notify_url", Url(512), false),
    ("org_party_order_id", Id(64), false),
];
const FILEQUERY: &[Rule] = &[
    ("huifu_id", Id(32), false),
    ("mer_id", Id(32), false),
    ("file_date", Date, true),
    (
        "bill_type",
        OneOf(&[
            "TRADE_BILL",
            "SETTLE_BILL",
            "TRADE_BILL_MONTH",
            "SETTLE_BILL_MONTH",
        ]),
        false,
    ),
];
const STATUS_QUERY: &[Rule] = &[("apply_no", Id(32), false)];
const BUSI_OPEN: &[Rule] = &[
    ("upper_huifu_id", Id(32), true),
    ("wx_conf_list", ObjectList, false),
    ("wx_conf_list.pay_scene", Id(16), true),
    ("wx_conf_list.fee_rate", Percent, true),
    ("ali_conf_list", ObjectList, false),
    ("ali_conf_list.pay_scene", Id(16), true),
    ("ali_conf_list.fee_rate", Percent, true),
    ("busi_async_return_url", Url(256), false),
];
const BUSI_CONFIG: &[Rule] = &[
    ("fee_type", Id(8), true),
    ("wx_woa_path", PathList, false),
    ("wx_woa_app_id", IdList(32), false),
    ("wx_applet_app_id", IdList(32), false),
];
/// Fields of both application endpoints (ent and indv).
const APPLY: &[Rule] = &[
    ("upper_huifu_id", Id(32), true),
    ("reg_name", Text(128), true),
    ("mcc", Mcc, true),
    ("scene_type", OneOf(&["ONLINE", "OFFLINE", "ALL"]), true),
    ("district_id", District, true),
    ("detail_addr", Text(256), false),
    ("legal_cert_no", CertNo, true),
    ("legal_cert_validity_type", ValidityType, false),
    ("legal_cert_begin_date", Date, true),
    ("legal_cert_end_date", Date, false),
    ("legal_addr", Text(256), false),
    ("contact_mobile_no", Mobile, true),
    ("contact_name", Text(128), false),
    ("mer_icp", Text(64), false),
    ("head_huifu_id", Id(32), false),
    ("legal_cert_back_pic", Id(64), false),
    ("legal_cert_front_pic", Id(64), false),
    ("settle_card_front_pic", Id(64), false),
    ("store_header_pic", Id(64), false),
    ("store_indoor_pic", Id(64), false),
    ("store_cashier_desk_pic", Id(64), false),
    ("card_info", Object, true),
    ("card_info.card_type", OneOf(&["0", "1", "2"]), true),
    ("card_info.card_name", Text(128), true),
    ("card_info.card_no", CardNo, true),
    ("card_info.prov_id", District, false),
    ("card_info.area_id", District, false),
    ("card_info.branch_code", Digits(12), false),
    ("card_info.bank_code", Text(16), false),
    ("card_info.cert_type", CertType, false),
    ("card_info.cert_no", CertNo, false),
    ("card_info.cert_validity_type", ValidityType, false),
    ("card_info.cert_begin_date", Date, false),
    ("card_info.cert_end_date", Date, false),
    ("card_info.mp", Mobile, false),
    ("async_return_url", Url(512), false),
];
const ENT_ONLY: &[Rule] = &[
    ("short_name", Text(64), true),
    ("legal_name", Text(128), true),
    ("legal_cert_type", CertType, true),
    ("contact_email", Email, true),
    ("license_code", Uscc, true),
    ("license_validity_type", ValidityType, false),
    ("license_begin_date", Date, true),
    ("license_end_date", Date, false),
    ("receipt_name", Text(64), false),
    ("ent_type", DigitsUpTo(2), false),
    ("busi_type", OneOf(&["1", "2"]), false),
    ("found_date", PastDate, false),
    ("reg_capital", Amount, false),
    ("reg_district_id", District, false),
    ("reg_detail", Text(256), false),
    ("login_name", Text(64), false),
    ("license_pic", Id(64), false),
    ("reg_acct_pic", Id(64), false),
    ("settle_cert_back_pic", Id(64), false),
    ("settle_cert_front_pic", Id(64), false),
    ("auth_entrust_pic", Id(64), false),
];
const INDV_ONLY: &[Rule] = &[
    ("short_name", Text(64), false),
    ("contact_email", Email, false),
];

/// THE table: every endpoint and the rules of every field it reads.
fn rules() -> BTreeMap<&'static str, Vec<Rule>> {
    let with = |parts: &[&[Rule]]| parts.concat();
    BTreeMap::from([
        (open::JSPAY, with(&[&REQ, &MER, JSPAY])),
        (open::QUERY, with(&[&MER, &ORG])),
        (open::CLOSE, with(&[&REQ, &MER, &ORG])),
        (open::REFUND, with(&[&REQ, &MER, &ORG, REFUND])),
        (open::REFUND_QUERY, with(&[&MER, &ORG])),
        (open::FILEQUERY, with(&[&REQ, FILEQUERY])),
        (open::BASICDATA_ENT, with(&[&REQ, APPLY, ENT_ONLY])),
        (open::BASICDATA_INDV, with(&[&REQ, APPLY, INDV_ONLY])),
        (open::BASICDATA_QUERY, with(&[&REQ, &MER])),
        (
            open::BASICDATA_STATUS_QUERY,
            with(&[&REQ, &MER, STATUS_QUERY]),
        ),
        (open::BUSI_OPEN, with(&[&REQ, &MER, BUSI_OPEN])),
        (open::BUSI_CONFIG, with(&[&REQ, &MER, BUSI_CONFIG])),
        (open::BUSI_CONFIG_QUERY, with(&[&REQ, &MER])),
    ])
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn with_fields(base: Value, extra: Value) -> Value {
    let mut m = obj(base);
    m.extend(obj(extra));
    Value::Object(m)
}

/// Valid requests of each endpoint, the cases' starting points: between them they reach every
/// field the endpoint reads. A field's cases start from the first one that reads it.
fn valid_requests(p: &Platform) -> BTreeMap<&'static str, Vec<Value>> {
    use onboarding_support::*;
    let req = || json!({"req_date": today(), "req_seq_id": fresh_id()});
    let org_nkp = json!({"mer_id": MER_A, "org_nkp_seq_id": "N0000000001"});
    let org_req = json!({"mer_id": MER_A, "org_req_date": today(), "org_req_seq_id": "r1"});
    let conf = json!([{"pay_scene": "1", "fee_rate": "0.60"}]).to_string();
    let card_with_validity = json!({
        "card_type": "1",
        "card_name": "张测试",
        "card_no": card_no(CARD_PREFIX),
        "cert_no": resident_id("01123"),
        "cert_validity_type": "0",
        "cert_begin_date": "20200101",
        "cert_end_date": "20400101",
        "mp": HOLDER_MOBILE,
    })
    .to_string();
    let ent = ent_data(SP, Some(NOTIFY_URL));
    let indv = indv_data(SP, Some(NOTIFY_URL));
    BTreeMap::from([
        (
            open::JSPAY,
            vec![
                p.jspay_data(
                    MER_A,
                    "T_JSAPI",
                    json!({"wx_data": json!({
                        "openid": "oPayer001", "attach": "a1", "spbill_create_ip": "127.0.0.1",
                        "sub_appid": MP_APPID, "sub_openid": "oSub1",
                    }).to_string(), "time_expire": in_an_hour()}),
                ),
                p.jspay_data(MER_A, "A_NATIVE", json!({"alipay_data": "{\"x\":\"1\"}"})),
            ],
        ),
        (open::QUERY, vec![org_nkp.clone(), org_req.clone()]),
        (
            open::CLOSE,
            vec![
                with_fields(req(), org_nkp.clone()),
                with_fields(req(), org_req.clone()),
            ],
        ),
        (
            open::REFUND,
            vec![
                with_fields(
                    req(),
                    json!({"mer_id": MER_A, "ord_amt": "0.01", "org_party_order_id": "4200001",
                           "org_req_date": today(), "notify_url": NOTIFY_URL, "remark": "r"}),
                ),
                with_fields(
                    with_fields(req(), org_req.clone()),
                    json!({"ord_amt": "0.01"}),
                ),
            ],
        ),
        (open::REFUND_QUERY, vec![org_nkp, org_req]),
        (
            open::FILEQUERY,
            vec![with_fields(
                req(),
                json!({"huifu_id": MER_A, "file_date": today(), "bill_type": "TRADE_BILL"}),
            )],
        ),
        (
            open::BASICDATA_ENT,
            vec![
                ent.clone(),
                with_fields(ent, json!({"card_info": card_with_validity.clone()})),
            ],
        ),
        (
            open::BASICDATA_INDV,
            vec![
                indv.clone(),
                with_fields(indv, json!({"card_info": card_with_validity})),
            ],
        ),
        (
            open::BASICDATA_QUERY,
            vec![with_fields(req(), json!({"huifu_id": MER_A}))],
        ),
        (
            open::BASICDATA_STATUS_QUERY,
            vec![with_fields(
                req(),
                json!({"huifu_id": MER_A, "apply_no": "A1"}),
            )],
        ),
        (
            open::BUSI_OPEN,
            vec![with_fields(
                req(),
                json!({"huifu_id": MER_BARE, "upper_huifu_id": SP, "wx_conf_list": conf,
                       "ali_conf_list": conf, "busi_async_return_url": "virgo://http://127.0.0.1:9/n"}),
            )],
        ),
        (
            open::BUSI_CONFIG,
            vec![with_fields(
                req(),
                json!({"huifu_id": MER_BARE, "fee_type": "02",
                       "wx_woa_path": "http://127.0.0.1:9/pay/", "wx_woa_app_id": MP_APPID,
                       "wx_applet_app_id": MINI_APPID}),
            )],
        ),
        (
            open::BUSI_CONFIG_QUERY,
            vec![with_fields(req(), json!({"huifu_id": MER_BARE}))],
        ),
    ])
}

/// `yyyyMMddHHmmss` Asia/Shanghai an hour from now: a `time_expire` jspay takes.
fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

const INJECTIONS: [&str; 5] = [
    "' OR '1'='1' --",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "../../etc/passwd",
    "1);DROP TABLE trade;--",
];

/// How a case must be answered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// `10000000` naming the field.
    Refused,
    /// Free text: refused naming the field, or taken as text; never a 500 or `99999999`.
    RefusedOrTaken,
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// The bad values of a field of `kind` (at the JSON level), each with what must happen.
fn bad_values(kind: Kind, required: bool) -> Vec<(String, Value, Expect)> {
    use Expect::*;
    let mut out: Vec<(String, Value, Expect)> = Vec::new();
    let mut add = |what: &str, v: Value, e: Expect| out.push((what.to_owned(), v, e));
    // Wrong JSON types (a number is a fine fee_rate).
    if !matches!(kind, Percent) {
        add("number", json!(1), Refused);
    }
    add("bool", json!(true), Refused);
    add("array", json!(["a"]), Refused);
    if !matches!(kind, Object) {
        add("object", json!({"a": "b"}), Refused);
    }
    if required {
        add("empty", json!(""), Refused);
    }
    add("control character", json!("a\u{0}b"), Refused);
    add("line feed", json!("a\nb"), Refused);
    let free_text = matches!(kind, Text(_));
    let injection = if free_text { RefusedOrTaken } else { Refused };
    for s in INJECTIONS {
        add("injection", json!(s), injection);
    }
    // Off the kind's pattern, and one character over its length.
    let many = |n: usize, unit: &str| Some(unit.repeat(n + 1));
    let (patterns, too_long): (Vec<String>, Option<String>) = match kind {
        Text(max) => (vec![], many(max, "长")),
        Id(max) => (strings(&["a b", "订单1", "a.b"]), many(max, "a")),
        Alnum(max) => (strings(&["N-1", "N_1"]), many(max, "a")),
        Date => (
            strings(&["20261332", "2026-11-29", "1129", "202611290"]),
            None,
        ),
        DateTime => (
            strings(&["20261129250000", "2026112912", "20261129120000Z"]),
            None,
        ),
        Amount => (
            strings(&["1", "0.00", "1.001", "abc", "1e2", "-1.00", "１.00"]),
            None,
        ),
        OneOf(values) => (vec!["X".into(), values[0].to_lowercase() + "x"], None),
        Ip => (strings(&["999.1.1.1", "localhost", "1.2.3"]), None),
        Url(max) => (
            strings(&["ftp://x/", "not a url", "javascript:alert(1)"]),
            Some(format!("http://a/{}", "b".repeat(max))),
        ),
        Object => (
            strings(&["[1]", "not json", "{\"a\":\"1\",\"a\":\"2\"}", "{\"a\":"]),
            None,
        ),
        ObjectList => (
            strings(&["{}", "[1]", "not json", "[{\"a\":\"1\",\"a\":\"2\"}]"]),
            None,
        ),
        Percent => (strings(&["abc", "101", "0.001", "-1"]), None),
        IdList(max) => (strings(&["a b", "wx1,a.b"]), many(max, "a")),
        PathList => (
            strings(&["ftp://x/", "http://x", "http://x/,https://y"]),
            None,
        ),
        Mcc => (strings(&["abcd", "58123", "58"]), None),
        District => (strings(&["abcdef", "3101041", "31"]), None),
        CertType => (strings(&["99", "XX"]), None),
        CertNo => (strings(&["123", "11010519900101123X1"]), None),
        Mobile => (strings(&["123", "23800138000", "1380013800a"]), None),
        Email => (strings(&["not-an-email", "a@", "@b.c"]), None),
        Uscc => (strings(&["123", "91310000MA1FL0T1X0"]), None),
        CardNo => (strings(&["62220200000012a", &"1".repeat(40)]), None),
        Digits(n) => (strings(&["abc"]), many(n, "1")),
        DigitsUpTo(n) => (strings(&["A"]), many(n, "1")),
        PastDate => (strings(&["20991231", "20261332"]), None),
        ValidityType => (strings(&["2", "X"]), None),
    };
    for p in patterns {
        out.push((format!("pattern {p:?}"), json!(p), Refused));
    }
    if let Some(long) = too_long {
        out.push(("too long".into(), json!(long), Refused));
    }
    out
}

/// `data` with field `path` (`a` or `a.b`, `a` an object or a string holding one; for a list
/// of objects, its first item) set to `value`.
fn set_field(data: &Value, path: &str, value: Value) -> Value {
    let mut data = data.clone();
    match path.split_once('.') {
        None => {
            data[path] = value;
        }
        Some((outer, inner)) => {
            let (mut nested, as_text) = match &data[outer] {
                Value::String(s) => (serde_json::from_str::<Value>(s).expect("nested"), true),
                other => (other.clone(), false),
            };
            match &mut nested {
                Value::Array(items) => items[0][inner] = value,
                n => n[inner] = value,
            }
            data[outer] = if as_text {
                Value::String(nested.to_string())
            } else {
                nested
            };
        }
    }
    data
}

/// The fields an endpoint reads over all its valid requests.
fn read_by(path: &str, requests: &[Value]) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for r in requests {
        all.extend(open::fields_read(path, &obj(r.clone())).expect("an endpoint"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_field_of_every_endpoint_refuses_bad_input_by_name() {
    let table = rules();
    for p in Platform::all().await {
        let valid = valid_requests(&p);
        // The table covers every endpoint, and exactly the fields each reads.
        let endpoints: BTreeSet<&str> = open::endpoint_paths().collect();
        assert_eq!(
            endpoints,
            table.keys().copied().collect(),
            "endpoints and the rule table differ"
        );
        assert_eq!(endpoints, valid.keys().copied().collect());
        for (path, requests) in &valid {
            let read = read_by(path, requests);
            let ruled: BTreeSet<String> =
                table[path].iter().map(|(f, _, _)| f.to_string()).collect();
            assert_eq!(
                read.difference(&ruled).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{path}: fields read without a rule in the table"
            );
            assert_eq!(
                ruled.difference(&read).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{path}: rules for fields the endpoint does not read"
            );
        }

        let mut cases = 0usize;
        let mut failures = Vec::new();
        for (path, fields) in &table {
            let requests = &valid[path];
            for &(field, kind, required) in fields {
                let base = requests
                    .iter()
                    .find(|r| {
                        open::fields_read(path, &obj((*r).clone()))
                            .is_some_and(|read| read.contains(field))
                    })
                    .expect("a request reading the field");
                for (what, value, expect) in bad_values(kind, required) {
                    cases += 1;
                    let mut data = set_field(base, field, value);
                    if field != "req_seq_id" && data.get("req_seq_id").is_some() {
                        data["req_seq_id"] = fresh_id().into();
                    }
                    let r = p.sp.call(path, data).await;
                    let named = r.code() == "10000000"
                        && ["格式错误", "不能为空", "不合法"]
                            .iter()
                            .any(|how| r.desc().starts_with(&format!("{field}{how}")));
                    let ok = match expect {
                        Expect::Refused => named && r.status == 200,
                        Expect::RefusedOrTaken => {
                            r.status == 200
                                && r.code() != "99999999"
                                && (r.code() != "10000000" || named)
                        }
                    };
                    if !ok {
                        failures.push(format!(
                            "{path} {field} {what}: {} {} {}",
                            r.status,
                            r.code(),
                            r.desc()
                        ));
                    }
                }
            }
        }
        let envelope = envelope_cases(&p).await;
        cases += envelope.0;
        failures.extend(envelope.1);
        println!("{}: bad-input matrix of {cases} cases", p.label);
        assert!(
            failures.is_empty(),
            "{}: {} of {cases} cases failed:\n{}",
            p.label,
            failures.len(),
            failures.join("\n")
        );
        p.stop().await;
    }
}

/// The envelope's traps on every endpoint: (cases, failures).
async fn envelope_cases(p: &Platform) -> (usize, Vec<String>) {
    let mut cases = 0;
    let mut failures = Vec::new();
    let signed = |data: &str| {
        let s = nkpay_crypto::envelope::sign_request_data(
            data,
            nkpay_crypto::envelope::KeyOrder::TopLevel,
            &p.sp.key,
        )
        .expect("sign");
        s.sign
    };
    let env = |data: &str, sign: &str| {
        format!(
            "{{\"sys_id\":\"{SP}\",\"product_id\":\"{PRODUCT}\",\"data\":{data},\"sign\":\"{sign}\"}}"
        )
    };
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for path in open::endpoint_paths() {
        let data = format!(
            "{{\"mer_id\":\"{MER_A}\",\"req_date\":\"{}\",\"req_seq_id\":\"{}\"}}",
            today(),
            fresh_id()
        );
        let sign = signed(&data);
        let mut huge = env(&data, &sign).into_bytes();
        huge.splice(
            1..1,
            format!("\"pad\":\"{}\",", "x".repeat(70 * 1024)).into_bytes(),
        );
        let mut not_utf8 = env(&data, &sign).into_bytes();
        not_utf8.splice(20..20, [0xff, 0xfe]);
        let traps: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("huge body", huge, 200, "body"),
            ("invalid UTF-8", not_utf8, 400, "UTF-8"),
            (
                "duplicate key in data",
                env(&format!("{{\"mer_id\":\"{MER_A}\",\"mer_id\":\"{MER_B}\"}}"), &sign).into_bytes(),
                400,
                "mer_id",
            ),
            (
                "duplicate envelope key",
                format!("{{\"sys_id\":\"{SP}\",\"sys_id\":\"{OTHER_SP}\",\"product_id\":\"{PRODUCT}\",\"data\":{data},\"sign\":\"{sign}\"}}").into_bytes(),
                400,
                "sys_id",
            ),
            (
                "deep nesting",
                env(&format!("{{\"remark\":{deep}}}"), &sign).into_bytes(),
                400,
                "deep",
            ),
            ("data a string", env("\"abc\"", &sign).into_bytes(), 200, "data"),
            ("data an array", env("[1,2]", &sign).into_bytes(), 200, "data"),
            ("data a string holding an array", env("\"[1]\"", &sign).into_bytes(), 200, "data"),
            ("data a number", env("7", &sign).into_bytes(), 200, "data"),
        ];
        for (what, body, status, names) in traps {
            cases += 1;
            let r = p.sp.post_raw(path, body).await;
            if !(r.status == status && r.code() == "10000000" && r.desc().contains(names)) {
                failures.push(format!(
                    "{path} {what}: {} {} {}",
                    r.status,
                    r.code(),
                    r.desc()
                ));
            }
        }
    }
    (cases, failures)
}
