//! WeChat Pay v2 wire conversion: our requests → signed fields, verified replies and notifies →
//! our results. Every WeChat field name lives here (and in `bill.rs` for the bill file).

use chrono::{DateTime, Utc};
use nkpay_core::money::Money;
use nkpay_crypto::wechat_refund_cipher::decrypt_req_info;
use nkpay_crypto::wechat_sign::{self, WechatSignType};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;

use super::WechatAccount;
use super::xml;
use crate::bill::BillRequest;
use crate::error::ChannelError;
use crate::flat_fields::typed;
use crate::notify::InboundNotify;
use crate::notify_reference::{AddressedAccount, NotifyReference};
use crate::outcome::{CloseResult, CreateResult, PayPrompt, PayResult, RefundResult};
use crate::request::{CreateOrder, MerchantRoute, RefundOrder, RefundRef, TradeRef, WechatPayer};
use crate::shanghai_time::{self, COMPACT, DASHED};
use crate::transport::{Delivery, Verdict};

pub(super) use super::xml::Fields;

pub(super) const UNIFIEDORDER: &str = "pay/unifiedorder";
pub(super) const ORDERQUERY: &str = "pay/orderquery";
pub(super) const CLOSEORDER: &str = "pay/closeorder";
pub(super) const REFUND: &str = "secapi/pay/refund";
pub(super) const REFUNDQUERY: &str = "pay/refundquery";
pub(super) const DOWNLOADBILL: &str = "pay/downloadbill";

const SUCCESS: &str = "SUCCESS";
const SYSTEMERROR: &str = "SYSTEMERROR";

// ---- requests ------------------------------------------------------------------------------

pub(super) fn nonce() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn sub_mch_id(route: &MerchantRoute) -> Result<&str, ChannelError> {
    let id = route.wechat()?;
    check_len("merchant.sub_mch_id", id, 1, 32)?;
    Ok(id)
}

pub(super) fn check_len(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ChannelError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ChannelError::invalid(
            field,
            format!("must be {min} to {max} characters for WeChat Pay, is {n}"),
        ));
    }
    Ok(())
}

/// WeChat takes a `notify_url` of at most 256 characters and calls it without a query string.
pub(super) fn check_notify_url(url: &str) -> Result<(), String> {
    let n = url.chars().count();
    if n == 0 || n > 256 {
        return Err(format!(
            "must be 1 to 256 characters for WeChat Pay, is {n}"
        ));
    }
    if url.contains('?') {
        return Err("WeChat Pay calls notify URLs without a query string".to_owned());
    }
    Ok(())
}

/// Fields every call carries (the service provider, the sub-merchant, a fresh nonce).
fn base(account: &WechatAccount, sub_mch_id: Option<&str>) -> Fields {
    let mut f = Fields::new();
    f.insert("appid".into(), account.appid.clone());
    f.insert("mch_id".into(), account.mch_id.clone());
    if let Some(id) = sub_mch_id {
        f.insert("sub_mch_id".into(), id.to_owned());
    }
    f.insert("nonce_str".into(), nonce());
    f.insert("sign_type".into(), account.sign_type.as_str().to_owned());
    f
}

/// The order's fields, and the payer that decides the `pay_info` appId.
pub(super) fn unifiedorder<'a>(
    account: &WechatAccount,
    order: &'a CreateOrder,
    now: DateTime<Utc>,
) -> Result<(Fields, &'a WechatPayer), ChannelError> {
    let sub = sub_mch_id(&order.merchant)?;
    check_len("nkp_seq_id", &order.nkp_seq_id, 1, 32)?;
    check_len("description", &order.description, 1, 127)?;
    if order.amount.is_zero() {
        return Err(ChannelError::invalid("amount", "must be at least 0.01"));
    }
    if order.time_expire <= now {
        return Err(ChannelError::invalid(
            "time_expire",
            "must be in the future",
        ));
    }
    let mut f = base(account, Some(sub));
    let payer = order.payer.as_ref().ok_or_else(|| {
        ChannelError::invalid(
            "payer",
            "a WeChat JSAPI trade needs openid, or sub_appid with sub_openid",
        )
    })?;
    match payer {
        WechatPayer::Platform { openid } => {
            check_len("payer.openid", openid, 1, 128)?;
            f.insert("openid".into(), openid.clone());
        }
        WechatPayer::Sub {
            sub_appid,
            sub_openid,
        } => {
            check_len("payer.sub_appid", sub_appid, 1, 32)?;
            check_len("payer.sub_openid", sub_openid, 1, 128)?;
            f.insert("sub_appid".into(), sub_appid.clone());
            f.insert("sub_openid".into(), sub_openid.clone());
        }
    }
    if let Some(attach) = order.attach.as_deref().filter(|a| !a.is_empty()) {
        check_len("attach", attach, 1, 127)?;
        f.insert("attach".into(), attach.to_owned());
    }
    let ip = order.client_ip.as_deref().unwrap_or(&account.server_ip);
    f.insert("body".into(), order.description.clone());
    f.insert("out_trade_no".into(), order.nkp_seq_id.clone());
    f.insert("total_fee".into(), order.amount.fen().to_string());
    f.insert("spbill_create_ip".into(), ip.to_owned());
    f.insert(
        "time_start".into(),
        shanghai_time::format(order.placed_at, COMPACT),
    );
    f.insert(
        "time_expire".into(),
        shanghai_time::format(order.time_expire, COMPACT),
    );
    f.insert("notify_url".into(), account.notify_urls.payment.clone());
    // Official accounts and mini-programs both pay through JSAPI.
    f.insert("trade_type".into(), "JSAPI".into());
    Ok((f, payer))
}

pub(super) fn orderquery(
    account: &WechatAccount,
    trade: &TradeRef,
) -> Result<Fields, ChannelError> {
    let mut f = base(account, Some(sub_mch_id(&trade.merchant)?));
    f.insert("out_trade_no".into(), trade.nkp_seq_id.clone());
    Ok(f)
}

pub(super) fn closeorder(
    account: &WechatAccount,
    trade: &TradeRef,
) -> Result<Fields, ChannelError> {
    orderquery(account, trade)
}

pub(super) fn refund(
    account: &WechatAccount,
    refund: &RefundOrder,
) -> Result<Fields, ChannelError> {
    let mut f = base(account, Some(sub_mch_id(&refund.trade.merchant)?));
    check_len("refund_nkp_seq_id", &refund.refund_nkp_seq_id, 1, 64)?;
    if refund.amount.is_zero() || refund.amount > refund.trade_amount {
        return Err(ChannelError::invalid(
            "amount",
            "must be between 0.01 and the trade's paid amount",
        ));
    }
    f.insert("notify_url".into(), account.notify_urls.refund.clone());
    if let Some(reason) = refund.reason.as_deref().filter(|r| !r.is_empty()) {
        check_len("reason", reason, 1, 80)?;
        f.insert("refund_desc".into(), reason.to_owned());
    }
    f.insert("out_trade_no".into(), refund.trade.nkp_seq_id.clone());
    f.insert("out_refund_no".into(), refund.refund_nkp_seq_id.clone());
    f.insert("total_fee".into(), refund.trade_amount.fen().to_string());
    f.insert("refund_fee".into(), refund.amount.fen().to_string());
    Ok(f)
}

pub(super) fn refundquery(
    account: &WechatAccount,
    refund: &RefundRef,
) -> Result<Fields, ChannelError> {
    let mut f = base(account, Some(sub_mch_id(&refund.trade.merchant)?));
    f.insert("out_refund_no".into(), refund.refund_nkp_seq_id.clone());
    Ok(f)
}

