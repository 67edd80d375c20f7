//! WeChat Pay's `ALL` bill: a CSV whose every value starts with a backtick, amounts in yuan,
//! followed by a summary header and one summary row.

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;

use crate::bill::{Bill, BillRow, BillRowKind, BillSummary, Header};
use crate::shanghai_time::{self, DASHED};
use crate::yuan::signed_fen;

const SUMMARY_FIRST_COLUMN: &str = "总交易单数";

/// Parses the file; `Err` names the line and the rule that failed.
pub(super) fn parse(text: &str) -> Result<Bill, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => Header::new(h.iter().map(str::to_owned)),
        Some(Err(e)) => return Err(format!("bill header: {e}")),
        None => return Err("bill is empty".into()),
    };
    let columns = Columns::of(&header)?;
    let mut rows = Vec::new();
    let mut data_rows = 0u64;
    let mut summary = None;
    while let Some(record) = records.next() {
        let record = record.map_err(|e| format!("bill: {e}"))?;
        // One record per line in this format; the csv reader's own line count trips on CRLF.
        let line = record.position().map_or(0, |p| p.record() + 1);
        let values: Vec<&str> = record.iter().map(unquote).collect();
        if values.first() == Some(&SUMMARY_FIRST_COLUMN) {
            let summary_header = Header::new(record.iter().map(str::to_owned));
            let totals = match records.next() {
                Some(Ok(r)) => r,
                _ => return Err(format!("line {line}: summary header without a summary row")),
            };
            let totals: Vec<&str> = totals.iter().map(unquote).collect();
            summary =
                Some(parse_summary(&summary_header, &totals).map_err(|e| format!("summary: {e}"))?);
            break;
        }
        if values.iter().all(|v| v.is_empty()) {
            continue;
        }
        data_rows += 1;
        if let Some(row) = columns
            .row(&values)
            .map_err(|e| format!("line {line}: {e}"))?
        {
            rows.push(row);
        }
    }
    let summary = summary.ok_or("bill has no summary: the file is cut short")?;
    if summary.rows != data_rows {
        return Err(format!(
            "summary counts {} rows, the file has {data_rows}",
            summary.rows
        ));
    }
    Ok(Bill {
        rows,
        summary: Some(summary),
    })
}

/// Every value is written as "`value" so spreadsheets keep long numbers as text.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('`').unwrap_or(v)
}

struct Columns {
    time: usize,
    sub_mch_id: Option<usize>,
    transaction_id: usize,
    out_trade_no: usize,
    state: usize,
    order_amount: usize,
    refund_id: usize,
    out_refund_no: usize,
    refund_amount: usize,
    fee: usize,
}

impl Columns {
    fn of(h: &Header) -> Result<Columns, String> {
        Ok(Columns {
            time: h.require(&["交易时间"])?,
            sub_mch_id: h.find(&["特约商户号", "子商户号"]),
            transaction_id: h.require(&["微信订单号"])?,
            out_trade_no: h.require(&["商户订单号"])?,
            state: h.require(&["交易状态"])?,
            // 订单金额 is what we asked for (total_fee); older files only have the others.
            order_amount: h.require(&["订单金额", "应结订单金额", "总金额"])?,
            refund_id: h.require(&["微信退款单号"])?,
            out_refund_no: h.require(&["商户退款单号"])?,
            refund_amount: h.require(&["申请退款金额", "退款金额"])?,
            fee: h.require(&["手续费"])?,
        })
    }

    /// `None` for rows that move no money we track (a revoked micro-payment).
    fn row(&self, v: &[&str]) -> Result<Option<BillRow>, String> {
        let get = |i: usize| v.get(i).copied().ok_or(format!("row has no column {i}"));
        let kind = match get(self.state)? {
            "SUCCESS" => BillRowKind::Payment,
            "REFUND" => BillRowKind::Refund,
            "REVOKED" => return Ok(None),
            other => return Err(format!("unknown 交易状态 {other:?}")),
        };
        let amount_column = match kind {
            BillRowKind::Payment => self.order_amount,
            BillRowKind::Refund => self.refund_amount,
        };
        let time: DateTime<Utc> = shanghai_time::parse(get(self.time)?, DASHED)?;
        let optional = |i: usize| -> Result<Option<String>, String> {
            let s = get(i)?;
            Ok((!s.is_empty() && s != "0").then(|| s.to_owned()))
        };
        let (refund_nkp_seq_id, party_refund_id) = match kind {
            BillRowKind::Payment => (None, None),
            BillRowKind::Refund => (optional(self.out_refund_no)?, optional(self.refund_id)?),
        };
        Ok(Some(BillRow {
            kind,
            nkp_seq_id: get(self.out_trade_no)?.to_owned(),
            party_order_id: get(self.transaction_id)?.to_owned(),
            refund_nkp_seq_id,
            party_refund_id,
            amount: positive_money(get(amount_column)?)?,
            fee_fen: signed_fen(get(self.fee)?)?,
            time,
            sub_merchant: self.sub_mch_id.map(optional).transpose()?.flatten(),
        }))
    }
}

