//! alipay.data.dataservice.bill.downloadurl.query and the download it points at: a zip of two
//! GBK CSV files laid out like Alipay's trade bill — `…_业务明细.csv` (one line per payment or
//! refund) and `…_业务明细(汇总).csv` (the totals), each framed by `#` header and footer lines.

use std::io::Write;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Map;
use zip::write::SimpleFileOptions;

use super::gateway::{AliError, AliResult, Call};
use super::store::{BillTicket, Precreate};
use super::trade::buyer_logon_id;
use crate::clock;
use crate::faults::{BillEdit, FaultBox};
use crate::ids::random_alnum;
use crate::state::{SandboxState, lock};
use crate::yuan::{from_fen, service_fee};

/// Alipay's download links are short-lived.
const URL_VALIDITY_SECS: i64 = 30;

const DETAIL_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const SUMMARY_HEADER: &str = "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,商家红包消费金额（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）";
const RULE: &str = "-----------------------------------------";

/// The bill period: a day `yyyy-MM-dd` or a month `yyyy-MM`, as [start, end) dates.
fn period(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    match text.len() {
        10 => {
            let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some((d, d.succ_opt()?))
        }
        7 => {
            let d = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
            let next = if d.month() == 12 {
                NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)?
            };
            Some((d, next))
        }
        _ => None,
    }
}

pub(crate) fn download_url(state: &SandboxState, call: &Call) -> AliResult {
    let bill_type = call.require("bill_type")?;
    let bill_date = call.require("bill_date")?;
    match bill_type.as_str() {
        "trade" => {}
        "signcustomer" => {
            return Err(AliError::business(
                "isp.bill_not_exist",
                "账单不存在: the sandbox keeps trade bills only (bill_type trade)",
            ));
        }
        other => {
            return Err(AliError::invalid(
                "isv.invalid-parameter",
                format!("bill_type must be trade or signcustomer, got {other:?}"),
            ));
        }
    }
    let Some((start, _)) = period(&bill_date) else {
        return Err(AliError::invalid(
            "isv.invalid-parameter",
            format!("bill_date must be yyyy-MM-dd or yyyy-MM, got {bill_date:?}"),
        ));
    };
    let now = clock::now();
    let today = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    if start > today {
        return Err(AliError::business(
            "isp.bill_not_exist",
            format!("账单不存在: the bill of {bill_date} does not exist yet"),
        ));
    }
    let token = random_alnum(32);
    lock(&state.alipay).bills.insert(
        token.clone(),
        BillTicket {
            user_id: call.grant()?.user_id.clone(),
            period: bill_date,
            expires: now + ChronoDuration::seconds(URL_VALIDITY_SECS),
        },
    );
    let mut m = Map::new();
    m.insert(
        "bill_download_url".into(),
        format!("{}/sandbox/alipay/bill?token={token}", state.base_url).into(),
    );
    Ok(m)
}

#[derive(Deserialize)]
pub(crate) struct BillQuery {
    token: Option<String>,
}

pub(crate) async fn download(
    state: web::Data<SandboxState>,
    query: web::Query<BillQuery>,
) -> HttpResponse {
    let now = clock::now();
    let ticket = {
        let store = lock(&state.alipay);
        query
            .token
            .as_ref()
            .and_then(|t| store.bills.get(t))
            .filter(|t| t.expires > now)
            .map(|t| (t.user_id.clone(), t.period.clone()))
    };
    let Some((user_id, period_text)) = ticket else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("this bill download URL is unknown or has expired (they live 30 seconds)");
    };
    let Some((start, end)) = period(&period_text) else {
        return HttpResponse::NotFound().body("bad bill period");
    };
    let store = lock(&state.alipay);
    let trades: Vec<&Precreate> = store
        .trades
        .values()
        .filter(|p| p.seller_id == user_id)
        .collect();
    let files = render(&user_id, start, end, &trades, &state.faults, now);
    drop(store);
    let stamp = start.format("%Y%m%d");
    match zip_files(&files) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("application/zip")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"{user_id}_{stamp}.csv.zip\""),
            ))
            .body(bytes),
        Err(e) => {
            HttpResponse::ServiceUnavailable().body(format!("cannot build the bill zip: {e}"))
        }
    }
}