pub(super) fn downloadbill(
    account: &WechatAccount,
    request: &BillRequest,
) -> Result<Fields, ChannelError> {
    let sub = request.merchant.as_ref().map(sub_mch_id).transpose()?;
    let mut f = base(account, sub);
    f.insert(
        "bill_date".into(),
        request.date.format("%Y%m%d").to_string(),
    );
    f.insert("bill_type".into(), "ALL".into());
    Ok(f)
}

/// Signs the fields with the account's key and sign type and writes the XML body.
pub(super) fn seal(account: &WechatAccount, fields: Fields) -> Result<String, ChannelError> {
    seal_with(account, fields, account.sign_type)
}

/// Signs the fields with the account's key and `sign_type` (calls that take no `sign_type`
/// field are MD5) and writes the XML body.
pub(super) fn seal_with(
    account: &WechatAccount,
    mut fields: Fields,
    sign_type: WechatSignType,
) -> Result<String, ChannelError> {
    let sign = wechat_sign::sign(&fields, account.api_key.expose(), sign_type);
    fields.insert("sign".into(), sign);
    xml::encode(&fields).map_err(|e| ChannelError::invalid("request", e))
}

/// The JSON the payer's WeChat client takes, signed with the service provider's key.
pub(super) fn pay_info(
    account: &WechatAccount,
    payer: &WechatPayer,
    prepay_id: &str,
    now: DateTime<Utc>,
    nonce_str: String,
) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PayInfo {
        app_id: String,
        time_stamp: String,
        nonce_str: String,
        package: String,
        sign_type: &'static str,
        pay_sign: String,
    }
    let app_id = match payer {
        WechatPayer::Sub { sub_appid, .. } => sub_appid.clone(),
        WechatPayer::Platform { .. } => account.appid.clone(),
    };
    let time_stamp = now.timestamp().to_string();
    let package = format!("prepay_id={prepay_id}");
    let sign_type = account.sign_type.as_str();
    let signed: Fields = [
        ("appId", &app_id),
        ("timeStamp", &time_stamp),
        ("nonceStr", &nonce_str),
        ("package", &package),
        ("signType", &sign_type.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.clone()))
    .collect();
    let pay_sign = wechat_sign::sign(&signed, account.api_key.expose(), account.sign_type);
    let info = PayInfo {
        app_id,
        time_stamp,
        nonce_str,
        package,
        sign_type,
        pay_sign,
    };
    // A struct of strings always serializes.
    serde_json::to_string(&info).unwrap_or_default()
}

// ---- replies -------------------------------------------------------------------------------

/// A reply we could read and trust.
pub(super) enum Opened {
    /// `return_code` SUCCESS and the signature verified; empty fields dropped.
    Answered(Fields),
    /// `return_code` FAIL: WeChat did not process the request (bad signature, bad parameters).
    Refused { message: String },
}

/// `Err` is the reason the reply cannot be used: no reply, not XML, unsigned or forged.
fn open(delivery: &Delivery, account: &WechatAccount) -> Result<Opened, String> {
    open_signed(delivery, account, account.sign_type)
}

/// [`open`] for a reply signed with `sign_type` rather than the account's.
pub(super) fn open_signed(
    delivery: &Delivery,
    account: &WechatAccount,
    sign_type: WechatSignType,
) -> Result<Opened, String> {
    let body = match delivery {
        Delivery::NoReply { reason } => return Err(format!("no reply: {reason}")),
        Delivery::Reply { status, .. } if *status != 200 => {
            return Err(format!("HTTP {status} from WeChat Pay"));
        }
        Delivery::Reply { body, .. } => body,
    };
    let fields = xml::decode(body)?;
    match fields.get("return_code").map(String::as_str) {
        Some(SUCCESS) => {}
        Some(_) => {
            return Ok(Opened::Refused {
                message: fields.get("return_msg").cloned().unwrap_or_default(),
            });
        }
        None => return Err("reply has no return_code".into()),
    }
    wechat_sign::verify(&fields, account.api_key.expose(), sign_type)
        .map_err(|e| format!("reply signature does not verify: {e}"))?;
    Ok(Opened::Answered(without_empty(fields)))
}

fn without_empty(mut fields: Fields) -> Fields {
    fields.retain(|_, v| !v.is_empty());
    fields
}

#[derive(Deserialize)]
struct BusinessPart {
    result_code: String,
    err_code: Option<String>,
    err_code_des: Option<String>,
}

pub(super) enum Business {
    Success(Fields),
    Fail { code: String, message: String },
}

pub(super) fn business(fields: Fields) -> Result<Business, String> {
    let part: BusinessPart = typed(&fields)?;
    if part.result_code == SUCCESS {
        return Ok(Business::Success(fields));
    }
    Ok(Business::Fail {
        code: part.err_code.unwrap_or_else(|| part.result_code.clone()),
        message: part.err_code_des.unwrap_or_default(),
    })
}

/// Opens the reply down to its business result; `Err` is an `Unknown` reason.
fn read(delivery: &Delivery, account: &WechatAccount) -> Result<Result<Business, String>, String> {
    match open(delivery, account)? {
        Opened::Refused { message } => Ok(Err(message)),
        Opened::Answered(fields) => business(fields).map(Ok),
    }
}

fn fen(field: &str, text: &str) -> Result<Money, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{field} {text:?} is not a whole number of fen"));
    }
    text.parse::<i64>()
        .ok()
        .and_then(|n| Money::from_fen(n).ok())
        .ok_or_else(|| format!("{field} {text:?} is out of range"))
}

#[derive(Deserialize)]
struct UnifiedOrderReply {
    prepay_id: String,
}

/// `SYSTEMERROR` may be re-sent with the very same parameters; nothing else is.
pub(super) fn judge_create(
    delivery: &Delivery,
    account: &WechatAccount,
    payer: &WechatPayer,
    now: DateTime<Utc>,
) -> Verdict<CreateResult> {
    let unknown = |reason: String| CreateResult::Unknown { reason };
    match read(delivery, account) {
        Err(reason) => Verdict::done(unknown(reason)),
        Ok(Err(message)) => Verdict::done(CreateResult::Failed {
            code: "FAIL".into(),
            message,
        }),
        Ok(Ok(Business::Fail { code, message })) if code == SYSTEMERROR => {
            Verdict::resendable(unknown(format!("{code}: {message}")))
        }
        Ok(Ok(Business::Fail { code, message })) => {
            Verdict::done(CreateResult::Failed { code, message })
        }
        Ok(Ok(Business::Success(fields))) => match typed::<UnifiedOrderReply>(&fields) {
            Ok(reply) => Verdict::done(CreateResult::Created(PayPrompt::PayInfo(pay_info(
                account,
                payer,
                &reply.prepay_id,
                now,
                nonce(),
            )))),
            Err(reason) => Verdict::done(unknown(reason)),
        },
    }
}

#[derive(Deserialize)]
struct OrderQueryReply {
    out_trade_no: String,
    trade_state: String,
    trade_state_desc: Option<String>,
    transaction_id: Option<String>,
    total_fee: Option<String>,
    openid: Option<String>,
    sub_openid: Option<String>,
    time_end: Option<String>,
}

/// What a paid WeChat message says, from either a query reply or a notify.
fn paid(
    transaction_id: Option<String>,
    total_fee: Option<&str>,
    openid: Option<String>,
    sub_openid: Option<String>,
    time_end: Option<&str>,
) -> Result<PayResult, String> {
    let party_order_id = transaction_id.ok_or("paid without transaction_id")?;
    let amount = fen("total_fee", total_fee.ok_or("paid without total_fee")?)?;
    let paid_at = time_end
        .map(|t| shanghai_time::parse(t, COMPACT))
        .transpose()?;
    Ok(PayResult::Paid {
        party_order_id,
        amount,
        // The sub-appid's openid identifies the payer to the merchant when there is one.
        buyer_id: sub_openid.or(openid),
        paid_at,
    })
}