fn positive_money(text: &str) -> Result<Money, String> {
    let fen = signed_fen(text)?.abs();
    Money::from_fen(fen).map_err(|e| format!("amount {text:?}: {e}"))
}

fn parse_summary(h: &Header, v: &[&str]) -> Result<BillSummary, String> {
    let get = |names: &[&str]| -> Result<&str, String> {
        let i = h.require(names)?;
        v.get(i)
            .copied()
            .ok_or(format!("summary row has no {}", names[0]))
    };
    let rows = get(&[SUMMARY_FIRST_COLUMN])?;
    Ok(BillSummary {
        rows: rows
            .parse()
            .map_err(|_| format!("总交易单数 {rows:?} is not a count"))?,
        payment_total_fen: signed_fen(get(&["订单总金额", "应结订单总金额", "总交易额"])?)?,
        refund_total_fen: signed_fen(get(&["申请退款总金额", "退款总金额", "总退款金额"])?)?,
        fee_total_fen: signed_fen(get(&["手续费总金额"])?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    const SUMMARY: &str = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

    fn sample() -> String {
        [
            HEADER,
            "`2024-03-01 10:00:05,`wx2421b1c4370ec43b,`10000100,`1900000109,`,`4200000001202403011234567890,`NKP0001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`咖啡,`,`0.07,`0.60%,`12.34,`0.00,`",
            "`2024-03-01 11:30:00,`wx2421b1c4370ec43b,`10000100,`1900000109,`,`4200000001202403011234567890,`NKP0001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`CMB_DEBIT,`CNY,`0.00,`0.00,`50000000012024030100001,`NKPR0001,`2.00,`0.00,`ORIGINAL,`SUCCESS,`咖啡,`,`-0.01,`0.60%,`0.00,`2.00,`",
            SUMMARY,
            "`2,`12.34,`2.00,`0.00,`0.06,`12.34,`2.00",
        ]
        .join("\r\n")
    }

    #[test]
    fn documented_all_bill_parses_to_the_fen() {
        let bill = parse(&sample()).unwrap();
        assert_eq!(bill.rows.len(), 2);
        let pay = &bill.rows[0];
        assert_eq!(pay.kind, BillRowKind::Payment);
        assert_eq!(pay.nkp_seq_id, "NKP0001");
        assert_eq!(pay.party_order_id, "4200000001202403011234567890");
        assert_eq!(pay.amount.fen(), 1234);
        assert_eq!(pay.fee_fen, 7);
        assert_eq!(pay.sub_merchant.as_deref(), Some("1900000109"));
        assert_eq!(pay.time, Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 5).unwrap());
        let refund = &bill.rows[1];
        assert_eq!(refund.kind, BillRowKind::Refund);
        assert_eq!(refund.amount.fen(), 200);
        assert_eq!(refund.fee_fen, -1);
        assert_eq!(refund.refund_nkp_seq_id.as_deref(), Some("NKPR0001"));
        assert_eq!(
            refund.party_refund_id.as_deref(),
            Some("50000000012024030100001")
        );
        let summary = bill.summary.unwrap();
        assert_eq!(summary.rows, 2);
        assert_eq!(summary.payment_total_fen, 1234);
        assert_eq!(summary.refund_total_fen, 200);
        assert_eq!(summary.fee_total_fen, 6);
    }

    #[test]
    fn bill_cut_before_its_summary_is_refused() {
        let text = sample();
        let cut = &text[..text.find(SUMMARY).unwrap()];
        assert!(parse(cut).unwrap_err().contains("no summary"));
    }

    #[test]
    fn summary_count_that_disagrees_with_the_rows_is_refused() {
        let text = sample().replace("`2,`12.34", "`3,`12.34");
        assert!(parse(&text).unwrap_err().contains("summary counts 3 rows"));
    }

    #[test]
    fn malformed_amount_names_its_line() {
        let text = sample().replace("`12.34,`0.00,`", "`12.3x,`0.00,`");
        let err = parse(&text).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
