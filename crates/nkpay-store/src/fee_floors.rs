//! Service providers' fee-rate floors: per provider and payment method, the lowest rate (integer
//! basis points) its merchants may be opened at.

use chrono::{DateTime, Utc};
use nkpay_core::trade_type::TradeType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::service_provider_fee_floor as floor;
use crate::error::StoreError;

/// The floors set for `sys_id`, by payment method; a method without a row has no floor.
pub async fn of(
    conn: &impl ConnectionTrait,
    sys_id: &str,
) -> Result<Vec<floor::Model>, StoreError> {
    Ok(floor::Entity::find()
        .filter(floor::Column::SysId.eq(sys_id))
        .order_by_asc(floor::Column::TradeType)
        .all(conn)
        .await?)
}

/// Sets `sys_id`'s floor for `trade_type` to `floor_bp` basis points, replacing one set before
/// (call inside a write transaction: it reads, then updates or inserts).
pub async fn set(
    conn: &impl ConnectionTrait,
    sys_id: &str,
    trade_type: TradeType,
    floor_bp: i32,
    now: DateTime<Utc>,
) -> Result<floor::Model, StoreError> {
    let existing = floor::Entity::find()
        .filter(floor::Column::SysId.eq(sys_id))
        .filter(floor::Column::TradeType.eq(trade_type))
        .one(conn)
        .await?;
    let row = match existing {
        Some(row) => {
            let mut active: floor::ActiveModel = row.into();
            active.floor_bp = Set(floor_bp);
            active.updated_at = Set(now);
            active.update(conn).await?
        }
        None => floor::ActiveModel {
            sys_id: Set(sys_id.to_owned()),
            trade_type: Set(trade_type),
            floor_bp: Set(floor_bp),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(|e| StoreError::from_write("fee floor", e))?,
    };
    Ok(row)
}
