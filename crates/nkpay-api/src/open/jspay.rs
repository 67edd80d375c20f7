//! `POST /v2/trade/payment/jspay` (API.md "jspay — aggregate scan"): the request's fields, the
//! engine's `Payments::create`, the reply.

use nkpay_core::resp_code::RespCode;
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_engine::payments::{CreateTrade, Created, WxData};
use serde_json::{Map, Value};

use super::fields::{Fields, REMARK_MAX_CHARS, check_id};
use super::reply::Refusal;
use super::reply::{Reply, trade_reply};
use super::{OpenCall, Scoped};

/// Longest `goods_desc`, in characters.
pub const GOODS_DESC_MAX_CHARS: usize = 127;
/// Longest `wx_data.attach`, in characters.
pub const ATTACH_MAX_CHARS: usize = 127;

/// The jspay endpoint.
pub struct Jspay;

impl OpenCall for Jspay {
    type Request = CreateTrade;

    fn read(f: &Fields<'_>) -> Result<CreateTrade, Refusal> {
        read(f)
    }

    async fn run(s: Scoped<'_>, request: CreateTrade) -> Result<Map<String, Value>, Refusal> {
        let created = s.engine.payments().create(&s.scope, request).await?;
        Ok(reply(&created))
    }
}

fn read(f: &Fields<'_>) -> Result<CreateTrade, Refusal> {
    let request = f.write_request()?;
    let trade_type: TradeType = f.required("trade_type")?.parse().map_err(|_| {
        Refusal::invalid(
            "trade_type",
            format!(
                "must be one of {}",
                TradeType::ALL.map(|t| t.as_str()).join(", ")
            ),
        )
    })?;
    let trans_amt = f.amount("trans_amt")?;
    let goods_desc = f.required("goods_desc")?;
    f.text("goods_desc", GOODS_DESC_MAX_CHARS)?;
    let time_expire = f.date_time("time_expire")?;
    let remark = f.text("remark", REMARK_MAX_CHARS)?;
    let wx = match trade_type.channel() {
        ChannelKind::Wechat => match f.object("wx_data")? {
            Some(obj) => wx_data(&f.nested(&obj, "wx_data."))?,
            None => WxData::default(),
        },
        ChannelKind::Alipay => {
            // Nothing in alipay_data is needed yet; it must still be well formed.
            f.object("alipay_data")?;
            WxData::default()
        }
    };
    Ok(CreateTrade {
        request,
        trade_type,
        trans_amt,
        goods_desc: goods_desc.to_owned(),
        time_expire,
        // Its length, syntax and where it may point: the engine's url_guard.
        notify_url: f.optional("notify_url")?.map(str::to_owned),
        remark: remark.map(str::to_owned),
        wx,
    })
}

fn wx_data(f: &Fields<'_>) -> Result<WxData, Refusal> {
    let id = |key: &'static str, max: usize| -> Result<Option<String>, Refusal> {
        let value = f.optional(key)?;
        if let Some(v) = value {
            check_id(&format!("wx_data.{key}"), v, max)?;
        }
        Ok(value.map(str::to_owned))
    };
    let attach = f.text("attach", ATTACH_MAX_CHARS)?;
    let client_ip = match f.optional("spbill_create_ip")? {
        None => None,
        Some(ip) => Some(
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| {
                    Refusal::invalid(
                        "wx_data.spbill_create_ip",
                        "must be an IPv4 or IPv6 address",
                    )
                })?
                .to_string(),
        ),
    };
    Ok(WxData {
        openid: id("openid", 128)?,
        sub_appid: id("sub_appid", 32)?,
        sub_openid: id("sub_openid", 128)?,
        attach: attach.map(str::to_owned),
        client_ip,
    })
}

/// jspay's reply: placed and waiting → `00000100`; refused by the channel, or not confirmed by
/// it → `98888888`; otherwise `00000000` (read `trans_stat`).
pub fn reply(created: &Created) -> Map<String, Value> {
    let t = &created.trade;
    use nkpay_core::state::TradeStatus;
    let code = match t.status {
        TradeStatus::Processing if t.pay_info.is_some() || t.qr_code.is_some() => {
            RespCode::Processing
        }
        TradeStatus::Processing => RespCode::ChannelError,
        TradeStatus::Failed | TradeStatus::Closed if t.bank_code.is_some() => {
            RespCode::ChannelError
        }
        _ => RespCode::Success,
    };
    let desc = match (&created.unknown_reason, code) {
        (Some(_), _) => {
            "通道结果未知，请稍后查询: the channel did not confirm the order; query it later"
        }
        (None, RespCode::Processing) => "下单成功，等待支付",
        (None, c) => c.default_desc(),
    };
    let mut d = Reply::with_code(code, desc);
    trade_reply(&mut d, t);
    d.set_opt("pay_info", t.pay_info.as_deref())
        .set_opt("qr_code", t.qr_code.as_deref());
    d.into_map()
}
