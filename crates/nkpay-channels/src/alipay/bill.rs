//! Alipay's trade bill: a zip of GBK-encoded CSV files; the details file (`…业务明细.csv`) lists
//! one row per trade or refund between `#` comment lines, ending with the totals.

use std::io::{Cursor, Read};

use nkpay_core::money::Money;

use crate::bill::{Bill, BillRow, BillRowKind, Header};
use crate::shanghai_time::{self, DASHED};
use crate::yuan::signed_fen;

/// Every bill file holds far less; a larger entry is not a bill (or is a zip bomb).
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;
const DETAILS_FIRST_COLUMN: &str = "支付宝交易号";

/// Unzips the download and parses every details file in it.
pub(super) fn parse_zip(bytes: &[u8]) -> Result<Bill, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("bill is not a zip: {e}"))?;
    let mut rows = Vec::new();
    let mut details_files = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("bill zip entry {i}: {e}"))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let mut raw = Vec::new();
        (&mut entry)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut raw)
            .map_err(|e| format!("bill zip entry {name}: {e}"))?;
        let (text, _, malformed) = encoding_rs::GBK.decode(&raw);
        if malformed {
            return Err(format!("bill file {name} is not GBK text"));
        }
        // The summary file (`…汇总.csv`) has other columns; the details file is recognised by its
        // header, since entry names are GBK bytes that zip readers may not decode.
        if !text
            .lines()
            .any(|l| l.trim_start().starts_with(DETAILS_FIRST_COLUMN))
        {
            continue;
        }
        details_files += 1;
        rows.extend(parse_details(&text).map_err(|e| format!("{name}: {e}"))?);
    }
    if details_files == 0 {
        return Err("bill zip has no details file (no 支付宝交易号 header)".into());
    }
    Ok(Bill {
        rows,
        // The details file's totals are in prose; they are checked against the row counts but
        // not carried.
        summary: None,
    })
}

/// Parses one details file; `Err` names the line and the rule that failed.
pub(super) fn parse_details(text: &str) -> Result<Vec<BillRow>, String> {
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim_start().starts_with(DETAILS_FIRST_COLUMN) => {
                break Header::new(split(l).map(str::to_owned));
            }
            Some(_) => continue,
            None => return Err("no header row".into()),
        }
    };
    let columns = Columns::of(&header)?;
    let mut rows = Vec::new();
    let mut counts = (0u64, 0u64);
    let mut stated = (None, None);
    for (index, line) in lines {
        let n = index + 1;
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            stated.0 = stated.0.or(stated_count(comment, "交易合计"));
            stated.1 = stated.1.or(stated_count(comment, "退款合计"));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let values: Vec<&str> = split(line).collect();
        let row = columns.row(&values).map_err(|e| format!("line {n}: {e}"))?;
        match row.kind {
            BillRowKind::Payment => counts.0 += 1,
            BillRowKind::Refund => counts.1 += 1,
        }
        rows.push(row);
    }
    for (what, stated, counted) in [("交易", stated.0, counts.0), ("退款", stated.1, counts.1)]
    {
        if let Some(stated) = stated.filter(|s| *s != counted) {
            return Err(format!(
                "{what}合计 states {stated} rows, the file has {counted}"
            ));
        }
    }
    Ok(rows)
}

/// Values carry trailing tabs so spreadsheets keep long numbers as text.
fn split(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(str::trim)
}

