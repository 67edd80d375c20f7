//! Every answer of the merchant API: `data` signed with the platform key, the key's id in
//! `X-Nkp-Key-Id`, `application/json;charset=utf-8`, HTTP 200 — errors included (engine errors
//! become a `resp_code` once, in [`super::refusal`]).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::envelope;
use nkpay_engine::platform_keys::PlatformSigner;
use serde_json::{Map, Value};

pub use nkpay_crypto::envelope::KEY_ID_HEADER;
/// Every reply's content type.
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";

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
    HttpResponse::build(status)
        .insert_header((KEY_ID_HEADER, signer.key_id()))
        .content_type(CONTENT_TYPE)
        .body(body)
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
}
