//! Alipay open-platform wire conversion: our requests → signed gateway parameters, verified
//! replies and notifies → our results. Every Alipay field name lives here (and in `bill.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use encoding_rs::Encoding;
use nkpay_core::money::Money;
use nkpay_crypto::alipay_sign;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

use super::AlipayAccount;
use super::reply::{self, Answer};
use crate::bill::{BillRequest, BillResult};
use crate::error::ChannelError;
use crate::flat_fields::typed;
use crate::notify::InboundNotify;
use crate::notify_reference::{AddressedAccount, NotifyReference};
use crate::outcome::{CloseResult, CreateResult, PayPrompt, PayResult, ProbeResult, RefundResult};
use crate::request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef};
use crate::shanghai_time::{self, DASHED, DASHED_FRACTION};
use crate::transport::{Delivery, Verdict};

pub(super) const PRECREATE: &str = "alipay.trade.precreate";
pub(super) const QUERY: &str = "alipay.trade.query";
pub(super) const CLOSE: &str = "alipay.trade.close";
pub(super) const REFUND: &str = "alipay.trade.refund";
pub(super) const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";
pub(super) const BILL_URL: &str = "alipay.data.dataservice.bill.downloadurl.query";

const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";
pub(super) const MASK: &str = "***";

/// Gateway parameters of one call, sorted as the signature wants them.
pub(super) type Params = BTreeMap<String, String>;

/// A signed call: the form body to send and the one to record.
pub(super) struct SignedCall {
    pub method: &'static str,
    pub form: String,
    pub masked_form: String,
}

fn check_len(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), ChannelError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ChannelError::invalid(
            field,
            format!("must be {min} to {max} characters for Alipay, is {n}"),
        ));
    }
    Ok(())
}

/// Common parameters, the sub-merchant's grant, and the business content, signed.
fn call<B: Serialize>(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    method: &'static str,
    route: Option<&MerchantRoute>,
    notify_url: Option<&str>,
    biz: &B,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    signed_call(
        account,
        key,
        method,
        route,
        notify_url,
        BizContent {
            text: biz_json(biz)?,
            masked: None,
        },
        now,
    )
}

/// A call whose `biz_content` holds a secret (an authorization code, a token): the recorded form
/// carries `masked_biz` instead.
pub(super) fn masked_call<B: Serialize, M: Serialize>(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    method: &'static str,
    biz: &B,
    masked_biz: &M,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    signed_call(
        account,
        key,
        method,
        None,
        None,
        BizContent {
            text: biz_json(biz)?,
            masked: Some(biz_json(masked_biz)?),
        },
        now,
    )
}

fn biz_json<B: Serialize>(biz: &B) -> Result<String, ChannelError> {
    serde_json::to_string(biz).map_err(|e| ChannelError::invalid("request", e.to_string()))
}

/// `biz_content` as sent, and as recorded when it holds a secret.
struct BizContent {
    text: String,
    masked: Option<String>,
}

fn signed_call(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    method: &'static str,
    route: Option<&MerchantRoute>,
    notify_url: Option<&str>,
    biz_content: BizContent,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let mut p = Params::new();
    p.insert("app_id".into(), account.app_id.clone());
    p.insert("method".into(), method.into());
    p.insert("charset".into(), "utf-8".into());
    p.insert("sign_type".into(), "RSA2".into());
    p.insert("timestamp".into(), shanghai_time::format(now, DASHED));
    p.insert("version".into(), "1.0".into());
    if let Some(url) = notify_url {
        p.insert("notify_url".into(), url.into());
    }
    if let Some(route) = route {
        let (token, _) = route.alipay()?;
        if token.expose().is_empty() {
            return Err(ChannelError::invalid(
                "merchant.app_auth_token",
                "is empty: the sub-merchant has not granted the ISV app",
            ));
        }
        p.insert("app_auth_token".into(), token.expose().clone());
    }
    p.insert("biz_content".into(), biz_content.text);
    let sign = alipay_sign::sign_params(&p, key)
        .map_err(|e| ChannelError::config("app_private_key", e.to_string()))?;
    p.insert("sign".into(), sign);
    let form = encode_form(&p);
    if let Some(token) = p.get_mut("app_auth_token") {
        *token = MASK.into();
    }
    if let Some(masked) = biz_content.masked {
        p.insert("biz_content".into(), masked);
    }
    Ok(SignedCall {
        method,
        form,
        masked_form: encode_form(&p),
    })
}

fn encode_form(p: &Params) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.iter())
        .finish()
}

#[derive(Serialize)]
struct ExtendParams<'a> {
    /// The ISV's PID: the trade counts as brought by the service provider.
    sys_service_provider_id: &'a str,
}

#[derive(Serialize)]
struct PrecreateBiz<'a> {
    out_trade_no: &'a str,
    total_amount: String,
    subject: &'a str,
    time_expire: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller_id: Option<&'a str>,
    extend_params: ExtendParams<'a>,
}

pub(super) fn precreate(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    order: &CreateOrder,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let (_, seller_id) = order.merchant.alipay()?;
    check_len("nkp_seq_id", &order.nkp_seq_id, 1, 64)?;
    check_len("description", &order.description, 1, 256)?;
    if order.amount.is_zero() {
        return Err(ChannelError::invalid("amount", "must be at least 0.01"));
    }
    if order.time_expire <= now {
        return Err(ChannelError::invalid(
            "time_expire",
            "must be in the future",
        ));
    }
    let biz = PrecreateBiz {
        out_trade_no: &order.nkp_seq_id,
        total_amount: order.amount.to_yuan(),
        subject: &order.description,
        time_expire: shanghai_time::format(order.time_expire, DASHED),
        seller_id,
        extend_params: ExtendParams {
            sys_service_provider_id: &account.isv_pid,
        },
    };
    call(
        account,
        key,
        PRECREATE,
        Some(&order.merchant),
        Some(&account.notify_urls.payment),
        &biz,
        now,
    )
}

