//! The statement files' bytes: rows from a database cursor through the `csv` writer into a
//! `zip` entry, never all in memory. As Dougong ships them: a zip of CSV files
//! `yyyyMMdd_<huifu_id>_order_<batch>.csv` (trade day, owner, batch from 1), UTF-8 with a BOM,
//! CRLF line ends, amounts in yuan with two decimals, ids followed by a tab so Excel keeps them
//! as text (as Alipay's bills do). A CSV holds at most [`MAX_ROWS_PER_CSV`] detail rows (under
//! Excel's 1,048,576); a larger day continues in batch 2, 3, … with the header repeated.
//!
//! The zip is spooled to an anonymous temporary file (the `zip` crate's writer seeks back to
//! each entry's header) and then copied out in [`CHUNK_BYTES`] chunks: memory stays flat
//! whatever the day's size. Every entry carries the same fixed time stamp (1980-01-01 00:00,
//! the zip epoch) so a rerun of a closed day writes identical bytes.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use futures::{Stream, StreamExt};
use nkpay_core::money::Money;
use nkpay_store::StoreError;
use nkpay_store::statement_rows::{BillRow, MerchantTotals};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::error::EngineError;

/// Detail rows per CSV file of a zip before the next batch starts.
pub const MAX_ROWS_PER_CSV: u64 = 1_000_000;
/// Size of the chunks a file is kept in (1 MiB).
pub const CHUNK_BYTES: usize = 1 << 20;
/// The UTF-8 byte order mark Excel needs to read the file as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The header of a `TRADE_BILL` CSV (docs/statements.md "TRADE_BILL").
pub const TRADE_HEADER: [&str; 17] = [
    "mer_id",
    "req_date",
    "req_seq_id",
    "nkp_seq_id",
    "trans_type",
    "trade_type",
    "channel",
    "party_order_id",
    "trans_time",
    "trans_amt",
    "fee_amt",
    "refunded_amt",
    "trans_stat",
    "remark",
    "org_req_date",
    "org_req_seq_id",
    "org_nkp_seq_id",
];

/// The header of a `SETTLE_BILL` CSV (docs/statements.md "SETTLE_BILL").
pub const SETTLE_HEADER: [&str; 8] = [
    "mer_id",
    "data_date",
    "trade_count",
    "trade_amt",
    "refund_count",
    "refund_amt",
    "fee_amt",
    "net_amt",
];

/// The header of the summary line at the end of a `TRADE_BILL` CSV.
const SUMMARY_HEADER: [&str; 6] = [
    "trade_count",
    "trade_amt",
    "refund_count",
    "refund_amt",
    "fee_amt",
    "net_amt",
];

/// How entries are compressed: deflate at `level` (0–9; 6 is the default), or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (measured by the benchmark as the CSV stream's own speed).
    Stored,
    /// Deflate at this level (1 fastest … 9 smallest).
    Deflate(u8),
}

impl Compression {
    fn options(self) -> SimpleFileOptions {
        let base = SimpleFileOptions::default()
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        match self {
            Compression::Stored => base.compression_method(CompressionMethod::Stored),
            Compression::Deflate(level) => base
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(i64::from(level.min(9)))),
        }
    }
}

/// A finished zip in its spool file, rewound, with its detail row count.
#[derive(Debug)]
pub struct Spooled {
    /// The zip's bytes, positioned at the start.
    pub file: File,
    /// Detail rows written (trades and refunds; merchants for a settlement file).
    pub rows: i64,
}

/// Running totals of a trade bill (fen).
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    trade_count: i64,
    trade_amt: i64,
    refund_count: i64,
    refund_amt: i64,
    fee_amt: i64,
}

fn failed(what: &'static str) -> impl Fn(String) -> EngineError {
    move |e| EngineError::Internal(format!("statement file: {what}: {e}"))
}

type Zip = ZipWriter<BufWriter<File>>;

fn csv_writer(zip: Zip) -> csv::Writer<Zip> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_writer(zip)
}

fn start_entry(
    mut zip: Zip,
    name: &str,
    compression: Compression,
    header: &[&str],
) -> Result<csv::Writer<Zip>, EngineError> {
    zip.start_file(name, compression.options())
        .map_err(|e| failed("zip entry")(e.to_string()))?;
    zip.write_all(BOM)
        .map_err(|e| failed("zip write")(e.to_string()))?;
    let mut csv = csv_writer(zip);
    csv.write_record(header)
        .map_err(|e| failed("csv header")(e.to_string()))?;
    Ok(csv)
}

