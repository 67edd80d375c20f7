//! WeChat Pay v2 service-provider sub-merchant development configuration (服务商子商户开发配置):
//! `secapi/mch/addsubdevconfig` binds one JSAPI payment directory (`jsapi_path`) or one appid
//! (`sub_appid`) to a sub-merchant, `secapi/mch/querysubdevconfig` lists them; both need the
//! client certificate. And the probe's reading of `downloadbill` and `querysubdevconfig`.
//!
//! Source: WeChat Pay 服务商 documents, 子商户开发配置新增 / 查询 (`mch_bank.php?chapter=9_24_2`,
//! `9_25`): request `appid`, `mch_id`, `sub_mch_id`, one of `jsapi_path` / `sub_appid`, `sign`
//! (no `nonce_str`, no `sign_type`: MD5); reply `return_code`/`return_msg`, then `result_code`,
//! `err_code`, `err_code_des`, `sign`; the query's `jsapi_path_list` and `appid_config_list` are
//! JSON strings, `{"jsapi_path_list":["https://…/"]}` and
//! `{"appid_config_list":[{"sub_appid":"wx…","subscribe_appid":"…"}]}`.

use nkpay_crypto::wechat_sign::WechatSignType;
use serde::Deserialize;

use super::WechatAccount;
use super::transformers::{Business, Fields, Opened, business, check_len, open_signed};
use crate::error::ChannelError;
use crate::outcome::ProbeResult;
use crate::transport::Delivery;

pub(super) const ADDSUBDEVCONFIG: &str = "secapi/mch/addsubdevconfig";
pub(super) const QUERYSUBDEVCONFIG: &str = "secapi/mch/querysubdevconfig";

/// These calls take no `sign_type`: they are signed, and answered, with MD5.
pub(super) const SIGN_TYPE: WechatSignType = WechatSignType::Md5;

/// What to bind to a sub-merchant with `secapi/mch/addsubdevconfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubDevConfig {
    /// A JSAPI payment directory (支付授权目录): an `http(s)://` URL ending in `/`, at most 256
    /// characters; WeChat keeps at most 5 per sub-merchant.
    JsapiPath(String),
    /// An appid (official account or mini-program) the sub-merchant's payers pay under, sent
    /// later as `sub_appid`; at most 32 characters.
    SubAppid(String),
}

/// What `addsubdevconfig` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubDevConfigResult {
    /// The item is bound: newly, or it already was (WeChat's "已存在" answer to binding the same
    /// thing twice is read as done, so a re-sent call after a time-out is harmless).
    Bound,
    /// WeChat refused it (e.g. `INVALID_REQUEST` for a 6th `jsapi_path`, an appid of another
    /// subject, a `sub_mch_id` not under this service provider).
    Refused {
        /// WeChat's `err_code` (`FAIL` when the call itself was refused: `return_code FAIL`).
        code: String,
        /// WeChat's `err_code_des` (or `return_msg`).
        message: String,
    },
}

/// What is bound to a sub-merchant, from `querysubdevconfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubDevConfigList {
    /// The JSAPI payment directories, in WeChat's order.
    pub jsapi_paths: Vec<String>,
    /// The bound appids (`sub_appid`), in WeChat's order.
    pub sub_appids: Vec<String>,
}

/// The fields of both calls: the service provider, the sub-merchant; no nonce, no sign_type.
fn base(account: &WechatAccount, sub_mch_id: &str) -> Result<Fields, ChannelError> {
    check_len("sub_mch_id", sub_mch_id, 1, 32)?;
    let mut f = Fields::new();
    f.insert("appid".into(), account.appid.clone());
    f.insert("mch_id".into(), account.mch_id.clone());
    f.insert("sub_mch_id".into(), sub_mch_id.to_owned());
    Ok(f)
}

pub(super) fn add(
    account: &WechatAccount,
    sub_mch_id: &str,
    item: &SubDevConfig,
) -> Result<Fields, ChannelError> {
    let mut f = base(account, sub_mch_id)?;
    match item {
        SubDevConfig::JsapiPath(path) => {
            check_len("jsapi_path", path, 1, 256)?;
            let scheme_ok = path.starts_with("https://") || path.starts_with("http://");
            if !scheme_ok || !path.ends_with('/') {
                return Err(ChannelError::invalid(
                    "jsapi_path",
                    "must be an http(s):// URL ending with '/' (a directory) for WeChat Pay",
                ));
            }
            f.insert("jsapi_path".into(), path.clone());
        }
        SubDevConfig::SubAppid(appid) => {
            check_len("sub_appid", appid, 1, 32)?;
            f.insert("sub_appid".into(), appid.clone());
        }
    }
    Ok(f)
}

pub(super) fn query(account: &WechatAccount, sub_mch_id: &str) -> Result<Fields, ChannelError> {
    base(account, sub_mch_id)
}

