//! Delivery against real HTTP receivers on loopback, on SQLite and PostgreSQL: delivered at
//! once, retried on schedule after refusals, error statuses, time-outs and redirects, dead
//! after the last attempt, re-sent from the console, and refused by the SSRF guard.

mod notification_support;

use std::time::Duration;

use chrono::Utc;
use nkpay_crypto::merchant_notify::verify_notify;
use nkpay_engine::notifications::{Dispatcher, UrlPolicy, console};
use nkpay_store::kinds::NotificationStatus;
use nkpay_store::testing::databases;
use notification_support::fixtures::*;
use notification_support::receiver::{Receiver, Reply};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(60);

fn dispatcher(t: &nkpay_store::testing::TestDb, schedule_ms: &[u64]) -> Dispatcher {
    Dispatcher::new(t.db.clone(), signer(), config(schedule_ms), "node-test").expect("dispatcher")
}

/// Runs `d` in the background until the returned sender is dropped or fired.
fn spawn(d: Dispatcher) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = d.spawn(async move {
        let _ = stopped.await;
    });
    (stop, handle)
}

async fn wait_status(db: &nkpay_store::Db, id: i64, status: NotificationStatus) {
    wait_for(
        &format!("notification {id} to be {status}"),
        WAIT,
        || async { row(db, id).await.status == status },
    )
    .await;
}

#[tokio::test]
async fn a_listening_receiver_gets_the_signed_form_at_once() {
    for t in databases().await {
        let rx =
            Receiver::start(|h| Reply::Status(200, format!("RECV_ORD_ID_r{}", h.nkp_seq_id))).await;
        let id = enqueue(&t.db, MER_ID, "S0001", &rx.url("/notify?x=1")).await;
        let round = dispatcher(&t, &[100]).run_once().await.expect("round");
        assert_eq!((round.claimed, round.delivered), (1, 1), "{}", t.label);

        let n = row(&t.db, id).await;
        assert_eq!(n.status, NotificationStatus::Delivered, "{}", t.label);
        assert_eq!(n.attempt_count, 1);
        assert!(n.lease_owner.is_none() && n.lease_until.is_none());
        let a = attempts(&t.db, id).await;
        assert_eq!(a.len(), 1);
        assert!(a[0].delivered);
        assert_eq!(a[0].http_status, Some(200));
        assert_eq!(a[0].error, None);
        assert_eq!(a[0].response_body.as_deref(), Some("RECV_ORD_ID_rS0001"));

        let hits = rx.hits();
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!(h.path, "/notify?x=1");
        assert_eq!(
            h.headers.get("content-type").map(String::as_str),
            Some("application/x-www-form-urlencoded;charset=UTF-8")
        );
        assert_eq!(
            h.headers.get("x-nkp-key-id").map(String::as_str),
            Some(KEY_ID)
        );
        assert_eq!(h.fields["resp_code"], "00000000");
        assert_eq!(h.fields["resp_desc"], "交易成功");
        assert_eq!(
            h.fields["resp_data"], n.resp_data,
            "resp_data must arrive byte for byte"
        );
        verify_notify(
            &h.fields["resp_data"],
            &h.fields["sign"],
            &signer().public_key(),
        )
        .expect("sign verifies with the platform public key");
        let mut keys: Vec<&str> = h.fields.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["resp_code", "resp_data", "resp_desc", "sign"]);
    }
}

#[tokio::test]
async fn any_2xx_answer_is_a_delivery() {
    for t in databases().await {
        let rx = Receiver::start(|h| match h.path.as_str() {
            "/204" => Reply::Status(204, String::new()),
            _ => Reply::Status(202, "accepted later".into()),
        })
        .await;
        let a = enqueue(&t.db, MER_ID, "S0101", &rx.url("/204")).await;
        let b = enqueue(&t.db, MER_ID, "S0102", &rx.url("/202")).await;
        let round = dispatcher(&t, &[100]).run_once().await.expect("round");
        assert_eq!(round.delivered, 2, "{}", t.label);
        assert_eq!(attempts(&t.db, a).await[0].http_status, Some(204));
        assert_eq!(attempts(&t.db, b).await[0].http_status, Some(202));
    }
}

