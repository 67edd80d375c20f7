//! pay/downloadbill: the day's trade bill as WeChat lays it out — a header line, one line per
//! payment or refund with every field prefixed by a backtick, then the summary header and line.
//! Gzipped with tar_type=GZIP; `No Bill Exist` when the day has nothing.

use std::io::Write;

use actix_web::HttpResponse;
use chrono::{DateTime, NaiveDate, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::gate::Ctx;
use super::reply::fail;
use super::store::{Order, Refund, RefundStatus, TradeState};
use crate::clock;
use crate::faults::{BillAddition, BillEdit};
use crate::state::{SandboxState, lock};
use crate::yuan::{from_fen, service_fee};

const ALL_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUCCESS_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
const REFUND_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const RATE: &str = "0.60%";

#[derive(Clone, Copy, PartialEq, Eq)]
enum BillType {
    All,
    Success,
    Refund,
}

/// One bill line: a payment, or a refund of it, with what a bill fault changes on it.
struct Line<'a> {
    at: DateTime<Utc>,
    order: &'a Order,
    refund: Option<&'a Refund>,
    amount_fen: Option<i64>,
    fee_fen: Option<i64>,
}

#[derive(Default)]
struct Totals {
    count: usize,
    settled: i64,
    refunded: i64,
    fees: i64,
    ordered: i64,
    asked_refund: i64,
}

/// What one line prints in money, fen.
struct Amounts {
    state: &'static str,
    settled: i64,
    refunded: i64,
    fee: i64,
    ordered: i64,
}

impl Amounts {
    /// A payment row of `amount` charged `fee`.
    fn payment(amount: i64, fee: i64) -> Amounts {
        Amounts {
            state: "SUCCESS",
            settled: amount,
            refunded: 0,
            fee,
            ordered: amount,
        }
    }

    /// A refund row of `amount` giving back `fee_back` (printed negative) on an order of
    /// `ordered`.
    fn refund(amount: i64, fee_back: i64, ordered: i64) -> Amounts {
        Amounts {
            state: "REFUND",
            settled: 0,
            refunded: amount,
            fee: -fee_back.abs(),
            ordered,
        }
    }
}

impl Totals {
    fn add(&mut self, a: &Amounts) {
        self.count += 1;
        self.settled += a.settled;
        self.refunded += a.refunded;
        self.fees += a.fee;
        self.ordered += a.ordered;
        self.asked_refund += a.refunded;
    }
}

/// The columns every layout starts with, up to 代金券金额. `ids`: 商户号, 特约商户号, 微信订单号,
/// 商户订单号, 用户标识.
fn head(at: DateTime<Utc>, appid: &str, ids: [String; 5], a: &Amounts) -> Vec<String> {
    let [mch_id, sub_mch_id, transaction_id, out_trade_no, openid] = ids;
    vec![
        clock::shanghai_seconds(at),
        appid.to_owned(),
        mch_id,
        sub_mch_id,
        String::new(),
        transaction_id,
        out_trade_no,
        openid,
        "JSAPI".into(),
        a.state.into(),
        "OTHERS".into(),
        "CNY".into(),
        from_fen(a.settled),
        "0.00".into(),
    ]
}