#[derive(Serialize)]
struct TradeBiz<'a> {
    out_trade_no: &'a str,
}

pub(super) fn query(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    trade: &TradeRef,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let biz = TradeBiz {
        out_trade_no: &trade.nkp_seq_id,
    };
    call(account, key, QUERY, Some(&trade.merchant), None, &biz, now)
}

pub(super) fn close(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    trade: &TradeRef,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let biz = TradeBiz {
        out_trade_no: &trade.nkp_seq_id,
    };
    call(account, key, CLOSE, Some(&trade.merchant), None, &biz, now)
}

/// The probe's `alipay.trade.query`: no `app_auth_token`, so the ISV app asks about its own
/// account, where `out_trade_no` does not exist.
pub(super) fn probe_query(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    out_trade_no: &str,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    call(
        account,
        key,
        QUERY,
        None,
        None,
        &TradeBiz { out_trade_no },
        now,
    )
}

/// `ACQ.TRADE_NOT_EXIST` (or a trade) in a reply whose signature verified proves the app's key
/// and Alipay's public key; a gateway refusal names what is wrong.
pub(super) fn judge_probe(delivery: &Delivery, public_key: &RsaPublicKey) -> ProbeResult {
    match (delivery, reply::open(delivery, QUERY, public_key)) {
        (Delivery::NoReply { reason }, _) => ProbeResult::not_ok("NO_REPLY", reason.clone()),
        (Delivery::Reply { status, .. }, _) if *status != 200 => ProbeResult::not_ok(
            format!("HTTP_{status}"),
            format!("HTTP {status} from the Alipay gateway"),
        ),
        (_, Err(reason)) => ProbeResult::not_ok("UNTRUSTED_REPLY", reason),
        (_, Ok(Answer::Busy(reason))) => ProbeResult::not_ok("SYSTEM_ERROR", reason),
        (_, Ok(Answer::Refused { code, message })) if code == TRADE_NOT_EXIST => {
            ProbeResult::ok(code, message)
        }
        (_, Ok(Answer::Refused { code, message })) => ProbeResult::not_ok(code, message),
        (_, Ok(Answer::Success(_))) => {
            ProbeResult::ok("10000", "alipay.trade.query answered, signed")
        }
    }
}

#[derive(Serialize)]
struct RefundBiz<'a> {
    out_trade_no: &'a str,
    refund_amount: String,
    /// One per partial refund; the same number on a re-send refunds once.
    out_request_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_reason: Option<&'a str>,
}

pub(super) fn refund(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    refund: &RefundOrder,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    check_len("refund_nkp_seq_id", &refund.refund_nkp_seq_id, 1, 64)?;
    if refund.amount.is_zero() || refund.amount > refund.trade_amount {
        return Err(ChannelError::invalid(
            "amount",
            "must be between 0.01 and the trade's paid amount",
        ));
    }
    let biz = RefundBiz {
        out_trade_no: &refund.trade.nkp_seq_id,
        refund_amount: refund.amount.to_yuan(),
        out_request_no: &refund.refund_nkp_seq_id,
        refund_reason: refund.reason.as_deref().filter(|r| !r.is_empty()),
    };
    call(
        account,
        key,
        REFUND,
        Some(&refund.trade.merchant),
        None,
        &biz,
        now,
    )
}

#[derive(Serialize)]
struct RefundQueryBiz<'a> {
    out_trade_no: &'a str,
    out_request_no: &'a str,
    /// Ask for the refund time too; it is not returned by default.
    query_options: [&'a str; 1],
}

pub(super) fn refund_query(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    refund: &RefundRef,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let biz = RefundQueryBiz {
        out_trade_no: &refund.trade.nkp_seq_id,
        out_request_no: &refund.refund_nkp_seq_id,
        query_options: ["gmt_refund_pay"],
    };
    call(
        account,
        key,
        REFUND_QUERY,
        Some(&refund.trade.merchant),
        None,
        &biz,
        now,
    )
}

#[derive(Serialize)]
struct BillBiz {
    bill_type: &'static str,
    bill_date: String,
}

pub(super) fn bill_url(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    request: &BillRequest,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    let biz = BillBiz {
        bill_type: "trade",
        bill_date: request.date.format("%Y-%m-%d").to_string(),
    };
    call(
        account,
        key,
        BILL_URL,
        request.merchant.as_ref(),
        None,
        &biz,
        now,
    )
}

// ---- replies -------------------------------------------------------------------------------

fn amount(field: &str, text: &str) -> Result<Money, String> {
    Money::parse_yuan(text).map_err(|e| format!("{field}: {e}"))
}

/// Alipay times, some with milliseconds (`gmt_refund`).
fn time(text: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    text.map(|t| shanghai_time::parse(t, DASHED_FRACTION))
        .transpose()
}

#[derive(Deserialize)]
struct PrecreateReply {
    qr_code: String,
}

pub(super) fn judge_create(delivery: &Delivery, public_key: &RsaPublicKey) -> CreateResult {
    match reply::open(delivery, PRECREATE, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => CreateResult::Unknown { reason },
        Ok(Answer::Refused { code, message }) => CreateResult::Failed { code, message },
        Ok(Answer::Success(inner)) => match reply::typed::<PrecreateReply>(&inner) {
            Ok(r) => CreateResult::Created(PayPrompt::QrCode(r.qr_code)),
            Err(reason) => CreateResult::Unknown { reason },
        },
    }
}

#[derive(Deserialize)]
struct QueryReply {
    out_trade_no: String,
    trade_status: String,
    trade_no: Option<String>,
    total_amount: Option<String>,
    buyer_user_id: Option<String>,
    buyer_id: Option<String>,
    send_pay_date: Option<String>,
}

/// What a paid Alipay message says, from a query reply or a notify.
fn paid(
    trade_no: Option<String>,
    total_amount: Option<&str>,
    buyer: Option<String>,
    paid_at: Option<&str>,
) -> Result<PayResult, String> {
    Ok(PayResult::Paid {
        party_order_id: trade_no.ok_or("paid without trade_no")?,
        amount: amount(
            "total_amount",
            total_amount.ok_or("paid without total_amount")?,
        )?,
        buyer_id: buyer,
        paid_at: time(paid_at)?,
    })
}

