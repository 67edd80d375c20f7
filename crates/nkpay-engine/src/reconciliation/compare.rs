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

#[cfg(test)]
mod tests {
    //! Refund-side comparison: a refund missing here or there, amount, state and fee (bills
    //! print a refund's returned fee negative, as WeChat's does) differences, and refund rows
    //! of trades that are not ours counted foreign.
    use super::*;
    use chrono::{TimeZone, Utc};
    use nkpay_core::money::Money;
    use nkpay_core::trade_type::{ChannelKind, TradeType};

    const ACCOUNT: i64 = 7;

    fn trade(seq: &str, amount: i64, fee: i64) -> trade::Model {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
        trade::Model {
            id: 1,
            nkp_seq_id: seq.to_owned(),
            sys_id: "SP".to_owned(),
            mer_id: "MER".to_owned(),
            req_date: "20261120".to_owned(),
            req_seq_id: format!("req-{seq}"),
            trade_type: TradeType::TJsapi,
            channel: ChannelKind::Wechat,
            channel_account_id: ACCOUNT,
            trans_amt: amount,
            status: TradeStatus::Succeeded,
            goods_desc: "goods".to_owned(),
            notify_url: None,
            remark: None,
            sub_mch_id: None,
            appid: None,
            sub_appid: None,
            openid: None,
            sub_openid: None,
            buyer_id: None,
            party_order_id: Some(format!("wx-{seq}")),
            pay_info: None,
            qr_code: None,
            bank_code: None,
            bank_message: None,
            fee_amt: fee,
            fee_rate_bp: 60,
            refunded_amt: 0,
            refund_in_flight_amt: 0,
            time_expire: at,
            end_time: Some(at),
            close_requested_at: None,
            close_req_date: None,
            close_req_seq_id: None,
            next_query_at: None,
            query_attempts: 0,
            query_lease_owner: None,
            query_lease_until: None,
            request_hash: String::new(),
            first_response: None,
            create_unknown_at: None,
            create_repeats: 0,
            client_ip: None,
            attach: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    fn refund(seq: &str, of: &str, amount: i64, fee: i64, status: RefundStatus) -> refund::Model {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap();
        refund::Model {
            id: 1,
            nkp_seq_id: seq.to_owned(),
            sys_id: "SP".to_owned(),
            mer_id: "MER".to_owned(),
            req_date: "20261120".to_owned(),
            req_seq_id: format!("req-{seq}"),
            org_nkp_seq_id: of.to_owned(),
            channel: ChannelKind::Wechat,
            ord_amt: amount,
            fee_amt: fee,
            status,
            party_refund_id: None,
            notify_url: None,
            remark: None,
            bank_code: None,
            bank_message: None,
            end_time: Some(at),
            next_query_at: None,
            query_attempts: 0,
            query_lease_owner: None,
            query_lease_until: None,
            request_hash: String::new(),
            first_response: None,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    /// A refund row of trade `of` for refund `refund_no`: `amount` refunded, `fee` as the bill
    /// prints it (negative: given back).
    fn refund_row(of: &str, refund_no: Option<&str>, amount: i64, fee: i64) -> BillRow {
        BillRow {
            kind: BillRowKind::Refund,
            nkp_seq_id: of.to_owned(),
            party_order_id: format!("wx-{of}"),
            refund_nkp_seq_id: refund_no.map(str::to_owned),
            party_refund_id: refund_no.map(|r| format!("wxr-{r}")),
            amount: Money::from_fen(amount).unwrap(),
            fee_fen: fee,
            time: Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap(),
            sub_merchant: None,
        }
    }

    /// Compares `rows` against the trades `named` (by id) and the refunds `ours` (each named
    /// by the bill when it has a row for it; `day` = those that succeeded on the day).
    fn run(
        rows: &[BillRow],
        named: Vec<trade::Model>,
        refunds: Vec<refund::Model>,
        day: &[&str],
    ) -> Compared {
        let named_trades: HashMap<String, trade::Model> = named
            .into_iter()
            .map(|t| (t.nkp_seq_id.clone(), t))
            .collect();
        let day_refunds: Vec<refund::Model> = refunds
            .iter()
            .filter(|r| day.contains(&r.nkp_seq_id.as_str()))
            .cloned()
            .collect();
        let named_refunds: HashMap<String, refund::Model> = refunds
            .into_iter()
            .filter(|r| {
                rows.iter()
                    .any(|row| row.refund_nkp_seq_id.as_deref() == Some(r.nkp_seq_id.as_str()))
            })
            .map(|r| (r.nkp_seq_id.clone(), r))
            .collect();
        compare(
            rows,
            &Ours {
                channel_account_id: ACCOUNT,
                day_trades: &[],
                day_refunds: &day_refunds,
                named_trades: &named_trades,
                named_refunds: &named_refunds,
            },
        )
    }

    fn only(c: &Compared) -> &Finding {
        assert_eq!(c.findings.len(), 1, "{:?}", c.findings);
        &c.findings[0]
    }

    #[test]
    fn a_refund_that_matches_in_amount_state_and_negative_fee_is_matched() {
        let c = run(
            &[refund_row("T1", Some("R1"), 40, -1)],
            vec![trade("T1", 100, 3)],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        assert_eq!((c.bill_rows, c.matched_rows, c.foreign_rows), (1, 1, 0));
        assert!(c.findings.is_empty(), "{:?}", c.findings);
    }

    #[test]
    fn a_refund_of_our_trade_we_have_no_record_of_is_missing_here() {
        let c = run(
            &[refund_row("T1", Some("RX"), 40, -1)],
            vec![trade("T1", 100, 3)],
            vec![],
            &[],
        );
        assert_eq!((c.matched_rows, c.foreign_rows), (0, 0));
        let f = only(&c);
        let d = &f.difference;
        assert_eq!(d.kind, Some(DifferenceKind::MissingHere));
        assert_eq!(d.row_kind, Some(DifferenceRow::Refund));
        assert_eq!(
            (d.order_no.as_str(), d.refund_no.as_deref()),
            ("T1", Some("RX"))
        );
        assert_eq!((d.channel_amount, d.channel_fee), (Some(40), Some(-1)));
        assert_eq!((d.our_amount, d.our_state.as_deref()), (None, None));
        assert_eq!(f.heal, Heal::Nothing);
        // A number that is one of our refunds, but of another trade, is not this trade's refund.
        let c = run(
            &[refund_row("T1", Some("R2"), 40, -1)],
            vec![trade("T1", 100, 3), trade("T2", 100, 3)],
            vec![refund("R2", "T2", 40, 1, RefundStatus::Succeeded)],
            &[],
        );
        assert_eq!(only(&c).difference.kind, Some(DifferenceKind::MissingHere));
    }

    #[test]
    fn a_refund_succeeded_here_but_absent_from_the_bill_is_missing_there_and_an_incident() {
        let c = run(
            &[],
            vec![trade("T1", 100, 3)],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        let f = only(&c);
        let d = &f.difference;
        assert_eq!(d.kind, Some(DifferenceKind::MissingThere));
        assert_eq!(d.row_kind, Some(DifferenceRow::Refund));
        assert_eq!(
            (d.order_no.as_str(), d.refund_no.as_deref()),
            ("T1", Some("R1"))
        );
        // Our fee written as a bill would print it: given back, negative.
        assert_eq!((d.our_amount, d.our_fee), (Some(40), Some(-1)));
        assert_eq!((d.channel_amount, d.channel_fee), (None, None));
        assert_eq!(d.our_state.as_deref(), Some("S"));
        assert_eq!(f.heal, Heal::Incident("R1".to_owned()));
    }

    #[test]
    fn a_refund_whose_amount_differs_is_recorded_and_not_also_missing_there() {
        let c = run(
            &[refund_row("T1", Some("R1"), 45, -1)],
            vec![trade("T1", 100, 3)],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        let f = only(&c);
        assert_eq!(f.difference.kind, Some(DifferenceKind::AmountDiffers));
        assert_eq!(
            (f.difference.our_amount, f.difference.channel_amount),
            (Some(40), Some(45))
        );
        assert_eq!(f.heal, Heal::Nothing);
    }

    #[test]
    fn a_refund_refunded_there_but_processing_or_failed_here_differs_in_state() {
        for (status, word, heal) in [
            (
                RefundStatus::Processing,
                "P",
                Heal::FinalizeRefund("R1".to_owned()),
            ),
            (RefundStatus::Failed, "F", Heal::Incident("R1".to_owned())),
        ] {
            let c = run(
                &[refund_row("T1", Some("R1"), 40, -1)],
                vec![trade("T1", 100, 3)],
                vec![refund("R1", "T1", 40, 0, status)],
                &[],
            );
            let f = only(&c);
            assert_eq!(f.difference.kind, Some(DifferenceKind::StateDiffers));
            assert_eq!(f.difference.our_state.as_deref(), Some(word));
            assert_eq!(f.heal, heal);
        }
    }

    #[test]
    fn a_refund_whose_returned_fee_differs_is_a_fee_difference_with_both_signs_as_billed() {
        // The channel gave back 2 fen of fee; ours gives back 1.
        let c = run(
            &[refund_row("T1", Some("R1"), 40, -2)],
            vec![trade("T1", 100, 3)],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        let f = only(&c);
        let d = &f.difference;
        assert_eq!(d.kind, Some(DifferenceKind::FeeDiffers));
        assert_eq!((d.our_fee, d.channel_fee), (Some(-1), Some(-2)));
        assert!(d.detail.contains("gave back 2 fen"), "{}", d.detail);
        assert!(d.detail.contains("ours gives back 1 fen"), "{}", d.detail);
        assert_eq!(f.heal, Heal::Nothing);
        // A positive fee on a refund row (charged, not given back) is not ours either.
        let c = run(
            &[refund_row("T1", Some("R1"), 40, 1)],
            vec![trade("T1", 100, 3)],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        assert_eq!(only(&c).difference.kind, Some(DifferenceKind::FeeDiffers));
    }

    #[test]
    fn a_refund_row_of_a_trade_that_is_not_ours_is_foreign_never_missing_here() {
        let mut other_account = trade("T9", 100, 3);
        other_account.channel_account_id = ACCOUNT + 1;
        let c = run(
            &[
                // A refund the merchant made outside nkpay, of a payment outside nkpay.
                refund_row("OUTSIDE-1", Some("OUTSIDE-R1"), 40, -1),
                // Its refund number happens to be one of ours: the trade decides.
                refund_row("OUTSIDE-2", Some("R1"), 40, -1),
                // Our trade number, but a trade of another channel account.
                refund_row("T9", Some("R9"), 40, -1),
                refund_row("T1", Some("R1"), 40, -1),
            ],
            vec![trade("T1", 100, 3), other_account],
            vec![refund("R1", "T1", 40, 1, RefundStatus::Succeeded)],
            &["R1"],
        );
        assert_eq!((c.bill_rows, c.matched_rows, c.foreign_rows), (4, 1, 3));
        assert!(c.findings.is_empty(), "{:?}", c.findings);
    }
}
