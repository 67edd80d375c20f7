//! Every HTTP exchange with a channel, and every channel notify as received with its outcome,
//! goes into the trade's history (connectors mask secrets before handing them over). Losing a
//! history row must not fail a payment, so errors are logged, not returned.
//!
//! The history leaves the request path (issue 16): a request hands its rows to one writer task
//! per process, which stores whatever has queued up in one INSERT
//! ([`channel_records::record_exchanges`]) — a write less per create, query refresh and refund,
//! and on SQLite one turn of the single writer connection for many rows. The writer waits up to
//! [`LINGER`] after a batch's first row for more: without it, at 1,200 rows a second (creates
//! and the trade job's queries, 600 of each) a batch held 1.7 rows on average and the history
//! took a turn of the writer connection per call; with it, 11.6. A row is in the database
//! within milliseconds of the call; [`Context::flush_channel_history`] waits until
//! everything handed over so far is written (the console's timeline does, and so does a node
//! that stops). When the queue is full, or there is no writer task (no tokio runtime when the
//! engine was built, or it ended), the request writes its rows itself, as before.

use chrono::Utc;
use nkpay_channels::Exchange;
use nkpay_core::trade_type::ChannelKind;
use nkpay_store::Db;
use nkpay_store::channel_records::{self, NewExchange, NewInboundMessage};
use tokio::sync::{mpsc, oneshot};

use crate::context::Context;

/// Rows waiting for the writer at most; past it a request writes its own.
const QUEUE: usize = 16_384;
/// Rows in one INSERT at most.
const BATCH: usize = 256;
/// How long the writer waits for more rows after a batch's first before it writes it (not
/// when a flush is waiting, nor once the batch is full). The rows are in memory meanwhile, as
/// they are in the queue: the history is kept best-effort (see the module).
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

enum Message {
    Row(NewExchange),
    Inbound(NewInboundMessage),
    /// Answered once every row queued before it is written (or failed and was logged).
    Flush(oneshot::Sender<()>),
}

/// The history's writer: a queue to one task that stores the rows in batches.
pub(crate) struct ExchangeLog {
    db: Db,
    queue: Option<mpsc::Sender<Message>>,
}