/// `交易合计：2笔，…` → 2.
fn stated_count(comment: &str, label: &str) -> Option<u64> {
    let rest = comment.split_once(label)?.1;
    let rest = rest.trim_start_matches([':', '：']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

struct Columns {
    trade_no: usize,
    out_trade_no: usize,
    kind: usize,
    finished: usize,
    amount: usize,
    refund_no: usize,
    fee: usize,
}

impl Columns {
    fn of(h: &Header) -> Result<Columns, String> {
        Ok(Columns {
            trade_no: h.require(&[DETAILS_FIRST_COLUMN])?,
            out_trade_no: h.require(&["商户订单号"])?,
            kind: h.require(&["业务类型"])?,
            finished: h.require(&["完成时间"])?,
            amount: h.require(&["订单金额（元）", "订单金额(元)", "订单金额"])?,
            refund_no: h.require(&["退款批次号/请求号", "退款批次号"])?,
            fee: h.require(&["服务费（元）", "服务费(元)", "服务费"])?,
        })
    }

    fn row(&self, v: &[&str]) -> Result<BillRow, String> {
        let get = |i: usize| v.get(i).copied().ok_or(format!("row has no column {i}"));
        let kind = match get(self.kind)? {
            "交易" => BillRowKind::Payment,
            "退款" => BillRowKind::Refund,
            other => return Err(format!("unknown 业务类型 {other:?}")),
        };
        // Alipay prints amounts from the merchant's cash flow (refunds negative, fees
        // negative on trades); rows carry the amount positive and the fee as charged.
        let amount = signed_fen(get(self.amount)?)?.abs();
        let fee = signed_fen(get(self.fee)?)?.abs();
        let refund_no = get(self.refund_no)?;
        Ok(BillRow {
            kind,
            nkp_seq_id: get(self.out_trade_no)?.to_owned(),
            party_order_id: get(self.trade_no)?.to_owned(),
            refund_nkp_seq_id: (kind == BillRowKind::Refund && !refund_no.is_empty())
                .then(|| refund_no.to_owned()),
            party_refund_id: None,
            amount: Money::from_fen(amount).map_err(|e| format!("amount: {e}"))?,
            fee_fen: match kind {
                BillRowKind::Payment => fee,
                BillRowKind::Refund => -fee,
            },
            time: shanghai_time::parse(get(self.finished)?, DASHED)?,
            sub_merchant: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::io::Write;

    /// Shaped like a real `业务明细` file, trailing tabs included.
    fn details() -> String {
        [
            "#支付宝业务明细查询",
            "#账号：[20885318916687390156]",
            "#起始日期：[2024年03月01日 00:00:00]   终止日期：[2024年03月02日 00:00:00]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
            "2024030122001468450512505578\t,NKP0002\t,交易,咖啡,2024-03-01 09:59:50,2024-03-01 10:00:05,,,,,buy***@example.com,12.34,12.34,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.07,0.00,",
            "2024030122001468450512505578\t,NKP0002\t,退款,咖啡,2024-03-01 09:59:50,2024-03-01 11:30:00,,,,,buy***@example.com,-2.00,-2.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,NKPR0002\t,0.01,0.00,",
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：1笔，商家实收共12.34元，商家优惠共0.00元",
            "#退款合计：1笔，商家实收退款共-2.00元，商家优惠退款共0.00元",
            "#导出时间：[2024年03月02日 09:16:18]",
        ]
        .join("\r\n")
    }

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, text) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            let (gbk, _, _) = encoding_rs::GBK.encode(text);
            w.write_all(&gbk).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn gbk_details_file_in_a_zip_parses_to_the_fen() {
        let summary = "#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数\r\n,,1\r\n";
        let bytes = zip_of(&[
            ("20885318916687390156_20240301_业务明细(汇总).csv", summary),
            ("20885318916687390156_20240301_业务明细.csv", &details()),
        ]);
        let bill = parse_zip(&bytes).unwrap();
        assert_eq!(bill.rows.len(), 2);
        let pay = &bill.rows[0];
        assert_eq!(pay.kind, BillRowKind::Payment);
        assert_eq!(pay.nkp_seq_id, "NKP0002");
        assert_eq!(pay.party_order_id, "2024030122001468450512505578");
        assert_eq!(pay.amount.fen(), 1234);
        assert_eq!(pay.fee_fen, 7);
        assert_eq!(pay.time, Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 5).unwrap());
        let refund = &bill.rows[1];
        assert_eq!(refund.kind, BillRowKind::Refund);
        assert_eq!(refund.amount.fen(), 200);
        assert_eq!(refund.fee_fen, -1);
        assert_eq!(refund.refund_nkp_seq_id.as_deref(), Some("NKPR0002"));
    }

    #[test]
    fn row_count_that_disagrees_with_the_stated_total_is_refused() {
        let text = details().replace("#交易合计：1笔", "#交易合计：3笔");
        let err = parse_details(&text).unwrap_err();
        assert!(err.contains("states 3 rows"), "{err}");
    }

    #[test]
    fn zip_without_a_details_file_is_refused() {
        let bytes = zip_of(&[("x.csv", "#nothing\r\n")]);
        assert!(parse_zip(&bytes).unwrap_err().contains("no details file"));
        assert!(parse_zip(b"PK not really").is_err());
    }

    #[test]
    fn malformed_row_names_its_line() {
        let text = details().replace("12.34,12.34", "12.3.4,12.34");
        let err = parse_details(&text).unwrap_err();
        assert!(err.starts_with("line 6:"), "{err}");
    }
}
