//! `node_leases`: which running process holds each `server.node_id`, and until when.

use sea_orm::entity::prelude::*;

/// One row of `node_leases`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "node_leases")]
pub struct Model {
    /// The node id (`server.node_id`, 1 to 9999): part of every `nkp_seq_id` this node mints.
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_id: i32,
    /// The holder: random per process, so a restarted node is a new instance.
    pub instance_id: String,
    /// The holder's host name, for the refusal another node with the same id gets.
    pub host: String,
    /// The holder's process id on `host`.
    pub pid: i64,
    /// When the holder took the id (UTC).
    pub started_at: DateTimeUtc,
    /// The lease's end (UTC): after it the id is free. A node that stopped cleanly sets it to
    /// the moment it stopped.
    pub lease_until: DateTimeUtc,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
