//! The two notifies WeChat Pay sends: the payment result (XML, signed in the order's sign_type)
//! and the refund result (XML with `req_info` AES-encrypted under the API key, unsigned).

use nkpay_crypto::wechat_refund_cipher::encrypt_req_info;

use super::reply::signed_xml;
use super::store::{Order, Refund, TradeState};
use super::xml;
use crate::accounts::WechatServiceProvider;
use crate::clock;
use crate::ids::random_alnum;
use crate::notify::{Ack, Outgoing, WECHAT_SCHEDULE};

const XML: &str = "text/xml; charset=utf-8";

/// A key the merchant does not have: notifies made with it must fail verification.
fn forged_key(api_key: &str) -> String {
    format!("{api_key}-forged")
}

fn envelope(order: &Order, sp: &WechatServiceProvider) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = vec![
        ("return_code".into(), "SUCCESS".into()),
        ("appid".into(), sp.appid.clone()),
        ("mch_id".into(), sp.mch_id.clone()),
    ];
    if let Some(sub_appid) = &order.sub_appid {
        fields.push(("sub_appid".into(), sub_appid.clone()));
    }
    fields.push(("sub_mch_id".into(), order.sub_mch_id.clone()));
    fields.push(("nonce_str".into(), random_alnum(32)));
    fields
}

pub(crate) fn payment(order: &Order, sp: &WechatServiceProvider) -> Outgoing {
    let mut fields = envelope(order, sp);
    fields.push(("return_msg".into(), "OK".into()));
    if order.state == TradeState::Success {
        fields.push(("result_code".into(), "SUCCESS".into()));
    } else {
        fields.push(("result_code".into(), "FAIL".into()));
        fields.push(("err_code".into(), "NOTENOUGH".into()));
        fields.push(("err_code_des".into(), "用户余额不足".into()));
    }
    fields.push(("openid".into(), order.sp_openid()));
    fields.push(("is_subscribe".into(), "N".into()));
    if let Some(sub_openid) = &order.sub_openid {
        fields.push(("sub_openid".into(), sub_openid.clone()));
        fields.push(("sub_is_subscribe".into(), "N".into()));
    }
    fields.push(("trade_type".into(), "JSAPI".into()));
    fields.push(("bank_type".into(), "OTHERS".into()));
    fields.push(("total_fee".into(), order.total_fee.to_string()));
    fields.push(("fee_type".into(), "CNY".into()));
    fields.push(("cash_fee".into(), order.total_fee.to_string()));
    if let Some(t) = &order.transaction_id {
        fields.push(("transaction_id".into(), t.clone()));
    }
    fields.push(("out_trade_no".into(), order.out_trade_no.clone()));
    if let Some(attach) = &order.attach {
        fields.push(("attach".into(), attach.clone()));
    }
    if let Some(t) = order.time_end {
        fields.push(("time_end".into(), clock::wechat_compact(t)));
    }
    if order.sign_type != nkpay_crypto::wechat_sign::WechatSignType::Md5 {
        fields.push(("sign_type".into(), order.sign_type.as_str().into()));
    }
    let forged_body = signed_xml(fields.clone(), &forged_key(&sp.api_key), order.sign_type);
    Outgoing {
        channel: "wechat",
        kind: "payment",
        out_trade_no: order.out_trade_no.clone(),
        out_refund_no: None,
        url: order.notify_url.clone(),
        content_type: XML,
        body: signed_xml(fields, &sp.api_key, order.sign_type),
        forged_body,
        ack: Ack::WechatXml,
        schedule: WECHAT_SCHEDULE,
    }
}

/// None when the refund has no notify_url.
pub(crate) fn refund(
    order: &Order,
    refund: &Refund,
    sp: &WechatServiceProvider,
) -> Result<Option<Outgoing>, String> {
    let Some(url) = &refund.notify_url else {
        return Ok(None);
    };
    let total = order.total_fee.to_string();
    let refund_fee = refund.refund_fee.to_string();
    let success_time = refund.success_time.map(clock::shanghai_seconds);
    let mut plain: Vec<(&str, &str)> = vec![
        ("out_refund_no", &refund.out_refund_no),
        ("out_trade_no", &order.out_trade_no),
        ("refund_account", "REFUND_SOURCE_UNSETTLED_FUNDS"),
        ("refund_fee", &refund_fee),
        ("refund_id", &refund.refund_id),
        ("refund_recv_accout", "支付用户零钱"),
        ("refund_request_source", "API"),
        ("refund_status", refund.status.as_str()),
        ("settlement_refund_fee", &refund_fee),
        ("settlement_total_fee", &total),
        ("total_fee", &total),
        (
            "transaction_id",
            order.transaction_id.as_deref().unwrap_or(""),
        ),
    ];
    if let Some(t) = &success_time {
        plain.push(("success_time", t));
    }
    let plain = xml::write("root", plain);
    let seal = |key: &str| -> Result<String, String> {
        let req_info = encrypt_req_info(&plain, key).map_err(|e| e.to_string())?;
        let mut fields = envelope(order, sp);
        fields.push(("req_info".into(), req_info));
        Ok(xml::write(
            "xml",
            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    };
    Ok(Some(Outgoing {
        channel: "wechat",
        kind: "refund",
        out_trade_no: order.out_trade_no.clone(),
        out_refund_no: Some(refund.out_refund_no.clone()),
        url: url.clone(),
        content_type: XML,
        body: seal(&sp.api_key)?,
        forged_body: seal(&forged_key(&sp.api_key))?,
        ack: Ack::WechatXml,
        schedule: WECHAT_SCHEDULE,
    }))
}
