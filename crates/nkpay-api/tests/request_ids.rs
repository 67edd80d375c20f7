//! Request ids (issue 14; docs/observability.md): every response carries `X-Request-Id`; a
//! caller's sane id is echoed, an insane one replaced; with JSON logs every line logged while
//! handling the request carries the id.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::*;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

const JSPAY: &str = "/v2/trade/payment/jspay";

/// The log output, as the JSON subscriber wrote it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("UTF-8 logs")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The id a response carries.
fn id_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("X-Request-Id on every response")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

fn is_fresh(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_response_and_every_log_line_of_a_request_carry_its_id() {
    // JSON lines as `log.format = "json"` writes them, at debug for our crates.
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(
            "info,nkpay_api=debug,nkpay_engine=debug,nkpay_channels=debug",
        ))
        .with_writer(logs.clone())
        .init();

    let p = Platform::all().await.remove(0);
    let http = reqwest::Client::new();
    let get = |path: &str, id: Option<&str>| {
        let mut req = http.get(format!("{}{path}", p.base_url));
        if let Some(id) = id {
            req = req.header("X-Request-Id", id);
        }
        req.send()
    };

    // None sent: a fresh one, different each time; on errors (404) too.
    let a = id_of(&get("/healthz", None).await.unwrap());
    let b = id_of(&get("/healthz", None).await.unwrap());
    assert!(is_fresh(&a) && is_fresh(&b) && a != b, "{a} {b}");
    let missing = get("/no/such/route", None).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(is_fresh(&id_of(&missing)));

    // A sane one is echoed.
    for sane in ["abc-123_X.y", &"z".repeat(64)] {
        assert_eq!(id_of(&get("/healthz", Some(sane)).await.unwrap()), sane);
    }
    // An insane one is replaced by a fresh one.
    for insane in [&"z".repeat(65), "has space", "semi;colon", "ä"] {
        let got = id_of(&get("/healthz", Some(insane)).await.unwrap());
        assert!(is_fresh(&got), "{insane:?} → {got}");
    }
    let got = id_of(&get("/metrics", Some("")).await.unwrap());
    assert!(is_fresh(&got));

    // A jspay under a known id: every line our crates log while it is handled carries it (the
    // sandbox is another server in this process, with its own requests).
    let id = format!("jspay-{}", fresh_id());
    let start = logs.lines().len();
    let data = p.jspay_data(
        MER_A,
        "T_JSAPI",
        json!({ "wx_data": json!({"openid": "oPayer001"}).to_string() }),
    );
    let body = nkpay_crypto::envelope::sign_request_data(
        &data.to_string(),
        nkpay_crypto::envelope::KeyOrder::TopLevel,
        &p.sp.key,
    )
    .expect("sign");
    let envelope = json!({
        "sys_id": p.sp.sys_id, "product_id": p.sp.product_id, "data": data, "sign": body.sign,
    });
    let resp = http
        .post(format!("{}{JSPAY}", p.base_url))
        .header("content-type", "application/json;charset=utf-8")
        .header("X-Request-Id", &id)
        .body(envelope.to_string())
        .send()
        .await
        .expect("jspay");
    assert_eq!(id_of(&resp), id);
    let reply = verify_reply(&resp.text().await.unwrap(), &p.sp.platform_key);
    assert_eq!(reply.code(), "00000100", "{:?}", reply.data);

    let lines: Vec<Value> = logs.lines().split_off(start);
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or_default();
            target.starts_with("nkpay_") && !target.starts_with("nkpay_sandbox")
        })
        .collect();
    // At least the channel call and the request's own line.
    assert!(ours.len() >= 2, "{lines:#?}");
    for line in &ours {
        assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");
        assert_eq!(line["span"]["name"], "request", "{line}");
    }
    assert!(
        ours.iter().any(|l| l["target"]
            .as_str()
            .unwrap_or_default()
            .starts_with("nkpay_channels")),
        "{lines:#?}"
    );
    p.stop().await;
}
