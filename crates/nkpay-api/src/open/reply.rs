//! Every answer of the merchant API (API.md "Envelope and signature", "Codes"): why a request is
//! refused ([`Refusal`], engine errors mapped to a `resp_code` once, internal causes logged and
//! never shown), how a reply's `data` is written ([`Reply`]: yuan strings with two decimals,
//! `yyyyMMddHHmmss` Asia/Shanghai, `trans_stat`, empty values left out), and the signed body
//! (`data` signed with the platform key, the key's id in `X-Nkp-Key-Id`,
//! `application/json;charset=utf-8`, HTTP 200 — refusals included).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::envelope;
use nkpay_engine::payments::TradeView;
use nkpay_engine::platform_keys::PlatformSigner;
use nkpay_engine::shanghai_time;
use nkpay_engine::{Engine, EngineError};
use serde_json::{Map, Value};

/// A refusal: the code and the description answered in the signed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `resp_code`.
    pub code: RespCode,
    /// The `resp_desc`: Chinese first (as Dougong answers), then the rule in English.
    pub desc: String,
}

impl Refusal {
    /// `10000000` `<field>格式错误: <rule>`.
    pub fn invalid(field: impl AsRef<str>, rule: impl AsRef<str>) -> Refusal {
        Refusal {
            code: RespCode::ParamError,
            desc: format!("{}格式错误: {}", field.as_ref(), rule.as_ref()),
        }
    }

    /// `10000000` `<field>不能为空`, with an optional hint after it.
    pub fn missing(field: impl AsRef<str>) -> Refusal {
        Refusal {
            code: RespCode::ParamError,
            desc: format!("{}不能为空", field.as_ref()),
        }
    }

    /// A refusal with its own code and description.
    pub fn new(code: RespCode, desc: impl Into<String>) -> Refusal {
        Refusal {
            code,
            desc: desc.into(),
        }
    }
}

impl From<EngineError> for Refusal {
    fn from(e: EngineError) -> Refusal {
        match e {
            EngineError::Invalid { .. } => Refusal::new(RespCode::ParamError, e.to_string()),
            EngineError::Refused { code, desc } => Refusal { code, desc },
            EngineError::Forbidden(_) => Refusal::new(RespCode::MerchantNotAllowed, e.to_string()),
            EngineError::Channel(inner) => {
                // The rule broken or the channel's own words only; transport errors and
                // gateway URLs go to the log (issue 15, fault 2).
                tracing::warn!(error = %inner, "channel error answering a merchant request");
                Refusal::new(
                    RespCode::ChannelError,
                    format!("通道异常: {}", inner.merchant_text_or_generic()),
                )
            }
            EngineError::Store(_) | EngineError::Crypto(_) | EngineError::Internal(_) => {
                tracing::error!(error = %e, "internal error answering a merchant request");
                Refusal::new(
                    RespCode::InternalError,
                    RespCode::InternalError.default_desc(),
                )
            }
        }
    }
}

/// Reply `data` under construction.
#[derive(Default)]
pub struct Reply(Map<String, Value>);

impl Reply {
    /// `resp_code` and `resp_desc` first.
    pub fn with_code(code: RespCode, desc: impl Into<String>) -> Reply {
        let mut d = Reply::default();
        d.set("resp_code", code.code())
            .set("resp_desc", desc.into());
        d
    }

    /// Sets a string field.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Reply {
        self.0.insert(key.to_owned(), Value::String(value.into()));
        self
    }

    /// Sets a string field when there is a non-empty value.
    pub fn set_opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Reply {
        if let Some(v) = value {
            let v = v.into();
            if !v.is_empty() {
                self.0.insert(key.to_owned(), Value::String(v));
            }
        }
        self
    }

    /// An amount in fen, written in yuan.
    pub fn amount(&mut self, key: &str, fen: i64) -> &mut Reply {
        self.set(key, Money::yuan_of_fen(fen))
    }

    /// A UTC time, written `yyyyMMddHHmmss` in Asia/Shanghai.
    pub fn time(&mut self, key: &str, at: Option<DateTime<Utc>>) -> &mut Reply {
        self.set_opt(key, at.map(shanghai_time::format_date_time))
    }

    /// The finished `data`.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// The trade's own ids, type, amount and state, with the channel's refusal and the remark —
