//! The Alipay gateway, `/gateway.do`: merges the query string and the form body, checks the
//! common parameters, the app, the RSA2 signature and the `app_auth_token` grant, then runs the
//! method. Replies are `{"<method>_response":{…},"sign":"…"}` with the sign over the exact bytes
//! of the inner object; only a request whose app cannot be identified gets an unsigned reply.
//!
//! A trade call without `app_auth_token` acts on the ISV app's own account, which has no trades
//! here: query, close, refund and refund query answer `ACQ.TRADE_NOT_EXIST`; precreate and the
//! bill URL are refused with 20001 (the sandbox serves those for sub-merchants only). The app
//! authorization methods (`alipay.open.auth.token.app[.query]`) take no `app_auth_token`.
//!
//! Error codes: 40001 Missing Required Arguments (`isv.missing-*`, `isv.missing-parameter` for a
//! business field), 40002 Invalid Arguments (`isv.invalid-*`), 20001 Insufficient Token
//! Permissions (`aop.invalid-app-auth-token`), 40004 Business Failed (`ACQ.*`, `isp.*`).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use nkpay_crypto::alipay_sign;
use serde_json::{Map, Value};

use super::{app_auth, bill, refund, trade};
use crate::accounts::{AlipayGrant, AlipayIsvApp};
use crate::clock::parse_shanghai;
use crate::faults::SystemErrorAt;
use crate::state::SandboxState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Precreate,
    Query,
    Close,
    Refund,
    RefundQuery,
    BillDownloadUrl,
    AuthToken,
    AuthTokenQuery,
}

impl Method {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "alipay.open.auth.token.app" => Method::AuthToken,
            "alipay.open.auth.token.app.query" => Method::AuthTokenQuery,
            "alipay.trade.precreate" => Method::Precreate,
            "alipay.trade.query" => Method::Query,
            "alipay.trade.close" => Method::Close,
            "alipay.trade.refund" => Method::Refund,
            "alipay.trade.fastpay.refund.query" => Method::RefundQuery,
            "alipay.data.dataservice.bill.downloadurl.query" => Method::BillDownloadUrl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Precreate => "alipay.trade.precreate",
            Method::Query => "alipay.trade.query",
            Method::Close => "alipay.trade.close",
            Method::Refund => "alipay.trade.refund",
            Method::RefundQuery => "alipay.trade.fastpay.refund.query",
            Method::BillDownloadUrl => "alipay.data.dataservice.bill.downloadurl.query",
            Method::AuthToken => "alipay.open.auth.token.app",
            Method::AuthTokenQuery => "alipay.open.auth.token.app.query",
        }
    }

    /// The ISV app's own calls about authorizations act for no sub-merchant.
    fn is_app_auth(self) -> bool {
        matches!(self, Method::AuthToken | Method::AuthTokenQuery)
    }

    /// Without `app_auth_token` a call acts on the ISV app's own account; this is the answer.
    fn own_account_answer(self) -> AliError {
        match self {
            Method::Query | Method::Close | Method::Refund | Method::RefundQuery => {
                AliError::business(
                    "ACQ.TRADE_NOT_EXIST",
                    "交易不存在: without app_auth_token the call is for the ISV app's own account, which has no trades in this sandbox",
                )
            }
            _ => AliError::token(
                "app_auth_token is required: the sandbox serves this call on behalf of a sub-merchant only",
            ),
        }
    }
}

/// A gateway or business error, as the inner object's code/msg/sub_code/sub_msg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliError {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
}

impl AliError {
    fn new(code: &'static str, msg: &'static str, sub_code: &str, sub_msg: String) -> Self {
        AliError {
            code,
            msg,
            sub_code: sub_code.to_owned(),
            sub_msg,
        }
    }

    pub fn missing(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        AliError::new(
            "40001",
            "Missing Required Arguments",
            sub_code,
            sub_msg.into(),
        )
    }

    pub fn invalid(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        AliError::new("40002", "Invalid Arguments", sub_code, sub_msg.into())
    }

    pub fn token(sub_msg: impl Into<String>) -> Self {
        AliError::new(
            "20001",
            "Insufficient Token Permissions",
            "aop.invalid-app-auth-token",
            sub_msg.into(),
        )
    }

    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        AliError::new("40004", "Business Failed", sub_code, sub_msg.into())
    }

    pub fn bad_param(sub_msg: impl Into<String>) -> Self {
        AliError::business("ACQ.INVALID_PARAMETER", sub_msg)
    }

    fn system() -> Self {
        AliError::business(
            "ACQ.SYSTEM_ERROR",
            "系统错误, retry with the same out_trade_no / out_request_no",
        )
    }
}

