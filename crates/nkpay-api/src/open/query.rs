//! `POST /v2/trade/payment/scanpay/query` (API.md "query, close"): the trade named by
//! `org_nkp_seq_id` or `org_req_date` + `org_req_seq_id`, refreshed from the channel first when
//! it is still processing. Never answered from a stored reply.

use nkpay_core::resp_code::RespCode;
use nkpay_engine::request::OriginalKey;
use serde_json::{Map, Value};

use super::fields::Fields;
use super::reply::Refusal;
use super::reply::{Reply, org_trade_reply};
use super::{OpenCall, Scoped};

/// The trade query endpoint.
pub struct Query;

impl OpenCall for Query {
    type Request = OriginalKey;

    fn read(f: &Fields<'_>) -> Result<OriginalKey, Refusal> {
        f.original_key()
    }

    async fn run(s: Scoped<'_>, key: OriginalKey) -> Result<Map<String, Value>, Refusal> {
        let t = s.engine.payments().query(&s.scope, &key).await?;
        let mut d = Reply::with_code(RespCode::Success, "查询成功");
        org_trade_reply(&mut d, &t);
        Ok(d.into_map())
    }
}
