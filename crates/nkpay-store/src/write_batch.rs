//! Group commit of the hot writes on a SQLite file: the writes handed to [`crate::Db::write`]
//! queue for one task that runs them one after another inside ONE transaction of the writer
//! connection, and answers each only after that transaction committed.
//!
//! Why (issue 16): SQLite has one writer connection ([`crate::Db`]). Each write that took it
//! from its pool paid, besides its own statements, the checkout, the task sqlx spawns to give
//! the connection back, and the ping sqlx makes on every give-back — each a hop between
//! threads, on a 2-core machine that also runs RSA and JSON. The writer's hold came to about
//! 0.5 ms for 0.1 ms of SQLite work, and `T_JSAPI` creates stopped at about 1,000/s with the
//! writer busy all the time. Here a batch pays the checkout, `BEGIN IMMEDIATE`, `COMMIT` and the
//! give-back once for every write that queued while the one before ran (at most
//! [`MAX_BATCH`]); a lone write waits for nothing.
//!
//! The rules that keep each write as atomic as it was alone:
//! - a write's statements that were single statements stay so: SQLite undoes only the failing
//!   statement on a constraint error (`ON CONFLICT ABORT`, the default; sqlite.org/lang_conflict),
//!   and the transaction goes on;
//! - a write that needs a transaction of its own begins one with [`WriteConn::begin_write`],
//!   which inside a batch is a savepoint: rolled back alone when the write drops it;
//! - a write that fails ends its batch there, before any other write runs after it: an error
//!   that made SQLite roll the whole transaction back (`SQLITE_FULL`, `SQLITE_IOERR`,
//!   sqlite.org/lang_transaction "Response To Errors Within A Transaction") then fails the
//!   `COMMIT`, and every write of the batch is answered with that error — none of them is left
//!   committed behind an error;
//! - a write that panics rolls its batch back; every write of the batch is answered with an
//!   error and the task goes on with the next batch;
//! - the answer to a write is sent after the `COMMIT` succeeded, so what a caller was told is
//!   written is committed and visible to every reader (WAL; with `synchronous = NORMAL` a
//!   power cut may lose the last commits, as for any write of this database).

use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use sea_orm::{
    DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;

/// The most writes one batch runs before it commits: bounds how long the first write of a
/// batch waits for its answer behind the others (each about 0.1 ms of SQLite work).
pub const MAX_BATCH: usize = 64;

/// Where a write of [`crate::Db::write`] makes its statements: the pool's connection (on
/// PostgreSQL, in-memory SQLite, or outside a multi-threaded runtime), or the transaction of
/// the batch it runs in (on a SQLite file in the server's runtime). Owned, so the write's
/// future can be `'static`; cheap to clone.
#[derive(Clone, Debug)]
pub struct WriteConn(Inner);

#[derive(Clone, Debug)]
enum Inner {
    Pool(DatabaseConnection),
    Batch(Arc<DatabaseTransaction>),
}

impl WriteConn {
    /// The connection to pass to the store's functions (`&impl ConnectionTrait`): sea-orm's
    /// executor over the pool or over the batch's transaction.
    pub fn executor(&self) -> DatabaseExecutor<'_> {
        match &self.0 {
            Inner::Pool(conn) => DatabaseExecutor::Connection(conn),
            Inner::Batch(txn) => DatabaseExecutor::Transaction(txn),
        }
    }

    /// Starts a transaction of this write's own, which it commits, or drops to roll back: on
    /// the pool `BEGIN IMMEDIATE` on SQLite (see [`crate::Db::begin_write`]) and `BEGIN` on
    /// PostgreSQL; inside a batch a savepoint (`SAVEPOINT`, then `RELEASE` on commit and
    /// `ROLLBACK TO` on drop), whose writes commit with the batch. It borrows this
    /// `WriteConn`, so it cannot outlive the write (a savepoint left open past its write would
    /// turn the batch's `COMMIT` into a `RELEASE`).
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>, StoreError> {
        let txn = match &self.0 {
            Inner::Pool(conn) => conn.begin_with_options(immediate()).await?,
            Inner::Batch(txn) => txn.begin().await?,
        };
        Ok(WriteTxn {
            txn,
            _write: PhantomData,
        })
    }

    pub(crate) fn pool(conn: DatabaseConnection) -> WriteConn {
        WriteConn(Inner::Pool(conn))
    }
}

/// A write's own transaction ([`WriteConn::begin_write`]): use it as the sea-orm
/// [`DatabaseTransaction`] it derefs to (`&*txn` where a `&impl ConnectionTrait` is asked for),
/// then [`WriteTxn::commit`], or [`WriteTxn::rollback`] or drop it to undo its statements.
#[derive(Debug)]
pub struct WriteTxn<'a> {
    txn: DatabaseTransaction,
    _write: PhantomData<&'a WriteConn>,
}

impl WriteTxn<'_> {
    /// Commits: `COMMIT`, or inside a batch `RELEASE` (the batch commits it).
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.txn.commit().await?)
    }

    /// Undoes its statements: `ROLLBACK`, or inside a batch `ROLLBACK TO` its savepoint.
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.txn.rollback().await?)
    }
}

impl std::ops::Deref for WriteTxn<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// The options of a write transaction: on SQLite `BEGIN IMMEDIATE`, which takes the write lock
/// up front (a deferred transaction that reads and then writes can fail with SQLITE_BUSY when
/// another writer got in between, and busy_timeout does not help there).
pub(crate) fn immediate() -> TransactionOptions {
    TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    }
}