pub(crate) type AliResult = Result<Map<String, Value>, AliError>;

/// An authenticated call: the ISV app, the sub-merchant's grant (none for the app's own calls)
/// and the business content.
#[derive(Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub app: AlipayIsvApp,
    grant: Option<AlipayGrant>,
    pub params: BTreeMap<String, String>,
    pub biz: Map<String, Value>,
}

impl Call {
    /// The sub-merchant's grant; the gateway answers calls without one before they get here.
    pub fn grant(&self) -> Result<&AlipayGrant, AliError> {
        self.grant
            .as_ref()
            .ok_or_else(|| self.method.own_account_answer())
    }

    /// A business field as text (numbers as written); absent, null and "" are the same.
    pub fn biz(&self, field: &str) -> Option<String> {
        match self.biz.get(field)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn require(&self, field: &str) -> Result<String, AliError> {
        self.biz(field).ok_or_else(|| {
            AliError::missing(
                "isv.missing-parameter",
                format!("缺少必选参数: biz_content.{field} is required"),
            )
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Query string and form body merged; a name given twice with two values is refused.
fn merged_params(req: &HttpRequest, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let is_form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form: &[u8] = if is_form { body } else { &[] };
    let pairs = url::form_urlencoded::parse(req.query_string().as_bytes())
        .chain(url::form_urlencoded::parse(form));
    for (k, v) in pairs {
        let k = k.into_owned();
        match params.get(&k) {
            Some(existing) if existing != &v => {
                return Err(format!(
                    "parameter {k} is given twice with different values"
                ));
            }
            _ => {
                params.insert(k, v.into_owned());
            }
        }
    }
    Ok(params)
}

fn response_key(method: Option<Method>) -> String {
    match method {
        Some(m) => format!("{}_response", m.name().replace('.', "_")),
        None => "error_response".to_owned(),
    }
}

fn error_object(e: AliError) -> Map<String, Value> {
    let mut inner = Map::new();
    inner.insert("code".into(), e.code.into());
    inner.insert("msg".into(), e.msg.into());
    inner.insert("sub_code".into(), e.sub_code.into());
    inner.insert("sub_msg".into(), e.sub_msg.into());
    inner
}

fn respond(state: &SandboxState, key: &str, result: AliResult, signed: bool) -> HttpResponse {
    let inner = match result {
        Ok(data) => {
            let mut inner = Map::new();
            inner.insert("code".into(), "10000".into());
            inner.insert("msg".into(), "Success".into());
            inner.extend(data);
            inner
        }
        Err(e) => error_object(e),
    };
    let inner_text = Value::Object(inner).to_string();
    let key_text = Value::String(key.to_owned()).to_string();
    let sign = if signed {
        state
            .dir
            .gateway_key
            .sign_sha256_base64(inner_text.as_bytes())
            .ok()
    } else {
        None
    };
    let body = match sign {
        // The inner object first, "sign" last: clients verify the inner bytes as received.
        Some(sig) => format!(
            "{{{key_text}:{inner_text},\"sign\":{}}}",
            Value::String(sig)
        ),
        None => format!("{{{key_text}:{inner_text}}}"),
    };
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(body)
}

/// Common parameters, signature and grant. Err carries whether the reply can be signed.
fn admit(
    state: &SandboxState,
    params: Result<BTreeMap<String, String>, String>,
    method: Option<Method>,
) -> Result<Call, (AliError, bool)> {
    let signed = |e| (e, true);
    let get = |params: &BTreeMap<String, String>, k: &str| {
        params.get(k).filter(|v| !v.is_empty()).cloned()
    };
    let params =
        params.map_err(|conflict| (AliError::invalid("isv.invalid-parameter", conflict), false))?;
    let Some(app_id) = get(&params, "app_id") else {
        return Err((
            AliError::missing("isv.missing-app-id", "缺少AppID参数: app_id is required"),
            false,
        ));
    };
    let Some((app, public_key)) = state.dir.alipay_app(&app_id) else {
        return Err((
            AliError::invalid(
                "isv.invalid-app-id",
                format!("无效的AppID参数: app_id {app_id} is not an app of this gateway"),
            ),
            false,
        ));
    };
    let Some(method_name) = get(&params, "method") else {
        return Err(signed(AliError::missing(
            "isv.missing-method",
            "缺少方法名参数: method is required",
        )));
    };
    let Some(method) = method else {
        return Err(signed(AliError::invalid(
            "isv.invalid-method",
            format!("不存在的方法名: method {method_name} is not served by this gateway"),
        )));
    };
    if let Some(charset) = get(&params, "charset")
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        return Err(signed(AliError::invalid(
            "isv.invalid-charset",
            format!("字符集错误: charset {charset} is not supported, use utf-8"),
        )));
    }
    if get(&params, "sign").is_none() {
        return Err(signed(AliError::missing(
            "isv.missing-signature",
            "缺少签名参数: sign is required",
        )));
    }
    match get(&params, "sign_type").as_deref() {
        None => {
            return Err(signed(AliError::missing(
                "isv.missing-signature-type",
                "缺少签名类型参数: sign_type is required",
            )));
        }
        Some("RSA2") => {}
        Some(other) => {
            return Err(signed(AliError::invalid(
                "isv.invalid-signature-type",
                format!("无效的签名类型: sign_type {other} is not RSA2"),
            )));
        }
    }
    match get(&params, "timestamp") {
        None => {
            return Err(signed(AliError::missing(
                "isv.missing-timestamp",
                "缺少时间戳参数: timestamp is required",
            )));
        }
        Some(t) if parse_shanghai(&t, "%Y-%m-%d %H:%M:%S").is_none() => {
            return Err(signed(AliError::invalid(
                "isv.invalid-timestamp",
                format!("非法的时间戳参数: timestamp {t:?} is not yyyy-MM-dd HH:mm:ss"),
            )));
        }
        Some(_) => {}
    }
    match get(&params, "version").as_deref() {
        None => {
            return Err(signed(AliError::missing(
                "isv.missing-version",
                "缺少版本参数: version is required",
            )));
        }
        Some("1.0") => {}
        Some(v) => {
            return Err(signed(AliError::invalid(
                "isv.invalid-version",
                format!("版本号错误: version {v} is not 1.0"),
            )));
        }
    }
    if alipay_sign::verify_request(&params, &public_key).is_err() {
        return Err(signed(AliError::invalid(
            "isv.invalid-signature",
            "验签出错: the RSA2 signature does not match the parameters and the app's public key",
        )));
    }
    let grant = match get(&params, "app_auth_token") {
        _ if method.is_app_auth() => None,
        None => None,
        Some(token) => Some(state.dir.alipay_grant(&app_id, &token).ok_or_else(|| {
            signed(AliError::token(format!(
                "无效的应用授权令牌: app_auth_token {token} was not granted to app {app_id}"
            )))
        })?),
    };
    if let Some(url) = get(&params, "notify_url") {
        let ok = url::Url::parse(&url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(signed(AliError::invalid(
                "isv.invalid-notify-url",
                format!("notify_url {url:?} must be an absolute http(s) URL"),
            )));
        }
    }
    let Some(biz_text) = get(&params, "biz_content") else {
        return Err(signed(AliError::missing(
            "isv.missing-parameter",
            "缺少必选参数: biz_content is required",
        )));
    };
    let biz = match serde_json::from_str::<Value>(&biz_text) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(signed(AliError::invalid(
                "isv.invalid-parameter",
                "biz_content must be a JSON object",
            )));
        }
    };
    Ok(Call {
        method,
        app,
        grant,
        params,
        biz,
    })
}

pub(crate) async fn gateway(
    state: web::Data<SandboxState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = merged_params(&req, &body);
    let method = params
        .as_ref()
        .ok()
        .and_then(|p| p.get("method"))
        .and_then(|m| Method::parse(m));
    let key = response_key(method);
    let faults = state
        .faults
        .for_call(method.map_or("alipay.unknown", Method::name));
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let call = match admit(&state, params, method) {
        Ok(call) => call,
        Err((e, signed)) => return respond(&state, &key, Err(e), signed),
    };
    if faults.system_error == Some(SystemErrorAt::BeforeProcessing) {
        return respond(&state, &key, Err(AliError::system()), true);
    }
    let result = match call.method {
        m if call.grant.is_none() && !m.is_app_auth() => Err(m.own_account_answer()),
        Method::AuthToken => app_auth::token(&state, &call),
        Method::AuthTokenQuery => app_auth::token_query(&state, &call),
        Method::Precreate => trade::precreate(&state, &call),
        Method::Query => trade::query(&state, &call),
        Method::Close => trade::close(&state, &call),
        Method::Refund => refund::refund(&state, &call),
        Method::RefundQuery => refund::query(&state, &call),
        Method::BillDownloadUrl => bill::download_url(&state, &call),
    };
    let result = if faults.system_error == Some(SystemErrorAt::AfterProcessing) {
        Err(AliError::system())
    } else {
        result
    };
    if let Some(hold) = faults.hold {
        tokio::time::sleep(hold).await;
    }
    respond(&state, &key, result, true)
}
