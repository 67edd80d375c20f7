//! `GET /admin/api/dashboard` (issue 13): today's (Asia/Shanghai) trades — count, succeeded,
//! success rate, succeeded amount — all together, by trade type and by channel; the last 30
//! days day by day; the merchant-notification backlog; open incidents. Every figure is an SQL
//! aggregate of what the database holds (integer fen; the yuan texts are the same amounts).
//!
//! ```json
//! {"day": "20261129",
//!  "today": {"count", "succeeded", "success_rate", "success_rate_bp", "amount", "amount_fen"},
//!  "by_trade_type": [{"trade_type": "T_JSAPI", "count", …}],
//!  "by_channel": [{"channel": "wechat", "count", …}],
//!  "days": [{"day": "20261031", "count", "succeeded", …, "amount", "amount_fen"}, …],
//!  "notification_backlog": {"pending", "failing", "exhausted"},
//!  "open_incidents": 0}
//! ```
//!
//! A trade counts on the day it was created; `amount_fen` sums the succeeded trades'
//! `trans_amt` (fen), `amount` is the same as yuan text;
//! `success_rate` is `succeeded / count` as a percent text with two decimals (`"66.67"`,
//! rounded half up; `"0.00"` without trades), `success_rate_bp` the same in basis points.
//! `pending` notifications wait for their first attempt, `failing` ones have failed at least
//! once and will be tried again, `exhausted` ones were given up. Every role; an agent admin
//! gets its own service provider's merchants' figures (incidents: those about their trades
//! and refunds).

use actix_web::{HttpResponse, web};
use chrono::Utc;
use nkpay_core::money::Money;
use nkpay_engine::console::dashboard::success_rate_bp;
use nkpay_store::console_queries::TradeTotals;
use serde_json::{Value, json};

use super::auth::AdminActor;
use super::listing::ListingError;
use crate::ApiState;

/// The route.
pub const PATH: &str = "/admin/api/dashboard";

/// Mounts the dashboard.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(dashboard));
}

fn totals_json(t: &TradeTotals) -> Value {
    let bp = success_rate_bp(t);
    json!({
        "count": t.count,
        "succeeded": t.succeeded,
        "success_rate": format!("{}.{:02}", bp / 100, bp % 100),
        "success_rate_bp": bp,
        "amount": Money::yuan_of_fen(t.succeeded_amt),
        "amount_fen": t.succeeded_amt,
    })
}

fn keyed(key: &str, value: &str, t: &TradeTotals) -> Value {
    let mut v = totals_json(t);
    v[key] = json!(value);
    v
}

async fn dashboard(
    state: web::Data<ApiState>,
    actor: AdminActor,
) -> Result<HttpResponse, ListingError> {
    let d = state
        .engine
        .console()
        .dashboard(&actor.0, Utc::now())
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "day": d.day.format("%Y%m%d").to_string(),
        "today": totals_json(&d.today),
        "by_trade_type": d.by_trade_type.iter().map(|(k, t)| keyed("trade_type", k, t)).collect::<Vec<_>>(),
        "by_channel": d.by_channel.iter().map(|(k, t)| keyed("channel", k, t)).collect::<Vec<_>>(),
        "days": d.daily.iter().map(|(day, t)| keyed("day", &day.format("%Y%m%d").to_string(), t)).collect::<Vec<_>>(),
        "notification_backlog": {
            "pending": d.notifications.pending,
            "failing": d.notifications.failing,
            "exhausted": d.notifications.exhausted,
        },
        "open_incidents": d.open_incidents,
    })))
}
