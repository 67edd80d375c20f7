//! Finding the original trade a query, close or refund names: by `org_nkp_seq_id`, or by
//! `org_req_date` + `org_req_seq_id`, and only among the merchant's own trades.

use nkpay_core::resp_code::RespCode;
use nkpay_store::entity::trade;
use nkpay_store::trades;

use super::fields::Fields;
use super::validation;
use crate::engine::Engine;
use crate::error::EngineError;

/// How a request names an earlier trade or refund of the merchant.
pub(crate) enum OrgId<'a> {
    /// Its `org_nkp_seq_id`; an `org_req_date` given with it must match too.
    Nkp { id: &'a str, date: Option<&'a str> },
    /// Its `org_req_date` + `org_req_seq_id`.
    Req { date: &'a str, seq: &'a str },
}

impl<'a> OrgId<'a> {
    /// Reads `org_nkp_seq_id` (preferred) or `org_req_date` + `org_req_seq_id`, each checked
    /// for form.
    pub(crate) fn parse(f: &Fields<'a>) -> Result<OrgId<'a>, EngineError> {
        let org_req_date = f.optional("org_req_date")?;
        if let Some(d) = org_req_date {
            validation::check_date_format("org_req_date", d)?;
        }
        match (f.optional("org_nkp_seq_id")?, f.optional("org_req_seq_id")?) {
            (Some(nkp), _) => {
                let ok = !nkp.is_empty()
                    && nkp.len() <= 32
                    && nkp.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok {
                    return Err(EngineError::invalid(
                        "org_nkp_seq_id",
                        "must be at most 32 letters or digits",
                    ));
                }
                Ok(OrgId::Nkp {
                    id: nkp,
                    date: org_req_date,
                })
            }
            (None, Some(seq)) => {
                validation::check_req_seq_id("org_req_seq_id", seq)?;
                let date = org_req_date.ok_or_else(|| {
                    EngineError::refused(
                        RespCode::ParamError,
                        "org_req_date不能为空: needed with org_req_seq_id",
                    )
                })?;
                Ok(OrgId::Req { date, seq })
            }
            (None, None) => Err(EngineError::refused(
                RespCode::ParamError,
                "org_req_seq_id不能为空: give org_req_date with org_req_seq_id, or org_nkp_seq_id",
            )),
        }
    }
}

impl Engine {
    pub(crate) async fn find_org_trade(
        &self,
        f: &Fields<'_>,
        mer_id: &str,
    ) -> Result<trade::Model, EngineError> {
        let found = match OrgId::parse(f)? {
            OrgId::Nkp { id, date } => trades::find_by_nkp_seq_id(self.db.conn(), id)
                .await?
                .filter(|t| date.is_none_or(|d| d == t.req_date)),
            OrgId::Req { date, seq } => {
                trades::find_by_req(self.db.conn(), mer_id, date, seq).await?
            }
        };
        found.filter(|t| t.mer_id == mer_id).ok_or_else(|| {
            EngineError::refused(
                RespCode::OriginalTradeNotFound,
                format!("原交易不存在: no such trade of mer_id {mer_id}"),
            )
        })
    }
}
