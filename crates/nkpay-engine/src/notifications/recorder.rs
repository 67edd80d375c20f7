//! Recording finished attempts in batches (group commit): a delivery hands its attempt to the
//! dispatcher's recorder and waits for the answer; one delivery at a time is the writer and
//! records everything queued so far — up to [`MAX_BATCH`] rows — in ONE transaction
//! (`notifications::record_attempts`), while the others queue behind it and find their answer
//! ready when their turn comes. On SQLite this takes the single write lock once per batch
//! instead of once per delivery; on PostgreSQL it is one commit per batch.
//!
//! At least once, exactly as with one transaction per attempt: a delivery counts as recorded
//! only once its batch has committed. A batch that fails is tried again (after 50, 200 and
//! 1,000 ms), then each of its rows on its own, so one row the database refuses does not keep
//! the others from being recorded. A row whose recording failed (or whose writer was dropped
//! before its batch committed) stays claimed until its lease runs out and is then retried. A
//! lost lease is detected per row: the others of the batch are recorded all the same.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use nkpay_store::Db;
use nkpay_store::notifications::{self, FinishedAttempt};
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

/// The most attempts one transaction records.
pub(crate) const MAX_BATCH: usize = 128;

/// How long the writer waits before trying a failed batch again; the last try is followed by
/// one try per row.
const RETRY_WAITS_MS: [u64; 3] = [50, 200, 1000];

/// What became of one attempt's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Stored, and the notification moved to its next step.
    Kept,
    /// The attempt is stored, but the lease had been lost: another node owns the row now.
    LeaseLost,
    /// Nothing stored: the row stays claimed until its lease runs out and is then retried.
    Failed,
}

struct Queued {
    finished: FinishedAttempt,
    reply: oneshot::Sender<Recorded>,
}

/// The queue of finished attempts and the writer's turn. One per dispatcher (its clones share
/// it).
#[derive(Default)]
pub(crate) struct Recorder {
    queue: Mutex<VecDeque<Queued>>,
    /// Held by the delivery that is writing a batch; FIFO, so every waiter gets its turn.
    writer: tokio::sync::Mutex<()>,
}

