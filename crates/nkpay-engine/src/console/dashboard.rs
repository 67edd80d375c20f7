//! The dashboard's figures, each an SQL aggregate over what the database holds (counts, and
//! integer fen sums), so the page shows exactly the stored numbers.
//!
//! A trade counts on the day (Asia/Shanghai) it was created; `count` is every trade created,
//! `succeeded` those now `S`, the amount the sum of the succeeded trades' `trans_amt`. Agent
//! admins get their own service provider's merchants' figures.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use nkpay_store::console_queries::{self, NotificationBacklog, TradeGrouping, TradeTotals};

use super::{Console, agent_scope, require};
use crate::admin_identity::{Actor, Permission};
use crate::error::EngineError;
use crate::shanghai_time;
use crate::statements::day_bounds;

/// Days in the dashboard's daily series, today included.
pub const SERIES_DAYS: u32 = 30;

/// The dashboard at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Today in Asia/Shanghai.
    pub day: NaiveDate,
    /// Today's trades, all together.
    pub today: TradeTotals,
    /// Today's trades by trade type (`T_JSAPI`, `T_MINIAPP`, `A_NATIVE`), types without a
    /// trade left out.
    pub by_trade_type: Vec<(String, TradeTotals)>,
    /// Today's trades by channel (`wechat`, `alipay`).
    pub by_channel: Vec<(String, TradeTotals)>,
    /// The last [`SERIES_DAYS`] days, oldest first, today last (days without trades included).
    pub daily: Vec<(NaiveDate, TradeTotals)>,
    /// The merchant-notification backlog.
    pub notifications: NotificationBacklog,
    /// Incidents not resolved.
    pub open_incidents: u64,
}

impl Console {
    /// The dashboard at `now`. Every role may; an agent admin sees its own merchants only.
    pub async fn dashboard(
        &self,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Dashboard, EngineError> {
        require(by, Permission::ReadDashboard)?;
        let scope = agent_scope(by)?;
        let scope = scope.as_deref();
        let conn = self.db.conn();
        let day = shanghai_time::date_of(now);
        let (from, to) = day_bounds(day);
        let today = console_queries::trade_totals(conn, from, to, scope).await?;
        let by_trade_type =
            console_queries::trade_totals_by(conn, from, to, scope, TradeGrouping::TradeType)
                .await?;
        let by_channel =
            console_queries::trade_totals_by(conn, from, to, scope, TradeGrouping::Channel).await?;
        let mut daily = Vec::with_capacity(SERIES_DAYS as usize);
        for back in (0..i64::from(SERIES_DAYS)).rev() {
            let d = day - TimeDelta::days(back);
            let (from, to) = day_bounds(d);
            daily.push((
                d,
                console_queries::trade_totals(conn, from, to, scope).await?,
            ));
        }
        Ok(Dashboard {
            day,
            today,
            by_trade_type,
            by_channel,
            daily,
            notifications: console_queries::notification_backlog(conn, scope).await?,
            open_incidents: console_queries::count_open_incidents(conn, scope).await?,
        })
    }
}

/// `succeeded / count` in basis points of one (10000 = 100 %), rounded half up; 0 without
/// trades. Integer arithmetic only.
pub fn success_rate_bp(t: &TradeTotals) -> i64 {
    if t.count <= 0 {
        return 0;
    }
    (t.succeeded * 10_000 + t.count / 2) / t.count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_rounds_half_up_in_basis_points() {
        let t = |count, succeeded| TradeTotals {
            count,
            succeeded,
            succeeded_amt: 0,
        };
        assert_eq!(success_rate_bp(&t(0, 0)), 0);
        assert_eq!(success_rate_bp(&t(3, 2)), 6667);
        assert_eq!(success_rate_bp(&t(3, 1)), 3333);
        assert_eq!(success_rate_bp(&t(8, 1)), 1250);
        assert_eq!(success_rate_bp(&t(4, 4)), 10_000);
    }
}