pub(super) fn judge_query(
    delivery: &Delivery,
    account: &WechatAccount,
    nkp_seq_id: &str,
) -> PayResult {
    let unknown = |reason: String| PayResult::Unknown { reason };
    let fields = match read(delivery, account) {
        Err(reason) => return unknown(reason),
        Ok(Err(message)) => return unknown(format!("query refused: {message}")),
        Ok(Ok(Business::Fail { code, .. })) if code == "ORDERNOTEXIST" => {
            return PayResult::NotFound;
        }
        Ok(Ok(Business::Fail { code, message })) => {
            return unknown(format!("query failed: {code}: {message}"));
        }
        Ok(Ok(Business::Success(fields))) => fields,
    };
    let reply: OrderQueryReply = match typed(&fields) {
        Ok(r) => r,
        Err(reason) => return unknown(reason),
    };
    if reply.out_trade_no != nkp_seq_id {
        return unknown(format!(
            "reply is for order {:?}, not {nkp_seq_id:?}",
            reply.out_trade_no
        ));
    }
    match reply.trade_state.as_str() {
        // REFUND: paid, then (partly) refunded; the payment stands.
        "SUCCESS" | "REFUND" => paid(
            reply.transaction_id,
            reply.total_fee.as_deref(),
            reply.openid,
            reply.sub_openid,
            reply.time_end.as_deref(),
        )
        .unwrap_or_else(unknown),
        "NOTPAY" | "USERPAYING" => PayResult::NotPaid,
        "CLOSED" | "REVOKED" => PayResult::Closed,
        "PAYERROR" => PayResult::Failed {
            code: "PAYERROR".into(),
            message: reply.trade_state_desc.unwrap_or_default(),
        },
        other => unknown(format!("unknown trade_state {other:?}")),
    }
}

pub(super) fn judge_close(delivery: &Delivery, account: &WechatAccount) -> CloseResult {
    match read(delivery, account) {
        Err(reason) => CloseResult::Unknown { reason },
        Ok(Err(message)) => CloseResult::Failed {
            code: "FAIL".into(),
            message,
        },
        Ok(Ok(Business::Success(_))) => CloseResult::Closed,
        Ok(Ok(Business::Fail { code, message })) => match code.as_str() {
            "ORDERPAID" => CloseResult::AlreadyPaid,
            "ORDERCLOSED" => CloseResult::Closed,
            // WeChat's wording for a close within 5 minutes of the order: "订单生成后不能马上调用
            // 关单接口，最短调用时间间隔为5分钟", sent as a SYSTEMERROR.
            SYSTEMERROR if message.contains("不能马上") => CloseResult::TooEarly,
            SYSTEMERROR => CloseResult::Unknown {
                reason: format!("{code}: {message}"),
            },
            _ => CloseResult::Failed { code, message },
        },
    }
}

#[derive(Deserialize)]
struct RefundReply {
    refund_id: Option<String>,
}

/// A refund may be re-sent under the same `out_refund_no` whenever its fate is unknown.
pub(super) fn judge_refund(delivery: &Delivery, account: &WechatAccount) -> Verdict<RefundResult> {
    let unknown = |reason: String| RefundResult::Unknown { reason };
    match read(delivery, account) {
        Err(reason) => Verdict::resendable(unknown(reason)),
        Ok(Err(message)) => Verdict::done(RefundResult::Failed {
            code: "FAIL".into(),
            message,
        }),
        Ok(Ok(Business::Fail { code, message }))
            if code == SYSTEMERROR || code == "BIZERR_NEED_RETRY" =>
        {
            Verdict::resendable(unknown(format!("{code}: {message}")))
        }
        Ok(Ok(Business::Fail { code, message })) => {
            Verdict::done(RefundResult::Failed { code, message })
        }
        Ok(Ok(Business::Success(fields))) => match typed::<RefundReply>(&fields) {
            Ok(reply) => Verdict::done(RefundResult::Processing {
                party_refund_id: reply.refund_id,
            }),
            Err(reason) => Verdict::done(unknown(reason)),
        },
    }
}

/// A refund's state, from a refund query row or a refund notify.
fn refund_state(
    status: &str,
    refund_id: Option<String>,
    refund_fee: Option<&str>,
    success_time: Option<&str>,
) -> Result<RefundResult, String> {
    Ok(match status {
        "SUCCESS" => RefundResult::Succeeded {
            party_refund_id: refund_id,
            amount: refund_fee.map(|f| fen("refund_fee", f)).transpose()?,
            refunded_at: success_time
                .map(|t| shanghai_time::parse(t, DASHED))
                .transpose()?,
        },
        "PROCESSING" => RefundResult::Processing {
            party_refund_id: refund_id,
        },
        "REFUNDCLOSE" => RefundResult::Failed {
            code: "REFUNDCLOSE".into(),
            message: "refund closed by WeChat Pay".into(),
        },
        "CHANGE" => RefundResult::Failed {
            code: "CHANGE".into(),
            message: "refund could not reach the payer's account; needs manual handling".into(),
        },
        other => return Err(format!("unknown refund_status {other:?}")),
    })
}

pub(super) fn judge_refund_query(
    delivery: &Delivery,
    account: &WechatAccount,
    refund_nkp_seq_id: &str,
) -> RefundResult {
    let unknown = |reason: String| RefundResult::Unknown { reason };
    let fields = match read(delivery, account) {
        Err(reason) => return unknown(reason),
        Ok(Err(message)) => return unknown(format!("refund query refused: {message}")),
        Ok(Ok(Business::Fail { code, .. })) if code == "REFUNDNOTEXIST" => {
            return RefundResult::NotFound;
        }
        Ok(Ok(Business::Fail { code, message })) => {
            return unknown(format!("refund query failed: {code}: {message}"));
        }
        Ok(Ok(Business::Success(fields))) => fields,
    };
    // Refunds come as numbered fields (`out_refund_no_0`, `refund_status_0`, …).
    let index = fields
        .iter()
        .find(|(k, v)| k.starts_with("out_refund_no_") && v.as_str() == refund_nkp_seq_id)
        .map(|(k, _)| k["out_refund_no_".len()..].to_owned());
    let Some(n) = index else {
        return RefundResult::NotFound;
    };
    let get = |name: &str| fields.get(&format!("{name}_{n}")).map(String::as_str);
    let Some(status) = get("refund_status") else {
        return unknown(format!("refund_status_{n} missing"));
    };
    refund_state(
        status,
        get("refund_id").map(str::to_owned),
        get("refund_fee"),
        get("refund_success_time"),
    )
    .unwrap_or_else(unknown)
}

// ---- notifies ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PayNotify {
    return_code: String,
    appid: String,
    mch_id: String,
    sub_mch_id: Option<String>,
    result_code: String,
    err_code: Option<String>,
    err_code_des: Option<String>,
    openid: Option<String>,
    sub_openid: Option<String>,
    total_fee: Option<String>,
    transaction_id: Option<String>,
    out_trade_no: String,
    time_end: Option<String>,
}

#[derive(Deserialize)]
struct RefundNotifyEnvelope {
    return_code: String,
    return_msg: Option<String>,
    appid: String,
    mch_id: String,
    req_info: Option<String>,
}

