//! Node identity leases: one live holder per node id, taken over only once the lease has
//! ended, renewed and released only by its holder, and exactly one winner of a race.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use nkpay_store::node_leases::{self, Acquired, NodeClaimant};
use nkpay_store::testing::databases;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn claimant(instance: &str, pid: i64) -> NodeClaimant {
    NodeClaimant {
        node_id: 7,
        instance_id: instance.to_owned(),
        host: "host-a".to_owned(),
        pid,
    }
}

#[tokio::test]
async fn a_live_node_id_is_refused_naming_its_holder_and_free_once_its_lease_ends() {
    for t in databases().await {
        let lease = Duration::seconds(30);
        let a = claimant("aaaa", 100);
        let b = claimant("bbbb", 200);
        let Acquired::Taken(row) = node_leases::acquire(&t.db, &a, t0(), lease).await.unwrap()
        else {
            panic!("{}: a free id must be taken", t.label);
        };
        assert_eq!(row.lease_until, t0() + lease, "{}", t.label);

        // While a's lease runs, b is told who holds the id and until when.
        let at = t0() + Duration::seconds(10);
        match node_leases::acquire(&t.db, &b, at, lease).await.unwrap() {
            Acquired::Held(holder) => {
                assert_eq!(holder.instance_id, "aaaa", "{}", t.label);
                assert_eq!(holder.host, "host-a", "{}", t.label);
                assert_eq!(holder.pid, 100, "{}", t.label);
                assert_eq!(holder.lease_until, t0() + lease, "{}", t.label);
            }
            other => panic!("{}: live id taken over: {other:?}", t.label),
        }
        // Only the holder renews; the renewal moves the lease end.
        assert!(
            !node_leases::renew(t.db.conn(), 7, "bbbb", at, lease)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        assert!(
            node_leases::renew(t.db.conn(), 7, "aaaa", at, lease)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let renewed_until = at + lease;
        let just_before = renewed_until - Duration::milliseconds(1);
        assert!(
            matches!(
                node_leases::acquire(&t.db, &b, just_before, lease)
                    .await
                    .unwrap(),
                Acquired::Held(_)
            ),
            "{}: still held just before the renewed end",
            t.label
        );

        // a stops renewing (it died): at the lease's end b takes the id, and a has lost it.
        let Acquired::Taken(row) = node_leases::acquire(&t.db, &b, renewed_until, lease)
            .await
            .unwrap()
        else {
            panic!("{}: an ended lease must be taken over", t.label);
        };
        assert_eq!(row.instance_id, "bbbb", "{}", t.label);
        let stored = node_leases::find(t.db.conn(), 7).await.unwrap().unwrap();
        assert_eq!(
            (stored.instance_id.as_str(), stored.pid, stored.started_at),
            ("bbbb", 200, renewed_until),
            "{}",
            t.label
        );
        assert!(
            !node_leases::renew(t.db.conn(), 7, "aaaa", renewed_until, lease)
                .await
                .unwrap(),
            "{}: the old holder cannot renew a lost id",
            t.label
        );
        assert!(
            !node_leases::release(t.db.conn(), 7, "aaaa", renewed_until)
                .await
                .unwrap(),
            "{}: nor release it",
            t.label
        );
    }
}

#[tokio::test]
async fn a_released_node_id_is_free_at_once() {
    for t in databases().await {
        let lease = Duration::seconds(30);
        let a = claimant("aaaa", 100);
        let b = claimant("bbbb", 200);
        node_leases::acquire(&t.db, &a, t0(), lease).await.unwrap();
        let stop = t0() + Duration::seconds(5);
        assert!(
            node_leases::release(t.db.conn(), 7, "aaaa", stop)
                .await
                .unwrap(),
            "{}",
            t.label
        );
        let row = node_leases::find(t.db.conn(), 7).await.unwrap().unwrap();
        assert_eq!(row.lease_until, stop, "{}", t.label);
        assert!(
            matches!(
                node_leases::acquire(&t.db, &b, stop, lease).await.unwrap(),
                Acquired::Taken(_)
            ),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn an_instance_id_over_32_characters_is_refused_naming_it() {
    for t in databases().await {
        let long = claimant(&"x".repeat(33), 1);
        let err = node_leases::acquire(&t.db, &long, t0(), Duration::seconds(30))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("instance_id"),
            "{}: {err}",
            t.label
        );
        assert!(
            node_leases::find(t.db.conn(), 7).await.unwrap().is_none(),
            "{}",
            t.label
        );
    }
}

/// Many processes asking for one id at once, on a fresh id and on one whose lease ended:
/// exactly one gets it each time.
#[tokio::test]
async fn of_many_concurrent_claimants_exactly_one_takes_the_id() {
    for t in databases().await {
        let db = Arc::new(t.db.clone());
        let lease = Duration::seconds(30);
        for (round, now) in [(0, t0()), (1, t0() + lease)] {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let db = db.clone();
                    tokio::spawn(async move {
                        let c = claimant(&format!("r{round}-{i}"), i);
                        node_leases::acquire(&db, &c, now, lease).await.unwrap()
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for task in tasks {
                if let Acquired::Taken(row) = task.await.unwrap() {
                    winners.push(row.instance_id);
                }
            }
            assert_eq!(winners.len(), 1, "{} round {round}: {winners:?}", t.label);
            let stored = node_leases::find(t.db.conn(), 7).await.unwrap().unwrap();
            assert_eq!(stored.instance_id, winners[0], "{} round {round}", t.label);
        }
    }
}
