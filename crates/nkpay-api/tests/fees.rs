//! Fees through the merchant API over HTTP against the embedded sandbox, on SQLite and
//! PostgreSQL (issue 12 "Fees"; the rule in `nkpay_core::fee`): a trade is charged at the rate
//! in force when it was created, rounded half up to the fen, and shows it in scanpay/query and
//! its notification; partial refunds return the fee pro rata (rounded down, the remainder with
//! the refund that completes the amount) in the refund reply, refundquery and the refund
//! notification, and the fees returned add up to exactly the fee — refunds settled one by one
//! or at once.

mod refunds_support;
mod support;

use chrono::Utc;
use nkpay_core::fee;
use nkpay_core::money::Money;
use nkpay_core::state::RefundStatus;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::kinds::NotificationKind;
use nkpay_store::merchant_channels::{self, RequestedBusiness};
use nkpay_store::notifications;
use refunds_support::{QUERY, REFUND, REFUND_QUERY, TradeIds, accepted, refund_config, spawn_jobs};
use serde_json::{Value, json};
use support::{MER_A, Platform, today};

/// `MER_A`'s rates as seeded by `support`: WeChat 0.38%, Alipay 0.60%.
fn seeded_rate_bp(channel: ChannelKind) -> i32 {
    match channel {
        ChannelKind::Wechat => 38,
        ChannelKind::Alipay => 60,
    }
}

/// The merchant's notification about `id` (trade or refund), as JSON.
async fn notified(p: &Platform, kind: NotificationKind, id: &str) -> Value {
    let notes = notifications::list_for_subject(p.db.conn(), kind, id)
        .await
        .expect("notifications");
    assert_eq!(notes.len(), 1, "{}: notifications of {id}", p.label);
    serde_json::from_str(&notes[0].resp_data).expect("resp_data JSON")
}

/// scanpay/query of trade `t`.
async fn query(p: &Platform, t: &TradeIds) -> support::Reply {
    let q =
        p.sp.call(
            QUERY,
            json!({"huifu_id": MER_A, "org_req_date": t.req_date, "org_req_seq_id": t.req_seq_id}),
        )
        .await;
    assert_eq!(q.code(), "00000000", "{}: {q:?}", p.label);
    q
}

/// Changes `MER_A`'s rate on `channel` as busi/open does (the open business stays open).
async fn set_rate(p: &Platform, channel: ChannelKind, fee_rate_bp: i32) {
    merchant_channels::request_business(
        p.db.conn(),
        &RequestedBusiness {
            mer_id: MER_A.into(),
            channel,
            fee_rate_bp,
            conf_list: json!([{"pay_scene": "fees_test", "fee_rate_bp": fee_rate_bp}]),
            notify_url: None,
            req_date: today(),
            req_seq_id: support::fresh_id(),
        },
        Utc::now(),
    )
    .await
    .expect("change the rate");
}