fn trade_status(
    status: &str,
    trade_no: Option<String>,
    total_amount: Option<&str>,
    buyer: Option<String>,
    paid_at: Option<&str>,
) -> Result<PayResult, String> {
    match status {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => paid(trade_no, total_amount, buyer, paid_at),
        "WAIT_BUYER_PAY" => Ok(PayResult::NotPaid),
        // Unpaid and timed out, or paid and then refunded in full.
        "TRADE_CLOSED" => Ok(PayResult::Closed),
        other => Err(format!("unknown trade_status {other:?}")),
    }
}

pub(super) fn judge_query(
    delivery: &Delivery,
    public_key: &RsaPublicKey,
    nkp_seq_id: &str,
) -> PayResult {
    let unknown = |reason: String| PayResult::Unknown { reason };
    let inner = match reply::open(delivery, QUERY, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => return unknown(reason),
        // The trade exists only once the QR code is scanned; until then it is simply unpaid.
        Ok(Answer::Refused { code, .. }) if code == TRADE_NOT_EXIST => return PayResult::NotPaid,
        Ok(Answer::Refused { code, message }) => {
            return unknown(format!("query refused: {code}: {message}"));
        }
        Ok(Answer::Success(inner)) => inner,
    };
    let r: QueryReply = match reply::typed(&inner) {
        Ok(r) => r,
        Err(reason) => return unknown(reason),
    };
    if r.out_trade_no != nkp_seq_id {
        return unknown(format!(
            "reply is for order {:?}, not {nkp_seq_id:?}",
            r.out_trade_no
        ));
    }
    trade_status(
        &r.trade_status,
        r.trade_no,
        r.total_amount.as_deref(),
        r.buyer_user_id.or(r.buyer_id),
        r.send_pay_date.as_deref(),
    )
    .unwrap_or_else(unknown)
}

pub(super) fn judge_close(delivery: &Delivery, public_key: &RsaPublicKey) -> CloseResult {
    match reply::open(delivery, CLOSE, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => CloseResult::Unknown { reason },
        Ok(Answer::Success(_)) => CloseResult::Closed,
        Ok(Answer::Refused { code, message }) => match code.as_str() {
            TRADE_NOT_EXIST => CloseResult::NotOpened,
            "ACQ.TRADE_HAS_SUCCESS" | "ACQ.TRADE_HAS_FINISHED" => CloseResult::AlreadyPaid,
            "ACQ.TRADE_HAS_CLOSE" => CloseResult::Closed,
            _ => CloseResult::Failed { code, message },
        },
    }
}

#[derive(Deserialize)]
struct RefundReply {
    fund_change: Option<String>,
    gmt_refund_pay: Option<String>,
}

/// A refund may be re-sent under the same `out_request_no` whenever its fate is unknown.
pub(super) fn judge_refund(
    delivery: &Delivery,
    public_key: &RsaPublicKey,
) -> Verdict<RefundResult> {
    let unknown = |reason: String| RefundResult::Unknown { reason };
    match reply::open(delivery, REFUND, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => Verdict::resendable(unknown(reason)),
        Ok(Answer::Refused { code, message }) => {
            Verdict::done(RefundResult::Failed { code, message })
        }
        Ok(Answer::Success(inner)) => Verdict::done(match reply::typed::<RefundReply>(&inner) {
            // Only a reply that moved money says the refund happened; a repeat of an earlier
            // request says N, so the refund query confirms it.
            Ok(r) if r.fund_change.as_deref() == Some("Y") => {
                match time(r.gmt_refund_pay.as_deref()) {
                    Ok(refunded_at) => RefundResult::Succeeded {
                        party_refund_id: None,
                        amount: None,
                        refunded_at,
                    },
                    Err(reason) => unknown(reason),
                }
            }
            Ok(_) => RefundResult::Processing {
                party_refund_id: None,
            },
            Err(reason) => unknown(reason),
        }),
    }
}

#[derive(Deserialize)]
struct RefundQueryReply {
    out_request_no: Option<String>,
    refund_status: Option<String>,
    refund_amount: Option<String>,
    gmt_refund_pay: Option<String>,
}

pub(super) fn judge_refund_query(
    delivery: &Delivery,
    public_key: &RsaPublicKey,
    refund_nkp_seq_id: &str,
) -> RefundResult {
    let unknown = |reason: String| RefundResult::Unknown { reason };
    let inner = match reply::open(delivery, REFUND_QUERY, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => return unknown(reason),
        Ok(Answer::Refused { code, .. }) if code == TRADE_NOT_EXIST => {
            return RefundResult::NotFound;
        }
        Ok(Answer::Refused { code, message }) => {
            return unknown(format!("refund query refused: {code}: {message}"));
        }
        Ok(Answer::Success(inner)) => inner,
    };
    let r: RefundQueryReply = match reply::typed(&inner) {
        Ok(r) => r,
        Err(reason) => return unknown(reason),
    };
    if let Some(no) = r
        .out_request_no
        .as_deref()
        .filter(|n| *n != refund_nkp_seq_id)
    {
        return unknown(format!(
            "reply is for refund {no:?}, not {refund_nkp_seq_id:?}"
        ));
    }
    match r.refund_status.as_deref() {
        Some("REFUND_SUCCESS") => {
            let parsed = r
                .refund_amount
                .as_deref()
                .map(|a| amount("refund_amount", a))
                .transpose()
                .and_then(|amount| Ok((amount, time(r.gmt_refund_pay.as_deref())?)));
            match parsed {
                Ok((amount, refunded_at)) => RefundResult::Succeeded {
                    party_refund_id: None,
                    amount,
                    refunded_at,
                },
                Err(reason) => unknown(reason),
            }
        }
        // No status: the refund was not received or did not succeed; re-sending it is safe.
        None => RefundResult::NotFound,
        Some(other) => unknown(format!("unknown refund_status {other:?}")),
    }
}

