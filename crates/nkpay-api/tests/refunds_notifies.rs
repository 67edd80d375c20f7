//! Refund notifies from both channels, on SQLite and PostgreSQL, with no job running so only
//! the notifies can settle: a duplicated notify settles the refund once; forged ones (sent by
//! the sandbox with a wrong key, or posted by anyone) are refused, recorded and change nothing;
//! a genuine notify for a refund we do not have is acknowledged and changes nothing.

mod refunds_support;
mod support;

use nkpay_core::state::RefundStatus;

use nkpay_core::trade_type::ChannelKind;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_crypto::wechat_refund_cipher::encrypt_req_info;
use nkpay_sandbox::Faults;
use nkpay_store::kinds::NotificationKind;
use refunds_support::{REFUND, TradeIds, WAIT, accepted, impatient, job_round, wait_for};
use serde_json::json;
use support::{NOTIFY_URL, Platform, signed_alipay_form};

/// A refund of `amount` with a notify URL; its `nkp_seq_id` once the reply says processing.
async fn processing_refund(p: &Platform, t: &TradeIds, amount: &str) -> String {
    let mut data = p.refund_data(t, amount);
    data["notify_url"] = json!(NOTIFY_URL);
    let reply = p.sp.call(REFUND, data).await;
    assert!(accepted(&reply), "{}: {reply:?}", p.label);
    reply.get("nkp_seq_id").to_owned()
}

/// Alipay answers a refund at once; these faults hold both sends past the client's patience
/// (the refund is made all the same), so the refund stays processing until a notify.
fn alipay_reply_lost(extra: Faults) -> Faults {
    Faults {
        timeout_times: 2,
        timeout_ms: 2500,
        apis: vec!["alipay.trade.refund".into()],
        ..extra
    }
}

/// A WeChat refund notify as WeChat builds it, its `req_info` sealed with `api_key`.
fn wechat_refund_notify(p: &Platform, api_key: &str, trade: &str, refund: &str) -> String {
    wechat_refund_notify_of(p, api_key, trade, refund, 100)
}

