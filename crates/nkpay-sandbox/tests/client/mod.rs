//! A deliberately small client of the simulators for the tests: sign and send WeChat XML and
//! Alipay gateway calls, read replies, and receive notifies. Written from the protocol text, not
//! from the sandbox's code.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use nkpay_crypto::alipay_sign;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use nkpay_crypto::wechat_sign::{self, WechatSignType};
use nkpay_sandbox::{RunningSandbox, Sandbox, SandboxConfig};

pub const SP_MCH: &str = "1900000109";
pub const SP_APPID: &str = "wx5f6d2c8a9b0e1f37";
pub const API_KEY: &str = "nkpaySandboxDemoKey0000000000001";
pub const SUB_MCH: &str = "1900000201";
pub const SUB_APPID: &str = "wx1a2b3c4d5e6f7a81";
pub const OTHER_SUB_MCH: &str = "1900000202";
pub const OTHER_SUB_APPID: &str = "wx2b3c4d5e6f7a8b91";
pub const ISV_APP_ID: &str = "2021000000000001";
pub const TOKEN: &str = "202511BBnkpaydemo0000000000000001";
pub const OTHER_TOKEN: &str = "202511BBnkpaydemo0000000000000002";

/// Tests run with channel time 1000× faster.
pub async fn start() -> RunningSandbox {
    start_with(|_| {}).await
}

pub async fn start_with(tune: impl FnOnce(&mut SandboxConfig)) -> RunningSandbox {
    let mut config = SandboxConfig::demo();
    config.time_scale = 0.001;
    tune(&mut config);
    Sandbox::start(config).await.expect("sandbox starts")
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{nanos:09}{}", N.fetch_add(1, Ordering::Relaxed))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// POSTs a JSON body (sent as is, so malformed ones can be tried) to a control endpoint; the
/// status and the JSON answer.
pub async fn post_json(sb: &RunningSandbox, path: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = http()
        .post(format!("{}{path}", sb.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

// ---- WeChat ----------------------------------------------------------------------------------

pub type Fields = BTreeMap<String, String>;

pub fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The common fields of a call by the demo SP for its first sub-merchant.
pub fn wx_base() -> Fields {
    fields(&[
        ("appid", SP_APPID),
        ("mch_id", SP_MCH),
        ("sub_mch_id", SUB_MCH),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
    ])
}

pub fn to_xml(f: &Fields) -> String {
    let mut s = String::from("<xml>");
    for (k, v) in f {
        s.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    s.push_str("</xml>");
    s
}

pub fn sign_wx(mut f: Fields, t: WechatSignType) -> Fields {
    if t == WechatSignType::HmacSha256 {
        f.insert("sign_type".into(), "HMAC-SHA256".into());
    }
    let sign = wechat_sign::sign(&f, API_KEY, t);
    f.insert("sign".into(), sign);
    f
}

/// Parses a flat `<xml>` reply (CDATA or plain text).
pub fn parse_xml(text: &str) -> Fields {
    let mut out = Fields::new();
    let inner = text
        .trim()
        .strip_prefix("<xml>")
        .and_then(|t| t.strip_suffix("</xml>"))
        .unwrap_or_else(|| panic!("not an <xml> document: {text}"));
    let mut rest = inner;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("tag end") + open;
        let name = &rest[open + 1..close];
        let end_tag = format!("</{name}>");
        let end = rest[close..].find(&end_tag).expect("closing tag") + close;
        let raw = &rest[close + 1..end];
        let value = raw
            .strip_prefix("<![CDATA[")
            .and_then(|v| v.strip_suffix("]]>"))
            .unwrap_or(raw);
        out.insert(name.to_string(), value.to_string());
        rest = &rest[end + end_tag.len()..];
    }
    out
}

pub struct WxReply {
    pub status: u16,
    pub body: String,
    pub fields: Fields,
}

impl WxReply {
    pub fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("")
    }

    /// A signed business reply: verified, and its err_code (or "" on success).
    pub fn err_code(&self, t: WechatSignType) -> &str {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.get("return_code"), "SUCCESS", "{}", self.body);
        wechat_sign::verify(&self.fields, API_KEY, t)
            .unwrap_or_else(|e| panic!("reply signature: {e}: {}", self.body));
        if self.get("result_code") == "SUCCESS" {
            ""
        } else {
            assert_eq!(self.get("result_code"), "FAIL", "{}", self.body);
            self.get("err_code")
        }
    }

    /// An unsigned `return_code FAIL` reply's message.
    pub fn fail_msg(&self) -> &str {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.get("return_code"), "FAIL", "{}", self.body);
        assert!(!self.fields.contains_key("sign"), "{}", self.body);
        self.get("return_msg")
    }
}

pub async fn wx_raw(sb: &RunningSandbox, path: &str, body: String) -> WxReply {
    let resp = http()
        .post(format!("{}{path}", sb.base_url()))
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    let fields = if body.trim_start().starts_with("<xml>") {
        parse_xml(&body)
    } else {
        Fields::new()
    };
    WxReply {
        status,
        body,
        fields,
    }
}

pub async fn wx(sb: &RunningSandbox, path: &str, f: Fields) -> WxReply {
    wx_raw(sb, path, to_xml(&sign_wx(f, WechatSignType::Md5))).await
}

pub fn order_fields(out_trade_no: &str, notify_url: &str) -> Fields {
    let mut f = wx_base();
    f.extend(fields(&[
        ("sub_appid", SUB_APPID),
        ("body", "coffee"),
        ("out_trade_no", out_trade_no),
        ("total_fee", "100"),
        ("spbill_create_ip", "127.0.0.1"),
        ("notify_url", notify_url),
        ("trade_type", "JSAPI"),
        ("sub_openid", "oSubOpenid0001"),
    ]));
    f
}

/// Places an order; returns its prepay_id.
pub async fn wx_order(sb: &RunningSandbox, out_trade_no: &str, notify_url: &str) -> String {
    let r = wx(
        sb,
        "/pay/unifiedorder",
        order_fields(out_trade_no, notify_url),
    )
    .await;
    assert_eq!(r.err_code(WechatSignType::Md5), "", "{}", r.body);
    r.get("prepay_id").to_string()
}

pub async fn pay_json(
    sb: &RunningSandbox,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = http()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, v)
}