#[derive(Deserialize)]
struct BillUrlReply {
    bill_download_url: String,
}

/// The download URL, or the final result when there is none.
pub(super) fn judge_bill_url(
    delivery: &Delivery,
    public_key: &RsaPublicKey,
) -> Result<String, BillResult> {
    match reply::open(delivery, BILL_URL, public_key) {
        Err(reason) | Ok(Answer::Busy(reason)) => Err(BillResult::Unknown { reason }),
        Ok(Answer::Refused { code, message }) if code == "isp.bill_not_exist" => {
            Err(BillResult::NoBill { message })
        }
        Ok(Answer::Refused { code, message }) => Err(BillResult::Failed { code, message }),
        Ok(Answer::Success(inner)) => reply::typed::<BillUrlReply>(&inner)
            .map(|r| r.bill_download_url)
            .map_err(|reason| BillResult::Unknown { reason }),
    }
}

// ---- notifies ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Notify {
    app_id: String,
    out_trade_no: String,
    trade_status: String,
    trade_no: Option<String>,
    total_amount: Option<String>,
    buyer_id: Option<String>,
    buyer_user_id: Option<String>,
    seller_id: Option<String>,
    gmt_payment: Option<String>,
    out_biz_no: Option<String>,
    refund_fee: Option<String>,
    gmt_refund: Option<String>,
}

/// The charset a notify declares in `charset` (issue 15, fault 3): `utf-8` (also when absent,
/// Alipay's default) or `gbk`/`gb2312` (read as GBK, which contains GB2312), any case. Anything
/// else is refused naming it: its bytes cannot be read, nor its signature checked.
fn notify_charset(declared: Option<&[u8]>) -> Result<&'static Encoding, ChannelError> {
    let Some(label) = declared else {
        return Ok(encoding_rs::UTF_8);
    };
    let label = String::from_utf8_lossy(label).to_ascii_lowercase();
    match label.as_str() {
        "utf-8" | "utf8" => Ok(encoding_rs::UTF_8),
        "gbk" | "gb2312" => Ok(encoding_rs::GBK),
        _ => Err(ChannelError::rejected(format!(
            "charset {label:?} is not one Alipay notifies use (utf-8, gbk, gb2312)"
        ))),
    }
}

/// One form component's bytes: `+` is a space, then `%XX` decoded.
fn form_bytes(component: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = component
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

/// A notify's form body, each name and value decoded in the charset the notify declares (a
/// GBK notify percent-encodes GBK bytes), and that charset. A repeated parameter is refused:
/// which copy the signature covers would be ambiguous; so is a byte sequence that is not text
/// in the declared charset.
fn notify_params(body: &[u8]) -> Result<(Params, &'static Encoding), ChannelError> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = body
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(i) => (form_bytes(&pair[..i]), form_bytes(&pair[i + 1..])),
            None => (form_bytes(pair), Vec::new()),
        })
        .collect();
    let declared = pairs
        .iter()
        .find(|(k, _)| k.as_slice() == b"charset")
        .map(|(_, v)| v.as_slice());
    let encoding = notify_charset(declared)?;
    let text = |bytes: &[u8], what: &str| -> Result<String, ChannelError> {
        encoding
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|t| t.into_owned())
            .ok_or_else(|| {
                ChannelError::rejected(format!("{what} is not {} text", encoding.name()))
            })
    };
    let mut params = Params::new();
    for (k, v) in &pairs {
        let key = text(k, "a parameter name")?;
        let value = text(v, &format!("parameter {key}"))?;
        if params.contains_key(&key) {
            return Err(ChannelError::rejected(format!(
                "parameter {key} appears twice"
            )));
        }
        params.insert(key, value);
    }
    Ok((params, encoding))
}

/// The fields that say what a notify is about, before anything is verified.
#[derive(Deserialize)]
struct NotifyClaim {
    app_id: String,
    out_trade_no: String,
}

/// Payment and refund notifies alike name the trade (`out_trade_no`) and the ISV app.
pub(super) fn notify_reference(body: &[u8]) -> Result<NotifyReference, ChannelError> {
    let (mut params, _) = notify_params(body)?;
    params.retain(|_, v| !v.is_empty());
    let claim: NotifyClaim = typed(&params).map_err(ChannelError::rejected)?;
    Ok(NotifyReference::Trade {
        nkp_seq_id: claim.out_trade_no,
        account: AddressedAccount::Alipay {
            app_id: claim.app_id,
        },
    })
}

