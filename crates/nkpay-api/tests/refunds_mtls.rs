//! A WeChat refund over mutual TLS end to end, on SQLite and PostgreSQL: the merchant's WeChat
//! business runs on a platform account whose client certificate is stored sealed; the channel
//! (a sandbox behind TLS) demands that certificate on `secapi/pay/refund`.

mod refunds_support;
mod support;

use nkpay_core::secret::Secret;
use nkpay_core::state::RefundStatus;
use nkpay_core::state::TradeStatus;
use nkpay_engine::onboarding::{self, AppidKind, BoundAppid, NewWechatAccount, WechatBusiness};
use nkpay_engine::{ChannelSettings, EngineConfig};
use nkpay_sandbox::{Sandbox, SandboxConfig, TlsConfig};
use refunds_support::{JSPAY, REFUND, accepted, refund_config};
use serde_json::json;
use support::{MER_BARE, MP_APPID, Platform, TIME_SCALE, fresh_id, today};

/// A CA, the sandbox's certificate for 127.0.0.1 and the platform's client certificate.
struct Pki {
    ca_pem: String,
    server: TlsConfig,
    client_cert_pem: String,
    client_key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, &ca_key);
    let signed = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed("127.0.0.1");
    let (client_cert_pem, client_key_pem) = signed("apiclient");
    Pki {
        ca_pem: ca_cert.pem(),
        server: TlsConfig {
            cert_pem: server_cert,
            key_pem: server_key,
            client_ca_pem: ca_cert.pem(),
        },
        client_cert_pem,
        client_key_pem,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_refund_goes_over_mutual_tls_with_the_stored_client_certificate() {
    let pki = pki();
    let config = EngineConfig {
        channels: ChannelSettings {
            extra_roots_pem: Some(pki.ca_pem.clone()),
            ..refund_config().channels
        },
        ..refund_config()
    };
    for p in Platform::all_with(config).await {
        let l = p.label;
        let channel = Sandbox::start(SandboxConfig {
            time_scale: TIME_SCALE,
            tls: Some(pki.server.clone()),
            ..SandboxConfig::demo()
        })
        .await
        .expect("TLS sandbox");
        assert!(channel.base_url().starts_with("https://"));
        let sp = &channel.accounts().wechat.service_providers[0];
        let account = onboarding::register_wechat_account(
            &p.db,
            &p.sealer,
            &NewWechatAccount {
                name: "WeChat Pay behind mutual TLS".into(),
                gateway_url: channel.wechat_api_base_url(),
                is_default: false,
                appid: sp.appid.clone(),
                mch_id: sp.mch_id.clone(),
                api_key: Secret::new(sp.api_key.clone()),
                client_cert_pem: Some(Secret::new(pki.client_cert_pem.clone())),
                client_key_pem: Some(Secret::new(pki.client_key_pem.clone())),
            },
        )
        .await
        .expect("account");
        onboarding::open_wechat_business(
            &p.db,
            &p.sealer,
            &WechatBusiness {
                mer_id: MER_BARE.into(),
                sub_mch_id: sp.sub_merchants[0].sub_mch_id.clone(),
                appids: vec![BoundAppid {
                    appid: MP_APPID.into(),
                    kind: AppidKind::Mp,
                }],
                channel_account_id: Some(account.id),
                fee_rate_bp: 38,
            },
        )
        .await
        .expect("business");

        let wx = json!({"sub_appid": MP_APPID, "sub_openid": "o_tls_payer"}).to_string();
        let mut data = p.jspay_data(MER_BARE, "T_JSAPI", json!({ "wx_data": wx }));
        data["trans_amt"] = json!("3.00");
        let placed = p.sp.call(JSPAY, data.clone()).await;
        assert_eq!(placed.code(), "00000100", "{l}: {placed:?}");
        let nkp = placed.get("nkp_seq_id").to_owned();
        let pay_info: serde_json::Value =
            serde_json::from_str(placed.get("pay_info")).expect("pay_info");
        let prepay_id = pay_info["package"]
            .as_str()
            .and_then(|s| s.strip_prefix("prepay_id="))
            .expect("prepay_id");
        let https = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA"),
            )
            .build()
            .expect("client");
        let paid = https
            .post(format!("{}/sandbox/wechat/pay", channel.base_url()))
            .json(&json!({ "prepay_id": prepay_id }))
            .send()
            .await
            .expect("pay");
        assert!(paid.status().is_success(), "{l}");
        assert_eq!(
            p.wait_final(&nkp).await.status,
            TradeStatus::Succeeded,
            "{l}"
        );

        let reply =
            p.sp.call(
                REFUND,
                json!({
                    "req_date": today(), "req_seq_id": fresh_id(), "huifu_id": MER_BARE,
                    "ord_amt": "1.20", "org_req_date": data["req_date"],
                    "org_req_seq_id": data["req_seq_id"],
                }),
            )
            .await;
        assert!(accepted(&reply), "{l}: {reply:?}");
        let r = p.final_refund(reply.get("nkp_seq_id")).await;
        assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
        assert_eq!(p.trade(&nkp).await.refunded_amt, 120, "{l}");
        let state = channel.state();
        assert_eq!(state.wechat.refunds_made, 1, "{l}");
        let order = state
            .wechat
            .orders
            .iter()
            .find(|o| o.out_trade_no == nkp)
            .expect("order at the TLS channel");
        assert_eq!(order.refunds.len(), 1, "{l}");
        assert_eq!(order.refunds[0].out_refund_no, r.nkp_seq_id, "{l}");
        channel.shutdown().await;
        p.stop().await;
    }
}
