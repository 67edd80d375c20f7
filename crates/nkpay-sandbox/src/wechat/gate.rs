//! What every WeChat Pay call goes through before its own logic: the client certificate for
//! `secapi/`, the XML, the merchant, the signature, then the service-provider bindings (appid,
//! sub_mch_id under the SP, sub_appid bound to the sub-merchant — except on addsubdevconfig,
//! which binds it).

use std::collections::BTreeMap;
use std::str::FromStr;

use nkpay_crypto::wechat_sign::{self, WechatSignType};

use super::reply::WxError;
use super::xml;
use crate::accounts::WechatServiceProvider;
use crate::state::SandboxState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    UnifiedOrder,
    OrderQuery,
    CloseOrder,
    Refund,
    RefundQuery,
    DownloadBill,
    AddSubDevConfig,
    QuerySubDevConfig,
}

impl Api {
    pub const ALL: [Api; 8] = [
        Api::UnifiedOrder,
        Api::OrderQuery,
        Api::CloseOrder,
        Api::Refund,
        Api::RefundQuery,
        Api::DownloadBill,
        Api::AddSubDevConfig,
        Api::QuerySubDevConfig,
    ];

    /// The name faults are scoped by.
    pub fn name(self) -> &'static str {
        match self {
            Api::UnifiedOrder => "unifiedorder",
            Api::OrderQuery => "orderquery",
            Api::CloseOrder => "closeorder",
            Api::Refund => "refund",
            Api::RefundQuery => "refundquery",
            Api::DownloadBill => "downloadbill",
            Api::AddSubDevConfig => "addsubdevconfig",
            Api::QuerySubDevConfig => "querysubdevconfig",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Api::UnifiedOrder => "/pay/unifiedorder",
            Api::OrderQuery => "/pay/orderquery",
            Api::CloseOrder => "/pay/closeorder",
            Api::Refund => "/secapi/pay/refund",
            Api::RefundQuery => "/pay/refundquery",
            Api::DownloadBill => "/pay/downloadbill",
            Api::AddSubDevConfig => "/secapi/mch/addsubdevconfig",
            Api::QuerySubDevConfig => "/secapi/mch/querysubdevconfig",
        }
    }

    fn needs_client_cert(self) -> bool {
        matches!(
            self,
            Api::Refund | Api::AddSubDevConfig | Api::QuerySubDevConfig
        )
    }

    /// The sub-merchant development configuration calls take no `nonce_str` (their documented
    /// fields are appid, mch_id, sub_mch_id, the item and sign).
    fn is_sub_dev_config(self) -> bool {
        matches!(self, Api::AddSubDevConfig | Api::QuerySubDevConfig)
    }
}

/// An authenticated request: the merchant it comes from and its fields.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub sp: WechatServiceProvider,
    pub sub_mch_id: Option<String>,
    pub sub_appid: Option<String>,
    pub sign_type: WechatSignType,
    pub fields: BTreeMap<String, String>,
}

impl Ctx {
    /// A field's value; absent and empty are the same, as in signing.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .get(field)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, field: &str) -> Result<&str, WxError> {
        self.get(field).ok_or_else(|| WxError::lack(field))
    }

    /// The sub-merchant; every call but downloadbill has one after `check_bindings`.
    pub fn sub(&self) -> Result<&str, WxError> {
        self.sub_mch_id
            .as_deref()
            .ok_or_else(|| WxError::lack("sub_mch_id"))
    }
}

/// Reads and authenticates a call. Err is the `return_msg` of an unsigned FAIL reply.
pub(crate) fn admit(
    state: &SandboxState,
    api: Api,
    has_client_cert: bool,
    body: &[u8],
) -> Result<Ctx, String> {
    if api.needs_client_cert() && state.tls && !has_client_cert {
        return Err(
            "证书错误: secapi calls need the merchant's API client certificate (mutual TLS)"
                .to_owned(),
        );
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("post数据为空".to_owned());
    }
    let text =
        std::str::from_utf8(body).map_err(|_| "编码格式错误: the body must be UTF-8".to_owned())?;
    let fields = xml::parse(text, "xml").map_err(|e| format!("XML格式错误: {e}"))?;
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty());
    let mch_id = get("mch_id").ok_or("缺少参数mch_id")?;
    let sp = state
        .dir
        .wechat_sp(mch_id)
        .ok_or_else(|| {
            format!("商户号mch_id不存在: {mch_id} is not a service provider of this sandbox")
        })?
        .clone();
    let sign_type = match get("sign_type") {
        None => WechatSignType::Md5,
        Some(t) => WechatSignType::from_str(t)
            .map_err(|_| format!("sign_type参数格式错误: {t:?} is neither MD5 nor HMAC-SHA256"))?,
    };
    if get("sign").is_none() {
        return Err("缺少参数sign".to_owned());
    }
    wechat_sign::verify(&fields, &sp.api_key, sign_type).map_err(|_| "签名错误".to_owned())?;
    Ok(Ctx {
        sub_mch_id: get("sub_mch_id").cloned(),
        sub_appid: get("sub_appid").cloned(),
        sp,
        sign_type,
        fields,
    })
}

/// The service-provider rules, answered with signed errors.
pub(crate) fn check_bindings(ctx: &Ctx, api: Api) -> Result<(), WxError> {
    let appid = ctx.require("appid")?;
    if appid != ctx.sp.appid {
        return Err(WxError::new(
            "APPID_MCHID_NOT_MATCH",
            format!(
                "appid {appid} is not the appid of service provider {}",
                ctx.sp.mch_id
            ),
        ));
    }
    let nonce = match ctx.get("nonce_str") {
        None if api.is_sub_dev_config() => "",
        _ => ctx.require("nonce_str")?,
    };
    if nonce.chars().count() > 32 {
        return Err(WxError::new(
            "INVALID_REQUEST",
            "nonce_str must be at most 32 characters",
        ));
    }
    let sub = match &ctx.sub_mch_id {
        Some(sub) => sub,
        None if api == Api::DownloadBill => return Ok(()),
        None => return Err(WxError::lack("sub_mch_id")),
    };
    let Some(merchant) = ctx.sp.sub_merchants.iter().find(|m| &m.sub_mch_id == sub) else {
        if api.is_sub_dev_config() {
            // WeChat's answer to a sub_mch_id it does not know under this service provider.
            return Err(WxError::new(
                "INVALID_REQUEST",
                format!(
                    "子商户号信息有误,请检查修改后重试: sub_mch_id {sub} is not a sub-merchant of service provider {}",
                    ctx.sp.mch_id
                ),
            ));
        }
        return Err(WxError::new(
            "NOAUTH",
            format!(
                "sub_mch_id {sub} is not a sub-merchant of service provider {}",
                ctx.sp.mch_id
            ),
        ));
    };
    // addsubdevconfig is how a sub_appid gets bound: it is not checked against the bindings.
    if let Some(sub_appid) = &ctx.sub_appid
        && api != Api::AddSubDevConfig
        && !merchant.has_appid(sub_appid)
    {
        return Err(WxError::new(
            "APPID_MCHID_NOT_MATCH",
            format!("sub_appid {sub_appid} is not bound to sub_mch_id {sub}"),
        ));
    }
    Ok(())
}
