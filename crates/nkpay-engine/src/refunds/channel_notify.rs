//! A channel's refund notify, already verified by the connector (WeChat: `req_info` decrypted
//! with our key; Alipay: RSA2 signature): find the refund it names and finalize it. A notify for
//! a refund we do not have, or that names the wrong trade, changes nothing; a repeated one
//! finds the refund final and changes nothing either.

use chrono::Utc;
use nkpay_channels::RefundResult;
use nkpay_store::refunds;

use super::Refunds;
use super::finalize::describe_refund_result;
use crate::error::EngineError;

impl Refunds {
    /// Applies a verified refund notify for refund `refund_nkp_seq_id` of trade `nkp_seq_id`.
    /// Returns what it did (for the inbound log) and the refund's id when it is ours.
    pub(crate) async fn apply_refund_notify(
        &self,
        nkp_seq_id: &str,
        refund_nkp_seq_id: &str,
        result: &RefundResult,
    ) -> Result<(String, Option<String>), EngineError> {
        // The readers' pool: the refund was committed before it was sent to the channel, and a
        // status read stale is corrected by finalization's conditional UPDATE.
        let Some(r) = refunds::find_by_nkp_seq_id(self.db.reader(), refund_nkp_seq_id).await?
        else {
            // Verified, so it is ours, yet no refund: a retry would not change that.
            return Ok((format!("no refund {refund_nkp_seq_id}; ignored"), None));
        };
        if r.org_nkp_seq_id != nkp_seq_id {
            return Ok((
                format!(
                    "refund {refund_nkp_seq_id} belongs to trade {}, the notify names {nkp_seq_id}; ignored",
                    r.org_nkp_seq_id
                ),
                Some(r.nkp_seq_id),
            ));
        }
        let t = self.trade_of(&r).await?;
        let applied = self.apply_refund_result(&r, &t, result, Utc::now()).await?;
        Ok((
            format!(
                "refund notify: {}; {}",
                describe_refund_result(result),
                applied.describe()
            ),
            Some(r.nkp_seq_id),
        ))
    }
}
