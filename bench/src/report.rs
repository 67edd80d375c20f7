//! The table: one row per target and mode, throughput, latency percentiles and the share of the
//! floor measured in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::load::{Latency, Outcome};

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured (mode, database, pacing).
    pub label: String,
    /// Answers per second.
    pub rate: f64,
    /// Latency percentiles in microseconds: p50, p99, p99.9.
    pub p50_us: u64,
    /// p99 in microseconds.
    pub p99_us: u64,
    /// p99.9 in microseconds.
    pub p999_us: u64,
    /// Answers that were not the mode's expected `resp_code`, by outcome.
    pub unexpected: BTreeMap<String, u64>,
    /// Whether this row is the floor itself.
    pub is_floor: bool,
}

impl Row {
    /// A row from a run's outcome; answers outside `expected` are listed as errors.
    pub fn new(label: String, outcome: &Outcome, expected: &[&str]) -> Row {
        let h = &outcome.histogram;
        Row {
            label,
            rate: outcome.rate(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            unexpected: outcome.unexpected(expected),
            is_floor: false,
        }
    }
}

/// Milliseconds with one decimal (two below 1 ms).
pub fn millis(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A rate with thousands separators, no decimals.
pub fn per_second(rate: f64) -> String {
    let whole = rate.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown table, `share of floor` relative to the floor row's rate (`-` without one).
pub fn table(rows: &[Row]) -> String {
    let floor = rows.iter().find(|r| r.is_floor).map(|r| r.rate);
    let mut out = String::from(
        "| | req/s | p50 | p99 | share of floor | p99.9 | not as expected |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let share = match floor {
            Some(f) if f > 0.0 => format!("{:.1} %", 100.0 * r.rate / f),
            _ => "-".to_owned(),
        };
        let errors = if r.unexpected.is_empty() {
            "0".to_owned()
        } else {
            r.unexpected
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            per_second(r.rate),
            millis(r.p50_us),
            millis(r.p99_us),
            share,
            millis(r.p999_us),
            errors
        );
    }
    out
}

/// The first column of a latencies file for requests: [`Latency::at`] after the warm-up.
pub const SENT_AFTER_WARMUP: &str = "sent_after_warmup_ms";
/// The first column of a latencies file for notification deliveries: after the first arrival.
pub const ARRIVED_AFTER_FIRST: &str = "arrived_after_first_ms";

/// Writes a run's latencies as CSV (RFC 4180, the `csv` crate): a header `<at_column>,latency_ms`
/// ([`SENT_AFTER_WARMUP`] or [`ARRIVED_AFTER_FIRST`]), then one line per measured answer in the
/// order of [`Latency::at`], both in milliseconds with three decimals (microseconds). A plot of
/// the two columns shows when in the run the slow answers came (the trade job's first queries
/// start 5 s after the first create, i.e. 3 s into the measured part with the default warm-up).
///
/// Errors: the file cannot be created or written.
pub fn write_latencies(path: &Path, at_column: &str, latencies: &[Latency]) -> anyhow::Result<()> {
    let mut out =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    out.write_record([at_column, "latency_ms"])?;
    for l in latencies {
        out.write_record([
            format!("{:.3}", l.at.as_secs_f64() * 1000.0),
            format!("{:.3}", l.micros as f64 / 1000.0),
        ])?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;
    use std::time::Duration;

    #[test]
    fn percentiles_come_from_the_histogram_and_shares_from_the_floor_row() {
        let mut h = histogram().unwrap();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap();
        }
        let outcome = Outcome {
            histogram: h,
            window: Duration::from_millis(500),
            outcomes: BTreeMap::from([("00000100".into(), 990), ("99999999".into(), 10)]),
            replies: Vec::new(),
            latencies: Vec::new(),
        };
        let mut floor = Row::new("floor".into(), &outcome, &["00000100", "99999999"]);
        floor.is_floor = true;
        let mut half = Row::new("jspay".into(), &outcome, &["00000100"]);
        half.rate /= 2.0;
        assert_eq!(floor.rate, 2000.0);
        // 3 significant digits: within 0.1 % of the exact values.
        assert!((5000..=5010).contains(&floor.p50_us), "{}", floor.p50_us);
        assert!((9900..=9910).contains(&floor.p99_us), "{}", floor.p99_us);
        assert!(
            (9990..=10_000).contains(&floor.p999_us),
            "{}",
            floor.p999_us
        );
        let t = table(&[floor, half]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| | req/s | p50 | p99 | share of floor | p99.9 | not as expected |"
        );
        assert!(
            lines[2].starts_with("| floor | 2,000 | 5.0 ms | 9.9 ms | 100.0 % | 10.0 ms | 0 |"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].starts_with("| jspay | 1,000 | 5.0 ms |"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains("| 50.0 % |"), "{}", lines[3]);
        assert!(lines[3].ends_with("| 99999999: 10 |"), "{}", lines[3]);
    }

    #[test]
    fn numbers_read_as_in_the_issue() {
        assert_eq!(per_second(6388.4), "6,388");
        assert_eq!(per_second(501.0), "501");
        assert_eq!(per_second(1_234_567.0), "1,234,567");
        assert_eq!(millis(2_500), "2.5 ms");
        assert_eq!(millis(450), "0.45 ms");
    }

    #[test]
    fn latencies_are_written_as_csv_in_milliseconds() {
        let dir = std::env::temp_dir().join(format!("nkpay-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latencies.csv");
        let latencies = [
            Latency {
                at: Duration::from_micros(0),
                micros: 2_500,
            },
            Latency {
                at: Duration::from_micros(1_234_567),
                micros: 41,
            },
        ];
        write_latencies(&path, SENT_AFTER_WARMUP, &latencies).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec!["sent_after_warmup_ms", "latency_ms"]
        );
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            rows,
            [["0.000", "2.500"], ["1234.567", "0.041"]].map(|r| r.map(str::to_owned).to_vec())
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            write_latencies(&dir.join("missing/x.csv"), SENT_AFTER_WARMUP, &latencies).is_err()
        );
    }
}