/// What a queued write hands back once it ran: whether it failed (which ends the batch), and
/// how to answer its caller given the batch's `COMMIT` (`Err` with the reason).
struct Ran {
    failed: bool,
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

tokio::task_local! {
    /// Set while a write of the queue runs: a `Db::write` from inside it would wait for its own
    /// batch to end, which waits for it.
    static IN_WRITE: ();
}

/// A queued write: run it on the batch's `WriteConn`, or, given `Err` with the reason (its batch
/// could not begin), answer its caller with that error without running it.
type Job =
    Box<dyn FnOnce(Result<WriteConn, String>) -> Pin<Box<dyn Future<Output = Ran> + Send>> + Send>;

/// The queue of writes and the task that runs them in batches (see the module). Its clones
/// share one queue.
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
    counts: Arc<Counts>,
}

/// How many batches committed or failed, and how many writes they ran: writes ÷ batches is the
/// mean batch size.
#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    writes: AtomicU64,
}

/// Batches run so far by a [`crate::Db`]'s write queue ([`crate::Db::write_batches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBatches {
    /// Transactions the queue ran (committed or not).
    pub batches: u64,
    /// Writes run in them.
    pub writes: u64,
}

impl Batcher {
    /// Starts the task on `runtime`, writing through `conn` (the writer's pool of one). The
    /// task ends when every [`Batcher`] handle is dropped.
    pub(crate) fn start(conn: DatabaseConnection, runtime: &tokio::runtime::Handle) -> Batcher {
        let (jobs, queue) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        runtime.spawn(run(conn, queue, Arc::clone(&counts)));
        Batcher { jobs, counts }
    }

    pub(crate) fn counts(&self) -> WriteBatches {
        WriteBatches {
            batches: self.counts.batches.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Queues `write` and waits for its answer, given after its batch committed.
    pub(crate) async fn write<T, F>(
        &self,
        write: impl FnOnce(WriteConn) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        if IN_WRITE.try_with(|_| ()).is_ok() {
            return Err(StoreError::Db(DbErr::Custom(
                "Db::write inside a write: it would wait for its own batch".to_owned(),
            )));
        }
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = match conn {
                    Ok(conn) => write(conn).await,
                    Err(reason) => Err(StoreError::Db(DbErr::Custom(reason))),
                };
                Ran {
                    failed: result.is_err(),
                    answer: Box::new(move |commit| {
                        let answer = match commit {
                            Ok(()) => result,
                            Err(e) => Err(StoreError::Db(DbErr::Custom(e))),
                        };
                        // The caller may have stopped waiting; the write is done either way.
                        let _ = tx.send(answer);
                    }),
                }
            })
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| {
            StoreError::Db(DbErr::Custom(
                "the write was not answered: it panicked, or its batch rolled back after a panic"
                    .to_owned(),
            ))
        })?
    }
}

fn stopped() -> StoreError {
    StoreError::Db(DbErr::Custom("the write queue has stopped".to_owned()))
}

/// The task: waits for a write, begins a transaction, runs that write and every one queued
/// meanwhile (up to [`MAX_BATCH`], until one fails or panics), commits — or rolls back after a
/// panic — and answers them all.
async fn run(
    conn: DatabaseConnection,
    mut queue: mpsc::UnboundedReceiver<Job>,
    counts: Arc<Counts>,
) {
    while let Some(first) = queue.recv().await {
        let txn = match conn.begin_with_options(immediate()).await {
            Ok(txn) => Arc::new(txn),
            Err(e) => {
                // Every write queued now gets the error; those queued later try again. A
                // writer connection held elsewhere past the pool's acquire time-out (30 s) thus
                // fails the queue at once instead of one write per time-out.
                tracing::warn!(error = %e, "could not begin a write batch");
                let reason = format!("could not begin the write's batch: {e}");
                let mut next = Some(first);
                while let Some(job) = next {
                    (job(Err(reason.clone())).await.answer)(Ok(()));
                    next = queue.try_recv().ok();
                }
                continue;
            }
        };
        let mut answers = Vec::new();
        let mut panicked = false;
        let mut next = Some(first);
        while let Some(job) = next {
            let write = job(Ok(WriteConn(Inner::Batch(Arc::clone(&txn)))));
            let ran = AssertUnwindSafe(IN_WRITE.scope((), write))
                .catch_unwind()
                .await;
            match ran {
                Ok(ran) => {
                    let failed = ran.failed;
                    answers.push(ran.answer);
                    if failed {
                        break;
                    }
                }
                Err(_) => {
                    panicked = true;
                    break;
                }
            }
            next = if answers.len() < MAX_BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        let outcome = match (Arc::try_unwrap(txn), panicked) {
            (Ok(txn), false) => txn
                .commit()
                .await
                .map_err(|e| format!("the write's batch did not commit: {e}")),
            (Ok(txn), true) => {
                let _ = txn.rollback().await;
                Err("the write's batch was rolled back: a write in it panicked".to_owned())
            }
            // A write kept the batch's transaction past its end (a bug): dropping the last
            // handle rolls it back.
            (Err(_), _) => {
                Err("the write's batch was rolled back: a write kept its transaction".to_owned())
            }
        };
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, writes = answers.len(), "write batch failed");
        }
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts.writes.fetch_add(
            u64::try_from(answers.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        for answer in answers {
            answer(outcome.clone());
        }
    }
}
