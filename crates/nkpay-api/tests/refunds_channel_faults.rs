//! What the channel does wrong, injected at the sandbox, on SQLite and PostgreSQL: a refund
//! reply that never comes in time (the refund query resolves it), system errors before the
//! refund was made (the job sends it again under the same number, and the channel refunds it
//! once), and a refund the channel closes (it fails here and the amount is refundable again).

mod refunds_support;
mod support;

use nkpay_core::state::RefundStatus;
use std::time::Duration;

use nkpay_core::trade_type::ChannelKind;
use nkpay_sandbox::{Faults, RefundOutcome};
use nkpay_store::kinds::NotificationKind;
use nkpay_store::notifications;
use refunds_support::{REFUND, REFUND_QUERY, accepted, impatient, job_round, refund_config};
use serde_json::{Value, json};
use support::{MER_A, NOTIFY_URL, Platform};

/// Generous: a wait that only needs time must not fail on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_reply_that_times_out_is_resolved_by_the_refund_query() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "6.00").await;
        // Both sends are made at the channel and answered too late; no refund notify arrives.
        p.set_faults(Faults {
            timeout_times: 2,
            timeout_ms: 2500,
            apis: vec!["refund".into()],
            notify_drop_rate: 1.0,
            ..Faults::default()
        });
        let reply = p.refund(&t, "2.00").await;
        assert_eq!(reply.code(), "00000100", "{l}: {reply:?}");
        assert_eq!(reply.get("trans_stat"), "P");
        assert!(reply.desc().contains("query it later"), "{reply:?}");
        // Our time-out is ours: it is logged, never the channel's message (issue 15, fault 2).
        assert_eq!(reply.get("bank_message"), "", "{reply:?}");
        let id = reply.get("nkp_seq_id").to_owned();
        // The same refund number both times: one refund at the channel.
        assert_eq!(p.channel_refunds(&t), (1, 2), "{l}");
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!(
            (row.refunded_amt, row.refund_in_flight_amt),
            (0, 200),
            "{l}"
        );

        // Once the channel has settled it, the job asks.
        refunds_support::wait_for("the channel to settle the refund", PATIENCE, || async {
            p.state()
                .wechat
                .orders
                .iter()
                .filter(|o| o.out_trade_no == t.nkp_seq_id)
                .flat_map(|o| &o.refunds)
                .any(|r| r.refund_status == "SUCCESS")
        })
        .await;
        let round = job_round(&p).await;
        assert_eq!(
            (round.claimed, round.finished, round.resent),
            (1, 1, 0),
            "{l}: {round:?}"
        );
        let r = p.refund_row(&id).await;
        assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
        assert!(r.party_refund_id.is_some());
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!(
            (row.refunded_amt, row.refund_in_flight_amt),
            (200, 0),
            "{l}"
        );
        assert_eq!(p.channel_refunds(&t), (1, 2), "{l}");
        assert_eq!(
            job_round(&p).await.claimed,
            0,
            "{l}: a final refund is not queried again"
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_lost_to_system_errors_is_sent_again_under_the_same_number() {
    for p in Platform::all_with(impatient()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Alipay, "6.00").await;
        p.set_faults(Faults {
            system_error_times: 2,
            apis: vec!["alipay.trade.refund".into()],
            ..Faults::default()
        });
        let reply = p.refund(&t, "6.00").await;
        assert_eq!(reply.code(), "00000100", "{l}: {reply:?}");
        let id = reply.get("nkp_seq_id").to_owned();
        assert_eq!(
            p.channel_refunds(&t),
            (0, 0),
            "{l}: nothing was refunded yet"
        );

        // The refund query finds nothing under the number, so the job sends it again.
        let round = job_round(&p).await;
        assert_eq!(
            (round.claimed, round.finished, round.resent),
            (1, 1, 1),
            "{l}: {round:?}"
        );
        assert_eq!(
            p.refund_row(&id).await.status,
            RefundStatus::Succeeded,
            "{l}"
        );
        let state = p.state();
        let trade = state
            .alipay
            .trades
            .iter()
            .find(|x| x.out_trade_no == t.nkp_seq_id)
            .expect("trade at the channel");
        assert_eq!(trade.refunds.len(), 1, "{l}");
        assert_eq!(trade.refunds[0].out_request_no, id, "{l}");
        assert_eq!(trade.refunds[0].refund_amount, "6.00", "{l}");
        assert_eq!(p.trade(&t.nkp_seq_id).await.refunded_amt, 600, "{l}");

        let rq =
            p.sp.call(
                REFUND_QUERY,
                json!({"huifu_id": MER_A, "org_nkp_seq_id": id}),
            )
            .await;
        assert_eq!(
            (rq.code(), rq.get("trans_stat")),
            ("00000000", "S"),
            "{l}: {rq:?}"
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_channel_closes_fails_and_gives_the_amount_back() {
    for p in Platform::all_with(refund_config()).await {
        let l = p.label;
        let t = p.paid_trade(ChannelKind::Wechat, "4.00").await;
        p.set_faults(Faults {
            refund_outcome: RefundOutcome::Refundclose,
            ..Faults::default()
        });
        let mut data = p.refund_data(&t, "4.00");
        data["notify_url"] = json!(NOTIFY_URL);
        let reply = p.sp.call(REFUND, data).await;
        // Processing, or already failed when the notify came first.
        assert!(
            matches!(reply.get("trans_stat"), "P" | "F") && !reply.get("nkp_seq_id").is_empty(),
            "{l}: {reply:?}"
        );
        let id = reply.get("nkp_seq_id").to_owned();
        // Settled by WeChat's refund notify (req_info decrypted with the API key).
        let r = p.final_refund(&id).await;
        assert_eq!(
            (r.status.as_str(), r.bank_code.as_deref()),
            ("F", Some("REFUNDCLOSE")),
            "{l}"
        );
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!((row.refunded_amt, row.refund_in_flight_amt), (0, 0), "{l}");

        let notes = notifications::list_for_subject(p.db.conn(), NotificationKind::Refund, &id)
            .await
            .expect("notifications");
        assert_eq!(notes.len(), 1, "{l}");
        let resp: Value = serde_json::from_str(&notes[0].resp_data).expect("resp_data");
        assert_eq!(
            (resp["trans_stat"].as_str(), resp["bank_code"].as_str()),
            (Some("F"), Some("REFUNDCLOSE"))
        );

        p.set_faults(Faults::default());
        let again = p.refund(&t, "4.00").await;
        assert!(
            accepted(&again),
            "{l}: the whole amount is refundable again: {again:?}"
        );
        assert_eq!(
            p.final_refund(again.get("nkp_seq_id")).await.status,
            RefundStatus::Succeeded,
            "{l}"
        );
        assert_eq!(p.trade(&t.nkp_seq_id).await.refunded_amt, 400, "{l}");
        p.stop().await;
    }
}