#[derive(Deserialize)]
struct RefundNotifyInfo {
    out_trade_no: String,
    out_refund_no: String,
    refund_id: Option<String>,
    refund_fee: Option<String>,
    refund_status: String,
    success_time: Option<String>,
}

/// The fields that say what a notify is about, before anything is verified.
#[derive(Deserialize)]
struct NotifyClaim {
    appid: String,
    mch_id: String,
    out_trade_no: Option<String>,
}

/// A payment notify names its trade in the clear; a refund notify (the one with `req_info`)
/// hides it in the encrypted part, so only the outer account ids are read.
pub(super) fn notify_reference(body: &[u8]) -> Result<NotifyReference, ChannelError> {
    let fields = xml::decode(body).map_err(ChannelError::rejected)?;
    let sealed = fields.contains_key("req_info");
    let claim: NotifyClaim = typed(&without_empty(fields)).map_err(ChannelError::rejected)?;
    let account = AddressedAccount::Wechat {
        appid: claim.appid,
        mch_id: claim.mch_id,
    };
    if sealed {
        return Ok(NotifyReference::Sealed { account });
    }
    let nkp_seq_id = claim
        .out_trade_no
        .ok_or_else(|| ChannelError::rejected("payment notify names no out_trade_no"))?;
    Ok(NotifyReference::Trade {
        nkp_seq_id,
        account,
    })
}

fn addressed_to(account: &WechatAccount, appid: &str, mch_id: &str) -> Result<(), ChannelError> {
    if appid != account.appid || mch_id != account.mch_id {
        return Err(ChannelError::rejected(format!(
            "addressed to appid {appid:?} / mch_id {mch_id:?}, not this account"
        )));
    }
    Ok(())
}

/// Payment notifies are signed like replies; refund notifies are not signed but encrypted with
/// the API key, so only a successful decryption makes them ours.
pub(super) fn parse_notify(
    body: &[u8],
    account: &WechatAccount,
) -> Result<InboundNotify, ChannelError> {
    let fields = xml::decode(body).map_err(ChannelError::rejected)?;
    if fields.contains_key("req_info") {
        return parse_refund_notify(&fields, account);
    }
    if !fields.contains_key("sign") {
        return Err(ChannelError::rejected("payment notify has no sign"));
    }
    // The notify carries the order's sign type when it is not MD5.
    let sign_type = match fields.get("sign_type").filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<WechatSignType>()
            .map_err(|_| ChannelError::rejected(format!("unknown sign_type {t:?}")))?,
        None => WechatSignType::Md5,
    };
    wechat_sign::verify(&fields, account.api_key.expose(), sign_type)
        .or_else(|e| match sign_type {
            // Some deliveries of HMAC-signed orders omit sign_type; try the account's type.
            WechatSignType::Md5 if account.sign_type != WechatSignType::Md5 => {
                wechat_sign::verify(&fields, account.api_key.expose(), account.sign_type)
            }
            _ => Err(e),
        })
        .map_err(|e| ChannelError::rejected(format!("signature does not verify: {e}")))?;
    let fields = without_empty(fields);
    let n: PayNotify = typed(&fields).map_err(ChannelError::rejected)?;
    if n.return_code != SUCCESS {
        return Err(ChannelError::rejected(format!(
            "return_code {:?} carries no result",
            n.return_code
        )));
    }
    addressed_to(account, &n.appid, &n.mch_id)?;
    let result = if n.result_code == SUCCESS {
        paid(
            n.transaction_id,
            n.total_fee.as_deref(),
            n.openid,
            n.sub_openid,
            n.time_end.as_deref(),
        )
        .map_err(ChannelError::rejected)?
    } else {
        PayResult::Failed {
            code: n.err_code.unwrap_or(n.result_code),
            message: n.err_code_des.unwrap_or_default(),
        }
    };
    Ok(InboundNotify::Payment {
        nkp_seq_id: n.out_trade_no,
        sub_merchant: n.sub_mch_id,
        result,
    })
}

fn parse_refund_notify(
    fields: &Fields,
    account: &WechatAccount,
) -> Result<InboundNotify, ChannelError> {
    let outer: RefundNotifyEnvelope =
        typed(&without_empty(fields.clone())).map_err(ChannelError::rejected)?;
    if outer.return_code != SUCCESS {
        return Err(ChannelError::rejected(format!(
            "refund notify return_code {:?}: {}",
            outer.return_code,
            outer.return_msg.unwrap_or_default()
        )));
    }
    addressed_to(account, &outer.appid, &outer.mch_id)?;
    let req_info = outer
        .req_info
        .ok_or_else(|| ChannelError::rejected("refund notify has an empty req_info"))?;
    let plain = decrypt_req_info(&req_info, account.api_key.expose()).map_err(|e| {
        ChannelError::rejected(format!("req_info does not decrypt with our key: {e}"))
    })?;
    let inner_fields = xml::decode(plain.as_bytes())
        .map_err(|e| ChannelError::rejected(format!("req_info: {e}")))?;
    let info: RefundNotifyInfo =
        typed(&without_empty(inner_fields)).map_err(ChannelError::rejected)?;
    let result = refund_state(
        &info.refund_status,
        info.refund_id,
        info.refund_fee.as_deref(),
        info.success_time.as_deref(),
    )
    .map_err(ChannelError::rejected)?;
    Ok(InboundNotify::Refund {
        nkp_seq_id: info.out_trade_no,
        refund_nkp_seq_id: info.out_refund_no,
        result,
    })
}

pub(super) fn notify_answer(accepted: bool) -> String {
    if accepted {
        xml::notify_answer("SUCCESS", "OK")
    } else {
        xml::notify_answer("FAIL", "not processed")
    }
}

// ---- bill ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct BillFailure {
    return_code: Option<String>,
    return_msg: Option<String>,
    error_code: Option<String>,
}

/// The failure XML of `downloadbill` (success is the CSV itself, unsigned).
pub(super) enum BillFailureKind {
    NoBill(String),
    Busy(String),
    Failed { code: String, message: String },
}

