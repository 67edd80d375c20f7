//! Which retry schedule applies to a merchant: its own (`merchants.notify_schedule`) when set
//! and valid, else the platform's. Looked up once a minute per merchant, not on every attempt.

use std::sync::Arc;
use std::time::Duration;

use nkpay_store::{Db, merchants};

use super::schedule::parse_schedule;
use crate::ttl_cache::TtlCache;

/// How long a merchant's schedule is reused before it is read again.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Past this many cached merchants the cache starts over, so it cannot grow without end.
const CACHE_MAX: usize = 10_000;

pub(crate) struct MerchantSchedules {
    global: Arc<[Duration]>,
    cache: TtlCache<String, Arc<[Duration]>>,
}

impl MerchantSchedules {
    pub fn new(global: &[Duration]) -> MerchantSchedules {
        MerchantSchedules {
            global: Arc::from(global),
            cache: TtlCache::new(CACHE_TTL, CACHE_MAX),
        }
    }

    pub async fn for_merchant(&self, db: &Db, mer_id: &str) -> Arc<[Duration]> {
        if let Some(hit) = self.cache.get(mer_id) {
            return hit;
        }
        let ticket = self.cache.ticket();
        let schedule = match merchants::find_merchant(db.reader(), mer_id).await {
            Ok(Some(m)) => match m.notify_schedule.as_deref().map(parse_schedule) {
                Some(Ok(own)) => Arc::from(own),
                Some(Err(e)) => {
                    tracing::warn!(mer_id, error = %e, "merchant notify_schedule ignored; using the platform schedule");
                    Arc::clone(&self.global)
                }
                None => Arc::clone(&self.global),
            },
            Ok(None) => Arc::clone(&self.global),
            Err(e) => {
                // Not cached: the next attempt reads again.
                tracing::warn!(mer_id, error = %e, "reading the merchant's notify_schedule failed; using the platform schedule");
                return Arc::clone(&self.global);
            }
        };
        self.cache
            .put(ticket, mer_id.to_string(), Arc::clone(&schedule));
        schedule
    }
}