pub async fn wx_pay(sb: &RunningSandbox, prepay_id: &str) {
    let (status, v) = pay_json(
        sb,
        "/sandbox/wechat/pay",
        serde_json::json!({"prepay_id": prepay_id, "result": "SUCCESS"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

// ---- Alipay ----------------------------------------------------------------------------------

pub fn isv_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pem_or_base64(include_str!("../../demo/alipay-isv-app-private-key.pem"))
        .expect("demo ISV key")
}

pub fn gateway_public_key() -> RsaPublicKey {
    RsaPublicKey::from_pem_or_base64(include_str!("../../demo/alipay-gateway-public-key.pem"))
        .expect("demo gateway key")
}

pub fn ali_params(method: &str, biz: serde_json::Value) -> Fields {
    let mut p = fields(&[
        ("app_id", ISV_APP_ID),
        ("method", method),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2025-01-01 12:00:00"),
        ("version", "1.0"),
        ("app_auth_token", TOKEN),
    ]);
    p.insert("biz_content".into(), biz.to_string());
    p
}

pub fn sign_ali(mut p: Fields, key: &RsaPrivateKey) -> Fields {
    let sign = alipay_sign::sign_params(&p, key).expect("sign");
    p.insert("sign".into(), sign);
    p
}

pub struct AliReply {
    pub status: u16,
    pub body: String,
    pub signed: bool,
    pub inner: serde_json::Value,
}

impl AliReply {
    pub fn get(&self, k: &str) -> &str {
        self.inner.get(k).and_then(|v| v.as_str()).unwrap_or("")
    }

    /// (code, sub_code) of a signed reply, after verifying the sign over the inner bytes.
    pub fn codes(&self) -> (&str, &str) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.signed, "unsigned reply: {}", self.body);
        (self.get("code"), self.get("sub_code"))
    }
}

/// Splits `{"<key>":{…},"sign":"…"}` and verifies the sign over the inner object's bytes.
pub fn read_ali(status: u16, body: String, key: &str) -> AliReply {
    let prefix = format!("{{\"{key}\":");
    let rest = body
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("reply does not start with {prefix}: {body}"));
    let (inner_text, signed) = match rest.rfind(",\"sign\":\"") {
        Some(i) => {
            let inner = &rest[..i];
            let sig = rest[i + 9..].strip_suffix("\"}").expect("sign is last");
            gateway_public_key()
                .verify_sha256_base64(inner.as_bytes(), sig)
                .unwrap_or_else(|e| panic!("reply signature: {e}: {body}"));
            (inner.to_string(), true)
        }
        None => (
            rest.strip_suffix('}').expect("closing brace").to_string(),
            false,
        ),
    };
    let inner = serde_json::from_str(&inner_text).expect("inner JSON");
    AliReply {
        status,
        body,
        signed,
        inner,
    }
}

pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Sends signed params as a GET query.
pub async fn ali_get(sb: &RunningSandbox, p: &Fields, key: &str) -> AliReply {
    let resp = http()
        .get(sb.alipay_gateway_url())
        .query(p)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    read_ali(status, resp.text().await.expect("body"), key)
}

pub async fn ali(sb: &RunningSandbox, method: &str, biz: serde_json::Value) -> AliReply {
    let p = sign_ali(ali_params(method, biz), &isv_key());
    ali_get(sb, &p, &response_key(method)).await
}

pub async fn ali_precreate(
    sb: &RunningSandbox,
    out_trade_no: &str,
    notify_url: Option<&str>,
) -> String {
    let mut p = ali_params(
        "alipay.trade.precreate",
        serde_json::json!({"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "tea"}),
    );
    if let Some(url) = notify_url {
        p.insert("notify_url".into(), url.into());
    }
    let r = ali_get(
        sb,
        &sign_ali(p, &isv_key()),
        "alipay_trade_precreate_response",
    )
    .await;
    assert_eq!(r.codes(), ("10000", ""), "{}", r.body);
    r.get("qr_code").to_string()
}

pub async fn ali_pay(sb: &RunningSandbox, qr_code: &str) {
    let (status, v) = pay_json(
        sb,
        "/sandbox/alipay/pay",
        serde_json::json!({"qr_code": qr_code, "result": "SUCCESS"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

// ---- Notify receiver -------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub body: String,
}

/// An HTTP endpoint that records what it is sent and refuses the first `refuse_first` deliveries.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(refuse_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    let mut all = seen.lock().unwrap();
                    all.push(Received {
                        path: req.path().to_string(),
                        content_type: req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let wechat = req.path().starts_with("/wx");
                    let ok = all.len() > refuse_first;
                    let reply = match (wechat, ok) {
                        (true, true) => "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>",
                        (true, false) => "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[busy]]></return_msg></xml>",
                        (false, true) => "success",
                        (false, false) => "fail",
                    };
                    HttpResponse::Ok().body(reply)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}"),
            got,
            handle,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (or fails after 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.received());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
