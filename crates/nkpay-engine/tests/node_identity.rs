//! Node identity through the engine: a live node's id is refused to a second instance with a
//! message naming the holder; a dead node's id is free once its lease ends; the keeper renews
//! the lease, hands it back for release when told to stop, and reports a lost identity.

use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_engine::node_identity::{self, Kept, NodeIdentityError};
use nkpay_store::node_leases;
use nkpay_store::testing::databases;
use tokio::sync::watch;

/// Waits until `cond` holds, polling, with a generous deadline.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_second_instance_is_refused_naming_the_holder_while_the_lease_runs() {
    for t in databases().await {
        let lease = Duration::from_secs(30);
        let first = node_identity::register(&t.db, 12, "first0000000000", lease)
            .await
            .expect("free id");
        assert_eq!(
            (first.node_id(), first.instance_id()),
            (12, "first0000000000")
        );
        let err = node_identity::register(&t.db, 12, "second000000000", lease)
            .await
            .expect_err("live id refused");
        let NodeIdentityError::InUse {
            node_id,
            pid,
            ref instance_id,
            lease_until,
            ..
        } = err
        else {
            panic!("{}: {err}", t.label);
        };
        assert_eq!(node_id, 12, "{}", t.label);
        assert_eq!(pid, i64::from(std::process::id()), "{}", t.label);
        assert_eq!(instance_id, "first0000000000", "{}", t.label);
        assert_eq!(lease_until, first.lease_until(), "{}", t.label);
        let message = err.to_string();
        for part in [
            "server.node_id 12",
            &format!("pid {}", std::process::id()),
            "instance first0000000000",
            &lease_until.to_string(),
        ] {
            assert!(message.contains(part), "{}: {message}", t.label);
        }
        // Another id is unaffected.
        node_identity::register(&t.db, 13, "second000000000", lease)
            .await
            .expect("other id");
    }
}

#[tokio::test]
async fn a_dead_nodes_id_is_free_once_its_lease_has_ended() {
    for t in databases().await {
        let lease = Duration::from_millis(600);
        // Registered and never renewed: the node died.
        let dead = node_identity::register(&t.db, 21, "dead00000000000", lease)
            .await
            .expect("free id");
        let until = dead.lease_until();
        assert!(
            node_identity::register(&t.db, 21, "next00000000000", lease)
                .await
                .is_err(),
            "{}: still live",
            t.label
        );
        wait_until("the dead node's lease has ended", || Utc::now() >= until).await;
        let next = node_identity::register(&t.db, 21, "next00000000000", lease)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.label));
        assert_eq!(next.instance_id(), "next00000000000");
        let row = node_leases::find(t.db.conn(), 21).await.unwrap().unwrap();
        assert_eq!(row.instance_id, "next00000000000", "{}", t.label);
    }
}

#[tokio::test]
async fn the_keeper_renews_until_stopped_and_the_released_id_is_free_at_once() {
    for t in databases().await {
        let lease = Duration::from_secs(3);
        let held = node_identity::register(&t.db, 31, "keep00000000000", lease)
            .await
            .expect("free id");
        let first_until = held.lease_until();
        let (stop_tx, stop_rx) = watch::channel(false);
        let keeper = held.keep(stop_rx);
        // Renewed (every second) past the first lease's end, so still refused after it.
        let db = t.db.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let row = node_leases::find(db.conn(), 31).await.unwrap().unwrap();
            if row.lease_until > first_until + chrono::TimeDelta::milliseconds(1500) {
                break;
            }
            assert!(Instant::now() < deadline, "{}: never renewed", t.label);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_until("the first lease's end has passed", || {
            Utc::now() > first_until
        })
        .await;
        assert!(
            node_identity::register(&t.db, 31, "other0000000000", lease)
                .await
                .is_err(),
            "{}: a renewed id stays taken",
            t.label
        );

        stop_tx.send(true).unwrap();
        let Kept::Stopped(lease_back) = keeper.await.unwrap() else {
            panic!("{}: stopped keeper lost its id", t.label);
        };
        assert!(lease_back.release().await.unwrap(), "{}", t.label);
        let row = node_leases::find(t.db.conn(), 31).await.unwrap().unwrap();
        assert!(row.lease_until <= Utc::now(), "{}", t.label);
        node_identity::register(&t.db, 31, "other0000000000", lease)
            .await
            .unwrap_or_else(|e| panic!("{}: released id refused: {e}", t.label));
    }
}

#[tokio::test]
async fn the_keeper_reports_a_lost_identity_when_another_instance_took_the_id() {
    for t in databases().await {
        let lease = Duration::from_millis(900);
        let held = node_identity::register(&t.db, 41, "lose00000000000", lease)
            .await
            .expect("free id");
        // Simulate a takeover (e.g. this node was paused past its lease): the row now names
        // another instance.
        assert!(
            node_leases::release(t.db.conn(), 41, "lose00000000000", Utc::now())
                .await
                .unwrap()
        );
        node_identity::register(&t.db, 41, "took00000000000", Duration::from_secs(30))
            .await
            .expect("taken over");
        let (_stop_tx, stop_rx) = watch::channel(false);
        let kept = tokio::time::timeout(Duration::from_secs(60), held.keep(stop_rx))
            .await
            .expect("the keeper notices within a renewal")
            .unwrap();
        let Kept::Lost(why) = kept else {
            panic!("{}: the keeper kept a lost id", t.label);
        };
        assert!(why.contains("server.node_id 41"), "{}: {why}", t.label);
        let row = node_leases::find(t.db.conn(), 41).await.unwrap().unwrap();
        assert_eq!(row.instance_id, "took00000000000", "{}", t.label);
    }
}