#[tokio::test]
async fn a_receiver_that_is_down_and_comes_back_gets_it_on_schedule() {
    for t in databases().await {
        let port = Receiver::unused_port().await;
        let id = enqueue(
            &t.db,
            MER_ID,
            "S0201",
            &format!("http://127.0.0.1:{port}/n"),
        )
        .await;
        let (stop, handle) = spawn(dispatcher(&t, &[400, 400, 400]));
        wait_for("the refused first attempt", WAIT, || async {
            attempts(&t.db, id).await.len() == 1
        })
        .await;
        let rx = Receiver::start_on(port, |_| Reply::Status(200, "ok".into())).await;
        wait_status(&t.db, id, NotificationStatus::Delivered).await;
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");

        let a = attempts(&t.db, id).await;
        assert_eq!(a.len(), 2, "{}: {a:?}", t.label);
        assert!(!a[0].delivered && a[0].http_status.is_none());
        let err = a[0].error.as_deref().unwrap_or_default();
        assert!(err.starts_with("connection failed"), "{err}");
        assert!(a[1].delivered);
        let gap = (a[1].started_at - a[0].started_at).num_milliseconds();
        // 400 ms, up to 10% jitter, a poll interval and the first attempt's own duration.
        assert!(
            (400..800).contains(&gap),
            "{}: retried after {gap} ms",
            t.label
        );
        assert_eq!(rx.hits().len(), 1);
    }
}

#[tokio::test]
async fn error_status_time_out_and_redirect_are_retried_and_never_followed() {
    for t in databases().await {
        let rx = Receiver::start(|h| match (h.path.as_str(), h.nth) {
            ("/500", 1) => Reply::Status(500, "boom".into()),
            ("/slow", 1) => Reply::Hold(Duration::from_millis(1500), 200),
            ("/moved", 1) => Reply::Redirect("/elsewhere".into()),
            _ => Reply::Status(200, "ok".into()),
        })
        .await;
        let mut cfg = config(&[300, 300]);
        cfg.timeout = Duration::from_millis(500);
        cfg.lease = Duration::from_millis(1500);
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-test").expect("dispatcher");
        let e500 = enqueue(&t.db, MER_ID, "S0301", &rx.url("/500")).await;
        let slow = enqueue(&t.db, MER_ID, "S0302", &rx.url("/slow")).await;
        let moved = enqueue(&t.db, MER_ID, "S0303", &rx.url("/moved")).await;
        let (stop, handle) = spawn(d);
        for id in [e500, slow, moved] {
            wait_status(&t.db, id, NotificationStatus::Delivered).await;
        }
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");

        let a = attempts(&t.db, e500).await;
        assert_eq!(a.len(), 2, "{}: {a:#?}", t.label);
        assert_eq!((a[0].http_status, a[0].delivered), (Some(500), false));
        assert_eq!(a[0].response_body.as_deref(), Some("boom"));

        let a = attempts(&t.db, slow).await;
        assert_eq!(
            a.len(),
            2,
            "{}: {a:#?} {:#?}",
            t.label,
            row(&t.db, slow).await
        );
        assert_eq!(a[0].http_status, None);
        assert_eq!(a[0].error.as_deref(), Some("no answer within 500 ms"));
        assert!(
            (450..1000).contains(&a[0].duration_ms),
            "{}",
            a[0].duration_ms
        );

        let a = attempts(&t.db, moved).await;
        assert_eq!(a.len(), 2, "{}", t.label);
        assert_eq!((a[0].http_status, a[0].delivered), (Some(302), false));
        assert_eq!(
            a[0].error.as_deref(),
            Some("redirect to /elsewhere not followed")
        );
        assert!(
            rx.hits().iter().all(|h| h.path != "/elsewhere"),
            "redirect was followed"
        );
    }
}