/// WeChat's words for "this is already configured": the item stands, the call's goal is met.
fn already_bound(message: &str) -> bool {
    message.contains("已存在") || message.contains("已绑定") || message.contains("already")
}

/// `Err` is why the outcome is unknown (no reply, unverified reply, SYSTEMERROR).
pub(super) fn judge_add(
    delivery: &Delivery,
    account: &WechatAccount,
) -> Result<SubDevConfigResult, String> {
    match open_signed(delivery, account, SIGN_TYPE)? {
        Opened::Refused { message } => Ok(SubDevConfigResult::Refused {
            code: "FAIL".into(),
            message,
        }),
        Opened::Answered(fields) => match business(fields)? {
            Business::Success(_) => Ok(SubDevConfigResult::Bound),
            Business::Fail { code, message } if code == "SYSTEMERROR" => {
                Err(format!("{code}: {message}"))
            }
            Business::Fail { message, .. } if already_bound(&message) => {
                Ok(SubDevConfigResult::Bound)
            }
            Business::Fail { code, message } => Ok(SubDevConfigResult::Refused { code, message }),
        },
    }
}

#[derive(Deserialize)]
struct PathList {
    jsapi_path_list: Vec<String>,
}

#[derive(Deserialize)]
struct AppidEntry {
    sub_appid: String,
}

#[derive(Deserialize)]
struct AppidList {
    appid_config_list: Vec<AppidEntry>,
}

/// A list field: the documented wrapped object, or a bare array; absent or empty is none.
fn json_list<W, T>(
    fields: &Fields,
    name: &str,
    unwrap: impl Fn(W) -> Vec<T>,
) -> Result<Vec<T>, String>
where
    W: serde::de::DeserializeOwned,
    T: serde::de::DeserializeOwned,
{
    let Some(text) = fields.get(name).filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    if let Ok(wrapped) = serde_json::from_str::<W>(text) {
        return Ok(unwrap(wrapped));
    }
    serde_json::from_str::<Vec<T>>(text)
        .map_err(|e| format!("{name} is not the documented JSON: {e}"))
}

/// `Ok(Err((code, message)))` is WeChat's refusal; `Err` an unknown outcome.
pub(super) fn judge_query(
    delivery: &Delivery,
    account: &WechatAccount,
) -> Result<Result<SubDevConfigList, (String, String)>, String> {
    let fields = match open_signed(delivery, account, SIGN_TYPE)? {
        Opened::Refused { message } => return Ok(Err(("FAIL".into(), message))),
        Opened::Answered(fields) => match business(fields)? {
            Business::Fail { code, message } if code == "SYSTEMERROR" => {
                return Err(format!("{code}: {message}"));
            }
            Business::Fail { code, message } => return Ok(Err((code, message))),
            Business::Success(fields) => fields,
        },
    };
    let jsapi_paths = json_list(&fields, "jsapi_path_list", |w: PathList| w.jsapi_path_list)?;
    let sub_appids = json_list(&fields, "appid_config_list", |w: AppidList| {
        w.appid_config_list
    })?
    .into_iter()
    .map(|e| e.sub_appid)
    .collect();
    Ok(Ok(SubDevConfigList {
        jsapi_paths,
        sub_appids,
    }))
}

/// The probe's reading of `downloadbill`: WeChat checks the signature before it looks for a
/// bill, so "No Bill Exist" (or a bill) proves the key; "sign error" / "签名错误" or an appid
/// refusal disproves it.
pub(super) fn judge_probe_bill(delivery: &Delivery) -> ProbeResult {
    let body = match delivery {
        Delivery::NoReply { reason } => return ProbeResult::not_ok("NO_REPLY", reason.clone()),
        Delivery::Reply { status, .. } if *status != 200 => {
            return ProbeResult::not_ok(
                format!("HTTP_{status}"),
                format!("HTTP {status} from WeChat Pay"),
            );
        }
        Delivery::Reply { body, .. } => body,
    };
    let Some(failure) = super::transformers::bill_failure(body) else {
        return ProbeResult::ok("BILL", "downloadbill answered with a bill");
    };
    match failure {
        super::transformers::BillFailureKind::NoBill(message) => {
            ProbeResult::ok("NO_BILL", message)
        }
        super::transformers::BillFailureKind::Busy(message) => {
            ProbeResult::not_ok("SYSTEMERROR", message)
        }
        super::transformers::BillFailureKind::Failed { code, message } => {
            // "Bill Creating": the signature passed, the bill is not ready.
            if message.contains("Bill Creating") {
                ProbeResult::ok("BILL_CREATING", message)
            } else {
                ProbeResult::not_ok(code, message)
            }
        }
    }
}

