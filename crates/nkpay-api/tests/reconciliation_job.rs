//! The reconciliation job as a singleton (issue 12), on SQLite and PostgreSQL against the
//! in-process sandbox: a round reconciles the due day of every active channel account once and
//! later rounds leave it alone; on PostgreSQL a round waits its turn while another session holds
//! the job's advisory lock, and two engines over one database running a round at the same time
//! make exactly one run per account and day.

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_engine::reconciliation::job::{self, Schedule};
use nkpay_store::kinds::RecordStatus;
use nkpay_store::{accounts, reconciliation};
use support::Platform;

/// 11:00 Asia/Shanghai tomorrow: the due day (after the default 10:30) is today, whose bills
/// the sandbox has.
fn tomorrow_late_morning() -> DateTime<Utc> {
    let tomorrow = Utc::now().with_timezone(&Shanghai).date_naive() + TimeDelta::days(1);
    Shanghai
        .from_local_datetime(&tomorrow.and_hms_opt(11, 0, 0).expect("time"))
        .single()
        .expect("one instant")
        .with_timezone(&Utc)
}

/// Runs of the due day per active channel account.
async fn runs_per_account(p: &Platform, bill_date: &str) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for a in accounts::list_channel_accounts(p.db.conn())
        .await
        .expect("accounts")
    {
        if a.status != RecordStatus::Active {
            continue;
        }
        let runs =
            reconciliation::list_runs(p.db.conn(), Some(a.id), Some(bill_date), i64::MAX, 50)
                .await
                .expect("runs");
        out.insert(a.id, runs.len());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_reconciles_each_account_once_across_nodes() {
    for p in Platform::all().await {
        let label = p.label;
        let schedule = Schedule::default();
        let now = tomorrow_late_morning();
        let bill_date = job::due_day(&schedule, now).format("%Y%m%d").to_string();
        let second = p.second_engine(2);
        let none = runs_per_account(&p, &bill_date).await;
        assert!(
            !none.is_empty(),
            "{label}: the platform has channel accounts"
        );
        assert!(none.values().all(|n| *n == 0), "{label}: {none:?}");

        if label == "postgres" {
            // Another holder of the job's lock: the round skips, nothing is run.
            let holder = p.hold_advisory_lock(job::LOCK_KEY).await;
            let made = job::run_due_once(&p.engine, &schedule, now)
                .await
                .expect("round");
            assert!(
                made.is_empty(),
                "{label}: the lock is held elsewhere: {made:?}"
            );
            assert_eq!(runs_per_account(&p, &bill_date).await, none, "{label}");
            holder.rollback().await.expect("release");

            // Two engines at once: exactly one run per account and day.
            let (a, b) = tokio::join!(
                job::run_due_once(&p.engine, &schedule, now),
                job::run_due_once(&second, &schedule, now)
            );
            let (a, b) = (a.expect("node 1"), b.expect("node 2"));
            assert_eq!(
                a.len() + b.len(),
                none.len(),
                "{label}: one node ran every account: {a:?} {b:?}"
            );
            assert!(a.is_empty() || b.is_empty(), "{label}: {a:?} {b:?}");
        } else {
            // SQLite runs one node: the round runs every active account.
            let made = job::run_due_once(&p.engine, &schedule, now)
                .await
                .expect("round");
            assert_eq!(made.len(), none.len(), "{label}: {made:?}");
        }
        let once = runs_per_account(&p, &bill_date).await;
        assert!(once.values().all(|n| *n == 1), "{label}: {once:?}");
        // Done: later rounds, on either node, leave the day alone.
        for engine in [&*p.engine, &second] {
            let made = job::run_due_once(engine, &schedule, now)
                .await
                .expect("again");
            assert!(made.is_empty(), "{label}: {made:?}");
        }
        assert_eq!(runs_per_account(&p, &bill_date).await, once, "{label}");
        p.stop().await;
    }
}
