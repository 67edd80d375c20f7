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

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
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
fn push_safe_text(text: &str, out: &mut String) {
    if let Some('=' | '+' | '-' | '@') = text.chars().next() {
        out.push('\'');
    }
    out.push_str(text);
}

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai, appended to `out`.
fn push_shanghai(t: DateTime<Utc>, out: &mut String) {
    use std::fmt::Write as _;
    let local = t.with_timezone(&Shanghai).naive_local();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
}

/// One field of a record, formatted into a buffer reused for every field of every row.
struct Fields<'w> {
    csv: &'w mut csv::Writer<Zip>,
    scratch: &'w mut String,
}

impl Fields<'_> {
    /// Writes what `fill` puts in the (cleared) buffer as the next field.
    fn field(&mut self, fill: impl FnOnce(&mut String)) -> Result<(), EngineError> {
        self.scratch.clear();
        fill(self.scratch);
        self.csv
            .write_field(self.scratch.as_bytes())
            .map_err(|e| failed("csv row")(e.to_string()))
    }

    /// An id written so Excel keeps it as text: followed by a tab (as Alipay's bills do); an
    /// absent id is an empty field.
    fn id(&mut self, id: Option<&str>) -> Result<(), EngineError> {
        self.field(|out| {
            if let Some(id) = id {
                out.push_str(id);
                out.push('\t');
            }
        })
    }

    fn text(&mut self, text: &str) -> Result<(), EngineError> {
        self.field(|out| out.push_str(text))
    }

    fn yuan(&mut self, fen: i64) -> Result<(), EngineError> {
        self.field(|out| Money::push_yuan_of_fen(fen, out))
    }

    fn end(self) -> Result<(), EngineError> {
        self.csv
            .write_record(None::<&[u8]>)
            .map_err(|e| failed("csv row")(e.to_string()))
    }
}

/// Writes one `TRADE_BILL` record (docs/statements.md "TRADE_BILL"): refund rows carry
/// negative amounts and fees (money going back) and the original trade's ids; trade rows carry
/// what was refunded by the range's end. Fields go through one reused buffer: no allocation
/// per row.
fn write_trade_record(
    csv: &mut csv::Writer<Zip>,
    scratch: &mut String,
    row: &BillRow,
) -> Result<(), EngineError> {
    let refund = row.kind == "REFUND";
    let sign = if refund { -1 } else { 1 };
    let mut f = Fields { csv, scratch };
    f.id(Some(&row.mer_id))?;
    f.id(Some(&row.req_date))?;
    f.id(Some(&row.req_seq_id))?;
    f.id(Some(&row.nkp_seq_id))?;
    f.text(&row.kind)?;
    f.text(&row.trade_type)?;
    f.text(&row.channel)?;
    f.id(row.party_order_id.as_deref())?;
    f.field(|out| push_shanghai(row.success_at, out))?;
    f.yuan(sign * row.amount)?;
    f.yuan(sign * row.fee_amt)?;
    if refund {
        f.text("")?;
    } else {
        f.yuan(row.refunded_amt)?;
    }
    f.text("S")?;
    f.field(|out| {
        if let Some(remark) = &row.remark {
            push_safe_text(remark, out);
        }
    })?;
    f.id(row.org_req_date.as_deref())?;
    f.id(row.org_req_seq_id.as_deref())?;
    f.id(row.org_nkp_seq_id.as_deref())?;
    f.end()
}

/// A `TRADE_BILL` zip being written for `huifu_id`'s trade day: rows are pushed one at a
/// time (so one database cursor can feed a merchant's file and its service provider's at
/// once), and [`TradeBill::finish`] adds `#summary`, the summary header and one line of totals
/// (counts, trade and refund amounts, fees net of refunded fees, net = trades − refunds −
/// fees). Memory stays flat: the CSV goes straight into the zip's spool file.
pub struct TradeBill {
    csv: csv::Writer<Zip>,
    data_date: NaiveDate,
    huifu_id: String,
    compression: Compression,
    batch: u32,
    in_batch: u64,
    count: i64,
    totals: Totals,
    scratch: String,
    rows_per_csv: u64,
}

impl TradeBill {
    /// Starts the zip and its first CSV (batch 1, header written).
    pub fn new(
        data_date: NaiveDate,
        huifu_id: &str,
        compression: Compression,
    ) -> Result<TradeBill, EngineError> {
        let csv = start_entry(
            spool()?,
            &entry_name(data_date, huifu_id, "order", 1),
            compression,
            &TRADE_HEADER,
        )?;
        Ok(TradeBill {
            csv,
            data_date,
            huifu_id: huifu_id.to_owned(),
            compression,
            batch: 1,
            in_batch: 0,
            count: 0,
            totals: Totals::default(),
            scratch: String::with_capacity(128),
            rows_per_csv: MAX_ROWS_PER_CSV,
        })
    }

