//! Refunds through the merchant API over HTTP against the embedded sandbox, on SQLite and
//! PostgreSQL: full and partial refunds up to exactly the paid amount, one fen over, unpaid and
//! closed trades, unknown and foreign trades, idempotent replays, and the merchant's refund
//! notification written with the final state.

mod refunds_support;
mod support;

use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications;
use refunds_support::{CLOSE, QUERY, REFUND, REFUND_QUERY, accepted, refund_config, spawn_jobs};
use serde_json::{Value, json};
use support::{MER_A, MER_B, Platform, fresh_id, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refund_settles_notifies_and_shows_in_the_trade_query() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "10.00").await;
        let mut data = p.refund_data(&t, "10.00");
        data["notify_url"] = json!("http://127.0.0.1:9/refund-notify");
        data["remark"] = json!("整单退款");
        let reply = p.sp.call(REFUND, data.clone()).await;
        assert!(accepted(&reply), "{l}: {reply:?}");
        assert_eq!(reply.get("ord_amt"), "10.00");
        assert_eq!(reply.get("req_seq_id"), data["req_seq_id"]);
        assert_eq!(reply.get("org_nkp_seq_id"), t.nkp_seq_id);
        assert_eq!(reply.get("org_req_seq_id"), t.req_seq_id);
        assert_eq!(reply.get("remark"), "整单退款");
        let refund_id = reply.get("nkp_seq_id").to_owned();
        assert!(!refund_id.is_empty() && refund_id != t.nkp_seq_id);

        let r = p.final_refund(&refund_id).await;
        assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
        assert!(r.party_refund_id.is_some() && r.end_time.is_some());
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!(
            (
                row.status.as_str(),
                row.refunded_amt,
                row.refund_in_flight_amt
            ),
            ("S", 1000, 0)
        );

        let q = p
            .sp
            .call(QUERY, json!({"huifu_id": MER_A, "org_req_date": t.req_date, "org_req_seq_id": t.req_seq_id}))
            .await;
        assert_eq!(q.get("refunded_amt"), "10.00", "{l}: {q:?}");
        assert_eq!(q.get("trans_amt"), "10.00");

        for by in [
            json!({"huifu_id": MER_A, "org_req_date": data["req_date"], "org_req_seq_id": data["req_seq_id"]}),
            json!({"huifu_id": MER_A, "org_nkp_seq_id": refund_id}),
        ] {
            let rq = p.sp.call(REFUND_QUERY, by).await;
            assert_eq!(rq.code(), "00000000", "{l}: {rq:?}");
            assert_eq!(rq.get("trans_stat"), "S");
            assert_eq!(rq.get("ord_amt"), "10.00");
            assert_eq!(rq.get("org_nkp_seq_id"), refund_id);
            assert_eq!(rq.get("trade_nkp_seq_id"), t.nkp_seq_id);
            assert_eq!(rq.get("refunded_amt"), "10.00");
            assert_eq!(rq.get("end_time").len(), 14);
        }

        let notes =
            notifications::list_for_subject(p.db.conn(), NotificationKind::Refund, &refund_id)
                .await
                .expect("notifications");
        assert_eq!(notes.len(), 1, "{l}");
        assert_eq!(notes[0].notify_url, "http://127.0.0.1:9/refund-notify");
        let resp: Value = serde_json::from_str(&notes[0].resp_data).expect("resp_data JSON");
        assert_eq!(resp["notify_type"], "REFUND");
        assert_eq!(resp["nkp_seq_id"], refund_id.as_str());
        assert_eq!(resp["req_seq_id"], data["req_seq_id"]);
        assert_eq!(resp["org_nkp_seq_id"], t.nkp_seq_id.as_str());
        assert_eq!(resp["ord_amt"], "10.00");
        assert_eq!(resp["trans_stat"], "S");
        assert_eq!(resp["remark"], "整单退款");
        assert_eq!(resp["mer_id"], MER_A);
        assert_eq!(p.channel_refunds(&t), (1, 1), "{l}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_reach_exactly_the_paid_amount_and_one_fen_more_is_refused() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        for channel in [ChannelKind::Alipay, ChannelKind::Wechat] {
            let t = p.paid_trade(channel, "5.00").await;
            let mut ids = Vec::new();
            for amount in ["1.00", "2.50", "1.49", "0.01"] {
                let reply = p.refund(&t, amount).await;
                assert!(accepted(&reply), "{l} {channel:?} {amount}: {reply:?}");
                ids.push(reply.get("nkp_seq_id").to_owned());
            }
            // Counting refunds still in flight, nothing is left.
            let over = p.refund(&t, "0.01").await;
            assert_eq!(over.code(), "23000003", "{l} {channel:?}: {over:?}");
            assert!(over.desc().contains("ord_amt"), "{over:?}");
            for id in &ids {
                assert_eq!(
                    p.final_refund(id).await.status,
                    RefundStatus::Succeeded,
                    "{l} {channel:?}"
                );
            }
            let row = p.trade(&t.nkp_seq_id).await;
            assert_eq!(
                (row.refunded_amt, row.refund_in_flight_amt),
                (500, 0),
                "{l} {channel:?}"
            );
            let over = p.refund(&t, "0.01").await;
            assert_eq!(over.code(), "23000003", "{l} {channel:?}: {over:?}");
            assert_eq!(p.channel_refunds(&t), (4, 4), "{l} {channel:?}");
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fen_over_the_refundable_amount_is_refused_and_nothing_is_reserved() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "1.00").await;
        let over = p.refund(&t, "1.01").await;
        assert_eq!(over.code(), "23000003", "{l}: {over:?}");
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!((row.refunded_amt, row.refund_in_flight_amt), (0, 0));

        assert!(accepted(&p.refund(&t, "0.60").await), "{l}");
        let over = p.refund(&t, "0.41").await;
        assert_eq!(over.code(), "23000003", "{l}: {over:?}");
        assert!(over.desc().contains("0.40"), "{over:?}");
        let last = p.refund(&t, "0.40").await;
        assert!(accepted(&last), "{l}: {last:?}");
        p.final_refund(last.get("nkp_seq_id")).await;
        assert_eq!(p.channel_refunds(&t), (2, 2), "{l}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_of_unpaid_closed_unknown_or_foreign_trades_are_refused() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        let unpaid = p.unpaid_trade(ChannelKind::Wechat, "3.00").await;
        let reply = p.refund(&unpaid, "1.00").await;
        assert_eq!(reply.code(), "23000002", "{l}: {reply:?}");
        assert!(reply.desc().contains("not paid"), "{reply:?}");

        let closed = p.unpaid_trade(ChannelKind::Alipay, "3.00").await;
        let close =
            p.sp.call(
                CLOSE,
                json!({
                    "req_date": today(), "req_seq_id": fresh_id(), "huifu_id": MER_A,
                    "org_req_date": closed.req_date, "org_req_seq_id": closed.req_seq_id,
                }),
            )
            .await;
        assert_eq!(close.get("trans_stat"), "S", "{l}: {close:?}");
        let reply = p.refund(&closed, "1.00").await;
        assert_eq!(reply.code(), "23000002", "{l}: {reply:?}");

        let mut unknown = p.refund_data(&unpaid, "1.00");
        unknown["org_req_seq_id"] = json!("no-such-trade");
        let reply = p.sp.call(REFUND, unknown).await;
        assert_eq!(reply.code(), "23000001", "{l}: {reply:?}");

        // Another merchant of the same service provider cannot reach this trade by any id.
        let paid = p.paid_trade(ChannelKind::Alipay, "2.00").await;
        let party = p
            .trade(&paid.nkp_seq_id)
            .await
            .party_order_id
            .expect("trade_no");
        for by in [
            json!({"org_nkp_seq_id": paid.nkp_seq_id}),
            json!({"org_req_seq_id": paid.req_seq_id}),
            json!({"org_party_order_id": party}),
        ] {
            let mut data = p.refund_data(&paid, "1.00");
            data["huifu_id"] = json!(MER_B);
            data.as_object_mut()
                .expect("object")
                .remove("org_req_seq_id");
            for (k, v) in by.as_object().expect("object") {
                data[k] = v.clone();
            }
            let reply = p.sp.call(REFUND, data).await;
            assert_eq!(reply.code(), "23000001", "{l}: {reply:?}");
        }
        // Nor can another service provider act for this merchant at all.
        let reply = p.other_sp.call(REFUND, p.refund_data(&paid, "1.00")).await;
        assert_eq!(reply.code(), "22000000", "{l}: {reply:?}");
        assert_eq!(p.channel_refunds(&paid), (0, 0), "{l}");
        assert_eq!(p.channel_refunds(&unpaid), (0, 0), "{l}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_refund_request_replays_and_changed_content_is_a_duplicate() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Alipay, "8.00").await;
        let party = p
            .trade(&t.nkp_seq_id)
            .await
            .party_order_id
            .expect("trade_no");
        // Named by the channel's order number this time.
        let mut data = p.refund_data(&t, "3.00");
        data.as_object_mut()
            .expect("object")
            .remove("org_req_seq_id");
        data["org_party_order_id"] = json!(party);
        let first = p.sp.call(REFUND, data.clone()).await;
        assert_eq!(first.code(), "00000000", "{l}: {first:?}");
        assert_eq!(first.get("trans_stat"), "S");
        assert_eq!(first.get("org_nkp_seq_id"), t.nkp_seq_id);
        let again = p.sp.call(REFUND, data.clone()).await;
        assert_eq!(
            again.data, first.data,
            "{l}: a replay answers exactly as the first time"
        );

        data["ord_amt"] = json!("3.01");
        let changed = p.sp.call(REFUND, data.clone()).await;
        assert_eq!(changed.code(), "20000000", "{l}: {changed:?}");
        data["ord_amt"] = json!("3.0");
        data["req_seq_id"] = json!(fresh_id());
        let bad = p.sp.call(REFUND, data).await;
        assert_eq!(bad.code(), "10000000", "{l}: {bad:?}");
        assert!(bad.desc().starts_with("ord_amt"), "{bad:?}");

        assert_eq!(p.channel_refunds(&t), (1, 1), "{l}");
        assert_eq!(p.trade(&t.nkp_seq_id).await.refunded_amt, 300);
        p.stop().await;
    }
}