impl Recorder {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `finished` for `owner` together with whatever else is queued, and returns what
    /// became of it once its batch is written (or failed).
    pub async fn record(&self, db: &Db, owner: &str, finished: FinishedAttempt) -> Recorded {
        let (reply, mut answer) = oneshot::channel();
        self.queue().push_back(Queued { finished, reply });
        loop {
            let _turn = self.writer.lock().await;
            match answer.try_recv() {
                Ok(recorded) => return recorded,
                // The writer that took it was dropped before its batch was written.
                Err(TryRecvError::Closed) => return Recorded::Failed,
                Err(TryRecvError::Empty) => {}
            }
            let batch: Vec<Queued> = {
                let mut queue = self.queue();
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            write(db, owner, batch).await;
        }
    }
}

/// Writes one batch and answers each of its deliveries.
async fn write(db: &Db, owner: &str, batch: Vec<Queued>) {
    if batch.is_empty() {
        return;
    }
    let (finished, replies): (Vec<FinishedAttempt>, Vec<oneshot::Sender<Recorded>>) =
        batch.into_iter().map(|q| (q.finished, q.reply)).unzip();
    let mut waits = RETRY_WAITS_MS.iter();
    let outcome = loop {
        match notifications::record_attempts(db, owner, &finished, Utc::now()).await {
            Ok(kept) => break Ok(kept),
            Err(e) => match waits.next() {
                Some(ms) => {
                    tracing::warn!(rows = finished.len(), error = %e, "recording notification attempts failed; retrying");
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                None => break Err(e),
            },
        }
    };
    let kept: Vec<Recorded> = match outcome {
        Ok(kept) => kept.into_iter().map(recorded).collect(),
        Err(e) if finished.len() == 1 => {
            tracing::error!(id = finished[0].id, error = %e, "recording a notification attempt failed");
            vec![Recorded::Failed]
        }
        Err(e) => {
            tracing::warn!(rows = finished.len(), error = %e, "recording notification attempts failed; recording each on its own");
            let mut each = Vec::with_capacity(finished.len());
            for one in &finished {
                let single = std::slice::from_ref(one);
                each.push(
                    match notifications::record_attempts(db, owner, single, Utc::now()).await {
                        Ok(kept) => kept.into_iter().next().map_or(Recorded::Failed, recorded),
                        Err(e) => {
                            tracing::error!(id = one.id, error = %e, "recording a notification attempt failed");
                            Recorded::Failed
                        }
                    },
                );
            }
            each
        }
    };
    for ((one, reply), recorded) in finished.iter().zip(replies).zip(kept) {
        if recorded == Recorded::LeaseLost {
            tracing::warn!(
                id = one.id,
                "notification lease was lost before its attempt was recorded"
            );
        }
        // The delivery may be gone (its task dropped); its row is recorded all the same.
        let _ = reply.send(recorded);
    }
}

fn recorded(kept: bool) -> Recorded {
    if kept {
        Recorded::Kept
    } else {
        Recorded::LeaseLost
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};
    use futures::future::join_all;
    use nkpay_store::kinds::{NotificationKind, NotificationStatus};
    use nkpay_store::notifications::{AttemptRecord, NewNotification, NextStep};
    use nkpay_store::sea_orm::{ConnectionTrait, Statement};
    use nkpay_store::testing::databases;

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
    }

    fn delivered(id: i64) -> FinishedAttempt {
        FinishedAttempt {
            id,
            attempt: AttemptRecord {
                started_at: t0(),
                duration_ms: 3,
                http_status: Some(200),
                error: None,
                response_body: Some("ok".into()),
                delivered: true,
            },
            next: NextStep::Delivered,
        }
    }

    /// Deliveries finishing together are recorded in batches; a row whose lease was lost is
    /// told so, a row the database refuses (no such notification) is not recorded, and
    /// neither keeps the others of its batch from being recorded.
    #[tokio::test]
    async fn a_lost_lease_or_a_refused_row_affects_only_that_row_of_its_batch() {
        for t in databases().await {
            for i in 0..6 {
                let new = NewNotification {
                    mer_id: "6666000000000001".into(),
                    kind: NotificationKind::Trade,
                    subject_nkp_seq_id: format!("NKPREC{i}"),
                    notify_url: "https://merchant.example/n".into(),
                    resp_data: "{}".into(),
                    first_attempt_at: t0(),
                };
                notifications::enqueue(t.db.conn(), &new, t0())
                    .await
                    .unwrap();
            }
            let ids: Vec<i64> =
                notifications::claim_due(&t.db, "me", t0(), TimeDelta::seconds(60), 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
            assert_eq!(ids.len(), 6, "{}", t.label);
            let steal = Statement::from_sql_and_values(
                t.db.backend(),
                "UPDATE notifications SET lease_owner = $1 WHERE id = $2",
                ["another-node".into(), ids[2].into()],
            );
            t.db.conn().execute_raw(steal).await.unwrap();

            let recorder = Recorder::default();
            let mut wanted: Vec<i64> = ids.clone();
            wanted.insert(4, 999_999);
            let got = join_all(
                wanted
                    .iter()
                    .map(|id| recorder.record(&t.db, "me", delivered(*id))),
            )
            .await;
            use Recorded::*;
            assert_eq!(
                got,
                vec![Kept, Kept, LeaseLost, Kept, Failed, Kept, Kept],
                "{}",
                t.label
            );
            for (i, id) in ids.iter().enumerate() {
                let row = notifications::find(t.db.conn(), *id)
                    .await
                    .unwrap()
                    .unwrap();
                let want = if i == 2 {
                    NotificationStatus::Pending
                } else {
                    NotificationStatus::Delivered
                };
                assert_eq!(row.status, want, "{}: row {i}", t.label);
                let attempts = notifications::list_attempts(t.db.conn(), *id)
                    .await
                    .unwrap();
                assert_eq!(attempts.len(), 1, "{}: row {i}", t.label);
            }
            assert!(recorder.queue().is_empty(), "{}", t.label);
        }
    }
}