/// A form POST signed with Alipay's key over every parameter but `sign` and `sign_type`.
pub(super) fn parse_notify(
    body: &[u8],
    account: &AlipayAccount,
    public_key: &RsaPublicKey,
) -> Result<InboundNotify, ChannelError> {
    let (mut params, charset) = notify_params(body)?;
    match params.get("sign_type").map(String::as_str) {
        Some("RSA2") => {}
        other => {
            return Err(ChannelError::rejected(format!(
                "sign_type {other:?} is not RSA2"
            )));
        }
    }
    let verified = if charset == encoding_rs::UTF_8 {
        alipay_sign::verify_notify(&params, public_key)
    } else {
        alipay_sign::verify_notify_encoded(&params, public_key, |text| {
            charset.encode(text).0.into_owned()
        })
    };
    verified.map_err(|e| ChannelError::rejected(format!("signature does not verify: {e}")))?;
    params.retain(|_, v| !v.is_empty());
    let n: Notify = typed(&params).map_err(ChannelError::rejected)?;
    if n.app_id != account.app_id {
        return Err(ChannelError::rejected(format!(
            "addressed to app_id {:?}, not this account",
            n.app_id
        )));
    }
    // A refund notify names the refund (`out_biz_no`) and the refunded total.
    if let (Some(refund_no), Some(_)) = (n.out_biz_no, n.refund_fee.as_deref()) {
        let refunded_at = time(n.gmt_refund.as_deref()).map_err(ChannelError::rejected)?;
        return Ok(InboundNotify::Refund {
            nkp_seq_id: n.out_trade_no,
            refund_nkp_seq_id: refund_no,
            // `refund_fee` is the trade's refunded total, not this refund's amount.
            result: RefundResult::Succeeded {
                party_refund_id: None,
                amount: None,
                refunded_at,
            },
        });
    }
    let result = trade_status(
        &n.trade_status,
        n.trade_no,
        n.total_amount.as_deref(),
        n.buyer_id.or(n.buyer_user_id),
        n.gmt_payment.as_deref(),
    )
    .map_err(ChannelError::rejected)?;
    Ok(InboundNotify::Payment {
        nkp_seq_id: n.out_trade_no,
        sub_merchant: n.seller_id,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotifyUrls;
    use crate::transport::HttpSettings;
    use chrono::TimeZone;
    use nkpay_core::secret::Secret;
    use nkpay_core::trade_type::TradeType;

    const APP_PRIVATE_KEY: &str = include_str!("../../testdata/alipay/app-private-key.pem");
    const APP_PUBLIC_KEY: &str = include_str!("../../testdata/alipay/app-public-key.pem");
    const REQUEST_VECTOR: &str = include_str!("../../testdata/alipay/request.json");
    const NOTIFY_VECTOR: &str = include_str!("../../testdata/alipay/notify.json");

    fn account() -> AlipayAccount {
        AlipayAccount {
            app_id: "2021000122671080".into(),
            app_private_key: Secret::new(APP_PRIVATE_KEY.into()),
            alipay_public_key: APP_PUBLIC_KEY.into(),
            isv_pid: "2088000000000001".into(),
            gateway_url: url::Url::parse("https://openapi.alipay.com/gateway.do").unwrap(),
            extra_roots_pem: None,
            notify_urls: NotifyUrls {
                payment: "https://pay.example.com/callback/alipay".into(),
                refund: "https://pay.example.com/callback/alipay".into(),
            },
            http: HttpSettings::default(),
        }
    }

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::from_pem_or_base64(APP_PRIVATE_KEY).unwrap()
    }

    /// In these tests the app key pair also plays Alipay's, to sign replies and notifies.
    fn gateway_public() -> RsaPublicKey {
        RsaPublicKey::from_pem_or_base64(APP_PUBLIC_KEY).unwrap()
    }

    fn route() -> MerchantRoute {
        MerchantRoute::Alipay {
            app_auth_token: Secret::new("202511BBsecrettoken".into()),
            seller_id: Some("2088000000000101".into()),
        }
    }

    fn form(call: &str) -> Params {
        url::form_urlencoded::parse(call.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn signed_reply(method: &str, inner: &str) -> Delivery {
        let sign = key().sign_sha256_base64(inner.as_bytes()).unwrap();
        let body = format!(
            r#"{{"{}":{inner},"sign":"{sign}"}}"#,
            reply::response_key(method)
        );
        Delivery::Reply {
            status: 200,
            body: body.into_bytes(),
        }
    }

    #[test]
    fn request_signature_matches_the_fixed_key_vector() {
        #[derive(Serialize)]
        struct Biz {
            out_trade_no: &'static str,
            total_amount: &'static str,
            subject: &'static str,
        }
        let biz = Biz {
            out_trade_no: "ORDER-1",
            total_amount: "0.01",
            subject: "test",
        };
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 4, 0, 0).unwrap();
        let signed = call(
            &account(),
            &key(),
            PRECREATE,
            None,
            Some("http://127.0.0.1:8080/notify"),
            &biz,
            at,
        )
        .unwrap();
        let vector: serde_json::Value = serde_json::from_str(REQUEST_VECTOR).unwrap();
        let sent = form(&signed.form);
        assert_eq!(
            alipay_sign::request_string_to_sign(&sent),
            vector["string_to_sign"].as_str().unwrap()
        );
        assert_eq!(sent["sign"], vector["sign"].as_str().unwrap());
    }

    fn order() -> CreateOrder {
        CreateOrder {
            nkp_seq_id: "NKP0002".into(),
            trade_type: TradeType::ANative,
            amount: Money::from_fen(1234).unwrap(),
            description: "咖啡 & 蛋糕".into(),
            time_expire: Utc.with_ymd_and_hms(2024, 3, 1, 4, 0, 0).unwrap(),
            placed_at: Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap(),
            client_ip: None,
            payer: None,
            attach: None,
            merchant: route(),
        }
    }

    #[test]
    fn precreate_carries_the_grant_the_isv_pid_and_yuan_and_masks_the_token() {
        let now = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        let signed = precreate(&account(), &key(), &order(), now).unwrap();
        let sent = form(&signed.form);
        assert_eq!(sent["method"], "alipay.trade.precreate");
        assert_eq!(sent["app_auth_token"], "202511BBsecrettoken");
        assert_eq!(sent["timestamp"], "2024-03-01 10:00:00");
        assert_eq!(
            sent["notify_url"],
            "https://pay.example.com/callback/alipay"
        );
        let biz: serde_json::Value = serde_json::from_str(&sent["biz_content"]).unwrap();
        assert_eq!(biz["total_amount"], "12.34");
        assert_eq!(biz["subject"], "咖啡 & 蛋糕");
        assert_eq!(biz["time_expire"], "2024-03-01 12:00:00");
        assert_eq!(biz["seller_id"], "2088000000000101");
        assert_eq!(
            biz["extend_params"]["sys_service_provider_id"],
            "2088000000000001"
        );
        assert!(alipay_sign::verify_request(&sent, &gateway_public()).is_ok());
        assert!(!signed.masked_form.contains("secrettoken"));
        assert_eq!(form(&signed.masked_form)["app_auth_token"], "***");
    }

    #[test]
    fn wechat_route_is_refused_by_the_alipay_transformer() {
        let mut o = order();
        o.merchant = MerchantRoute::Wechat {
            sub_mch_id: "1".into(),
        };
        let now = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        assert!(matches!(
            precreate(&account(), &key(), &o, now),
            Err(ChannelError::WrongChannel { .. })
        ));
    }

    #[test]
    fn precreate_reply_gives_the_qr_code() {
        let d = signed_reply(
            PRECREATE,
            r#"{"code":"10000","msg":"Success","out_trade_no":"NKP0002","qr_code":"https://qr.alipay.com/bax03431ljhokirwl38f00a7"}"#,
        );
        assert_eq!(
            judge_create(&d, &gateway_public()),
            CreateResult::Created(PayPrompt::QrCode(
                "https://qr.alipay.com/bax03431ljhokirwl38f00a7".into()
            ))
        );
    }

    #[test]
    fn gateway_refusals_fail_the_create_with_their_sub_code() {
        let unsigned = |inner: &str| Delivery::Reply {
            status: 200,
            body: format!(r#"{{"alipay_trade_precreate_response":{inner}}}"#).into_bytes(),
        };
        let token = unsigned(
            r#"{"code":"20001","msg":"Insufficient Token Permissions","sub_code":"aop.invalid-app-auth-token","sub_msg":"无效的应用授权令牌"}"#,
        );
        assert!(matches!(
            judge_create(&token, &gateway_public()),
            CreateResult::Failed { code, .. } if code == "aop.invalid-app-auth-token"
        ));
        let sig = unsigned(
            r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}"#,
        );
        assert!(matches!(
            judge_create(&sig, &gateway_public()),
            CreateResult::Failed { code, .. } if code == "isv.invalid-signature"
        ));
        let busy = signed_reply(
            PRECREATE,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}"#,
        );
        assert!(matches!(
            judge_create(&busy, &gateway_public()),
            CreateResult::Unknown { .. }
        ));
    }

    #[test]
    fn paid_query_reply_reads_amount_buyer_and_time() {
        let d = signed_reply(
            QUERY,
            r#"{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"12.34","buyer_user_id":"2088101117955611","out_trade_no":"NKP0002","receipt_amount":"12.34","send_pay_date":"2024-03-01 10:00:05","total_amount":"12.34","trade_no":"2024030122001455611234567890","trade_status":"TRADE_SUCCESS"}"#,
        );
        assert_eq!(
            judge_query(&d, &gateway_public(), "NKP0002"),
            PayResult::Paid {
                party_order_id: "2024030122001455611234567890".into(),
                amount: Money::from_fen(1234).unwrap(),
                buyer_id: Some("2088101117955611".into()),
                paid_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 5).unwrap()),
            }
        );
    }

    #[test]
    fn unscanned_trade_queries_as_not_paid_and_system_error_as_unknown() {
        let missing = signed_reply(
            QUERY,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#,
        );
        assert_eq!(
            judge_query(&missing, &gateway_public(), "NKP0002"),
            PayResult::NotPaid
        );
        let busy = signed_reply(
            QUERY,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}"#,
        );
        assert!(matches!(
            judge_query(&busy, &gateway_public(), "NKP0002"),
            PayResult::Unknown { .. }
        ));
        let closed = signed_reply(
            QUERY,
            r#"{"code":"10000","msg":"Success","out_trade_no":"NKP0002","trade_status":"TRADE_CLOSED"}"#,
        );
        assert_eq!(
            judge_query(&closed, &gateway_public(), "NKP0002"),
            PayResult::Closed
        );
    }

    #[test]
    fn close_before_a_scan_is_not_opened() {
        let d = signed_reply(
            CLOSE,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#,
        );
        assert_eq!(judge_close(&d, &gateway_public()), CloseResult::NotOpened);
        let ok = signed_reply(
            CLOSE,
            r#"{"code":"10000","msg":"Success","out_trade_no":"NKP0002"}"#,
        );
        assert_eq!(judge_close(&ok, &gateway_public()), CloseResult::Closed);
    }

    #[test]
    fn refund_succeeds_only_when_money_moved() {
        let moved = signed_reply(
            REFUND,
            r#"{"code":"10000","msg":"Success","fund_change":"Y","gmt_refund_pay":"2024-03-01 11:30:00","out_trade_no":"NKP0002","refund_fee":"2.00","trade_no":"2024030122001455611234567890"}"#,
        );
        let v = judge_refund(&moved, &gateway_public());
        assert!(!v.resend);
        assert_eq!(
            v.value,
            RefundResult::Succeeded {
                party_refund_id: None,
                amount: None,
                refunded_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 3, 30, 0).unwrap()),
            }
        );
        let repeat = signed_reply(
            REFUND,
            r#"{"code":"10000","msg":"Success","fund_change":"N","out_trade_no":"NKP0002","refund_fee":"2.00"}"#,
        );
        assert_eq!(
            judge_refund(&repeat, &gateway_public()).value,
            RefundResult::Processing {
                party_refund_id: None
            }
        );
    }

    #[test]
    fn refund_system_error_may_be_resent_and_over_refund_fails() {
        let busy = signed_reply(
            REFUND,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}"#,
        );
        assert!(judge_refund(&busy, &gateway_public()).resend);
        let over = signed_reply(
            REFUND,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.REASON_TRADE_REFUND_FEE_ERR","sub_msg":"退款金额无效"}"#,
        );
        let v = judge_refund(&over, &gateway_public());
        assert!(!v.resend);
        assert!(
            matches!(v.value, RefundResult::Failed { code, .. } if code == "ACQ.REASON_TRADE_REFUND_FEE_ERR")
        );
    }

    #[test]
    fn refund_query_reads_success_or_absence() {
        let done = signed_reply(
            REFUND_QUERY,
            r#"{"code":"10000","msg":"Success","out_request_no":"NKPR0002","out_trade_no":"NKP0002","refund_amount":"2.00","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2024-03-01 11:30:00","total_amount":"12.34"}"#,
        );
        assert_eq!(
            judge_refund_query(&done, &gateway_public(), "NKPR0002"),
            RefundResult::Succeeded {
                party_refund_id: None,
                amount: Some(Money::from_fen(200).unwrap()),
                refunded_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 3, 30, 0).unwrap()),
            }
        );
        let absent = signed_reply(
            REFUND_QUERY,
            r#"{"code":"10000","msg":"Success","out_request_no":"NKPR0002","out_trade_no":"NKP0002"}"#,
        );
        assert_eq!(
            judge_refund_query(&absent, &gateway_public(), "NKPR0002"),
            RefundResult::NotFound
        );
    }

    #[test]
    fn bill_url_reply_gives_the_url_or_no_bill() {
        let ok = signed_reply(
            BILL_URL,
            r#"{"code":"10000","msg":"Success","bill_download_url":"http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip"}"#,
        );
        assert!(
            judge_bill_url(&ok, &gateway_public())
                .unwrap()
                .contains("downloadBillFile")
        );
        let none = signed_reply(
            BILL_URL,
            r#"{"code":"40004","msg":"Business Failed","sub_code":"isp.bill_not_exist","sub_msg":"账单不存在"}"#,
        );
        assert!(matches!(
            judge_bill_url(&none, &gateway_public()),
            Err(BillResult::NoBill { .. })
        ));
    }

    fn vector_notify() -> (AlipayAccount, RsaPublicKey, Params) {
        let v: serde_json::Value = serde_json::from_str(NOTIFY_VECTOR).unwrap();
        let mut params: Params = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        params.insert("sign".into(), v["sign"].as_str().unwrap().into());
        let public =
            RsaPublicKey::from_pem_or_base64(v["alipay_public_key"].as_str().unwrap()).unwrap();
        let mut acct = account();
        acct.app_id = "2019073166072302".into();
        (acct, public, params)
    }

    #[test]
    fn notify_signed_by_alipay_parses_with_its_amount() {
        let (acct, public, params) = vector_notify();
        let body = encode_form(&params);
        assert_eq!(
            parse_notify(body.as_bytes(), &acct, &public).unwrap(),
            InboundNotify::Payment {
                nkp_seq_id: "20190815155618536-564-57".into(),
                sub_merchant: Some("2088531891668739".into()),
                result: PayResult::Paid {
                    party_order_id: "2019081522001468450512505578".into(),
                    amount: Money::from_fen(10).unwrap(),
                    buyer_id: Some("2088102534368455".into()),
                    paid_at: Some(Utc.with_ymd_and_hms(2019, 8, 15, 7, 56, 24).unwrap()),
                },
            }
        );
    }

    #[test]
    fn notify_with_a_changed_amount_is_rejected_as_forged() {
        let (acct, public, mut params) = vector_notify();
        params.insert("total_amount".into(), "100.00".into());
        let err = parse_notify(encode_form(&params).as_bytes(), &acct, &public).unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn notify_for_another_app_is_rejected() {
        let (mut acct, public, params) = vector_notify();
        acct.app_id = "2021000000000001".into();
        let err = parse_notify(encode_form(&params).as_bytes(), &acct, &public).unwrap_err();
        assert!(err.to_string().contains("not this account"), "{err}");
    }

    #[test]
    fn notify_reference_names_the_trade_and_the_app_unverified() {
        let (_, _, mut params) = vector_notify();
        params.insert("sign".into(), "not a signature".into());
        assert_eq!(
            notify_reference(encode_form(&params).as_bytes()).unwrap(),
            NotifyReference::Trade {
                nkp_seq_id: "20190815155618536-564-57".into(),
                account: AddressedAccount::Alipay {
                    app_id: "2019073166072302".into(),
                },
            }
        );
        params.remove("app_id");
        assert!(notify_reference(encode_form(&params).as_bytes()).is_err());
        assert!(notify_reference(b"out_trade_no=1&app_id=2&app_id=3").is_err());
    }

    #[test]
    fn notify_with_a_repeated_parameter_is_rejected() {
        let (acct, public, params) = vector_notify();
        let body = format!("{}&total_amount=0.10", encode_form(&params));
        assert!(parse_notify(body.as_bytes(), &acct, &public).is_err());
    }

    #[test]
    fn refund_notify_names_the_refund() {
        let mut p = Params::new();
        for (k, v) in [
            ("notify_type", "trade_status_sync"),
            ("notify_id", "n1"),
            ("notify_time", "2024-03-01 11:30:01"),
            ("app_id", "2021000122671080"),
            ("auth_app_id", "2021000000000101"),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("trade_no", "2024030122001455611234567890"),
            ("out_trade_no", "NKP0002"),
            ("out_biz_no", "NKPR0002"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "12.34"),
            ("refund_fee", "2.00"),
            ("gmt_refund", "2024-03-01 11:30:00.123"),
            ("sign_type", "RSA2"),
        ] {
            p.insert(k.into(), v.into());
        }
        let sign = key()
            .sign_sha256_base64(alipay_sign::notify_string_to_sign(&p).as_bytes())
            .unwrap();
        p.insert("sign".into(), sign);
        let n = parse_notify(encode_form(&p).as_bytes(), &account(), &gateway_public());
        assert!(
            matches!(&n, Ok(InboundNotify::Refund { nkp_seq_id, refund_nkp_seq_id, result: RefundResult::Succeeded { .. } })
                if nkp_seq_id == "NKP0002" && refund_nkp_seq_id == "NKPR0002"),
            "{n:?}"
        );
    }

    /// What a form leaves unencoded (as `application/x-www-form-urlencoded` does).
    const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*');

    /// A payment notify as Alipay posts it in `charset`: values percent-encoded in that
    /// charset's bytes, RSA2 over the string to sign in that charset's bytes (the SDK's
    /// `content.getBytes(charset)`).
    fn notify_in(charset: &'static Encoding, label: &str) -> Vec<u8> {
        let mut p = Params::new();
        for (k, v) in [
            ("notify_type", "trade_status_sync"),
            ("notify_id", "gbk0001"),
            ("notify_time", "2024-03-01 11:30:01"),
            ("app_id", "2021000122671080"),
            ("charset", label),
            ("version", "1.0"),
            ("subject", "拿铁咖啡 大杯"),
            ("body", "桌号 7，少冰"),
            ("trade_no", "2024030122001455611234567891"),
            ("out_trade_no", "NKP0003"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "12.34"),
            ("gmt_payment", "2024-03-01 11:30:00"),
        ] {
            p.insert(k.into(), v.into());
        }
        let signed = charset
            .encode(&alipay_sign::notify_string_to_sign(&p))
            .0
            .into_owned();
        p.insert("sign".into(), key().sign_sha256_base64(&signed).unwrap());
        p.insert("sign_type".into(), "RSA2".into());
        let mut out = Vec::new();
        for (k, v) in &p {
            if !out.is_empty() {
                out.push(b'&');
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            let bytes = charset.encode(v).0;
            out.extend(
                percent_encoding::percent_encode(&bytes, FORM)
                    .to_string()
                    .into_bytes(),
            );
        }
        out
    }

    #[test]
    fn gbk_notify_is_read_and_verified_in_gbk() {
        for label in ["GBK", "gbk", "gb2312"] {
            let body = notify_in(encoding_rs::GBK, label);
            let n = parse_notify(&body, &account(), &gateway_public());
            assert!(
                matches!(&n, Ok(InboundNotify::Payment { nkp_seq_id, result: PayResult::Paid { amount, .. }, .. })
                    if nkp_seq_id == "NKP0003" && amount.fen() == 1234),
                "{label}: {n:?}"
            );
            let (params, _) = notify_params(&body).unwrap();
            assert_eq!(params["subject"], "拿铁咖啡 大杯");
        }
        // The same bytes declared UTF-8 are not UTF-8 text.
        let body = String::from_utf8_lossy(&notify_in(encoding_rs::GBK, "GBK"))
            .replace("charset=GBK", "charset=utf-8");
        assert!(parse_notify(body.as_bytes(), &account(), &gateway_public()).is_err());
    }

    #[test]
    fn utf8_notify_still_verifies_and_an_unknown_charset_is_refused() {
        let body = notify_in(encoding_rs::UTF_8, "utf-8");
        assert!(parse_notify(&body, &account(), &gateway_public()).is_ok());
        let body = notify_in(encoding_rs::UTF_8, "UTF-8");
        assert!(parse_notify(&body, &account(), &gateway_public()).is_ok());
        let body = notify_in(encoding_rs::BIG5, "big5");
        let err = parse_notify(&body, &account(), &gateway_public()).unwrap_err();
        assert!(err.to_string().contains("charset \"big5\""), "{err}");
        assert!(notify_reference(&body).is_err());
        // Signed over the UTF-8 bytes but declaring GBK: the signature does not hold.
        let body = String::from_utf8_lossy(&notify_in(encoding_rs::UTF_8, "utf-8"))
            .replace("charset=utf-8", "charset=GBK");
        assert!(parse_notify(body.as_bytes(), &account(), &gateway_public()).is_err());
    }

    /// Fuzz targets `alipay_notify`, `alipay_reply`, `alipay_bill` (docs/fuzzing.md): what
    /// Alipay sends us, from the committed corpus mutated, and random bytes. Properties: no
    /// panic; a notify or reply whose signature we did not make is never believed; a bill's
    /// details read the same from a GBK zip as from their text.
    mod fuzz {
        use super::*;
        use crate::fuzzing;
        use proptest::prelude::*;
        use std::io::Write;

        fn seeds(target: &str) -> Vec<Vec<u8>> {
            fuzzing::seeds(&fuzzing::corpus_dir(env!("CARGO_MANIFEST_DIR"), target))
        }

        fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
            let mut out = std::io::Cursor::new(Vec::new());
            let mut w = zip::ZipWriter::new(&mut out);
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(bytes).unwrap();
            w.finish().unwrap();
            out.into_inner()
        }

        proptest! {
            #![proptest_config(fuzzing::config())]

            #[test]
            fn fuzz_alipay_notify(body in fuzzing::inputs(seeds("alipay_notify"))) {
                let _ = notify_reference(&body);
                prop_assert!(parse_notify(&body, &account(), &gateway_public()).is_err());
            }

            #[test]
            fn fuzz_alipay_reply(body in fuzzing::inputs(seeds("alipay_reply"))) {
                let d = Delivery::Reply { status: 200, body };
                let key = gateway_public();
                let created = matches!(judge_create(&d, &key), CreateResult::Created(_));
                prop_assert!(!created, "an unsigned reply created");
                let paid = matches!(judge_query(&d, &key, "NKP0003"), PayResult::Paid { .. });
                prop_assert!(!paid, "an unsigned reply paid");
                let _ = judge_close(&d, &key);
                let refunded = matches!(judge_refund(&d, &key).value, RefundResult::Succeeded { .. });
                prop_assert!(!refunded, "an unsigned reply refunded");
                let _ = judge_refund_query(&d, &key, "NKPR0002");
                prop_assert!(judge_bill_url(&d, &key).is_err());
                let _ = judge_probe(&d, &key);
            }

            #[test]
            fn fuzz_alipay_bill(text in fuzzing::text_inputs(seeds("alipay_bill")), raw in fuzzing::inputs(seeds("alipay_bill"))) {
                let direct = crate::alipay::bill::parse_details(&text);
                let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
                if !unmappable {
                    let zipped = crate::alipay::bill::parse_zip(&zip_of("2088_20240301_业务明细.csv", &gbk));
                    if let (Ok(rows), Ok(bill)) = (&direct, &zipped) {
                        prop_assert_eq!(rows, &bill.rows);
                    }
                }
                let _ = crate::alipay::bill::parse_zip(&raw);
                let _ = crate::alipay::bill::parse_zip(&zip_of("2088_20240301_业务明细.csv", &raw));
            }
        }
    }
}
