//! A bounded map of values read from the database, each reused for a fixed time, that a write
//! on this node can empty at once without a read already under way putting back what it read
//! before the write.
//!
//! Written here rather than taken from a cache crate: the one rule that matters is "a read that
//! started before [`TtlCache::forget_all`] never lands after it" (else a freeze or a key
//! replacement could be undone for a whole TTL by a request that was reading at that moment),
//! and the kept crates (moka, quick_cache) invalidate only what is already stored, so they
//! would need this same lock and counter around them. A `Mutex<HashMap>` with the counter inside
//! it is the whole of it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Values by key, each reused for `ttl` after it was read, at most `max` of them (past it the
/// map starts again empty). A `ttl` of zero keeps nothing: every [`TtlCache::get`] misses.
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Bumped by every [`TtlCache::forget_all`].
    generation: u64,
    entries: HashMap<K, (Instant, V)>,
}

/// Taken before reading what will be stored ([`TtlCache::ticket`]): it remembers which
/// [`TtlCache::forget_all`] the read came after.
#[must_use]
pub(crate) struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// An empty map whose values live `ttl` (zero: nothing is kept), at most `max` of them.
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        TtlCache {
            ttl,
            max,
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// The value stored for `key` less than the TTL ago, if any.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Take before reading the value to [`TtlCache::put`].
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Stores `value` for `key`, read after `ticket` was taken — unless a
    /// [`TtlCache::forget_all`] came in between (the value may be from before that write: it is
    /// dropped, and the next request reads again) or nothing is kept (TTL zero).
    pub(crate) fn put(&self, ticket: Ticket, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= self.max {
            inner.entries.clear();
        }
        inner.entries.insert(key, (Instant::now(), value));
    }

    /// Forgets every value, and every read under way (their [`TtlCache::put`] is dropped): call
    /// after a write that changes what is cached has committed.
    pub(crate) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock cannot leave the map inconsistent (every change is one
        // call), so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl: Duration) -> TtlCache<String, u32> {
        TtlCache::new(ttl, 2)
    }

    #[test]
    fn a_stored_value_is_served_until_forgotten() {
        let c = cache(Duration::from_secs(3600));
        assert_eq!(c.get("a"), None);
        let t = c.ticket();
        c.put(t, "a".into(), 1);
        assert_eq!(c.get("a"), Some(1));
        c.forget_all();
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn a_read_that_started_before_a_forget_is_not_stored() {
        let c = cache(Duration::from_secs(3600));
        let before_the_write = c.ticket();
        c.forget_all();
        c.put(before_the_write, "a".into(), 1);
        assert_eq!(c.get("a"), None, "a value read before the write came back");
        let after = c.ticket();
        c.put(after, "a".into(), 2);
        assert_eq!(c.get("a"), Some(2));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let c = cache(Duration::ZERO);
        let t = c.ticket();
        c.put(t, "a".into(), 1);
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn an_expired_value_is_not_served() {
        let c = cache(Duration::from_nanos(1));
        let t = c.ticket();
        c.put(t, "a".into(), 1);
        // Instant is monotonic: once it has moved past the stored instant by the TTL (1 ns),
        // the value is stale; wait on that condition, not on a fixed time.
        let stored = Instant::now();
        while stored.elapsed() < Duration::from_nanos(2) {
            std::hint::spin_loop();
        }
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn past_the_bound_it_starts_again() {
        let c = cache(Duration::from_secs(3600));
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            let t = c.ticket();
            c.put(t, k.into(), i as u32);
        }
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), None);
        assert_eq!(c.get("c"), Some(2));
    }
}
