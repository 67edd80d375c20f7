//! Per-host concurrency: at most `per_host` deliveries to one receiving host at a time on this
//! node, so one slow receiver holds a few slots while everyone else's notifications keep moving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

/// The host a delivery goes to, as `scheme://host:port`; URLs that do not parse share one key
/// (their attempts fail at once anyway).
pub(crate) fn host_key(notify_url: &str) -> String {
    match Url::parse(notify_url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => "invalid-url".to_string(),
    }
}

#[derive(Debug)]
pub(crate) struct HostSlots {
    per_host: usize,
    in_use: Mutex<HashMap<String, usize>>,
}

/// One delivery's slot on its host, given back when dropped.
#[derive(Debug)]
pub(crate) struct HostSlot {
    slots: Arc<HostSlots>,
    key: String,
}

impl HostSlots {
    pub fn new(per_host: usize) -> Arc<HostSlots> {
        Arc::new(HostSlots {
            per_host,
            in_use: Mutex::new(HashMap::new()),
        })
    }

    /// A slot on `key`'s host, or `None` when the host is at its limit.
    pub fn try_take(self: &Arc<Self>, key: String) -> Option<HostSlot> {
        let mut in_use = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        let n = in_use.entry(key.clone()).or_insert(0);
        if *n >= self.per_host {
            return None;
        }
        *n += 1;
        Some(HostSlot {
            slots: Arc::clone(self),
            key,
        })
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let mut in_use = self.slots.in_use.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = in_use.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_use.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_at_its_limit_gets_no_slot_until_one_is_given_back() {
        let slots = HostSlots::new(2);
        let a = slots.try_take("h1".into()).expect("first");
        let _b = slots.try_take("h1".into()).expect("second");
        assert!(slots.try_take("h1".into()).is_none());
        assert!(slots.try_take("h2".into()).is_some());
        drop(a);
        assert!(slots.try_take("h1".into()).is_some());
    }

    #[test]
    fn host_key_separates_scheme_host_and_port() {
        assert_eq!(
            host_key("https://Shop.example/n?x=1"),
            "https://shop.example:443"
        );
        assert_eq!(host_key("http://127.0.0.1:8080/a"), "http://127.0.0.1:8080");
        assert_eq!(host_key("::"), "invalid-url");
    }
}
