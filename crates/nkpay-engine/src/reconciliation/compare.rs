//! The comparison itself, without I/O: the channel's bill rows against our trades and refunds.
//! Payment rows match trades by `out_trade_no` (our `nkp_seq_id`), refund rows match refunds
//! by `out_refund_no` / `out_request_no` (the refund's `nkp_seq_id`); then amounts, states and
//! fees are compared. A row whose order number is not a trade of this channel account is
//! foreign (a merchant's Alipay account also takes payments outside nkpay) and only counted.

use std::collections::{HashMap, HashSet};

use nkpay_channels::{BillRow, BillRowKind};
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_store::entity::{refund, trade};
use nkpay_store::reconciliation::{DifferenceKind, DifferenceRow, NewDifference};

/// What the run may do about a finding by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heal {
    /// Nothing safe to do: an operator looks.
    Nothing,
    /// Paid at the channel, processing here: query the channel and finalize.
    FinalizeTrade(String),
    /// Paid at the channel, closed or failed here: refund the payer in full.
    RefundPayment(String),
    /// Refunded at the channel, processing here: query the refund and finalize it.
    FinalizeRefund(String),
    /// Final here, absent at the channel: open an incident about this trade or refund.
    Incident(String),
}

/// One difference and what may heal it.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) difference: NewDifference,
    pub(crate) heal: Heal,
}

/// What comparing a day gave.
#[derive(Debug, Default)]
pub(crate) struct Compared {
    pub(crate) bill_rows: i64,
    pub(crate) matched_rows: i64,
    pub(crate) foreign_rows: i64,
    pub(crate) findings: Vec<Finding>,
}

/// Our side of a day: the trades and refunds that succeeded on it under the account, and the
/// trades and refunds the bill names (whatever their day or state).
pub(crate) struct Ours<'a> {
    pub(crate) channel_account_id: i64,
    pub(crate) day_trades: &'a [trade::Model],
    pub(crate) day_refunds: &'a [refund::Model],
    pub(crate) named_trades: &'a HashMap<String, trade::Model>,
    pub(crate) named_refunds: &'a HashMap<String, refund::Model>,
}

fn base(row_kind: DifferenceRow, order_no: &str) -> NewDifference {
    NewDifference {
        row_kind: Some(row_kind),
        order_no: order_no.to_owned(),
        ..NewDifference::default()
    }
}

/// Compares `rows` (every bill of the account and day) with `ours`.
pub(crate) fn compare(rows: &[BillRow], ours: &Ours<'_>) -> Compared {
    let mut out = Compared {
        bill_rows: rows.len() as i64,
        ..Compared::default()
    };
    let mut seen_trades: HashSet<&str> = HashSet::new();
    let mut seen_refunds: HashSet<&str> = HashSet::new();
    for row in rows {
        let trade = ours
            .named_trades
            .get(&row.nkp_seq_id)
            .filter(|t| t.channel_account_id == ours.channel_account_id);
        let Some(t) = trade else {
            out.foreign_rows += 1;
            continue;
        };
        let finding = match row.kind {
            BillRowKind::Payment => {
                seen_trades.insert(t.nkp_seq_id.as_str());
                payment(row, t)
            }
            BillRowKind::Refund => {
                let r = row
                    .refund_nkp_seq_id
                    .as_ref()
                    .and_then(|id| ours.named_refunds.get(id))
                    .filter(|r| r.org_nkp_seq_id == t.nkp_seq_id);
                if let Some(r) = r {
                    seen_refunds.insert(r.nkp_seq_id.as_str());
                }
                refund_row(row, t, r)
            }
        };
        match finding {
            Some(f) => out.findings.push(f),
            None => out.matched_rows += 1,
        }
    }
    for t in ours.day_trades {
        if !seen_trades.contains(t.nkp_seq_id.as_str()) {
            let mut d = base(DifferenceRow::Payment, &t.nkp_seq_id);
            d.kind = Some(DifferenceKind::MissingThere);
            d.mer_id = Some(t.mer_id.clone());
            d.party_order_id = t.party_order_id.clone();
            d.our_amount = Some(t.trans_amt);
            d.our_fee = Some(t.fee_amt);
            d.our_state = Some(t.status.as_str().to_owned());
            d.detail = format!(
                "trade {} succeeded here ({} fen) but the channel's bill of the day does not have it",
                t.nkp_seq_id, t.trans_amt
            );
            out.findings.push(Finding {
                difference: d,
                heal: Heal::Incident(t.nkp_seq_id.clone()),
            });
        }
    }
    for r in ours.day_refunds {
        if !seen_refunds.contains(r.nkp_seq_id.as_str()) {
            let mut d = base(DifferenceRow::Refund, &r.org_nkp_seq_id);
            d.kind = Some(DifferenceKind::MissingThere);
            d.refund_no = Some(r.nkp_seq_id.clone());
            d.mer_id = Some(r.mer_id.clone());
            d.our_amount = Some(r.ord_amt);
            d.our_fee = Some(-r.fee_amt);
            d.our_state = Some(r.status.as_str().to_owned());
            d.detail = format!(
                "refund {} of trade {} succeeded here ({} fen) but the channel's bill of the day does not have it",
                r.nkp_seq_id, r.org_nkp_seq_id, r.ord_amt
            );
            out.findings.push(Finding {
                difference: d,
                heal: Heal::Incident(r.nkp_seq_id.clone()),
            });
        }
    }
    out
}