/// The probe's reading of `querysubdevconfig` for a made-up sub-merchant: any signed reply means
/// WeChat accepted the client certificate (it refuses the certificate with an unsigned
/// `return_code FAIL`, or the TLS handshake fails).
pub(super) fn judge_probe_certificate(delivery: &Delivery, account: &WechatAccount) -> ProbeResult {
    if let Delivery::Reply { status, .. } = delivery
        && *status != 200
    {
        return ProbeResult::not_ok(
            format!("HTTP_{status}"),
            format!("HTTP {status} from WeChat Pay on {QUERYSUBDEVCONFIG}"),
        );
    }
    if let Delivery::NoReply { reason } = delivery {
        return ProbeResult::not_ok("NO_REPLY", format!("{QUERYSUBDEVCONFIG}: {reason}"));
    }
    match open_signed(delivery, account, SIGN_TYPE) {
        Err(reason) => ProbeResult::not_ok("UNTRUSTED_REPLY", reason),
        Ok(Opened::Refused { message }) => ProbeResult::not_ok("FAIL", message),
        Ok(Opened::Answered(fields)) => {
            let code = fields
                .get("err_code")
                .or_else(|| fields.get("result_code"))
                .cloned()
                .unwrap_or_default();
            ProbeResult::ok(
                code,
                "the client certificate was accepted (querysubdevconfig answered, signed)",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_read_the_documented_wrapped_json_and_bare_arrays() {
        let mut f = Fields::new();
        f.insert(
            "jsapi_path_list".into(),
            r#"{"jsapi_path_list":["http://www.qq.com/abcd/","http://www.qq.com/abcdedfg/"]}"#
                .into(),
        );
        f.insert(
            "appid_config_list".into(),
            r#"[{"sub_appid":"wx1","subscribe_appid":""}]"#.into(),
        );
        let paths = json_list(&f, "jsapi_path_list", |w: PathList| w.jsapi_path_list).unwrap();
        assert_eq!(
            paths,
            ["http://www.qq.com/abcd/", "http://www.qq.com/abcdedfg/"]
        );
        let appids =
            json_list(&f, "appid_config_list", |w: AppidList| w.appid_config_list).unwrap();
        assert_eq!(appids[0].sub_appid, "wx1");
        let none = json_list(&Fields::new(), "jsapi_path_list", |w: PathList| {
            w.jsapi_path_list
        })
        .unwrap();
        assert!(none.is_empty());
    }

    fn reply(status: u16, body: &str) -> Delivery {
        Delivery::Reply {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    fn fail(msg: &str) -> String {
        format!(
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[{msg}]]></return_msg></xml>"
        )
    }

    #[test]
    fn the_probe_reads_no_bill_or_a_bill_as_a_good_key_and_a_signature_refusal_as_a_bad_one() {
        let probe = |d: Delivery| judge_probe_bill(&d);
        let none = probe(reply(200, &fail("No Bill Exist")));
        assert!(none.ok && none.code == "NO_BILL", "{none:?}");
        assert!(probe(reply(200, &fail("Bill Creating"))).ok);
        assert!(probe(reply(200, "交易时间,公众账号ID\r\n")).ok);
        for refused in ["签名错误", "sign error", "invalid appid"] {
            let r = probe(reply(200, &fail(refused)));
            assert!(!r.ok && r.message == refused, "{r:?}");
        }
        let http = probe(reply(502, ""));
        assert!(!http.ok && http.code == "HTTP_502");
        let gone = probe(Delivery::NoReply {
            reason: "connection refused".into(),
        });
        assert!(!gone.ok && gone.code == "NO_REPLY");
    }

    #[test]
    fn a_jsapi_path_must_be_an_http_directory() {
        let account = WechatAccount {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            api_key: nkpay_core::secret::Secret::new("192006250b4c09247ec02edce69f6a2d".into()),
            sign_type: WechatSignType::HmacSha256,
            base_url: url::Url::parse("https://api.mch.weixin.qq.com/").unwrap(),
            client_identity: None,
            extra_roots_pem: None,
            server_ip: "10.0.0.1".into(),
            notify_urls: crate::notify::NotifyUrls {
                payment: "https://pay.example.com/n".into(),
                refund: "https://pay.example.com/r".into(),
            },
            close_min_age: super::super::CLOSE_MIN_AGE,
            http: crate::transport::HttpSettings::default(),
        };
        for bad in ["ftp://a.example/", "https://a.example/pay", "a.example/"] {
            let err =
                add(&account, "1900000201", &SubDevConfig::JsapiPath(bad.into())).unwrap_err();
            assert!(
                matches!(
                    err,
                    ChannelError::InvalidInput {
                        field: "jsapi_path",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let ok = add(
            &account,
            "1900000201",
            &SubDevConfig::JsapiPath("https://a.example/pay/".into()),
        )
        .unwrap();
        assert_eq!(ok["jsapi_path"], "https://a.example/pay/");
        assert!(!ok.contains_key("nonce_str") && !ok.contains_key("sign_type"));
    }
}
