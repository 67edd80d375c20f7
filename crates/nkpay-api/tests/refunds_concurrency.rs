//! Concurrent refunds can never sum over the paid amount: 50 refunds of 1.00 against a 10.00
//! trade, at once, from two nodes over one database (half over HTTP to node 1, half straight into
//! node 2's engine), on SQLite and PostgreSQL, for both channels. Exactly 10 are accepted and
//! the channel sees exactly 10.

mod refunds_support;
mod support;

use futures::future::join_all;
use nkpay_api::open::OpenCall;
use nkpay_api::open::fields::Fields;
use nkpay_api::open::refund::{Refund, refund_reply};
use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::EngineError;
use nkpay_store::refunds;
use refunds_support::{REFUND, accepted, refund_config};
use serde_json::Value;
use support::{PRODUCT, Platform, SP};

const REQUESTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_refunds_of_a_tenth_accept_exactly_ten_and_the_channel_sees_ten() {
    for p in Platform::all_with(refund_config()).await {
        let l = p.label;
        let node2 = p.second_engine(2);
        let caller = node2
            .callers()
            .authenticate(SP, PRODUCT)
            .await
            .expect("caller");
        for channel in [ChannelKind::Wechat, ChannelKind::Alipay] {
            let t = p.paid_trade(channel, "10.00").await;
            let requests: Vec<Value> = (0..REQUESTS).map(|_| p.refund_data(&t, "1.00")).collect();
            let answers = join_all(requests.iter().enumerate().map(|(i, data)| {
                let (p, node2, caller) = (&p, &node2, &caller);
                async move {
                    if i % 2 == 0 {
                        p.sp.call(REFUND, data.clone()).await.code().to_owned()
                    } else {
                        // Node 2 runs the same request through its own engine, as its API
                        // would: fields read by the api's reader, the merchant scope, the
                        // engine's refund, the api's reply.
                        let data = data.as_object().expect("object");
                        let fields = Fields::new(data);
                        let scope = node2
                            .callers()
                            .authorize(caller, fields.mer_id().expect("mer_id"))
                            .await
                            .expect("scope");
                        let cmd = Refund::read(&fields).expect("fields");
                        match node2.refunds().create(&scope, cmd).await {
                            Ok(answer) => refund_reply(&answer)["resp_code"]
                                .as_str()
                                .unwrap_or("")
                                .to_owned(),
                            Err(EngineError::Refused { code, .. }) => code.code().to_owned(),
                            Err(e) => format!("error {e}"),
                        }
                    }
                }
            }))
            .await;
            let accepted = answers
                .iter()
                .filter(|c| *c == "00000000" || *c == "00000100")
                .count();
            let over = answers.iter().filter(|c| *c == "23000003").count();
            assert_eq!(
                (accepted, over),
                (10, REQUESTS - 10),
                "{l} {channel:?}: {answers:?}"
            );

            let rows = refunds::list_for_trade(p.db.conn(), &t.nkp_seq_id)
                .await
                .expect("refunds");
            assert_eq!(rows.len(), 10, "{l} {channel:?}");
            for r in &rows {
                assert_eq!(
                    p.final_refund(&r.nkp_seq_id).await.status,
                    RefundStatus::Succeeded,
                    "{l}"
                );
            }
            let trade = p.trade(&t.nkp_seq_id).await;
            assert_eq!(
                (trade.refunded_amt, trade.refund_in_flight_amt),
                (1000, 0),
                "{l} {channel:?}"
            );
            assert_eq!(p.channel_refunds(&t), (10, 10), "{l} {channel:?}");
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_one_refund_request_make_one_refund_and_share_its_answer() {
    for p in Platform::all_with(refund_config()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "3.00").await;
        let data = p.refund_data(&t, "2.00");
        let answers = join_all((0..10).map(|_| p.sp.call(REFUND, data.clone()))).await;
        let ids: std::collections::BTreeSet<&str> =
            answers.iter().map(|a| a.get("nkp_seq_id")).collect();
        assert_eq!(ids.len(), 1, "{l}: {answers:?}");
        assert!(accepted(&answers[0]), "{l}: {answers:?}");
        assert!(
            answers.iter().all(|a| a.data == answers[0].data),
            "{l}: every copy answers as the first: {answers:?}"
        );
        let rows = refunds::list_for_trade(p.db.conn(), &t.nkp_seq_id)
            .await
            .expect("refunds");
        assert_eq!(rows.len(), 1, "{l}");
        p.final_refund(&rows[0].nkp_seq_id).await;
        let trade = p.trade(&t.nkp_seq_id).await;
        assert_eq!(
            (trade.refunded_amt, trade.refund_in_flight_amt),
            (200, 0),
            "{l}"
        );
        assert_eq!(p.channel_refunds(&t), (1, 1), "{l}");
        p.stop().await;
    }
}
