//! WeChat Pay replies. A request that cannot be read or authenticated gets an unsigned
//! `return_code FAIL` with a `return_msg`, as the real service does; every other answer is signed
//! with the service provider's key: `result_code SUCCESS` with data, or `FAIL` with `err_code`.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use nkpay_crypto::wechat_sign;

use super::gate::Ctx;
use super::xml;
use crate::ids::random_alnum;

/// A documented business error: `err_code` and a description naming the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WxError {
    pub code: &'static str,
    pub des: String,
}

impl WxError {
    pub fn new(code: &'static str, des: impl Into<String>) -> Self {
        WxError {
            code,
            des: des.into(),
        }
    }

    pub fn lack(field: &str) -> Self {
        WxError::new("LACK_PARAMS", format!("缺少参数: {field} is required"))
    }

    pub fn system() -> Self {
        WxError::new("SYSTEMERROR", "系统超时, retry with the same parameters")
    }
}

pub(crate) type WxResult = Result<Vec<(String, String)>, WxError>;

pub(crate) fn xml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// `return_code FAIL`: nothing was processed and nothing can be signed.
pub(crate) fn fail(return_msg: &str) -> HttpResponse {
    xml_response(xml::write(
        "xml",
        [("return_code", "FAIL"), ("return_msg", return_msg)],
    ))
}

/// A signed reply in the request's sign_type.
pub(crate) fn signed(ctx: &Ctx, result: WxResult) -> HttpResponse {
    let mut fields: Vec<(String, String)> = vec![
        ("return_code".into(), "SUCCESS".into()),
        ("return_msg".into(), "OK".into()),
        ("appid".into(), ctx.sp.appid.clone()),
        ("mch_id".into(), ctx.sp.mch_id.clone()),
    ];
    if let Some(sub_appid) = &ctx.sub_appid {
        fields.push(("sub_appid".into(), sub_appid.clone()));
    }
    if let Some(sub_mch_id) = &ctx.sub_mch_id {
        fields.push(("sub_mch_id".into(), sub_mch_id.clone()));
    }
    fields.push(("nonce_str".into(), random_alnum(32)));
    match result {
        Ok(data) => {
            fields.push(("result_code".into(), "SUCCESS".into()));
            fields.extend(data);
        }
        Err(e) => {
            fields.push(("result_code".into(), "FAIL".into()));
            fields.push(("err_code".into(), e.code.into()));
            fields.push(("err_code_des".into(), e.des));
        }
    }
    xml_response(signed_xml(fields, &ctx.sp.api_key, ctx.sign_type))
}

/// Appends `sign` over `fields` and writes the document.
pub(crate) fn signed_xml(
    mut fields: Vec<(String, String)>,
    api_key: &str,
    sign_type: wechat_sign::WechatSignType,
) -> String {
    let map: BTreeMap<String, String> = fields.iter().cloned().collect();
    let sign = wechat_sign::sign(&map, api_key, sign_type);
    fields.push(("sign".into(), sign));
    xml::write("xml", fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