#[tokio::test]
async fn a_notification_is_dead_after_its_last_attempt_and_a_resend_starts_a_new_chain() {
    for t in databases().await {
        let rx = Receiver::start(|h| {
            if h.path == "/fixed" {
                Reply::Status(200, "ok".into())
            } else {
                Reply::Status(503, "down".into())
            }
        })
        .await;
        let id = enqueue(&t.db, MER_ID, "S0401", &rx.url("/down")).await;
        let (stop, handle) = spawn(dispatcher(&t, &[50, 50]));
        wait_status(&t.db, id, NotificationStatus::Dead).await;
        // Stopping waits for deliveries in flight; a round after that finds nothing to claim.
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");
        let after = dispatcher(&t, &[50, 50]).run_once().await.expect("round");
        assert_eq!(
            after.claimed, 0,
            "{}: a dead notification is not claimed",
            t.label
        );
        let dead = row(&t.db, id).await;
        assert_eq!(
            dead.attempt_count, 3,
            "{}: two delays allow three attempts",
            t.label
        );
        assert_eq!(
            rx.hits().len(),
            3,
            "{}: nothing after the last attempt",
            t.label
        );
        assert!(
            attempts(&t.db, id)
                .await
                .iter()
                .all(|a| a.http_status == Some(503))
        );

        // The console re-sends it; the receiver was fixed meanwhile (same URL stays, so the
        // fixed receiver answers 200 on the second chain).
        let rx2 = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        let moved_url = rx2.url("/down");
        nkpay_store::sea_orm::ConnectionTrait::execute_unprepared(
            t.db.conn(),
            &format!("UPDATE notifications SET notify_url = '{moved_url}' WHERE id = {id}"),
        )
        .await
        .expect("point the dead notification at the fixed receiver");
        let new = console::resend_one(&t.db, id, Utc::now())
            .await
            .expect("resend")
            .expect("found");
        assert_ne!(new.id, id);
        assert_eq!(
            (new.chain_no, new.status.as_str(), new.attempt_count),
            (1, "pending", 0)
        );
        assert_eq!(new.resp_data, dead.resp_data);
        let round = dispatcher(&t, &[50]).run_once().await.expect("round");
        assert_eq!(round.delivered, 1, "{}", t.label);

        let detail = console::detail(&t.db, id)
            .await
            .expect("detail")
            .expect("found");
        assert_eq!(
            detail.notification.status,
            NotificationStatus::Dead,
            "the old chain keeps its history"
        );
        assert_eq!(detail.attempts.len(), 3);
        let chains: Vec<(i32, NotificationStatus)> = detail
            .chains
            .iter()
            .map(|c| (c.chain_no, c.status))
            .collect();
        assert_eq!(
            chains,
            [
                (0, NotificationStatus::Dead),
                (1, NotificationStatus::Delivered)
            ]
        );
        assert_eq!(rx2.hits().len(), 1);
        assert!(
            console::resend_one(&t.db, 999_999, Utc::now())
                .await
                .expect("lookup")
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_merchant_schedule_overrides_the_platform_schedule() {
    for t in databases().await {
        merchant(&t.db, "6666000000000777", Some("100ms")).await;
        let rx = Receiver::start(|_| Reply::Status(500, "no".into())).await;
        let own = enqueue(&t.db, "6666000000000777", "S0501", &rx.url("/a")).await;
        let platform = enqueue(&t.db, MER_ID, "S0502", &rx.url("/b")).await;
        let (stop, handle) = spawn(dispatcher(&t, &[30, 30, 30, 30]));
        wait_status(&t.db, own, NotificationStatus::Dead).await;
        wait_status(&t.db, platform, NotificationStatus::Dead).await;
        stop.send(()).ok();
        handle.await.expect("dispatcher stops");
        assert_eq!(attempts(&t.db, own).await.len(), 2, "{}", t.label);
        assert_eq!(attempts(&t.db, platform).await.len(), 5, "{}", t.label);
        let a = attempts(&t.db, own).await;
        let gap = (a[1].started_at - a[0].started_at).num_milliseconds();
        assert!(
            gap >= 100,
            "{}: merchant delay 100 ms, waited {gap}",
            t.label
        );
    }
}

#[tokio::test]
async fn delivery_refuses_destinations_the_policy_forbids() {
    for t in databases().await {
        let rx = Receiver::start(|_| Reply::Status(200, "ok".into())).await;
        // A name that resolves to loopback, under a policy without loopback: the resolver
        // the client connects through refuses it, so the request never leaves.
        let by_name = enqueue(
            &t.db,
            MER_ID,
            "S0601",
            &format!("http://localhost:{}/n", rx.addr.port()),
        )
        .await;
        let metadata = enqueue(
            &t.db,
            MER_ID,
            "S0602",
            "http://169.254.169.254/latest/meta-data",
        )
        .await;
        let mapped = enqueue(&t.db, MER_ID, "S0603", "http://[::ffff:a9fe:a9fe]/").await;
        let mut cfg = config(&[1000]);
        cfg.policy = UrlPolicy::PUBLIC_ONLY;
        let d = Dispatcher::new(t.db.clone(), signer(), cfg, "node-test").expect("dispatcher");
        let round = d.run_once().await.expect("round");
        assert_eq!((round.claimed, round.failed), (3, 3), "{}", t.label);
        assert!(
            rx.hits().is_empty(),
            "{}: a refused URL was contacted",
            t.label
        );
        let db = &t.db;
        let err = |id| async move { attempts(db, id).await[0].error.clone().unwrap_or_default() };
        let e = err(by_name).await;
        assert!(
            e.starts_with("notify_url不合法: resolves to a loopback address"),
            "{e}"
        );
        assert_eq!(
            err(metadata).await,
            "notify_url不合法: resolves to a cloud metadata address (169.254.169.254)"
        );
        assert_eq!(
            err(mapped).await,
            "notify_url不合法: resolves to a cloud metadata address (::ffff:169.254.169.254)"
        );
        // Still retried on schedule (DNS may change back), never delivered while refused.
        assert_eq!(
            row(&t.db, by_name).await.status,
            NotificationStatus::Pending
        );
    }
}