pub(super) fn bill_failure(body: &[u8]) -> Option<BillFailureKind> {
    let trimmed = body.trim_ascii_start();
    if !trimmed.starts_with(b"<xml") {
        return None;
    }
    let fields = without_empty(xml::decode(trimmed).ok()?);
    let f: BillFailure = typed(&fields).ok()?;
    let message = f.return_msg.unwrap_or_default();
    let code = f
        .error_code
        .or(f.return_code)
        .unwrap_or_else(|| "FAIL".into());
    Some(if message.contains("No Bill Exist") {
        BillFailureKind::NoBill(message)
    } else if message.contains(SYSTEMERROR) || code == SYSTEMERROR {
        BillFailureKind::Busy(format!("{code}: {message}"))
    } else {
        BillFailureKind::Failed { code, message }
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
    use nkpay_crypto::wechat_refund_cipher::encrypt_req_info;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn account(sign_type: WechatSignType) -> WechatAccount {
        WechatAccount {
            appid: "wx2421b1c4370ec43b".into(),
            mch_id: "10000100".into(),
            api_key: Secret::new(KEY.into()),
            sign_type,
            base_url: url::Url::parse("https://api.mch.weixin.qq.com/").unwrap(),
            client_identity: None,
            extra_roots_pem: None,
            server_ip: "10.0.0.1".into(),
            notify_urls: NotifyUrls {
                payment: "https://pay.example.com/callback/wechat/pay".into(),
                refund: "https://pay.example.com/callback/wechat/refund".into(),
            },
            close_min_age: crate::wechat::CLOSE_MIN_AGE,
            http: HttpSettings::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap()
    }

    fn order(payer: Option<WechatPayer>) -> CreateOrder {
        CreateOrder {
            nkp_seq_id: "NKP0001".into(),
            trade_type: TradeType::TJsapi,
            amount: Money::from_fen(1234).unwrap(),
            description: "咖啡".into(),
            time_expire: now() + chrono::Duration::hours(2),
            placed_at: now(),
            client_ip: Some("203.0.113.9".into()),
            payer,
            attach: Some("table 7".into()),
            merchant: MerchantRoute::Wechat {
                sub_mch_id: "1900000109".into(),
            },
        }
    }

    fn sub_payer() -> WechatPayer {
        WechatPayer::Sub {
            sub_appid: "wx8888888888888888".into(),
            sub_openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
        }
    }

    /// Parses `xml`, replaces its sign with one made with `KEY`, and returns the new body.
    fn resigned(xml_text: &str, t: WechatSignType) -> Vec<u8> {
        let mut f = xml::decode(xml_text.as_bytes()).unwrap();
        f.remove("sign");
        let sign = wechat_sign::sign(&f, KEY, t);
        f.insert("sign".into(), sign);
        xml::encode(&f).unwrap().into_bytes()
    }

    fn reply(body: Vec<u8>) -> Delivery {
        Delivery::Reply { status: 200, body }
    }

    /// The unifiedorder reply from the official documentation (its sign was made with a key
    /// that is not published, so it is re-signed with the test key).
    const DOCUMENTED_UNIFIEDORDER_REPLY: &str = r#"<xml>
   <return_code><![CDATA[SUCCESS]]></return_code>
   <return_msg><![CDATA[OK]]></return_msg>
   <appid><![CDATA[wx2421b1c4370ec43b]]></appid>
   <mch_id><![CDATA[10000100]]></mch_id>
   <nonce_str><![CDATA[IITRi8Iabbblz1Jc]]></nonce_str>
   <openid><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></openid>
   <sign><![CDATA[7921E432F65EB8ED0CE9755F0E86D72F]]></sign>
   <result_code><![CDATA[SUCCESS]]></result_code>
   <prepay_id><![CDATA[wx201411101639507cbf6ffd8b0779950874]]></prepay_id>
   <trade_type><![CDATA[JSAPI]]></trade_type>
</xml>"#;

    /// The payment notify from the official documentation (service-provider version; its
    /// duplicated coupon_fee included), re-signed with the test key.
    const DOCUMENTED_PAY_NOTIFY: &str = r#"<xml>
  <appid><![CDATA[wx2421b1c4370ec43b]]></appid>
  <attach><![CDATA[支付测试]]></attach>
  <bank_type><![CDATA[CFT]]></bank_type>
  <fee_type><![CDATA[CNY]]></fee_type>
  <is_subscribe><![CDATA[Y]]></is_subscribe>
  <mch_id><![CDATA[10000100]]></mch_id>
  <nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
  <openid><![CDATA[oUpF8uMEb4qRXf22hE3X68TekukE]]></openid>
  <out_trade_no><![CDATA[1409811653]]></out_trade_no>
  <result_code><![CDATA[SUCCESS]]></result_code>
  <return_code><![CDATA[SUCCESS]]></return_code>
  <sign><![CDATA[B552ED6B279343CB493C5DD0D78AB241]]></sign>
  <sub_mch_id><![CDATA[10000100]]></sub_mch_id>
  <time_end><![CDATA[20140903131540]]></time_end>
  <total_fee>1</total_fee>
  <coupon_fee><![CDATA[10]]></coupon_fee>
  <coupon_count><![CDATA[1]]></coupon_count>
  <coupon_type><![CDATA[CASH]]></coupon_type>
  <coupon_id><![CDATA[10000]]></coupon_id>
  <coupon_fee><![CDATA[100]]></coupon_fee>
  <trade_type><![CDATA[JSAPI]]></trade_type>
  <transaction_id><![CDATA[1004400740201409030005092168]]></transaction_id>
</xml>"#;

    #[test]
    fn unified_order_for_a_sub_appid_payer_is_signed_and_in_fen() {
        let acct = account(WechatSignType::HmacSha256);
        let (f, _) = unifiedorder(&acct, &order(Some(sub_payer())), now()).unwrap();
        assert_eq!(f["sub_appid"], "wx8888888888888888");
        assert_eq!(f["sub_openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        assert!(!f.contains_key("openid"));
        assert_eq!(f["total_fee"], "1234");
        assert_eq!(f["time_start"], "20240301100000");
        assert_eq!(f["time_expire"], "20240301120000");
        assert_eq!(f["trade_type"], "JSAPI");
        assert_eq!(f["sign_type"], "HMAC-SHA256");
        assert_eq!(f["sub_mch_id"], "1900000109");
        assert_eq!(f["spbill_create_ip"], "203.0.113.9");
        let body = seal(&acct, f).unwrap();
        let sent = xml::decode(body.as_bytes()).unwrap();
        assert!(wechat_sign::verify(&sent, KEY, WechatSignType::HmacSha256).is_ok());
    }

    #[test]
    fn unified_order_repeated_later_sends_the_same_parameters() {
        // A create whose reply was lost is repeated minutes later: only the nonce (and so the
        // sign) may differ, or WeChat answers OUT_TRADE_NO_USED instead of the same prepay_id.
        let acct = account(WechatSignType::Md5);
        let o = order(Some(sub_payer()));
        let (mut first, _) = unifiedorder(&acct, &o, now()).unwrap();
        let later = now() + chrono::Duration::minutes(7);
        let (mut again, _) = unifiedorder(&acct, &o, later).unwrap();
        assert_eq!(again["time_start"], "20240301100000");
        assert_ne!(first.remove("nonce_str"), again.remove("nonce_str"));
        assert_eq!(first, again);
    }

    #[test]
    fn unified_order_for_a_platform_openid_sends_no_sub_appid() {
        let payer = WechatPayer::Platform {
            openid: "oPlatform".into(),
        };
        let mut o = order(Some(payer));
        o.client_ip = None;
        let (f, _) = unifiedorder(&account(WechatSignType::Md5), &o, now()).unwrap();
        assert_eq!(f["openid"], "oPlatform");
        assert!(!f.contains_key("sub_appid") && !f.contains_key("sub_openid"));
        assert_eq!(f["spbill_create_ip"], "10.0.0.1");
    }

    #[test]
    fn unified_order_without_a_payer_is_refused_naming_the_field() {
        let err = unifiedorder(&account(WechatSignType::Md5), &order(None), now()).unwrap_err();
        assert!(matches!(
            err,
            ChannelError::InvalidInput { field: "payer", .. }
        ));
    }

    #[test]
    fn over_long_description_is_refused() {
        let acct = account(WechatSignType::Md5);
        let mut o = order(Some(sub_payer()));
        o.description = "字".repeat(128);
        assert!(matches!(
            unifiedorder(&acct, &o, now()).unwrap_err(),
            ChannelError::InvalidInput {
                field: "description",
                ..
            }
        ));
    }

    #[test]
    fn notify_urls_with_a_query_or_over_256_characters_are_refused() {
        assert!(check_notify_url("https://pay.example.com/callback/wechat/pay").is_ok());
        assert!(
            check_notify_url("https://pay.example.com/n?a=1")
                .unwrap_err()
                .contains("query")
        );
        let long = format!("https://pay.example.com/{}", "a".repeat(240));
        assert!(check_notify_url(&long).unwrap_err().contains("256"));
        assert!(check_notify_url("").is_err());
    }

    #[test]
    fn order_and_refund_carry_the_accounts_notify_urls() {
        let acct = account(WechatSignType::Md5);
        let (f, _) = unifiedorder(&acct, &order(Some(sub_payer())), now()).unwrap();
        assert_eq!(
            f["notify_url"],
            "https://pay.example.com/callback/wechat/pay"
        );
        let refund = RefundOrder {
            trade: TradeRef {
                nkp_seq_id: "NKP0001".into(),
                merchant: MerchantRoute::Wechat {
                    sub_mch_id: "1900000109".into(),
                },
            },
            refund_nkp_seq_id: "R1".into(),
            trade_amount: Money::from_fen(1234).unwrap(),
            amount: Money::from_fen(200).unwrap(),
            reason: None,
        };
        let f = super::refund(&acct, &refund).unwrap();
        assert_eq!(
            f["notify_url"],
            "https://pay.example.com/callback/wechat/refund"
        );
    }

    #[test]
    fn alipay_route_is_refused_by_the_wechat_transformer() {
        let mut o = order(Some(sub_payer()));
        o.merchant = MerchantRoute::Alipay {
            app_auth_token: Secret::new("t".into()),
            seller_id: None,
        };
        assert!(matches!(
            unifiedorder(&account(WechatSignType::Md5), &o, now()).unwrap_err(),
            ChannelError::WrongChannel { .. }
        ));
    }

    #[test]
    fn pay_info_reproduces_the_official_pay_sign_vector() {
        let mut acct = account(WechatSignType::Md5);
        acct.appid = "wxd678efh567hg6787".into();
        acct.api_key = Secret::new("qazwsxedcrfvtgbyhnujmikolp111111".into());
        let payer = WechatPayer::Platform { openid: "o".into() };
        let at = Utc.timestamp_opt(1_490_840_662, 0).unwrap();
        let info = pay_info(
            &acct,
            &payer,
            "wx2017033010242291fcfe0db70013231072",
            at,
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
        );
        assert_eq!(
            info,
            r#"{"appId":"wxd678efh567hg6787","timeStamp":"1490840662","nonceStr":"5K8264ILTKCH16CQ2502SI8ZNMTM67VS","package":"prepay_id=wx2017033010242291fcfe0db70013231072","signType":"MD5","paySign":"22D9B4E54AB1950F51E0649E8810ACD6"}"#
        );
    }

    #[test]
    fn pay_info_uses_the_sub_appid_and_the_orders_hmac_sign_type() {
        let info = pay_info(
            &account(WechatSignType::HmacSha256),
            &sub_payer(),
            "wx1",
            now(),
            "n".into(),
        );
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(v["appId"], "wx8888888888888888");
        assert_eq!(v["signType"], "HMAC-SHA256");
        let mut f = Fields::new();
        for k in ["appId", "timeStamp", "nonceStr", "package", "signType"] {
            f.insert(k.into(), v[k].as_str().unwrap().into());
        }
        f.insert("sign".into(), v["paySign"].as_str().unwrap().into());
        assert!(wechat_sign::verify(&f, KEY, WechatSignType::HmacSha256).is_ok());
    }

    #[test]
    fn documented_unified_order_reply_gives_pay_info_with_its_prepay_id() {
        let acct = account(WechatSignType::Md5);
        let body = resigned(DOCUMENTED_UNIFIEDORDER_REPLY, WechatSignType::Md5);
        let v = judge_create(&reply(body), &acct, &sub_payer(), now());
        assert!(!v.resend);
        match v.value {
            CreateResult::Created(PayPrompt::PayInfo(info)) => {
                assert!(
                    info.contains(r#""package":"prepay_id=wx201411101639507cbf6ffd8b0779950874""#)
                );
            }
            other => panic!("expected pay_info, got {other:?}"),
        }
    }

    #[test]
    fn documented_reply_with_its_original_sign_is_not_believed() {
        let acct = account(WechatSignType::Md5);
        let body = DOCUMENTED_UNIFIEDORDER_REPLY.as_bytes().to_vec();
        let v = judge_create(&reply(body), &acct, &sub_payer(), now());
        assert!(
            matches!(v.value, CreateResult::Unknown { reason } if reason.contains("signature"))
        );
    }

    #[test]
    fn reply_without_sign_is_unknown() {
        let body = b"<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code><prepay_id>x</prepay_id></xml>".to_vec();
        let v = judge_create(
            &reply(body),
            &account(WechatSignType::Md5),
            &sub_payer(),
            now(),
        );
        assert!(matches!(v.value, CreateResult::Unknown { .. }));
    }

    fn business_reply(code: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut f = Fields::new();
        f.insert("return_code".into(), "SUCCESS".into());
        f.insert("appid".into(), "wx2421b1c4370ec43b".into());
        f.insert("mch_id".into(), "10000100".into());
        f.insert("nonce_str".into(), "n".into());
        if code == "SUCCESS" {
            f.insert("result_code".into(), "SUCCESS".into());
        } else {
            f.insert("result_code".into(), "FAIL".into());
            f.insert("err_code".into(), code.into());
            f.insert("err_code_des".into(), format!("{code} described"));
        }
        for (k, v) in extra {
            f.insert((*k).into(), (*v).into());
        }
        let sign = wechat_sign::sign(&f, KEY, WechatSignType::Md5);
        f.insert("sign".into(), sign);
        xml::encode(&f).unwrap().into_bytes()
    }

    #[test]
    fn systemerror_on_unified_order_is_unknown_and_may_be_resent() {
        let v = judge_create(
            &reply(business_reply("SYSTEMERROR", &[])),
            &account(WechatSignType::Md5),
            &sub_payer(),
            now(),
        );
        assert!(v.resend);
        assert!(matches!(v.value, CreateResult::Unknown { .. }));
    }

    #[test]
    fn time_out_on_unified_order_is_unknown_and_not_resent() {
        let none = Delivery::NoReply {
            reason: "timed out".into(),
        };
        let v = judge_create(&none, &account(WechatSignType::Md5), &sub_payer(), now());
        assert!(!v.resend);
        assert!(matches!(v.value, CreateResult::Unknown { .. }));
    }

    #[test]
    fn business_failure_on_unified_order_carries_the_channel_code() {
        let v = judge_create(
            &reply(business_reply("OUT_TRADE_NO_USED", &[])),
            &account(WechatSignType::Md5),
            &sub_payer(),
            now(),
        );
        assert_eq!(
            v.value,
            CreateResult::Failed {
                code: "OUT_TRADE_NO_USED".into(),
                message: "OUT_TRADE_NO_USED described".into()
            }
        );
    }

    #[test]
    fn return_code_fail_means_the_order_was_not_taken() {
        let body = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名错误]]></return_msg></xml>"
            .as_bytes()
            .to_vec();
        let v = judge_create(
            &reply(body),
            &account(WechatSignType::Md5),
            &sub_payer(),
            now(),
        );
        assert_eq!(
            v.value,
            CreateResult::Failed {
                code: "FAIL".into(),
                message: "签名错误".into()
            }
        );
    }

    #[test]
    fn paid_query_reply_reads_amount_buyer_and_shanghai_time() {
        let body = business_reply(
            "SUCCESS",
            &[
                ("out_trade_no", "NKP0001"),
                ("trade_state", "SUCCESS"),
                ("transaction_id", "4200000001"),
                ("total_fee", "1234"),
                ("openid", "oSP"),
                ("sub_openid", "oSub"),
                ("time_end", "20240301100005"),
            ],
        );
        assert_eq!(
            judge_query(&reply(body), &account(WechatSignType::Md5), "NKP0001"),
            PayResult::Paid {
                party_order_id: "4200000001".into(),
                amount: Money::from_fen(1234).unwrap(),
                buyer_id: Some("oSub".into()),
                paid_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 5).unwrap()),
            }
        );
    }

    #[test]
    fn query_states_map_to_results() {
        let acct = account(WechatSignType::Md5);
        let state = |s: &str| {
            let body = business_reply(
                "SUCCESS",
                &[("out_trade_no", "NKP0001"), ("trade_state", s)],
            );
            judge_query(&reply(body), &acct, "NKP0001")
        };
        assert_eq!(state("NOTPAY"), PayResult::NotPaid);
        assert_eq!(state("USERPAYING"), PayResult::NotPaid);
        assert_eq!(state("CLOSED"), PayResult::Closed);
        assert_eq!(state("REVOKED"), PayResult::Closed);
        assert!(matches!(state("PAYERROR"), PayResult::Failed { .. }));
        assert!(matches!(state("SOMETHING_NEW"), PayResult::Unknown { .. }));
        let missing = business_reply("ORDERNOTEXIST", &[]);
        assert_eq!(
            judge_query(&reply(missing), &acct, "NKP0001"),
            PayResult::NotFound
        );
    }

    #[test]
    fn query_reply_about_another_order_is_unknown() {
        let body = business_reply(
            "SUCCESS",
            &[("out_trade_no", "OTHER"), ("trade_state", "NOTPAY")],
        );
        assert!(matches!(
            judge_query(&reply(body), &account(WechatSignType::Md5), "NKP0001"),
            PayResult::Unknown { .. }
        ));
    }

    #[test]
    fn close_errors_map_to_paid_closed_and_unknown() {
        let acct = account(WechatSignType::Md5);
        let close = |code: &str| judge_close(&reply(business_reply(code, &[])), &acct);
        assert_eq!(close("SUCCESS"), CloseResult::Closed);
        assert_eq!(close("ORDERPAID"), CloseResult::AlreadyPaid);
        assert_eq!(close("ORDERCLOSED"), CloseResult::Closed);
        assert!(matches!(close("SYSTEMERROR"), CloseResult::Unknown { .. }));
        let early = {
            let mut f = xml::decode(&business_reply("SYSTEMERROR", &[])).unwrap();
            f.insert(
                "err_code_des".into(),
                "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟".into(),
            );
            f.remove("sign");
            let sign = wechat_sign::sign(&f, KEY, WechatSignType::Md5);
            f.insert("sign".into(), sign);
            xml::encode(&f).unwrap().into_bytes()
        };
        assert_eq!(judge_close(&reply(early), &acct), CloseResult::TooEarly);
        assert!(matches!(close("ORDERNOTEXIST"), CloseResult::Failed { .. }));
    }

    #[test]
    fn refund_accepted_is_processing_and_systemerror_may_be_resent() {
        let acct = account(WechatSignType::Md5);
        let ok = judge_refund(
            &reply(business_reply("SUCCESS", &[("refund_id", "50000001")])),
            &acct,
        );
        assert_eq!(
            ok.value,
            RefundResult::Processing {
                party_refund_id: Some("50000001".into())
            }
        );
        let busy = judge_refund(&reply(business_reply("SYSTEMERROR", &[])), &acct);
        assert!(busy.resend && matches!(busy.value, RefundResult::Unknown { .. }));
        let timeout = judge_refund(
            &Delivery::NoReply {
                reason: "timed out".into(),
            },
            &acct,
        );
        assert!(timeout.resend);
        let poor = judge_refund(&reply(business_reply("NOTENOUGH", &[])), &acct);
        assert!(
            !poor.resend
                && matches!(poor.value, RefundResult::Failed { code, .. } if code == "NOTENOUGH")
        );
    }

    #[test]
    fn refund_query_picks_our_refund_among_several() {
        let body = business_reply(
            "SUCCESS",
            &[
                ("refund_count", "2"),
                ("out_refund_no_0", "R-OTHER"),
                ("refund_status_0", "PROCESSING"),
                ("out_refund_no_1", "R-OURS"),
                ("refund_id_1", "50000002"),
                ("refund_fee_1", "200"),
                ("refund_status_1", "SUCCESS"),
                ("refund_success_time_1", "2024-03-01 11:30:00"),
            ],
        );
        let acct = account(WechatSignType::Md5);
        assert_eq!(
            judge_refund_query(&reply(body.clone()), &acct, "R-OURS"),
            RefundResult::Succeeded {
                party_refund_id: Some("50000002".into()),
                amount: Some(Money::from_fen(200).unwrap()),
                refunded_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 3, 30, 0).unwrap()),
            }
        );
        assert_eq!(
            judge_refund_query(&reply(body.clone()), &acct, "R-OTHER"),
            RefundResult::Processing {
                party_refund_id: None
            }
        );
        assert_eq!(
            judge_refund_query(&reply(body), &acct, "R-NONE"),
            RefundResult::NotFound
        );
        let missing = business_reply("REFUNDNOTEXIST", &[]);
        assert_eq!(
            judge_refund_query(&reply(missing), &acct, "R"),
            RefundResult::NotFound
        );
    }

    #[test]
    fn documented_payment_notify_parses_with_its_amount() {
        let body = resigned(DOCUMENTED_PAY_NOTIFY, WechatSignType::Md5);
        let n = parse_notify(&body, &account(WechatSignType::Md5)).unwrap();
        assert_eq!(
            n,
            InboundNotify::Payment {
                nkp_seq_id: "1409811653".into(),
                sub_merchant: Some("10000100".into()),
                result: PayResult::Paid {
                    party_order_id: "1004400740201409030005092168".into(),
                    amount: Money::from_fen(1).unwrap(),
                    buyer_id: Some("oUpF8uMEb4qRXf22hE3X68TekukE".into()),
                    paid_at: Some(Utc.with_ymd_and_hms(2014, 9, 3, 5, 15, 40).unwrap()),
                },
            }
        );
    }

    #[test]
    fn notify_with_a_changed_amount_is_rejected_as_forged() {
        let body = String::from_utf8(resigned(DOCUMENTED_PAY_NOTIFY, WechatSignType::Md5)).unwrap();
        let forged = body.replace("<total_fee>1</total_fee>", "<total_fee>100</total_fee>");
        assert_ne!(body, forged);
        let err = parse_notify(forged.as_bytes(), &account(WechatSignType::Md5)).unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn notify_for_another_service_provider_is_rejected() {
        let text = DOCUMENTED_PAY_NOTIFY.replace(
            "<mch_id><![CDATA[10000100]]></mch_id>",
            "<mch_id><![CDATA[10000999]]></mch_id>",
        );
        let body = resigned(&text, WechatSignType::Md5);
        let err = parse_notify(&body, &account(WechatSignType::Md5)).unwrap_err();
        assert!(err.to_string().contains("not this account"), "{err}");
    }

    #[test]
    fn hmac_notify_is_verified_with_its_sign_type() {
        let text = DOCUMENTED_PAY_NOTIFY.replace(
            "<trade_type>",
            "<sign_type><![CDATA[HMAC-SHA256]]></sign_type><trade_type>",
        );
        let body = resigned(&text, WechatSignType::HmacSha256);
        assert!(parse_notify(&body, &account(WechatSignType::HmacSha256)).is_ok());
        // The same body claiming MD5 no longer verifies.
        let downgraded = String::from_utf8(body)
            .unwrap()
            .replace("HMAC-SHA256", "MD5");
        assert!(parse_notify(downgraded.as_bytes(), &account(WechatSignType::Md5)).is_err());
    }

    const REFUND_INFO: &str = "<root><out_refund_no><![CDATA[R-OURS]]></out_refund_no><out_trade_no><![CDATA[NKP0001]]></out_trade_no><refund_account><![CDATA[REFUND_SOURCE_RECHARGE_FUNDS]]></refund_account><refund_fee><![CDATA[200]]></refund_fee><refund_id><![CDATA[50000002]]></refund_id><refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout><refund_request_source><![CDATA[API]]></refund_request_source><refund_status><![CDATA[SUCCESS]]></refund_status><settlement_refund_fee><![CDATA[200]]></settlement_refund_fee><settlement_total_fee><![CDATA[1234]]></settlement_total_fee><success_time><![CDATA[2024-03-01 11:30:00]]></success_time><total_fee><![CDATA[1234]]></total_fee><transaction_id><![CDATA[4200000001]]></transaction_id></root>";

    fn refund_notify(req_info: &str) -> String {
        format!(
            "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx2421b1c4370ec43b]]></appid><mch_id><![CDATA[10000100]]></mch_id><sub_appid></sub_appid><sub_mch_id><![CDATA[1900000109]]></sub_mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str><req_info><![CDATA[{req_info}]]></req_info></xml>"
        )
    }

    #[test]
    fn refund_notify_decrypts_with_the_api_key() {
        let body = refund_notify(&encrypt_req_info(REFUND_INFO, KEY).unwrap());
        assert_eq!(
            parse_notify(body.as_bytes(), &account(WechatSignType::Md5)).unwrap(),
            InboundNotify::Refund {
                nkp_seq_id: "NKP0001".into(),
                refund_nkp_seq_id: "R-OURS".into(),
                result: RefundResult::Succeeded {
                    party_refund_id: Some("50000002".into()),
                    amount: Some(Money::from_fen(200).unwrap()),
                    refunded_at: Some(Utc.with_ymd_and_hms(2024, 3, 1, 3, 30, 0).unwrap()),
                },
            }
        );
    }

    #[test]
    fn refund_notify_encrypted_with_another_key_is_rejected() {
        let other = encrypt_req_info(REFUND_INFO, "ffffffffffffffffffffffffffffffff").unwrap();
        let body = refund_notify(&other);
        let err = parse_notify(body.as_bytes(), &account(WechatSignType::Md5)).unwrap_err();
        assert!(matches!(err, ChannelError::NotifyRejected { .. }));
    }

    #[test]
    fn payment_notify_reference_names_the_trade_and_the_account_unverified() {
        // The documented notify with its original sign: nothing is verified here.
        assert_eq!(
            notify_reference(DOCUMENTED_PAY_NOTIFY.as_bytes()).unwrap(),
            NotifyReference::Trade {
                nkp_seq_id: "1409811653".into(),
                account: AddressedAccount::Wechat {
                    appid: "wx2421b1c4370ec43b".into(),
                    mch_id: "10000100".into(),
                },
            }
        );
    }

    #[test]
    fn refund_notify_reference_is_sealed_with_the_outer_account() {
        let body = refund_notify("bm90IGRlY3J5cHRlZA==");
        assert_eq!(
            notify_reference(body.as_bytes()).unwrap(),
            NotifyReference::Sealed {
                account: AddressedAccount::Wechat {
                    appid: "wx2421b1c4370ec43b".into(),
                    mch_id: "10000100".into(),
                },
            }
        );
    }

    #[test]
    fn notify_reference_needs_the_account_and_the_trade() {
        let no_trade = DOCUMENTED_PAY_NOTIFY
            .replace("<out_trade_no><![CDATA[1409811653]]></out_trade_no>", "");
        assert!(notify_reference(no_trade.as_bytes()).is_err());
        let no_account = DOCUMENTED_PAY_NOTIFY
            .replace("<mch_id><![CDATA[10000100]]></mch_id>", "<mch_id></mch_id>");
        assert!(notify_reference(no_account.as_bytes()).is_err());
        assert!(notify_reference(b"out_trade_no=1").is_err());
    }

    #[test]
    fn notify_answers_are_the_documented_bytes() {
        assert_eq!(
            notify_answer(true),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert!(notify_answer(false).contains("<![CDATA[FAIL]]>"));
    }

    #[test]
    fn missing_bill_is_told_apart_from_a_csv() {
        let none = b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>";
        assert!(matches!(
            bill_failure(none),
            Some(BillFailureKind::NoBill(_))
        ));
        assert!(bill_failure("交易时间,公众账号ID".as_bytes()).is_none());
    }

    /// Fuzz targets `wechat_reply`, `wechat_notify`, `wechat_bill` (docs/fuzzing.md): what
    /// WeChat Pay sends us, from the committed corpus mutated, and random bytes. Properties: no
    /// panic; the XML envelope round-trips through our writer; a reply or notify whose
    /// signature we did not make is never believed; refund notifies with random ciphertext
    /// are refused.
    mod fuzz {
        use super::*;
        use crate::fuzzing;
        use proptest::prelude::*;

        fn seeds(target: &str) -> Vec<Vec<u8>> {
            fuzzing::seeds(&fuzzing::corpus_dir(env!("CARGO_MANIFEST_DIR"), target))
        }

        /// A believed result: the reply carried our key's signature (the corpus has none).
        fn believed_create(r: &CreateResult) -> bool {
            matches!(r, CreateResult::Created(_) | CreateResult::Failed { .. })
        }

        proptest! {
            #![proptest_config(fuzzing::config())]

            #[test]
            fn fuzz_wechat_reply(body in fuzzing::inputs(seeds("wechat_reply"))) {
                for t in [WechatSignType::Md5, WechatSignType::HmacSha256] {
                    let acct = account(t);
                    let d = reply(body.clone());
                    let created = judge_create(&d, &acct, &sub_payer(), now());
                    // Unsigned or wrongly signed: only a return_code FAIL (unsigned by
                    // WeChat's rules) may be read as a refusal.
                    if believed_create(&created.value) {
                        let fields = xml::decode(&body).unwrap_or_default();
                        prop_assert!(fields.get("return_code").map(String::as_str) != Some("SUCCESS"), "{:?}", created.value);
                    }
                    let _ = judge_query(&d, &acct, "NKP0001");
                    let _ = judge_close(&d, &acct);
                    let _ = judge_refund(&d, &acct);
                    let _ = judge_refund_query(&d, &acct, "NKPR0001");
                }
                // The envelope reader and writer agree on whatever reads.
                if let Ok(fields) = xml::decode(&body) {
                    let written = xml::encode(&fields).unwrap();
                    prop_assert_eq!(xml::decode(written.as_bytes()).unwrap(), fields);
                }
            }

            #[test]
            fn fuzz_wechat_notify(body in fuzzing::inputs(seeds("wechat_notify")), cipher in proptest::collection::vec(any::<u8>(), 0..96)) {
                let acct = account(WechatSignType::Md5);
                let _ = notify_reference(&body);
                // The corpus is signed with no key of ours: never accepted.
                prop_assert!(parse_notify(&body, &acct).is_err());
                // A refund notify with ciphertext that is not ours is refused.
                let req_info = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &cipher);
                let forged = format!(
                    "<xml><return_code>SUCCESS</return_code><appid>{}</appid><mch_id>{}</mch_id><req_info>{req_info}</req_info></xml>",
                    acct.appid, acct.mch_id
                );
                prop_assert!(parse_notify(forged.as_bytes(), &acct).is_err());
            }

            #[test]
            fn fuzz_wechat_bill(text in fuzzing::text_inputs(seeds("wechat_bill"))) {
                if let Ok(bill) = crate::wechat::bill::parse(&text) {
                    // What a bill says parses into amounts we can hold.
                    for row in &bill.rows {
                        prop_assert!(row.amount.fen() >= 0);
                    }
                }
            }
        }
    }
}