/// what jspay answers besides `pay_info` / `qr_code`.
pub fn trade_reply(d: &mut Reply, t: &TradeView) {
    d.set("req_date", &t.req_date)
        .set("req_seq_id", &t.req_seq_id)
        .set("mer_id", &t.mer_id)
        .set("nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .amount("trans_amt", t.trans_amt)
        .set("trans_stat", t.status.trans_stat().as_str())
        .set_opt("party_order_id", t.party_order_id.as_deref())
        .set_opt("bank_code", t.bank_code.as_deref())
        .set_opt("bank_message", t.bank_message.as_deref())
        .set_opt("remark", t.remark.as_deref());
}

/// The trade as an earlier trade a request named (`org_*` ids): what query answers.
pub fn org_trade_reply(d: &mut Reply, t: &TradeView) {
    d.set("mer_id", &t.mer_id)
        .set("org_req_date", &t.req_date)
        .set("org_req_seq_id", &t.req_seq_id)
        .set("org_nkp_seq_id", &t.nkp_seq_id)
        .set("trade_type", t.trade_type.as_str())
        .amount("trans_amt", t.trans_amt)
        .set("trans_stat", t.status.trans_stat().as_str())
        .amount("fee_amt", t.fee_amt)
        .amount("refunded_amt", t.refunded_amt)
        .set_opt("party_order_id", t.party_order_id.as_deref())
        .time("end_time", t.end_time)
        .set_opt("buyer_id", t.buyer_id.as_deref())
        .set_opt("bank_code", t.bank_code.as_deref())
        .set_opt("bank_message", t.bank_message.as_deref())
        .set_opt("remark", t.remark.as_deref());
}

pub use nkpay_crypto::envelope::KEY_ID_HEADER;
/// Every reply's content type.
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// The key that signs a reply to the caller `sys_id` (`None`: no envelope was read): its
/// assigned key, or the newest (`PlatformKeys::signer_for`). Should the lookup fail (the
/// database down), the failure is logged and the newest key as this node holds it signs.
pub async fn signer_for(engine: &Engine, sys_id: Option<&str>) -> PlatformSigner {
    let keys = engine.signer();
    match keys.signer_for(sys_id).await {
        Ok(signer) => signer,
        Err(e) => {
            tracing::error!(error = %e, sys_id, "finding the caller's platform key failed; signing with the newest");
            keys.newest()
        }
    }
}

/// The signed response carrying `data`.
pub fn signed(
    signer: &PlatformSigner,
    status: StatusCode,
    data: Map<String, Value>,
) -> HttpResponse {
    let body = match envelope::signed_reply_body(&data, signer.private_key()) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "signing a merchant API reply failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut response = HttpResponse::build(status)
        .insert_header((KEY_ID_HEADER, signer.key_id()))
        .content_type(CONTENT_TYPE)
        .body(body);
    // For the request metrics (`nkpay_open_api_requests_total{resp_code}`).
    if let Some(code) = data
        .get("resp_code")
        .and_then(Value::as_str)
        .and_then(|c| c.parse::<RespCode>().ok())
    {
        response
            .extensions_mut()
            .insert(crate::observability::OpenApiOutcome(code));
    }
    response
}

/// A refusal as `data`: the code, a description naming the field and rule, and the request's
/// own ids echoed so the caller can match the answer.
pub fn refusal(
    code: RespCode,
    desc: &str,
    request: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("resp_code".into(), Value::from(code.code()));
    data.insert("resp_desc".into(), Value::from(desc));
    if let Some(req) = request {
        for key in ["req_date", "req_seq_id", "mer_id", "huifu_id"] {
            if let Some(Value::String(v)) = req.get(key) {
                let name = if key == "huifu_id" { "mer_id" } else { key };
                data.entry(name.to_owned())
                    .or_insert_with(|| Value::from(v.as_str()));
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_are_not_shown_to_merchants() {
        let r = Refusal::from(EngineError::Internal("db password wrong".into()));
        assert_eq!(r.code, RespCode::InternalError);
        assert!(!r.desc.contains("password"));
        let r = Refusal::from(EngineError::invalid("trans_amt", "must be yuan"));
        assert_eq!(r.code, RespCode::ParamError);
        assert_eq!(r.desc, "trans_amt格式错误: must be yuan");
    }

    #[test]
    fn refusal_echoes_the_request_ids_with_huifu_id_as_mer_id() {
        let req: Map<String, Value> = serde_json::from_str(
            r#"{"req_date":"20250101","req_seq_id":"r1","huifu_id":"6666000100000001","trans_amt":"1"}"#,
        )
        .unwrap();
        let data = refusal(RespCode::ParamError, "trans_amt格式错误", Some(&req));
        assert_eq!(data["mer_id"], "6666000100000001");
        assert_eq!(data["req_seq_id"], "r1");
        assert!(data.get("trans_amt").is_none());
        assert!(data.get("huifu_id").is_none());
    }

    #[test]
    fn empty_values_are_left_out() {
        let mut d = Reply::with_code(RespCode::Success, "ok");
        d.set_opt("a", Some(""))
            .set_opt("b", None::<&str>)
            .time("c", None);
        let m = d.into_map();
        assert_eq!(m.len(), 2, "{m:?}");
    }
}
