//! Node identity: which running process holds each `server.node_id` (`node_leases`). The id
//! is part of every `nkp_seq_id` a node mints, so two live processes must never share one.
//!
//! A process takes the id with [`acquire`] — an INSERT that does nothing when the row exists,
//! then an UPDATE that takes it only when its lease has ended — so of any number of processes
//! asking at once exactly one gets it: PostgreSQL's unique key and row lock (the UPDATE's
//! condition is checked again on the row as the winner left it), SQLite's single writer. It
//! then [`renew`]s the lease, which only its own instance can, and [`release`]s it when it
//! stops. Times come from the caller (UTC); the nodes' clocks must agree to well within a
//! lease.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};

use crate::db::Db;
use crate::entity::node_lease;
use crate::error::StoreError;

/// Who asks for a node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClaimant {
    /// The id asked for (`server.node_id`).
    pub node_id: i32,
    /// This process's random instance id (at most 32 characters).
    pub instance_id: String,
    /// This process's host name (cut to 255 characters).
    pub host: String,
    /// This process's id.
    pub pid: i64,
}

/// What [`acquire`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The id is this claimant's until the row's `lease_until`.
    Taken(node_lease::Model),
    /// Another instance holds the id until the row's `lease_until`.
    Held(node_lease::Model),
}

/// Takes `claimant.node_id` for `claimant` until `now + lease` when no row exists or the
/// row's lease ended at or before `now`; otherwise answers who holds it.
/// Errors: [`StoreError::Invalid`] for an instance id over 32 characters; the database's.
pub async fn acquire(
    db: &Db,
    claimant: &NodeClaimant,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<Acquired, StoreError> {
    if claimant.instance_id.is_empty() || claimant.instance_id.chars().count() > 32 {
        return Err(StoreError::Invalid {
            field: "instance_id",
            rule: "must be 1 to 32 characters".into(),
        });
    }
    let host: String = claimant.host.chars().take(255).collect();
    // Microseconds, as PostgreSQL keeps them: the row answered is the row stored.
    let now = now.trunc_subsecs(6);
    let until = (now + lease).trunc_subsecs(6);
    let taken = node_lease::Model {
        node_id: claimant.node_id,
        instance_id: claimant.instance_id.clone(),
        host: host.clone(),
        pid: claimant.pid,
        started_at: now,
        lease_until: until,
    };
    let backend = db.backend();
    let values = || {
        [
            claimant.instance_id.as_str().into(),
            host.as_str().into(),
            claimant.pid.into(),
            now.into(),
            until.into(),
            claimant.node_id.into(),
        ]
    };
    // Nobody deletes rows, so the loop ends after its first pass in practice; it is there so
    // that a row removed by hand between two statements cannot turn into a wrong answer.
    for _ in 0..3 {
        let inserted = db
            .conn()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO node_leases (instance_id, host, pid, started_at, lease_until, node_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id) DO NOTHING",
                values(),
            ))
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Acquired::Taken(taken));
        }
        let updated = db
            .conn()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE node_leases SET instance_id = $1, host = $2, pid = $3, started_at = $4, \
                 lease_until = $5 WHERE node_id = $6 AND lease_until <= $4",
                values(),
            ))
            .await?;
        if updated.rows_affected() == 1 {
            return Ok(Acquired::Taken(taken));
        }
        if let Some(holder) = find(db.conn(), claimant.node_id).await? {
            return Ok(Acquired::Held(holder));
        }
    }
    Err(StoreError::NotFound {
        what: "node lease",
        key: claimant.node_id.to_string(),
    })
}

/// Extends the lease of `node_id` to `now + lease` while `instance_id` holds it. `false` when
/// another instance has taken the id (this one lost it and must stop).
pub async fn renew(
    conn: &impl ConnectionTrait,
    node_id: i32,
    instance_id: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<bool, StoreError> {
    set_lease_until(conn, node_id, instance_id, now + lease).await
}

/// Ends the lease of `node_id` at `now` while `instance_id` holds it, so the id is free at
/// once (the row stays, naming its last holder). `false` when another instance holds it.
pub async fn release(
    conn: &impl ConnectionTrait,
    node_id: i32,
    instance_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    set_lease_until(conn, node_id, instance_id, now).await
}

async fn set_lease_until(
    conn: &impl ConnectionTrait,
    node_id: i32,
    instance_id: &str,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE node_leases SET lease_until = $1 WHERE node_id = $2 AND instance_id = $3",
            [until.into(), node_id.into(), instance_id.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// The row of `node_id`, if any node ever took it.
pub async fn find(
    conn: &impl ConnectionTrait,
    node_id: i32,
) -> Result<Option<node_lease::Model>, StoreError> {
    Ok(node_lease::Entity::find_by_id(node_id).one(conn).await?)
}