fn zip_files(files: &[(String, String)]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        zip.start_file(name.as_str(), SimpleFileOptions::default())?;
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        zip.write_all(&gbk)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// The amount and fee (fen, as charged) a row is printed with, or `None` when a bill fault
/// drops it.
fn edited(edit: BillEdit, amount_fen: i64) -> Option<(i64, i64)> {
    match edit {
        BillEdit::Drop => None,
        BillEdit::Keep => Some((amount_fen, service_fee(amount_fen))),
        BillEdit::Change {
            amount_fen: a,
            fee_fen,
        } => {
            let amount = a.unwrap_or(amount_fen);
            Some((amount, fee_fen.map_or(service_fee(amount), i64::abs)))
        }
    }
}

fn chinese_time(d: NaiveDate) -> String {
    d.format("%Y年%m月%d日 00:00:00").to_string()
}

struct Line {
    at: DateTime<Utc>,
    cells: Vec<String>,
}

/// Both CSV files (name, text) for `user_id` over [start, end).
fn render(
    user_id: &str,
    start: NaiveDate,
    end: NaiveDate,
    trades: &[&Precreate],
    faults: &FaultBox,
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    let in_period = |t: DateTime<Utc>| {
        let d = t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        d >= start && d < end
    };
    let mut lines: Vec<Line> = Vec::new();
    let (mut n_trades, mut n_refunds) = (0usize, 0usize);
    let (mut amount, mut fees) = (0i64, 0i64);
    for p in trades {
        let Some(t) = &p.trade else { continue };
        let row = |kind: &str, done: DateTime<Utc>, fen: i64, request_no: &str, fee_fen: i64| {
            vec![
                t.trade_no.clone(),
                p.out_trade_no.clone(),
                kind.to_owned(),
                p.subject.clone(),
                clock::shanghai_seconds(t.gmt_create),
                clock::shanghai_seconds(done),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                buyer_logon_id(&t.buyer_id),
                from_fen(fen),
                from_fen(fen),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
                "0.00".into(),
                "0.00".into(),
                request_no.to_owned(),
                from_fen(fee_fen),
                "0.00".into(),
                String::new(),
            ]
        };
        if let Some(paid) = t.gmt_payment.filter(|d| in_period(*d))
            && let Some((total, fee)) = edited(faults.bill_edit(&p.out_trade_no, None), p.total)
        {
            n_trades += 1;
            amount += total;
            fees -= fee;
            lines.push(Line {
                at: paid,
                cells: row("交易", paid, total, "", -fee),
            });
        }
        for r in t.refunds.iter().filter(|r| in_period(r.gmt_refund)) {
            let edit = faults.bill_edit(&p.out_trade_no, Some(&r.out_request_no));
            let Some((refunded, fee)) = edited(edit, r.amount) else {
                continue;
            };
            n_refunds += 1;
            amount -= refunded;
            fees += fee;
            lines.push(Line {
                at: r.gmt_refund,
                cells: row("退款", r.gmt_refund, -refunded, &r.out_request_no, fee),
            });
        }
    }
    if in_period(now) {
        for a in faults.bill_additions() {
            let fee = service_fee(a.amount_fen);
            let mut cells = vec![String::new(); 25];
            cells[0] = format!("20990101220014{}", now.format("%H%M%S%6f"));
            cells[1] = a.out_trade_no.clone();
            cells[3] = "added by a bill fault".into();
            cells[4] = clock::shanghai_seconds(now);
            cells[5] = clock::shanghai_seconds(now);
            match &a.out_refund_no {
                None => {
                    n_trades += 1;
                    amount += a.amount_fen;
                    fees -= fee;
                    cells[2] = "交易".into();
                    cells[11] = from_fen(a.amount_fen);
                    cells[12] = from_fen(a.amount_fen);
                    cells[22] = from_fen(-fee);
                }
                Some(no) => {
                    n_refunds += 1;
                    amount -= a.amount_fen;
                    fees += fee;
                    cells[2] = "退款".into();
                    cells[11] = from_fen(-a.amount_fen);
                    cells[12] = from_fen(-a.amount_fen);
                    cells[21] = no.clone();
                    cells[22] = from_fen(fee);
                }
            }
            lines.push(Line { at: now, cells });
        }
    }
    lines.sort_by_key(|l| l.at);

    let exported = clock::shanghai_chinese(now);
    let frame_head = |title: &str, list: &str| {
        format!(
            "#支付宝{title}查询\r\n#账号：[{user_id}]\r\n#起始日期：[{}]   终止日期：[{}]\r\n#{RULE}{list}{RULE}\r\n",
            chinese_time(start),
            chinese_time(end)
        )
    };
    let mut detail = frame_head("业务明细", "业务明细列表");
    detail.push_str(DETAIL_HEADER);
    detail.push_str("\r\n");
    for line in &lines {
        detail.push_str(&line.cells.join(","));
        detail.push_str("\r\n");
    }
    detail.push_str(&format!(
        "#{RULE}业务明细列表结束{RULE}\r\n#交易合计：{n_trades}笔，退款合计：{n_refunds}笔\r\n#导出时间：[{exported}]\r\n"
    ));

    let totals = |label: &str| {
        [
            label.to_owned(),
            String::new(),
            n_trades.to_string(),
            n_refunds.to_string(),
            from_fen(amount),
            from_fen(amount),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            from_fen(fees),
            "0.00".into(),
            from_fen(amount + fees),
        ]
        .join(",")
    };
    let mut summary = frame_head("业务汇总", "业务汇总列表");
    summary.push_str(SUMMARY_HEADER);
    summary.push_str("\r\n");
    summary.push_str(&totals(""));
    summary.push_str("\r\n");
    summary.push_str(&totals("合计"));
    summary.push_str(&format!(
        "\r\n#{RULE}业务汇总列表结束{RULE}\r\n#导出时间：[{exported}]\r\n"
    ));

    let stamp = start.format("%Y%m%d");
    vec![
        (format!("{user_id}_{stamp}_业务明细.csv"), detail),
        (format!("{user_id}_{stamp}_业务明细(汇总).csv"), summary),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_days_or_months() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(period("2025-12-31"), Some((d(2025, 12, 31), d(2026, 1, 1))));
        assert_eq!(period("2025-12"), Some((d(2025, 12, 1), d(2026, 1, 1))));
        assert_eq!(period("2025-02"), Some((d(2025, 2, 1), d(2025, 3, 1))));
        for bad in ["", "2025", "20251201", "2025-13", "2025-02-30", "2025-1-01"] {
            assert_eq!(period(bad), None, "{bad:?}");
        }
    }
}