/// A payment row of trade `t`: `None` when it matches.
fn payment(row: &BillRow, t: &trade::Model) -> Option<Finding> {
    let mut d = base(DifferenceRow::Payment, &t.nkp_seq_id);
    d.mer_id = Some(t.mer_id.clone());
    d.party_order_id = Some(row.party_order_id.clone());
    d.our_amount = Some(t.trans_amt);
    d.channel_amount = Some(row.amount.fen());
    d.our_fee = Some(t.fee_amt);
    d.channel_fee = Some(row.fee_fen);
    d.our_state = Some(t.status.as_str().to_owned());
    let (kind, heal, detail) = if row.amount.fen() != t.trans_amt {
        (
            DifferenceKind::AmountDiffers,
            Heal::Nothing,
            format!(
                "the channel's bill says {} fen were paid for trade {}, ours is {} fen",
                row.amount.fen(),
                t.nkp_seq_id,
                t.trans_amt
            ),
        )
    } else {
        match t.status {
            TradeStatus::Succeeded if row.fee_fen == t.fee_amt => return None,
            TradeStatus::Succeeded => (
                DifferenceKind::FeeDiffers,
                Heal::Nothing,
                format!(
                    "the channel charged {} fen on trade {}, our fee is {} fen: the rate configured here disagrees with the channel's",
                    row.fee_fen, t.nkp_seq_id, t.fee_amt
                ),
            ),
            TradeStatus::Processing => (
                DifferenceKind::StateDiffers,
                Heal::FinalizeTrade(t.nkp_seq_id.clone()),
                format!(
                    "trade {} is paid at the channel ({}) but still processing here",
                    t.nkp_seq_id, row.party_order_id
                ),
            ),
            TradeStatus::Closed | TradeStatus::Failed => (
                DifferenceKind::StateDiffers,
                Heal::RefundPayment(t.nkp_seq_id.clone()),
                format!(
                    "trade {} was paid at the channel ({}) after it ended here as {}: the payer is owed a refund",
                    t.nkp_seq_id,
                    row.party_order_id,
                    t.status.as_str()
                ),
            ),
        }
    };
    d.kind = Some(kind);
    d.detail = detail;
    Some(Finding {
        difference: d,
        heal,
    })
}

/// A refund row of trade `t`, with our refund `r` when we have it: `None` when it matches.
fn refund_row(row: &BillRow, t: &trade::Model, r: Option<&refund::Model>) -> Option<Finding> {
    let mut d = base(DifferenceRow::Refund, &t.nkp_seq_id);
    d.refund_no = row.refund_nkp_seq_id.clone();
    d.mer_id = Some(t.mer_id.clone());
    d.party_order_id = Some(row.party_order_id.clone());
    d.channel_amount = Some(row.amount.fen());
    d.channel_fee = Some(row.fee_fen);
    let Some(r) = r else {
        d.kind = Some(DifferenceKind::MissingHere);
        d.detail = format!(
            "the channel's bill has a refund {} of {} fen on trade {} that we have no record of",
            row.refund_nkp_seq_id.as_deref().unwrap_or("(no number)"),
            row.amount.fen(),
            t.nkp_seq_id
        );
        return Some(Finding {
            difference: d,
            heal: Heal::Nothing,
        });
    };
    d.our_amount = Some(r.ord_amt);
    d.our_fee = Some(-r.fee_amt);
    d.our_state = Some(r.status.as_str().to_owned());
    let (kind, heal, detail) = if row.amount.fen() != r.ord_amt {
        (
            DifferenceKind::AmountDiffers,
            Heal::Nothing,
            format!(
                "the channel's bill says refund {} returned {} fen, ours is {} fen",
                r.nkp_seq_id,
                row.amount.fen(),
                r.ord_amt
            ),
        )
    } else {
        match r.status {
            // Bills print a returned fee negative; ours is stored as the amount returned.
            RefundStatus::Succeeded if row.fee_fen == -r.fee_amt => return None,
            RefundStatus::Succeeded => (
                DifferenceKind::FeeDiffers,
                Heal::Nothing,
                format!(
                    "the channel gave back {} fen of fee on refund {}, ours gives back {} fen",
                    -row.fee_fen, r.nkp_seq_id, r.fee_amt
                ),
            ),
            RefundStatus::Processing => (
                DifferenceKind::StateDiffers,
                Heal::FinalizeRefund(r.nkp_seq_id.clone()),
                format!(
                    "refund {} is refunded at the channel but still processing here",
                    r.nkp_seq_id
                ),
            ),
            RefundStatus::Failed => (
                DifferenceKind::StateDiffers,
                Heal::Incident(r.nkp_seq_id.clone()),
                format!(
                    "refund {} failed here but the channel refunded it: the trade's refunded amount is short",
                    r.nkp_seq_id
                ),
            ),
        }
    };
    d.kind = Some(kind);
    d.detail = detail;
    Some(Finding {
        difference: d,
        heal,
    })
}