    /// Writes one detail row (rows must come in file order); a full CSV
    /// ([`MAX_ROWS_PER_CSV`]) continues in the next batch's file, header repeated.
    pub fn push(&mut self, row: &BillRow) -> Result<(), EngineError> {
        if self.in_batch == self.rows_per_csv {
            self.batch += 1;
            let name = entry_name(self.data_date, &self.huifu_id, "order", self.batch);
            // The writer is moved out and back: a placeholder is never observable.
            let placeholder = csv_writer(ZipWriter::new(BufWriter::new(
                tempfile::tempfile().map_err(|e| failed("spool file")(e.to_string()))?,
            )));
            let full = std::mem::replace(&mut self.csv, placeholder);
            let zip = full
                .into_inner()
                .map_err(|e| failed("csv flush")(e.to_string()))?;
            self.csv = start_entry(zip, &name, self.compression, &TRADE_HEADER)?;
            self.in_batch = 0;
        }
        write_trade_record(&mut self.csv, &mut self.scratch, row)?;
        self.in_batch += 1;
        self.count += 1;
        let t = &mut self.totals;
        if row.kind == "REFUND" {
            t.refund_count += 1;
            t.refund_amt += row.amount;
            t.fee_amt -= row.fee_amt;
        } else {
            t.trade_count += 1;
            t.trade_amt += row.amount;
            t.fee_amt += row.fee_amt;
        }
        Ok(())
    }

    /// Writes the summary and closes the zip: its spool, rewound, and the detail row count.
    pub fn finish(mut self) -> Result<Spooled, EngineError> {
        let t = self.totals;
        let net = t.trade_amt - t.refund_amt - t.fee_amt;
        let summary = [
            t.trade_count.to_string(),
            Money::yuan_of_fen(t.trade_amt),
            t.refund_count.to_string(),
            Money::yuan_of_fen(t.refund_amt),
            Money::yuan_of_fen(t.fee_amt),
            Money::yuan_of_fen(net),
        ];
        let summary_refs: Vec<&str> = summary.iter().map(String::as_str).collect();
        for record in [&["#summary"][..], &SUMMARY_HEADER[..], &summary_refs[..]] {
            self.csv
                .write_record(record)
                .map_err(|e| failed("csv summary")(e.to_string()))?;
        }
        Ok(Spooled {
            file: finish(self.csv)?,
            rows: self.count,
        })
    }
}

/// Writes a `TRADE_BILL` zip from `rows` (a database cursor) for `huifu_id`'s trade day
/// `data_date` (see [`TradeBill`]).
pub async fn trade_bill<S>(
    mut rows: S,
    data_date: NaiveDate,
    huifu_id: &str,
    compression: Compression,
) -> Result<Spooled, EngineError>
where
    S: Stream<Item = Result<BillRow, StoreError>> + Unpin,
{
    let mut bill = TradeBill::new(data_date, huifu_id, compression)?;
    while let Some(row) = rows.next().await {
        bill.push(&row?)?;
    }
    bill.finish()
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

    fn row(n: i64) -> BillRow {
        BillRow {
            kind: if n == 3 { "REFUND" } else { "PAY" }.to_owned(),
            mer_id: "6666000000000001".to_owned(),
            req_date: "20261128".to_owned(),
            req_seq_id: format!("r{n}"),
            nkp_seq_id: format!("NKP{n}"),
            trade_type: "T_JSAPI".to_owned(),
            channel: "wechat".to_owned(),
            party_order_id: None,
            success_at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 28, 2, 0, 0).unwrap(),
            amount: 100 * n,
            fee_amt: n,
            refunded_amt: 0,
            remark: None,
            org_req_date: None,
            org_req_seq_id: None,
            org_nkp_seq_id: None,
        }
    }

    #[test]
    fn a_full_csv_continues_in_the_next_batch_with_its_header() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let mut bill = TradeBill::new(day, "6666000000000001", Compression::Deflate(6)).unwrap();
        bill.rows_per_csv = 2;
        for n in 1..=5 {
            bill.push(&row(n)).unwrap();
        }
        let Spooled { file, rows } = bill.finish().unwrap();
        assert_eq!(rows, 5);
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
        assert_eq!(
            names,
            ["1", "2", "3"].map(|b| format!("20261128_6666000000000001_order_{b}.csv"))
        );
        let mut texts = Vec::new();
        for name in &names {
            let mut text = String::new();
            zip.by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            texts.push(text);
        }
        for text in &texts {
            assert!(text.starts_with("\u{feff}mer_id,req_date,"), "{text}");
        }
        let detail = |t: &str| t.lines().filter(|l| l.starts_with("6666")).count();
        assert_eq!(
            texts.iter().map(|t| detail(t)).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert!(texts[2].contains("NKP5\t"));
        // The summary closes the last batch only: 4 trades 12.00, 1 refund 3.00, fees 1+2+4+5-3.
        assert!(!texts[1].contains("#summary"));
        assert!(texts[2].ends_with("#summary\r\ntrade_count,trade_amt,refund_count,refund_amt,fee_amt,net_amt\r\n4,12.00,1,3.00,0.09,8.91\r\n"), "{}", texts[2]);
    }

    fn safe_text(text: &str) -> String {
        let mut out = String::new();
        push_safe_text(text, &mut out);
        out
    }

    #[test]
    fn times_are_written_in_shanghai() {
        let mut out = String::new();
        // 2026-11-20 16:05:09 UTC is 2026-11-21 00:05:09 in Asia/Shanghai.
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 16, 5, 9).unwrap();
        push_shanghai(t, &mut out);
        assert_eq!(out, "2026-11-21 00:05:09");
    }

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