impl ExchangeLog {
    /// Starts the writer task on the current tokio runtime; without one, requests write their
    /// rows themselves.
    pub(crate) fn start(db: Db) -> ExchangeLog {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (tx, rx) = mpsc::channel(QUEUE);
            runtime.spawn(write_batches(db.clone(), rx));
            tx
        });
        ExchangeLog { db, queue }
    }

    /// Queues `message` (a row of either kind); writes it at once when the queue is full or
    /// gone.
    async fn record(&self, message: Message) {
        let message = match &self.queue {
            Some(queue) => match queue.try_send(message) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m)) => m,
            },
            None => message,
        };
        let mut batch = Batch::default();
        batch.push(message);
        batch.write(&self.db).await;
    }

    /// Waits until every row queued so far is written.
    pub(crate) async fn flush(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (done, written) = oneshot::channel();
        if queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// The rows of one batch: calls and inbound notifies, each kind written in one INSERT.
#[derive(Default)]
struct Batch {
    exchanges: Vec<NewExchange>,
    inbound: Vec<NewInboundMessage>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn push(&mut self, message: Message) {
        match message {
            Message::Row(row) => self.exchanges.push(row),
            Message::Inbound(row) => self.inbound.push(row),
            Message::Flush(done) => self.flushes.push(done),
        }
    }

    fn rows(&self) -> usize {
        self.exchanges.len() + self.inbound.len()
    }

    /// Writes the rows (errors are logged: the history is best-effort), then answers the
    /// flushes, and empties the batch.
    async fn write(&mut self, db: &Db) {
        if let Err(e) = channel_records::record_exchanges(db, &self.exchanges).await {
            let rows = self.exchanges.len();
            tracing::warn!(error = %e, rows, "could not store channel exchanges");
        }
        if let Err(e) = channel_records::record_inbound_many(db, &self.inbound).await {
            let rows = self.inbound.len();
            tracing::warn!(error = %e, rows, "could not store inbound channel notifies");
        }
        self.exchanges.clear();
        self.inbound.clear();
        for done in self.flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The writer task: takes what has queued up, and what comes within [`LINGER`] of the first
/// row (at most [`BATCH`] rows; a flush ends the wait), writes it (one INSERT per kind of
/// row), answers the flushes that were behind those rows, and waits for more. Ends when
/// every sender is gone and the queue is empty.
async fn write_batches(db: Db, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Batch::default();
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + LINGER;
        let mut next = Some(first);
        loop {
            while let Some(message) = next.take() {
                batch.push(message);
                if batch.rows() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if batch.rows() >= BATCH || !batch.flushes.is_empty() {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(message)) => next = Some(message),
                Ok(None) | Err(_) => break,
            }
        }
        batch.write(&db).await;
    }
}

impl Context {
    /// Stores `exchanges` under `nkp_seq_id`; the last one carries `outcome`, the earlier ones
    /// (permitted re-sends) say they were re-sent. Handed to the history's writer (see the
    /// module): in the database within milliseconds, or at once when its queue is full.
    pub(crate) async fn log_exchanges(
        &self,
        nkp_seq_id: Option<&str>,
        channel: ChannelKind,
        exchanges: &[Exchange],
        outcome: &str,
    ) {
        let last = exchanges.len().saturating_sub(1);
        for (i, ex) in exchanges.iter().enumerate() {
            let transport = match (ex.status, &ex.error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(err)) => format!("no reply: {err}"),
                (None, None) => "no reply".to_owned(),
            };
            let outcome = if i == last {
                format!("{transport}; {outcome}")
            } else {
                format!("{transport}; re-sent")
            };
            let reply_body =
                (ex.status.is_some() || !ex.reply_body.is_empty()).then(|| ex.reply_body.clone());
            let new = NewExchange {
                nkp_seq_id: nkp_seq_id.map(str::to_owned),
                channel,
                call_name: ex.call.clone(),
                request_body: ex.request_body.clone(),
                reply_body,
                duration_ms: i64::try_from(ex.duration.as_millis()).unwrap_or(i64::MAX),
                outcome,
                at: ex.started_at.min(Utc::now()),
            };
            self.exchange_log.record(Message::Row(new)).await;
        }
    }

    /// Stores a channel notify as received, with what became of it, the same way: handed to
    /// the history's writer, in the database within milliseconds (or at once when its queue is
    /// full). On SQLite a notify's record used to take two turns of the one writer connection
    /// on the request path (an INSERT before handling, an UPDATE of its outcome after), more
    /// than its finalization (issue 16: a burst of pay notifies held up every other write).
    pub(crate) async fn log_inbound(&self, row: NewInboundMessage) {
        self.exchange_log.record(Message::Inbound(row)).await;
    }

    /// Waits until every channel exchange this node handed to the history's writer so far is
    /// in the database (the console's trade timeline reads after it; a stopping node calls it
    /// last). Returns at once when there is no writer task.
    pub async fn flush_channel_history(&self) {
        self.exchange_log.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(n: usize) -> NewExchange {
        NewExchange {
            nkp_seq_id: Some(format!("NKP{n:04}")),
            channel: ChannelKind::Wechat,
            call_name: "unifiedorder".into(),
            request_body: format!("<xml>{n}</xml>"),
            reply_body: Some("<xml/>".into()),
            duration_ms: 1,
            outcome: "HTTP 200; created".into(),
            at: Utc::now(),
        }
    }

    async fn count(db: &Db) -> usize {
        let mut n = 0;
        for i in 0..1000 {
            n += channel_records::list_exchanges_for(db.conn(), &format!("NKP{i:04}"))
                .await
                .expect("list")
                .len();
        }
        n
    }

    fn inbound(n: usize) -> NewInboundMessage {
        NewInboundMessage {
            channel: ChannelKind::Wechat,
            kind: "pay".into(),
            body: format!("<xml>notify {n}</xml>"),
            headers: None,
            remote_addr: Some("127.0.0.1".into()),
            verified: n.is_multiple_of(2),
            outcome: Some(format!("outcome {n}")),
            nkp_seq_id: Some(format!("NKP{n:04}")),
            received_at: Utc::now(),
        }
    }

    /// Rows handed over, calls and inbound notifies mixed, are all in the database once
    /// `flush` returns, written in batches of at most BATCH, on SQLite and PostgreSQL.
    #[tokio::test]
    async fn every_row_handed_over_is_written_by_the_time_flush_returns() {
        for db in nkpay_store::testing::databases().await {
            let log = ExchangeLog::start(db.db.clone());
            for n in 0..1000 {
                log.record(Message::Row(row(n))).await;
                if n.is_multiple_of(3) {
                    log.record(Message::Inbound(inbound(n))).await;
                }
            }
            log.flush().await;
            assert_eq!(count(&db.db).await, 1000, "{}", db.label);
            for n in [0usize, 3, 999] {
                let stored = channel_records::list_inbound_for(db.db.conn(), &format!("NKP{n:04}"))
                    .await
                    .expect("inbound");
                assert_eq!(stored.len(), 1, "{}: notify {n}", db.label);
                assert_eq!(stored[0].body, format!("<xml>notify {n}</xml>"));
                assert_eq!(stored[0].verified, n.is_multiple_of(2));
                assert_eq!(
                    stored[0].outcome.as_deref(),
                    Some(format!("outcome {n}").as_str())
                );
            }
            let none = channel_records::list_inbound_for(db.db.conn(), "NKP0001")
                .await
                .expect("inbound");
            assert!(
                none.is_empty(),
                "{}: only the notifies handed over",
                db.label
            );
            // A flush with nothing queued returns too.
            tokio::time::timeout(Duration::from_secs(30), log.flush())
                .await
                .expect("an empty flush returns");
        }
    }

    /// A row handed over with nobody flushing is written by the writer on its own once its
    /// batch's wait is over, on SQLite and PostgreSQL.
    #[tokio::test]
    async fn a_row_is_written_without_a_flush() {
        for db in nkpay_store::testing::databases().await {
            let log = ExchangeLog::start(db.db.clone());
            log.record(Message::Row(row(3))).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while channel_records::list_exchanges_for(db.db.conn(), "NKP0003")
                .await
                .expect("list")
                .is_empty()
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{}: the row was never written",
                    db.label
                );
                tokio::task::yield_now().await;
            }
        }
    }

    /// Without a tokio runtime at start there is no writer task: rows are written at once.
    #[test]
    fn without_a_runtime_rows_are_written_by_the_request_itself() {
        let log_and_db = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let db = runtime.block_on(Db::connect_with_pool_size("sqlite::memory:", 1));
            let db = db.expect("db");
            runtime
                .block_on(nkpay_store::migrate(&db))
                .expect("migrate");
            (runtime, db)
        })
        .join()
        .expect("thread");
        let (runtime, db) = log_and_db;
        let log = ExchangeLog::start(db.clone());
        assert!(
            log.queue.is_none(),
            "built outside a runtime: no writer task"
        );
        runtime.block_on(async {
            log.record(Message::Row(row(7))).await;
            let stored = channel_records::list_exchanges_for(db.conn(), "NKP0007")
                .await
                .expect("list");
            assert_eq!(stored.len(), 1, "written before record returned");
        });
    }
}
