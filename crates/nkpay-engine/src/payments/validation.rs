//! The field rules of the trade requests (API.md), each refusal naming the field and the rule.
//! Routing rules (which payer fields a trade type needs, what is bound to the merchant) are in
//! `routing.rs`.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::TradeType;
use serde_json::{Map, Value};

use super::fields::{Fields, nested};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::notifications::url_guard;
use crate::shanghai_time;

pub const GOODS_DESC_MAX_CHARS: usize = 127;
pub const REMARK_MAX_CHARS: usize = 255;
pub const REQ_SEQ_ID_MAX: usize = 64;
pub const ATTACH_MAX_CHARS: usize = 127;
pub const DEFAULT_EXPIRY: TimeDelta = TimeDelta::hours(2);
pub const MIN_EXPIRY: TimeDelta = TimeDelta::minutes(1);
pub const MAX_EXPIRY: TimeDelta = TimeDelta::hours(24);

/// The payer fields of `wx_data`, checked for form; `routing` decides which are needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WxData {
    pub openid: Option<String>,
    pub sub_appid: Option<String>,
    pub sub_openid: Option<String>,
    pub attach: Option<String>,
    pub client_ip: Option<String>,
}

/// A jspay request whose every field passed its rule.
#[derive(Debug, Clone)]
pub struct JspayRequest {
    pub mer_id: String,
    pub req_date: String,
    pub req_seq_id: String,
    pub trade_type: TradeType,
    pub trans_amt: Money,
    pub goods_desc: String,
    pub time_expire: DateTime<Utc>,
    pub notify_url: Option<String>,
    pub remark: Option<String>,
    pub wx: WxData,
}

/// `mer_id`, or its alias `huifu_id` (what the Dougong SDK request classes send).
pub fn mer_id<'a>(f: &Fields<'a>) -> Result<&'a str, EngineError> {
    f.required_any(&["mer_id", "huifu_id"])
}

/// The request's own id: `req_date` (a real `yyyyMMdd` date) and `req_seq_id`.
pub fn request_id<'a>(f: &Fields<'a>) -> Result<(&'a str, &'a str), EngineError> {
    let req_date = f.required("req_date")?;
    check_date_format("req_date", req_date)?;
    let req_seq_id = f.required("req_seq_id")?;
    check_req_seq_id("req_seq_id", req_seq_id)?;
    Ok((req_date, req_seq_id))
}

/// `[0-9A-Za-z_-]{1,64}`.
pub fn check_req_seq_id(field: &str, value: &str) -> Result<(), EngineError> {
    let ok = !value.is_empty()
        && value.len() <= REQ_SEQ_ID_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            field,
            "must be 1 to 64 characters of 0-9 A-Z a-z _ -",
        ))
    }
}

/// A real `yyyyMMdd` date (the shape only; see [`check_req_date_is_current`]).
pub fn check_date_format(field: &str, value: &str) -> Result<(), EngineError> {
    shanghai_time::parse_date(value)
        .map(|_| ())
        .ok_or_else(|| EngineError::invalid(field, "must be a real date written yyyyMMdd"))
}

/// `req_date` within `tolerance_days` of today in Asia/Shanghai: a request id from another day
/// is a mistake (or a replay of an old request).
pub fn check_req_date_is_current(
    field: &str,
    value: &str,
    now: DateTime<Utc>,
    tolerance_days: i64,
) -> Result<(), EngineError> {
    let date = shanghai_time::parse_date(value)
        .ok_or_else(|| EngineError::invalid(field, "must be a real date written yyyyMMdd"))?;
    let today = shanghai_time::date_of(now);
    if (date - today).num_days().abs() > tolerance_days {
        return Err(EngineError::invalid(
            field,
            format!(
                "must be today's date (Asia/Shanghai, {}) give or take {tolerance_days} day",
                today.format(shanghai_time::DATE)
            ),
        ));
    }
    Ok(())
}