/// [`wechat_refund_notify`] saying `refund_fee` fen were refunded.
fn wechat_refund_notify_of(
    p: &Platform,
    api_key: &str,
    trade: &str,
    refund: &str,
    refund_fee: i64,
) -> String {
    let plain = format!(
        "<root><out_refund_no><![CDATA[{refund}]]></out_refund_no>\
         <out_trade_no><![CDATA[{trade}]]></out_trade_no>\
         <refund_id><![CDATA[50300000000000000001]]></refund_id>\
         <refund_fee><![CDATA[{refund_fee}]]></refund_fee><total_fee><![CDATA[500]]></total_fee>\
         <settlement_refund_fee><![CDATA[{refund_fee}]]></settlement_refund_fee>\
         <refund_status><![CDATA[SUCCESS]]></refund_status>\
         <success_time><![CDATA[2026-01-01 12:00:00]]></success_time></root>"
    );
    let req_info = encrypt_req_info(&plain, api_key).expect("encrypt");
    format!(
        "<xml><return_code>SUCCESS</return_code><appid><![CDATA[{}]]></appid>\
         <mch_id><![CDATA[{}]]></mch_id><nonce_str><![CDATA[n0nce]]></nonce_str>\
         <req_info><![CDATA[{req_info}]]></req_info></xml>",
        p.wechat_sp_appid, p.wechat_mch_id
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_refund_notify_from_either_channel_settles_once() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        for channel in [ChannelKind::Wechat, ChannelKind::Alipay] {
            let t = p.paid_trade(channel, "5.00").await;
            let duplicated = Faults {
                notify_duplicate_rate: 1.0,
                ..Faults::default()
            };
            p.set_faults(match channel {
                ChannelKind::Wechat => duplicated,
                ChannelKind::Alipay => alipay_reply_lost(duplicated),
            });
            let id = processing_refund(&p, &t, "3.00").await;
            let r = p.final_refund(&id).await;
            assert_eq!(r.status, RefundStatus::Succeeded, "{l} {channel:?}: {r:?}");
            wait_for("both copies of the notify to be answered", WAIT, || async {
                let state = p.state();
                let sent = state
                    .notifies
                    .iter()
                    .find(|n| n.out_refund_no.as_deref() == Some(id.as_str()));
                sent.is_some_and(|n| n.duplicated && n.delivered) && p.inbound(&id).await.len() >= 2
            })
            .await;
            let log = p.inbound(&id).await;
            assert!(log.iter().all(|(verified, _)| *verified), "{l}: {log:?}");
            let settled = log
                .iter()
                .filter(|(_, o)| o.contains("finalized S"))
                .count();
            let repeats = log
                .iter()
                .filter(|(_, o)| o.contains("already final S"))
                .count();
            assert_eq!(
                (settled, repeats),
                (1, log.len() - 1),
                "{l} {channel:?}: {log:?}"
            );
            assert_eq!(
                p.notifications(NotificationKind::Refund, &id).await,
                1,
                "{l} {channel:?}"
            );
            let row = p.trade(&t.nkp_seq_id).await;
            assert_eq!(
                (row.refunded_amt, row.refund_in_flight_amt),
                (300, 0),
                "{l} {channel:?}"
            );
            p.set_faults(Faults::default());
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_refund_notifies_are_refused_and_change_nothing() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        let forged_key = RsaPrivateKey::generate_2048().expect("key");
        for channel in [ChannelKind::Wechat, ChannelKind::Alipay] {
            let t = p.paid_trade(channel, "5.00").await;
            let forged = Faults {
                notify_bad_signature_rate: 1.0,
                ..Faults::default()
            };
            p.set_faults(match channel {
                ChannelKind::Wechat => forged,
                ChannelKind::Alipay => alipay_reply_lost(forged),
            });
            let id = processing_refund(&p, &t, "1.00").await;
            wait_for(
                "the sandbox's forged notify to be refused",
                WAIT,
                || async {
                    p.state().notifies.iter().any(|n| {
                        n.out_refund_no.as_deref() == Some(id.as_str())
                            && n.forged
                            && n.attempts > 0
                            && !n.delivered
                    })
                },
            )
            .await;

            // Anyone may post to the callback: a body sealed or signed with another key.
            let (path, content_type, body, refusal) = match channel {
                ChannelKind::Wechat => (
                    "/callback/wechat/refund",
                    "text/xml",
                    wechat_refund_notify(
                        &p,
                        "0123456789abcdef0123456789abcdef",
                        &t.nkp_seq_id,
                        &id,
                    ),
                    "FAIL",
                ),
                ChannelKind::Alipay => {
                    let body = signed_alipay_form(
                        &[
                            ("notify_type", "trade_status_sync"),
                            ("notify_id", "forged0001"),
                            ("app_id", "2021000000000001"),
                            ("out_trade_no", t.nkp_seq_id.as_str()),
                            ("trade_no", "2026010122001400000000000001"),
                            ("trade_status", "TRADE_SUCCESS"),
                            ("total_amount", "5.00"),
                            ("out_biz_no", id.as_str()),
                            ("refund_fee", "1.00"),
                            ("gmt_refund", "2026-01-01 12:00:00.000"),
                        ],
                        &forged_key,
                    );
                    (
                        "/callback/alipay",
                        "application/x-www-form-urlencoded",
                        body,
                        "fail",
                    )
                }
            };
            let answer = p.post_callback(path, content_type, body).await;
            assert!(answer.contains(refusal), "{l} {channel:?}: {answer}");

            let r = p.refund_row(&id).await;
            assert_eq!(
                r.status,
                RefundStatus::Processing,
                "{l} {channel:?}: a forged notify settled the refund"
            );
            assert_eq!(
                p.notifications(NotificationKind::Refund, &id).await,
                0,
                "{l} {channel:?}"
            );
            let row = p.trade(&t.nkp_seq_id).await;
            assert_eq!(
                (row.refunded_amt, row.refund_in_flight_amt),
                (0, 100),
                "{l} {channel:?}"
            );

            // The refund query still finds the truth.
            p.set_faults(Faults::default());
            assert_eq!(job_round(&p).await.finished, 1, "{l} {channel:?}");
            assert_eq!(
                p.refund_row(&id).await.status,
                RefundStatus::Succeeded,
                "{l} {channel:?}"
            );
            assert_eq!(
                p.trade(&t.nkp_seq_id).await.refunded_amt,
                100,
                "{l} {channel:?}"
            );
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_notify_for_a_refund_we_do_not_have_is_acknowledged_and_ignored() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "5.00").await;
        let body = wechat_refund_notify(&p, &p.wechat_api_key, &t.nkp_seq_id, "NOSUCHREFUND0001");
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!((row.refunded_amt, row.refund_in_flight_amt), (0, 0), "{l}");

        // Naming a real refund under another trade changes nothing either.
        let other = p.paid_trade(ChannelKind::Wechat, "5.00").await;
        p.set_faults(Faults {
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let id = processing_refund(&p, &t, "1.00").await;
        let body = wechat_refund_notify(&p, &p.wechat_api_key, &other.nkp_seq_id, &id);
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        assert_eq!(
            p.refund_row(&id).await.status,
            RefundStatus::Processing,
            "{l}"
        );
        let log = p.inbound(&id).await;
        assert!(
            log.iter().any(|(v, o)| *v && o.contains("ignored")),
            "{l}: {log:?}"
        );

        // The same notify naming the right trade settles it.
        let body = wechat_refund_notify(&p, &p.wechat_api_key, &t.nkp_seq_id, &id);
        let answer = p
            .post_callback("/callback/wechat/refund", "text/xml", body)
            .await;
        assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        let r = p.refund_row(&id).await;
        assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
        assert_eq!(r.party_refund_id.as_deref(), Some("50300000000000000001"));
        assert_eq!(
            p.notifications(NotificationKind::Refund, &id).await,
            1,
            "{l}"
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_with_another_amount_opens_an_incident_and_settles_nothing() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "5.00").await;
        p.set_faults(Faults {
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let id = processing_refund(&p, &t, "1.00").await;
        let body = wechat_refund_notify_of(&p, &p.wechat_api_key, &t.nkp_seq_id, &id, 150);
        for _ in 0..2 {
            let answer = p
                .post_callback("/callback/wechat/refund", "text/xml", body.clone())
                .await;
            assert!(answer.contains("SUCCESS"), "{l}: {answer}");
        }
        assert_eq!(
            p.refund_row(&id).await.status,
            RefundStatus::Processing,
            "{l}"
        );
        let incidents = nkpay_store::incidents::list_for(p.db.conn(), &id)
            .await
            .expect("incidents");
        assert_eq!(
            incidents.len(),
            1,
            "{l}: one incident however often it is told"
        );
        assert_eq!(incidents[0].kind, "refund_amount_mismatch");
        assert!(incidents[0].detail.contains("1.50"), "{:?}", incidents[0]);
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!(
            (row.refunded_amt, row.refund_in_flight_amt),
            (0, 100),
            "{l}"
        );
        p.stop().await;
    }
}