fn finish(csv: csv::Writer<Zip>) -> Result<File, EngineError> {
    let zip = csv
        .into_inner()
        .map_err(|e| failed("csv flush")(e.to_string()))?;
    let buffered = zip
        .finish()
        .map_err(|e| failed("zip finish")(e.to_string()))?;
    let mut file = buffered
        .into_inner()
        .map_err(|e| failed("spool flush")(e.to_string()))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| failed("spool rewind")(e.to_string()))?;
    Ok(file)
}

fn spool() -> Result<Zip, EngineError> {
    let file = tempfile::tempfile().map_err(|e| failed("spool file")(e.to_string()))?;
    Ok(ZipWriter::new(BufWriter::with_capacity(256 * 1024, file)))
}

/// `yyyyMMdd_<huifu_id>_<word>_<batch>.csv`, the name of a CSV inside the zip.
pub fn entry_name(data_date: NaiveDate, huifu_id: &str, word: &str, batch: u32) -> String {
    format!(
        "{}_{huifu_id}_{word}_{batch}.csv",
        data_date.format("%Y%m%d")
    )
}

/// `yyyyMM_<huifu_id>_<word>_1.csv`, the CSV of a monthly bill.
pub fn month_entry_name(month_first: NaiveDate, huifu_id: &str, word: &str) -> String {
    format!("{}_{huifu_id}_{word}_1.csv", month_first.format("%Y%m"))
}

/// An id written so Excel keeps it as text: followed by a tab (as Alipay's bills do).
fn text_id(id: &str) -> String {
    format!("{id}\t")
}

