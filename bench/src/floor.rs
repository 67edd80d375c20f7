//! The floor: the least a signed merchant API can do per request, built from the platform's own
//! envelope code (nkpay-crypto `envelope`): parse the body, rebuild the canonical form, verify
//! the caller's RSA-SHA256 signature, and answer with a reply signed by the platform's key.
//! No database, no channel. Every platform figure is also given as a share of this one.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use nkpay_crypto::envelope::{self, KEY_ID_HEADER};
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Map, Value};

/// The keys the floor works with.
pub struct FloorKeys {
    /// The caller's public key: requests must verify with it.
    pub caller: RsaPublicKey,
    /// The floor's own signing key (the platform's role).
    pub signer: RsaPrivateKey,
}

/// The request fields a jspay reply echoes back.
const ECHOED: [&str; 5] = [
    "req_date",
    "req_seq_id",
    "huifu_id",
    "trade_type",
    "trans_amt",
];

/// Answers one request as the platform's envelope layer would: 400 for a body that is not an
/// envelope; a signed `10000001` when the signature does not verify; otherwise a signed
/// `00000100` echoing the request's ids and amount (the shape of a jspay reply).
pub fn answer(keys: &FloorKeys, body: &[u8]) -> HttpResponse {
    let request = match envelope::parse(body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
    };
    let mut data = Map::new();
    if envelope::verify(&request, &keys.caller) {
        data.insert("resp_code".into(), "00000100".into());
        data.insert("resp_desc".into(), "交易处理中".into());
        for field in ECHOED {
            if let Some(v) = request.data.get(field) {
                data.insert(field.into(), v.clone());
            }
        }
    } else {
        data.insert("resp_code".into(), "10000001".into());
        data.insert("resp_desc".into(), Value::from("验签失败"));
    }
    match envelope::signed_reply_body(&data, &keys.signer) {
        Ok(body) => HttpResponse::Ok()
            .insert_header((KEY_ID_HEADER, "floor"))
            .content_type("application/json")
            .body(body),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// The floor's routes: every `POST` path is answered by [`answer`].
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.default_service(
        web::post()
            .to(|keys: web::Data<FloorKeys>, body: web::Bytes| async move { answer(&keys, &body) }),
    );
}

/// Serves the floor on `127.0.0.1:port` until the process is stopped, with actix-web's default
/// worker count (one per core, as `nkpay serve`).
///
/// Errors: the port could not be bound, or the server failed.
pub async fn serve(port: u16, keys: FloorKeys) -> anyhow::Result<()> {
    let keys = web::Data::from(Arc::new(keys));
    HttpServer::new(move || App::new().app_data(keys.clone()).configure(routes))
        .bind(("127.0.0.1", port))
        .with_context(|| format!("binding the floor to port {port}"))?
        .run()
        .await
        .context("the floor server")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Data, Signer, sign_all};
    use actix_web::test;

    #[actix_web::test]
    async fn a_signed_request_gets_a_reply_that_verifies_with_the_floors_key() {
        let caller = RsaPrivateKey::generate_2048().unwrap();
        let keys = FloorKeys {
            caller: caller.public_key(),
            signer: RsaPrivateKey::generate_2048().unwrap(),
        };
        let floor_public = keys.signer.public_key();
        let app =
            test::init_service(App::new().app_data(web::Data::new(keys)).configure(routes)).await;
        let signer = Signer {
            sys_id: "s".into(),
            product_id: "p".into(),
            key: caller,
        };
        let mut data = Data::new();
        data.insert("req_seq_id".into(), "bn1".into());
        data.insert("trans_amt".into(), "0.01".into());
        let good = sign_all(&signer, vec![data]).unwrap().remove(0);

        let reply = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/v2/trade/payment/jspay")
                .set_payload(good.clone())
                .to_request(),
        )
        .await;
        assert_eq!(reply.status(), 200);
        let body = String::from_utf8(test::read_body(reply).await.to_vec()).unwrap();
        let parsed = envelope::parse_reply(&body).unwrap();
        parsed.verify(&floor_public).unwrap();
        assert!(body.contains(r#""req_seq_id":"bn1""#), "{body}");
        assert!(body.contains(r#""resp_code":"00000100""#), "{body}");

        let tampered = String::from_utf8(good.to_vec())
            .unwrap()
            .replace("0.01", "0.02");
        let reply = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/any")
                .set_payload(tampered)
                .to_request(),
        )
        .await;
        let body = String::from_utf8(test::read_body(reply).await.to_vec()).unwrap();
        assert!(body.contains(r#""resp_code":"10000001""#), "{body}");

        let reply = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/any")
                .set_payload("not json")
                .to_request(),
        )
        .await;
        assert_eq!(reply.status(), 400);
    }
}
