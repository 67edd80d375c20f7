//! The field rules of a refund request (API.md "refund, refundquery"), each refusal naming the
//! field and the rule. Which trade it refunds is `org_trade.rs`.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::payments::fields::Fields;
use crate::payments::validation::{self, REMARK_MAX_CHARS};

/// A refund request whose every own field passed its rule.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub req_date: String,
    pub req_seq_id: String,
    pub ord_amt: Money,
    pub notify_url: Option<String>,
    pub remark: Option<String>,
}

/// `req_date` (today, give or take the tolerance), `req_seq_id`, `ord_amt`, `notify_url`,
/// `remark`.
pub async fn parse(
    f: &Fields<'_>,
    now: DateTime<Utc>,
    config: &EngineConfig,
) -> Result<RefundRequest, EngineError> {
    let req_date = f.required("req_date")?;
    validation::check_req_date_is_current(
        "req_date",
        req_date,
        now,
        config.req_date_tolerance_days,
    )?;
    let req_seq_id = f.required("req_seq_id")?;
    validation::check_req_seq_id("req_seq_id", req_seq_id)?;
    let ord_amt = Money::parse_yuan(f.required("ord_amt")?).map_err(|_| {
        EngineError::invalid(
            "ord_amt",
            "must be yuan with exactly two decimals, 0.01 to 99999999.99",
        )
    })?;
    let remark = f.optional("remark")?;
    if let Some(r) = remark
        && r.chars().count() > REMARK_MAX_CHARS
    {
        return Err(EngineError::invalid(
            "remark",
            format!("must be at most {REMARK_MAX_CHARS} characters"),
        ));
    }
    let notify_url = validation::notify_url(f.optional("notify_url")?, config).await?;
    Ok(RefundRequest {
        req_date: req_date.to_owned(),
        req_seq_id: req_seq_id.to_owned(),
        ord_amt,
        notify_url,
        remark: remark.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn today() -> String {
        crate::shanghai_time::date_of(Utc::now())
            .format(crate::shanghai_time::DATE)
            .to_string()
    }

    async fn parse_json(v: Value) -> Result<RefundRequest, EngineError> {
        let m = map(v);
        parse(&Fields::new(&m), Utc::now(), &EngineConfig::default()).await
    }

    #[tokio::test]
    async fn ord_amt_must_be_yuan_with_two_decimals() {
        for bad in ["1", "1.0", "0.00", "-1.00", "1.001", "abc"] {
            let err = parse_json(json!({"req_date": today(), "req_seq_id": "r1", "ord_amt": bad}))
                .await
                .unwrap_err();
            assert!(
                err.to_string().starts_with("ord_amt格式错误"),
                "{bad}: {err}"
            );
        }
        let ok = parse_json(json!({"req_date": today(), "req_seq_id": "r1", "ord_amt": "0.01"}))
            .await
            .unwrap();
        assert_eq!(ok.ord_amt.fen(), 1);
    }

    #[tokio::test]
    async fn missing_request_id_and_long_remark_are_named() {
        let err = parse_json(json!({"req_date": today(), "ord_amt": "1.00"}))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "req_seq_id不能为空");
        let err = parse_json(json!({
            "req_date": today(), "req_seq_id": "r1", "ord_amt": "1.00",
            "remark": "退".repeat(REMARK_MAX_CHARS + 1)
        }))
        .await
        .unwrap_err();
        assert!(err.to_string().starts_with("remark格式错误"), "{err}");
    }

    #[tokio::test]
    async fn a_private_notify_url_is_refused_by_default() {
        let err = parse_json(json!({
            "req_date": today(), "req_seq_id": "r1", "ord_amt": "1.00",
            "notify_url": "http://127.0.0.1:9/refund"
        }))
        .await
        .unwrap_err();
        assert!(err.to_string().contains("notify_url"), "{err}");
    }
}