/// A merchant's free text made harmless in a spreadsheet: a leading `=`, `+`, `-` or `@`
/// (a formula to Excel) gets a `'` before it.
fn safe_text(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai.
fn shanghai(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// One `TRADE_BILL` record: refund rows carry negative amounts and fees (money going back)
/// and the original trade's ids; trade rows carry what was refunded by the range's end.
fn trade_record(row: &BillRow) -> [String; 17] {
    let refund = row.kind == "REFUND";
    let sign = if refund { -1 } else { 1 };
    let opt = |v: &Option<String>| v.as_deref().map(text_id).unwrap_or_default();
    [
        text_id(&row.mer_id),
        text_id(&row.req_date),
        text_id(&row.req_seq_id),
        text_id(&row.nkp_seq_id),
        row.kind.clone(),
        row.trade_type.clone(),
        row.channel.clone(),
        opt(&row.party_order_id),
        shanghai(row.success_at),
        Money::yuan_of_fen(sign * row.amount),
        Money::yuan_of_fen(sign * row.fee_amt),
        if refund {
            String::new()
        } else {
            Money::yuan_of_fen(row.refunded_amt)
        },
        "S".to_owned(),
        row.remark.as_deref().map(safe_text).unwrap_or_default(),
        opt(&row.org_req_date),
        opt(&row.org_req_seq_id),
        opt(&row.org_nkp_seq_id),
    ]
}

/// Writes a `TRADE_BILL` zip from `rows` (a database cursor) for `huifu_id`'s trade day
/// `data_date`: detail rows, then `#summary`, the summary header and one line of totals
/// (counts, trade and refund amounts, fees net of refunded fees, net = trades − refunds − fees).
pub async fn trade_bill<S>(
    mut rows: S,
    data_date: NaiveDate,
    huifu_id: &str,
    compression: Compression,
) -> Result<Spooled, EngineError>
where
    S: Stream<Item = Result<BillRow, StoreError>> + Unpin,
{
    let mut batch = 1;
    let mut csv = start_entry(
        spool()?,
        &entry_name(data_date, huifu_id, "order", batch),
        compression,
        &TRADE_HEADER,
    )?;
    let mut in_batch = 0u64;
    let mut count = 0i64;
    let mut totals = Totals::default();
    while let Some(row) = rows.next().await {
        let row = row?;
        if in_batch == MAX_ROWS_PER_CSV {
            let zip = csv
                .into_inner()
                .map_err(|e| failed("csv flush")(e.to_string()))?;
            batch += 1;
            csv = start_entry(
                zip,
                &entry_name(data_date, huifu_id, "order", batch),
                compression,
                &TRADE_HEADER,
            )?;
            in_batch = 0;
        }
        csv.write_record(trade_record(&row))
            .map_err(|e| failed("csv row")(e.to_string()))?;
        in_batch += 1;
        count += 1;
        if row.kind == "REFUND" {
            totals.refund_count += 1;
            totals.refund_amt += row.amount;
            totals.fee_amt -= row.fee_amt;
        } else {
            totals.trade_count += 1;
            totals.trade_amt += row.amount;
            totals.fee_amt += row.fee_amt;
        }
    }
    let net = totals.trade_amt - totals.refund_amt - totals.fee_amt;
    let summary = [
        totals.trade_count.to_string(),
        Money::yuan_of_fen(totals.trade_amt),
        totals.refund_count.to_string(),
        Money::yuan_of_fen(totals.refund_amt),
        Money::yuan_of_fen(totals.fee_amt),
        Money::yuan_of_fen(net),
    ];
    let write = |csv: &mut csv::Writer<Zip>, r: &[&str]| {
        csv.write_record(r)
            .map_err(|e| failed("csv summary")(e.to_string()))
    };
    write(&mut csv, &["#summary"])?;
    write(&mut csv, &SUMMARY_HEADER)?;
    let summary_refs: Vec<&str> = summary.iter().map(String::as_str).collect();
    write(&mut csv, &summary_refs)?;
    Ok(Spooled {
        file: finish(csv)?,
        rows: count,
    })
}

/// One line of a settlement file: the period (`yyyyMMdd` a day, `yyyyMM` a month) and a
/// merchant's totals over it.
pub type SettleLine = (String, MerchantTotals);

/// Writes a settlement zip (`SETTLE_BILL`, and the monthly `TRADE_BILL_MONTH` /
/// `SETTLE_BILL_MONTH`) with one CSV named `entry`: one line per period and merchant (gross
/// trades, refunds, fees net of refunded fees, net), then a `TOTAL` line over them all.
pub fn settle_bill(
    lines: &[SettleLine],
    entry: &str,
    compression: Compression,
) -> Result<Spooled, EngineError> {
    let mut csv = start_entry(spool()?, entry, compression, &SETTLE_HEADER)?;
    let mut total = MerchantTotals {
        mer_id: "TOTAL".to_owned(),
        trade_count: 0,
        trade_amt: 0,
        refund_count: 0,
        refund_amt: 0,
        trade_fee_amt: 0,
        refund_fee_amt: 0,
    };
    let line = |m: &MerchantTotals, id: String, period: String| {
        let fee = m.trade_fee_amt - m.refund_fee_amt;
        [
            id,
            period,
            m.trade_count.to_string(),
            Money::yuan_of_fen(m.trade_amt),
            m.refund_count.to_string(),
            Money::yuan_of_fen(m.refund_amt),
            Money::yuan_of_fen(fee),
            Money::yuan_of_fen(m.trade_amt - m.refund_amt - fee),
        ]
    };
    for (period, m) in lines {
        csv.write_record(line(m, text_id(&m.mer_id), text_id(period)))
            .map_err(|e| failed("csv row")(e.to_string()))?;
        total.trade_count += m.trade_count;
        total.trade_amt += m.trade_amt;
        total.refund_count += m.refund_count;
        total.refund_amt += m.refund_amt;
        total.trade_fee_amt += m.trade_fee_amt;
        total.refund_fee_amt += m.refund_fee_amt;
    }
    let all = match lines {
        [(first, _), .., (last, _)] if first != last => format!("{first}-{last}"),
        [(only, _), ..] => only.clone(),
        [] => String::new(),
    };
    csv.write_record(line(&total, "TOTAL".to_owned(), text_id(&all)))
        .map_err(|e| failed("csv total")(e.to_string()))?;
    Ok(Spooled {
        file: finish(csv)?,
        rows: i64::try_from(lines.len()).unwrap_or(i64::MAX),
    })
}

/// Reads the next chunk (up to [`CHUNK_BYTES`]) of a spooled file; empty at its end.
pub fn next_chunk(file: &mut File) -> Result<Vec<u8>, EngineError> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut filled = 0;
    while filled < buf.len() {
        let n = file
            .read(&mut buf[filled..])
            .map_err(|e| failed("spool read")(e.to_string()))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_in_a_remark_are_defused_and_ids_stay_text() {
        assert_eq!(safe_text("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(safe_text("-5"), "'-5");
        assert_eq!(safe_text("午餐"), "午餐");
        assert_eq!(text_id("6666000000000001"), "6666000000000001\t");
    }

    #[test]
    fn entry_names_carry_the_trade_day_and_batch() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or_default();
        assert_eq!(
            entry_name(day, "6666000000000001", "order", 2),
            "20261128_6666000000000001_order_2.csv"
        );
    }
}