fn max_chars(field: &str, value: &str, max: usize) -> Result<(), EngineError> {
    if value.chars().count() > max {
        return Err(EngineError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// `time_expire`: `yyyyMMddHHmmss` Asia/Shanghai, 1 minute to 24 hours from now; 2 hours when
/// absent.
pub fn time_expire(value: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
    // The field has whole seconds; compare against whole seconds too.
    let now = now.with_nanosecond(0).unwrap_or(now);
    let Some(text) = value else {
        return Ok(now + DEFAULT_EXPIRY);
    };
    let t = shanghai_time::parse_date_time(text).ok_or_else(|| {
        EngineError::invalid(
            "time_expire",
            "must be a real time written yyyyMMddHHmmss (Asia/Shanghai)",
        )
    })?;
    if t < now + MIN_EXPIRY || t > now + MAX_EXPIRY {
        return Err(EngineError::invalid(
            "time_expire",
            "must be between 1 minute and 24 hours from now",
        ));
    }
    Ok(t)
}

/// `notify_url`: http(s), at most 256 characters, and (through the SSRF guard) resolving only
/// to addresses the platform may deliver to.
pub async fn notify_url(
    value: Option<&str>,
    config: &EngineConfig,
) -> Result<Option<String>, EngineError> {
    let Some(url) = value else { return Ok(None) };
    url_guard::check_notify_url(url, &config.notify_url_policy)
        .await
        .map_err(|refusal| EngineError::refused(RespCode::ParamError, refusal.to_string()))?;
    Ok(Some(url.to_owned()))
}

fn wx_data(data: &Fields<'_>) -> Result<WxData, EngineError> {
    let Some(obj) = data.object("wx_data")? else {
        return Ok(WxData::default());
    };
    wx_fields(&obj)
}

fn wx_fields(obj: &Map<String, Value>) -> Result<WxData, EngineError> {
    let f = nested(obj, "wx_data.");
    let id = |key: &'static str, max: usize| -> Result<Option<String>, EngineError> {
        match f.optional(key)? {
            None => Ok(None),
            Some(v) => {
                let ok = v.len() <= max
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if ok {
                    Ok(Some(v.to_owned()))
                } else {
                    Err(EngineError::invalid(
                        format!("wx_data.{key}"),
                        format!("must be at most {max} characters of 0-9 A-Z a-z _ -"),
                    ))
                }
            }
        }
    };
    let attach = f.optional("attach")?;
    if let Some(a) = attach {
        max_chars("wx_data.attach", a, ATTACH_MAX_CHARS)?;
    }
    let client_ip = match f.optional("spbill_create_ip")? {
        None => None,
        Some(ip) => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| {
                    EngineError::invalid(
                        "wx_data.spbill_create_ip",
                        "must be an IPv4 or IPv6 address",
                    )
                })?
                .to_string(),
        ),
    };
    Ok(WxData {
        openid: id("openid", 128)?,
        sub_appid: id("sub_appid", 32)?,
        sub_openid: id("sub_openid", 128)?,
        attach: attach.map(str::to_owned),
        client_ip,
    })
}