fn row(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| format!("`{f}"))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn render(
    kind: BillType,
    appid: &str,
    lines: &[Line<'_>],
    added: &[(DateTime<Utc>, BillAddition)],
) -> String {
    let header = match kind {
        BillType::All => ALL_HEADER,
        BillType::Success => SUCCESS_HEADER,
        BillType::Refund => REFUND_HEADER,
    };
    let mut out = format!("{header}\r\n");
    let mut totals = Totals::default();
    for line in lines {
        let o = line.order;
        let amounts = match line.refund {
            None => {
                let amount = line.amount_fen.unwrap_or(o.total_fee);
                Amounts::payment(amount, line.fee_fen.unwrap_or(service_fee(amount)))
            }
            Some(r) => {
                let amount = line.amount_fen.unwrap_or(r.refund_fee);
                let fee_back = line.fee_fen.unwrap_or(service_fee(amount));
                Amounts::refund(amount, fee_back, o.total_fee)
            }
        };
        totals.add(&amounts);
        let (refunded, fee_fen, ordered) = (amounts.refunded, amounts.fee, amounts.ordered);
        let ids = [
            o.mch_id.clone(),
            o.sub_mch_id.clone(),
            o.transaction_id.clone().unwrap_or_default(),
            o.out_trade_no.clone(),
            o.sp_openid(),
        ];
        let mut f = head(line.at, appid, ids, &amounts);
        let refund_cols = |f: &mut Vec<String>, r: Option<&Refund>| {
            f.push(r.map(|r| r.refund_id.clone()).unwrap_or_default());
            f.push(r.map(|r| r.out_refund_no.clone()).unwrap_or_default());
            f.push(from_fen(refunded));
            f.push("0.00".into());
            f.push(r.map(|_| "ORIGINAL".to_owned()).unwrap_or_default());
            f.push(r.map(|r| r.status.as_str().to_owned()).unwrap_or_default());
        };
        match kind {
            BillType::All => refund_cols(&mut f, line.refund),
            BillType::Success => {}
            BillType::Refund => {
                let r = line.refund;
                f.push(
                    r.map(|r| clock::shanghai_seconds(r.created_at))
                        .unwrap_or_default(),
                );
                f.push(
                    r.and_then(|r| r.success_time)
                        .map(clock::shanghai_seconds)
                        .unwrap_or_default(),
                );
                refund_cols(&mut f, r);
            }
        }
        f.push(o.body.clone());
        f.push(o.attach.clone().unwrap_or_default());
        f.push(from_fen(fee_fen));
        f.push(RATE.into());
        f.push(from_fen(ordered));
        if kind != BillType::Success {
            f.push(from_fen(refunded));
        }
        f.push(String::new());
        out.push_str(&row(&f));
    }
    if kind == BillType::All {
        for (at, a) in added {
            let refund = a.out_refund_no.is_some();
            let fee = service_fee(a.amount_fen);
            let amounts = if refund {
                Amounts::refund(a.amount_fen, fee, a.amount_fen)
            } else {
                Amounts::payment(a.amount_fen, fee)
            };
            totals.add(&amounts);
            let (refunded, fee_fen) = (amounts.refunded, amounts.fee);
            let ids = [
                String::new(),
                String::new(),
                format!("4200009999{}", clock::wechat_compact(*at)),
                a.out_trade_no.clone(),
                String::new(),
            ];
            let mut f = head(*at, appid, ids, &amounts);
            f.extend([
                if refund {
                    format!("5000009999{}", clock::wechat_compact(*at))
                } else {
                    String::new()
                },
                a.out_refund_no.clone().unwrap_or_default(),
                from_fen(refunded),
                "0.00".into(),
                if refund {
                    "ORIGINAL".into()
                } else {
                    String::new()
                },
                if refund {
                    "SUCCESS".into()
                } else {
                    String::new()
                },
                "added by a bill fault".into(),
                String::new(),
                from_fen(fee_fen),
                RATE.into(),
                from_fen(a.amount_fen),
                from_fen(refunded),
                String::new(),
            ]);
            out.push_str(&row(&f));
        }
    }
    out.push_str(SUMMARY_HEADER);
    out.push_str("\r\n");
    out.push_str(&row(&[
        totals.count.to_string(),
        from_fen(totals.settled),
        from_fen(totals.refunded),
        "0.00".into(),
        from_fen(totals.fees),
        from_fen(totals.ordered),
        from_fen(totals.asked_refund),
    ]));
    out
}

/// Adds `line` to `lines` as the bill faults say: left out, changed, or as it is.
fn push_edited<'a>(lines: &mut Vec<Line<'a>>, edit: BillEdit, mut line: Line<'a>) {
    match edit {
        BillEdit::Drop => {}
        BillEdit::Keep => lines.push(line),
        BillEdit::Change {
            amount_fen,
            fee_fen,
        } => {
            line.amount_fen = amount_fen;
            line.fee_fen = fee_fen;
            lines.push(line);
        }
    }
}

pub(crate) fn download(state: &SandboxState, ctx: &Ctx) -> HttpResponse {
    let Some(date) = ctx.get("bill_date") else {
        return fail("缺少参数bill_date");
    };
    let day = match NaiveDate::parse_from_str(date, "%Y%m%d") {
        Ok(d) if date.len() == 8 => d,
        _ => return fail("invalid bill_date: expected yyyyMMdd"),
    };
    if day.format("%Y%m%d").to_string() > clock::shanghai_day(clock::now()) {
        return fail("invalid bill_date: the day has not come yet");
    }
    let kind = match ctx.get("bill_type").unwrap_or("ALL") {
        "ALL" => BillType::All,
        "SUCCESS" => BillType::Success,
        "REFUND" => BillType::Refund,
        _ => return fail("invalid bill_type: expected ALL, SUCCESS or REFUND"),
    };
    let gzip = match ctx.get("tar_type") {
        None => false,
        Some("GZIP") => true,
        Some(_) => return fail("invalid tar_type: only GZIP"),
    };

    let store = lock(&state.wechat);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let on_day = |t: DateTime<Utc>| clock::shanghai_day(t) == date;
    for o in store.orders.values().filter(|o| {
        o.mch_id == ctx.sp.mch_id && ctx.sub_mch_id.as_ref().is_none_or(|s| &o.sub_mch_id == s)
    }) {
        if kind != BillType::Refund
            && matches!(o.state, TradeState::Success | TradeState::Refund)
            && let Some(t) = o.time_end.filter(|t| on_day(*t))
        {
            push_edited(
                &mut lines,
                state.faults.bill_edit(&o.out_trade_no, None),
                Line {
                    at: t,
                    order: o,
                    refund: None,
                    amount_fen: None,
                    fee_fen: None,
                },
            );
        }
        if kind != BillType::Success {
            for r in &o.refunds {
                if r.status == RefundStatus::Success
                    && let Some(t) = r.success_time.filter(|t| on_day(*t))
                {
                    push_edited(
                        &mut lines,
                        state
                            .faults
                            .bill_edit(&o.out_trade_no, Some(&r.out_refund_no)),
                        Line {
                            at: t,
                            order: o,
                            refund: Some(r),
                            amount_fen: None,
                            fee_fen: None,
                        },
                    );
                }
            }
        }
    }
    let now = clock::now();
    let added: Vec<(DateTime<Utc>, BillAddition)> = if clock::shanghai_day(now) == date {
        state
            .faults
            .bill_additions()
            .into_iter()
            .map(|a| (now, a))
            .collect()
    } else {
        Vec::new()
    };
    if lines.is_empty() && (added.is_empty() || kind != BillType::All) {
        return fail("No Bill Exist");
    }
    lines.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.order.out_trade_no.cmp(&b.order.out_trade_no))
    });
    let text = render(kind, &ctx.sp.appid, &lines, &added);
    if !gzip {
        return HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(text);
    }
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    match enc.write_all(text.as_bytes()).and_then(|()| enc.finish()) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("application/x-gzip")
            .body(bytes),
        Err(_) => fail("SYSTEMERROR: the bill could not be compressed"),
    }
}
