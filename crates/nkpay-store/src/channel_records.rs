//! What passed between the platform and the channels: each inbound notify as received, and
//! each outbound call with its reply. The caller masks secrets before handing bodies over.

use chrono::{DateTime, Utc};
use nkpay_core::trade_type::ChannelKind;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::entity::{channel_exchange, channel_inbound_message};
use crate::error::StoreError;

/// A notify as it arrived, before or after verification.
#[derive(Debug, Clone)]
pub struct NewInboundMessage {
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// Which notify it is, e.g. "pay" or "refund".
    pub kind: String,
    /// The body as received.
    pub body: String,
    /// JSON object of the request headers.
    pub headers: Option<String>,
    /// The sender's address as seen by the platform.
    pub remote_addr: Option<String>,
    /// Whether its signature verified.
    pub verified: bool,
    /// What the platform made of it (finalized, refused, error …).
    pub outcome: Option<String>,
    /// The platform's order number (`nkp_seq_id`), unique.
    pub nkp_seq_id: Option<String>,
    /// When it arrived (UTC).
    pub received_at: DateTime<Utc>,
}

/// One call to a channel.
#[derive(Debug, Clone)]
pub struct NewExchange {
    /// The platform's order number (`nkp_seq_id`), unique.
    pub nkp_seq_id: Option<String>,
    /// The channel it runs on; stored as "wechat" or "alipay".
    pub channel: ChannelKind,
    /// The channel API called, e.g. "unifiedorder" or "alipay.trade.query".
    pub call_name: String,
    /// The request as sent, secrets masked.
    pub request_body: String,
    /// The reply as received; `None` when none came.
    pub reply_body: Option<String>,
    /// How long the call took, in milliseconds.
    pub duration_ms: i64,
    /// What the platform made of it (finalized, refused, error …).
    pub outcome: String,
    /// When it happened (UTC).
    pub at: DateTime<Utc>,
}

/// The row of one inbound notify.
fn inbound_row(new: &NewInboundMessage) -> channel_inbound_message::ActiveModel {
    channel_inbound_message::ActiveModel {
        channel: Set(new.channel),
        kind: Set(new.kind.clone()),
        body: Set(new.body.clone()),
        headers: Set(new.headers.clone()),
        remote_addr: Set(new.remote_addr.clone()),
        verified: Set(new.verified),
        outcome: Set(new.outcome.clone()),
        nkp_seq_id: Set(new.nkp_seq_id.clone()),
        received_at: Set(new.received_at),
        ..Default::default()
    }
}

/// The row of one call to a channel.
fn exchange_row(new: &NewExchange) -> channel_exchange::ActiveModel {
    channel_exchange::ActiveModel {
        nkp_seq_id: Set(new.nkp_seq_id.clone()),
        channel: Set(new.channel),
        call_name: Set(new.call_name.clone()),
        request_body: Set(new.request_body.clone()),
        reply_body: Set(new.reply_body.clone()),
        duration_ms: Set(new.duration_ms),
        outcome: Set(new.outcome.clone()),
        created_at: Set(new.at),
        ..Default::default()
    }
}

/// Stores several calls to channels in one INSERT (the exchange history's batch writer):
/// returns how many rows were written (0 for none). On PostgreSQL the batch commits without
/// waiting for its WAL flush (`SET LOCAL synchronous_commit = off`, PostgreSQL manual "Asynchronous
/// Commit"): the history is a diagnostic record, never what a trade, refund or notification
/// depends on, so a crash may lose its last few milliseconds but never leaves it inconsistent.
pub async fn record_exchanges(db: &crate::Db, rows: &[NewExchange]) -> Result<u64, StoreError> {
    insert_history(db, rows.iter().map(exchange_row)).await?;
    Ok(rows.len() as u64)
}

/// Stores several inbound notifies, each with its outcome, in one INSERT, as
/// [`record_exchanges`] stores calls (the same batch writer, the same durability): returns how
/// many rows were written (0 for none).
pub async fn record_inbound_many(
    db: &crate::Db,
    rows: &[NewInboundMessage],
) -> Result<u64, StoreError> {
    insert_history(db, rows.iter().map(inbound_row)).await?;
    Ok(rows.len() as u64)
}

/// One INSERT of history rows; on PostgreSQL committed without waiting for the WAL flush
/// (see [`record_exchanges`]); on a SQLite file in the server's runtime it joins the write
/// queue's batch (`crate::Db::write`). Nothing for no rows.
async fn insert_history<A>(
    db: &crate::Db,
    models: impl IntoIterator<Item = A>,
) -> Result<(), StoreError>
where
    A: sea_orm::ActiveModelTrait + Send + 'static,
{
    let mut models = models.into_iter().peekable();
    if models.peek().is_none() {
        return Ok(());
    }
    let insert = A::Entity::insert_many(models);
    db.write(move |w| async move {
        if w.executor().get_database_backend() == sea_orm::DbBackend::Postgres {
            let txn = w.begin_write().await?;
            txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
                .await?;
            insert.exec_without_returning(&*txn).await?;
            txn.commit().await?;
        } else {
            insert.exec_without_returning(&w.executor()).await?;
        }
        Ok(())
    })
    .await
}

/// Inbound messages linked to a trade or refund, oldest first.
pub async fn list_inbound_for(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
) -> Result<Vec<channel_inbound_message::Model>, StoreError> {
    Ok(channel_inbound_message::Entity::find()
        .filter(channel_inbound_message::Column::NkpSeqId.eq(nkp_seq_id))
        .order_by_asc(channel_inbound_message::Column::Id)
        .all(conn)
        .await?)
}

/// Calls made about a trade or refund, oldest first.
pub async fn list_exchanges_for(
    conn: &impl ConnectionTrait,
    nkp_seq_id: &str,
) -> Result<Vec<channel_exchange::Model>, StoreError> {
    Ok(channel_exchange::Entity::find()
        .filter(channel_exchange::Column::NkpSeqId.eq(nkp_seq_id))
        .order_by_asc(channel_exchange::Column::Id)
        .all(conn)
        .await?)
}