fn yuan(fen: i64) -> String {
    Money::yuan_of_fen(fen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_trade_is_charged_at_the_rate_in_force_when_it_was_created() {
    // The rate is changed in the store behind the engine's back (`set_rate`), so the engine
    // reads a merchant's setup on every request (busi/open through the engine empties the
    // node's copy itself).
    let config = nkpay_engine::EngineConfig {
        merchant_refresh: std::time::Duration::ZERO,
        ..refund_config()
    };
    for p in Platform::all_with(config).await {
        let l = p.label;
        for channel in [ChannelKind::Wechat, ChannelKind::Alipay] {
            // 123.45 yuan: 0.38% is 46.911 fen → 0.47; 0.60% is 74.07 fen → 0.74.
            let t = p.unpaid_trade(channel, "123.45").await;
            let row = p.trade(&t.nkp_seq_id).await;
            assert_eq!(row.fee_rate_bp, seeded_rate_bp(channel), "{l} {channel:?}");
            let unpaid = query(&p, &t).await;
            assert_eq!(unpaid.get("trans_stat"), "P");
            assert_eq!(unpaid.get("fee_amt"), "0.00", "{l}: no fee before payment");

            // The rate changes before the payer pays: the trade keeps the rate of its creation.
            set_rate(&p, channel, 250).await;
            match channel {
                ChannelKind::Wechat => p.pay_wechat(&t.prompt).await,
                ChannelKind::Alipay => p.pay_alipay(&t.prompt).await,
            }
            let paid = p.wait_final(&t.nkp_seq_id).await;
            let expected = match channel {
                ChannelKind::Wechat => 47,
                ChannelKind::Alipay => 74,
            };
            assert_eq!(paid.fee_amt, expected, "{l} {channel:?}: {paid:?}");
            let q = query(&p, &t).await;
            assert_eq!(q.get("trans_stat"), "S", "{l}: {q:?}");
            assert_eq!(q.get("trans_amt"), "123.45");
            assert_eq!(q.get("fee_amt"), yuan(expected), "{l} {channel:?}: {q:?}");
            let note = notified(&p, NotificationKind::Trade, &t.nkp_seq_id).await;
            assert_eq!(note["trans_stat"], "S", "{l}: {note}");
            assert_eq!(note["fee_amt"], yuan(expected).as_str(), "{l}: {note}");

            // A trade created after the change is charged at the new rate: 2.50% of 0.30 yuan
            // is 0.75 fen, rounded half up to 1 fen.
            let after = p.paid_trade(channel, "0.30").await;
            let row = p.trade(&after.nkp_seq_id).await;
            assert_eq!((row.fee_rate_bp, row.fee_amt), (250, 1), "{l} {channel:?}");
            assert_eq!(query(&p, &after).await.get("fee_amt"), "0.01");
            set_rate(&p, channel, seeded_rate_bp(channel)).await;
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partial_refunds_then_the_rest_return_the_whole_fee_pro_rata() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        // 10.01 yuan: WeChat 0.38% → 3.8038 fen → 4 fen; Alipay 0.60% → 6.006 fen → 6 fen.
        // Refunds 3.33 + 3.33 + 3.35 return floor(fee × refunded / 1001) cumulatively:
        // WeChat 1, 1, 2; Alipay 1, 2, 3.
        for (channel, fee_fen, returns) in [
            (ChannelKind::Wechat, 4, [1, 1, 2]),
            (ChannelKind::Alipay, 6, [1, 2, 3]),
        ] {
            let t = p.paid_trade(channel, "10.01").await;
            assert_eq!(p.trade(&t.nkp_seq_id).await.fee_amt, fee_fen, "{l}");
            let mut refunded_fee = 0;
            for (amount, returned) in ["3.33", "3.33", "3.35"].into_iter().zip(returns) {
                let mut data = p.refund_data(&t, amount);
                data["notify_url"] = json!("http://127.0.0.1:9/refund-notify");
                let reply = p.sp.call(REFUND, data.clone()).await;
                assert!(accepted(&reply), "{l} {channel:?} {amount}: {reply:?}");
                let id = reply.get("nkp_seq_id").to_owned();
                let r = p.final_refund(&id).await;
                assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
                assert_eq!(r.fee_amt, returned, "{l} {channel:?} {amount}");
                refunded_fee += returned;

                let rq =
                    p.sp.call(
                        REFUND_QUERY,
                        json!({"huifu_id": MER_A, "org_nkp_seq_id": id}),
                    )
                    .await;
                assert_eq!(rq.code(), "00000000", "{l}: {rq:?}");
                assert_eq!(rq.get("fee_amt"), yuan(returned), "{l} {channel:?}: {rq:?}");
                assert_eq!(rq.get("ord_amt"), amount);
                // A replay of the refund answers as the first time (then processing or done).
                let replay = p.sp.call(REFUND, data).await;
                assert!(
                    ["0.00", yuan(returned).as_str()].contains(&replay.get("fee_amt")),
                    "{l}: {replay:?}"
                );
                let note = notified(&p, NotificationKind::Refund, &id).await;
                assert_eq!(note["trans_stat"], "S", "{l}: {note}");
                assert_eq!(note["fee_amt"], yuan(returned).as_str(), "{l}: {note}");
                assert_eq!(note["ord_amt"], amount);
            }
            assert_eq!(
                refunded_fee, fee_fen,
                "{l} {channel:?}: the whole fee came back"
            );
            let q = query(&p, &t).await;
            assert_eq!(q.get("refunded_amt"), "10.01", "{l}: {q:?}");
            assert_eq!(
                q.get("fee_amt"),
                yuan(fee_fen),
                "{l}: the fee charged stays"
            );
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_settled_at_once_return_no_more_than_the_fee_and_all_of_it_in_the_end() {
    for p in Platform::all_with(refund_config()).await {
        let _jobs = spawn_jobs(&p.engine);
        let l = p.label;
        // 99.99 yuan on Alipay at 0.60%: 59.994 fen → 0.60 yuan.
        let t = p.paid_trade(ChannelKind::Alipay, "99.99").await;
        let row = p.trade(&t.nkp_seq_id).await;
        assert_eq!(row.fee_amt, 60, "{l}");
        let amounts = ["12.34", "0.01", "33.33", "20.00", "34.31"];
        let replies = refund_all_at_once(&p, &t, &amounts).await;
        let mut ids = Vec::new();
        for (amount, reply) in amounts.iter().zip(replies) {
            assert!(accepted(&reply), "{l} {amount}: {reply:?}");
            ids.push(reply.get("nkp_seq_id").to_owned());
        }
        let mut total = 0;
        for id in &ids {
            let r = p.final_refund(id).await;
            assert_eq!(r.status, RefundStatus::Succeeded, "{l}: {r:?}");
            // Whatever order they settled in, a refund of `a` returns
            // floor(fee × (B + a) / T) − floor(fee × B / T) for the B refunded before it: its
            // own share rounded down, or one fen more when it carries a remainder.
            let share = row.fee_amt * r.ord_amt / row.trans_amt;
            assert!(
                r.fee_amt == share || r.fee_amt == share + 1,
                "{l}: refund of {} returned {} fen, share {share}",
                r.ord_amt,
                r.fee_amt
            );
            total += r.fee_amt;
        }
        assert_eq!(total, row.fee_amt, "{l}: exactly the whole fee came back");
        let fee = Money::from_fen(row.fee_amt).expect("fee");
        let trans = Money::from_fen(row.trans_amt).expect("amount");
        assert_eq!(fee::fee_refunded_to_date(fee, trans, trans), Ok(fee));
        p.stop().await;
    }
}

/// Sends one refund of trade `t` per amount, all at once.
async fn refund_all_at_once(p: &Platform, t: &TradeIds, amounts: &[&str]) -> Vec<support::Reply> {
    let calls = amounts.iter().map(|a| p.refund(t, a));
    futures::future::join_all(calls).await
}
