//! Which retry schedule applies to a merchant: its own (`merchants.notify_schedule`) when set
//! and valid, else the platform's. Looked up once a minute per merchant, not on every attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nkpay_store::{Db, merchants};

use super::schedule::parse_schedule;

/// How long a merchant's schedule is reused before it is read again.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Past this many cached merchants the cache starts over, so it cannot grow without end.
const CACHE_MAX: usize = 10_000;

/// A schedule and when it was read.
type Cached = (Instant, Arc<[Duration]>);

pub(crate) struct MerchantSchedules {
    global: Arc<[Duration]>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl MerchantSchedules {
    pub fn new(global: &[Duration]) -> MerchantSchedules {
        MerchantSchedules {
            global: Arc::from(global),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn for_merchant(&self, db: &Db, mer_id: &str) -> Arc<[Duration]> {
        if let Some(hit) = self.cached(mer_id) {
            return hit;
        }
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
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(mer_id.to_string(), (Instant::now(), Arc::clone(&schedule)));
        schedule
    }

    fn cached(&self, mer_id: &str) -> Option<Arc<[Duration]>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(mer_id)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, s)| Arc::clone(s))
    }
}
