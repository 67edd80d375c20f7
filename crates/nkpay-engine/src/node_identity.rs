//! Node identity: a running node holds its `server.node_id` under a lease
//! (`nkpay_store::node_leases`), because the id is part of every `nkp_seq_id` it mints and
//! two live nodes sharing one would mint colliding ids.
//!
//! At start [`register`] takes the id when nobody holds it or the holder's lease has ended,
//! else refuses with [`NodeIdentityError::InUse`] naming the holder. [`NodeLease::keep`] then
//! renews the lease every third of its length; when a renewal finds another instance holding
//! the id, or no renewal got through before the lease ended, the node has lost its identity
//! and must stop taking work at once (the keeper answers [`Kept::Lost`]). A node that stops
//! cleanly ends its lease ([`NodeLease::release`]), so a restart need not wait for it.
//!
//! Times are the real wall clock (UTC), never `server.clock_offset_secs`: every node compares
//! leases against its own clock, so the nodes' clocks must agree to well within a lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nkpay_store::node_leases::{self, Acquired, NodeClaimant};
use nkpay_store::{Db, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::delta;

/// Why a node may not start under its id.
#[derive(Debug, thiserror::Error)]
pub enum NodeIdentityError {
    /// Another live process holds the id.
    #[error(
        "server.node_id {node_id} is in use by another running node (host {host}, pid {pid}, \
         instance {instance_id}) until {lease_until} UTC; give this node another server.node_id, \
         or stop that one (a dead node's id is free once its lease ends)"
    )]
    InUse {
        /// The id asked for.
        node_id: u16,
        /// The holder's host name.
        host: String,
        /// The holder's process id.
        pid: i64,
        /// The holder's instance id.
        instance_id: String,
        /// When the holder's lease ends unless it renews it (UTC).
        lease_until: DateTime<Utc>,
    },
    /// The database failed.
    #[error("node identity: {0}")]
    Store(#[from] StoreError),
}

/// The identity this process holds: its node id and instance, under a lease.
#[derive(Debug, Clone)]
pub struct NodeLease {
    db: Db,
    claimant: NodeClaimant,
    node_id: u16,
    lease: Duration,
    lease_until: DateTime<Utc>,
}

/// How [`NodeLease::keep`] ended.
#[derive(Debug)]
pub enum Kept {
    /// Told to stop while still holding the id: release it once the work has stopped.
    Stopped(NodeLease),
    /// The id is lost (why, in words): the node must stop taking work and exit non-zero.
    Lost(String),
}

/// Takes `node_id` for this process (`instance_id`, random per process: see
/// [`crate::Context::instance_id`]) for `lease` (seconds; the server allows 3 to 600).
/// Errors: [`NodeIdentityError::InUse`] naming the other instance's host, pid and lease end
/// while its lease runs; the database's.
pub async fn register(
    db: &Db,
    node_id: u16,
    instance_id: &str,
    lease: Duration,
) -> Result<NodeLease, NodeIdentityError> {
    let claimant = NodeClaimant {
        node_id: i32::from(node_id),
        instance_id: instance_id.to_owned(),
        host: host_name(),
        pid: i64::from(std::process::id()),
    };
    match node_leases::acquire(db, &claimant, Utc::now(), delta(lease)).await? {
        Acquired::Taken(row) => {
            tracing::info!(node_id, instance_id, lease_until = %row.lease_until, "node id taken");
            Ok(NodeLease {
                db: db.clone(),
                claimant,
                node_id,
                lease,
                lease_until: row.lease_until,
            })
        }
        Acquired::Held(row) => Err(NodeIdentityError::InUse {
            node_id,
            host: row.host,
            pid: row.pid,
            instance_id: row.instance_id,
            lease_until: row.lease_until,
        }),
    }
}

impl NodeLease {
    /// The node id held.
    pub fn node_id(&self) -> u16 {
        self.node_id
    }

    /// This process's instance id.
    pub fn instance_id(&self) -> &str {
        &self.claimant.instance_id
    }

    /// When the lease ends unless renewed (UTC), as of the last renewal.
    pub fn lease_until(&self) -> DateTime<Utc> {
        self.lease_until
    }

    /// Renews the lease once, to now plus its length. `Ok(false)` when another instance holds
    /// the id. Errors: the database's (the lease is unchanged).
    pub async fn renew(&mut self) -> Result<bool, StoreError> {
        let now = Utc::now();
        let until = now + delta(self.lease);
        let held = node_leases::renew(
            self.db.conn(),
            self.claimant.node_id,
            &self.claimant.instance_id,
            now,
            delta(self.lease),
        )
        .await?;
        if held {
            self.lease_until = until;
        }
        Ok(held)
    }

    /// Ends the lease now, freeing the id at once. `Ok(false)` when another instance held it
    /// already. Errors: the database's.
    pub async fn release(&self) -> Result<bool, StoreError> {
        node_leases::release(
            self.db.conn(),
            self.claimant.node_id,
            &self.claimant.instance_id,
            Utc::now(),
        )
        .await
    }

    /// Renews the lease every third of its length until `stop` turns true (or its sender is
    /// dropped): then [`Kept::Stopped`] hands the lease back for release. [`Kept::Lost`] when
    /// a renewal finds the id taken by another instance, or renewals kept failing until the
    /// lease ended (another node may have taken the id since).
    pub fn keep(mut self, mut stop: watch::Receiver<bool>) -> JoinHandle<Kept> {
        tokio::spawn(async move {
            let every = self.lease / 3;
            loop {
                tokio::select! {
                    changed = stop.wait_for(|stopped| *stopped) => {
                        let _ = changed;
                        return Kept::Stopped(self);
                    }
                    _ = tokio::time::sleep(every) => {}
                }
                match self.renew().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Kept::Lost(format!(
                            "server.node_id {} was taken by another instance: this node lost its identity",
                            self.node_id
                        ));
                    }
                    Err(e) if Utc::now() + delta(every) >= self.lease_until => {
                        return Kept::Lost(format!(
                            "server.node_id {}: the lease could not be renewed before it ended ({e}); \
                             another node may hold the id now",
                            self.node_id
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(node_id = self.node_id, error = %e, "node lease renewal failed; trying again");
                    }
                }
            }
        })
    }
}

/// This machine's host name (Linux: `/proc/sys/kernel/hostname`; else `$HOSTNAME`), or
/// "unknown": it only goes into the message another node with the same id gets.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