/// Every field rule of jspay except `mer_id` (checked first, with the caller's scope) and the
/// routing rules.
pub async fn jspay(
    data: &Fields<'_>,
    mer_id: &str,
    now: DateTime<Utc>,
    config: &EngineConfig,
) -> Result<JspayRequest, EngineError> {
    let (req_date, req_seq_id) = request_id(data)?;
    check_req_date_is_current("req_date", req_date, now, config.req_date_tolerance_days)?;
    let trade_type_text = data.required("trade_type")?;
    let trade_type: TradeType = trade_type_text.parse().map_err(|_| {
        EngineError::invalid(
            "trade_type",
            format!(
                "must be one of {}",
                TradeType::ALL.map(|t| t.as_str()).join(", ")
            ),
        )
    })?;
    let trans_amt = Money::parse_yuan(data.required("trans_amt")?).map_err(|_| {
        EngineError::invalid(
            "trans_amt",
            "must be yuan with exactly two decimals, 0.01 to 99999999.99",
        )
    })?;
    let goods_desc = data.required("goods_desc")?;
    max_chars("goods_desc", goods_desc, GOODS_DESC_MAX_CHARS)?;
    let time_expire = time_expire(data.optional("time_expire")?, now)?;
    let remark = data.optional("remark")?;
    if let Some(r) = remark {
        max_chars("remark", r, REMARK_MAX_CHARS)?;
    }
    let wx = match trade_type.channel() {
        nkpay_core::trade_type::ChannelKind::Wechat => wx_data(data)?,
        nkpay_core::trade_type::ChannelKind::Alipay => {
            // Nothing in alipay_data is needed yet; it must still be well formed.
            data.object("alipay_data")?;
            WxData::default()
        }
    };
    let notify_url = notify_url(data.optional("notify_url")?, config).await?;
    Ok(JspayRequest {
        mer_id: mer_id.to_owned(),
        req_date: req_date.to_owned(),
        req_seq_id: req_seq_id.to_owned(),
        trade_type,
        trans_amt,
        goods_desc: goods_desc.to_owned(),
        time_expire,
        notify_url,
        remark: remark.map(str::to_owned),
        wx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        // 2025-03-10 12:00:00 in Shanghai.
        Utc.with_ymd_and_hms(2025, 3, 10, 4, 0, 0).unwrap()
    }

    #[test]
    fn req_seq_id_allows_only_its_charset_and_length() {
        assert!(check_req_seq_id("req_seq_id", "abc_DEF-123").is_ok());
        assert!(check_req_seq_id("req_seq_id", &"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a.b", "订单1", &"a".repeat(65)] {
            let err = check_req_seq_id("req_seq_id", bad).unwrap_err();
            assert!(err.to_string().starts_with("req_seq_id格式错误"), "{bad}");
        }
    }

    #[test]
    fn req_date_must_be_a_real_date_near_today_in_shanghai() {
        assert!(check_req_date_is_current("req_date", "20250310", now(), 1).is_ok());
        assert!(check_req_date_is_current("req_date", "20250309", now(), 1).is_ok());
        assert!(check_req_date_is_current("req_date", "20250311", now(), 1).is_ok());
        assert!(check_req_date_is_current("req_date", "20250312", now(), 1).is_err());
        assert!(check_req_date_is_current("req_date", "20250230", now(), 1).is_err());
        let err = check_req_date_is_current("req_date", "20240310", now(), 1).unwrap_err();
        assert!(err.to_string().contains("20250310"), "{err}");
    }

    #[test]
    fn time_expire_defaults_to_two_hours_and_stays_within_a_minute_to_a_day() {
        assert_eq!(
            time_expire(None, now()).unwrap(),
            now() + TimeDelta::hours(2)
        );
        // 12:01:00 and 12:00:59 Shanghai.
        assert!(time_expire(Some("20250310120100"), now()).is_ok());
        assert!(time_expire(Some("20250310120059"), now()).is_err());
        assert!(time_expire(Some("20250311120000"), now()).is_ok());
        assert!(time_expire(Some("20250311120001"), now()).is_err());
        let err = time_expire(Some("2025-03-10 13:00"), now()).unwrap_err();
        assert!(err.to_string().starts_with("time_expire格式错误"));
    }

    #[test]
    fn wx_data_fields_are_checked_for_form() {
        let obj = serde_json::json!({"sub_appid": "wx 1"});
        let err = wx_fields(obj.as_object().unwrap()).unwrap_err();
        assert!(
            err.to_string().starts_with("wx_data.sub_appid格式错误"),
            "{err}"
        );
        let obj = serde_json::json!({"spbill_create_ip": "1.2.3"});
        let err = wx_fields(obj.as_object().unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("wx_data.spbill_create_ip格式错误")
        );
        let obj = serde_json::json!({"openid": "o-1", "spbill_create_ip": "10.0.0.1"});
        let wx = wx_fields(obj.as_object().unwrap()).unwrap();
        assert_eq!(wx.openid.as_deref(), Some("o-1"));
        assert_eq!(wx.client_ip.as_deref(), Some("10.0.0.1"));
    }
}
