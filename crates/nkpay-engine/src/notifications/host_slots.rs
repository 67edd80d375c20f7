//! Per-host concurrency and pacing, so that one slow receiver holds a few slots while everyone
//! else's notifications keep moving.
//!
//! A host gets at most `per_host` deliveries at a time on this node, and at most as many more
//! claimed rows waiting in line behind them (they start the moment a slot frees). A row
//! claimed beyond that is handed back due when the host should have room for it: spaced by the
//! host's recent answer time divided among its slots, one after the other, so a large backlog
//! for one host is spread out once instead of being claimed again on every poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock (the system's monotonic clock outside a paused test runtime), so the unit tests
// below can move it exactly.
use tokio::time::Instant;
use url::Url;

/// Past this many known hosts, idle ones are forgotten.
const MAX_HOSTS: usize = 10_000;

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
    /// The answer time assumed for a host not heard from yet.
    first_guess: Duration,
    hosts: Mutex<HashMap<String, HostState>>,
}

#[derive(Debug)]
struct HostState {
    slots: Arc<Semaphore>,
    /// Rows of this host held by this node: delivering or waiting for a slot.
    admitted: usize,
    /// Moving average of how long a delivery holds a slot (attempt and recording).
    latency: Option<Duration>,
    /// The time the last row handed back for this host was made due at.
    paced_until: Option<Instant>,
    /// Since when the host has had a delivery in flight without a break.
    busy_since: Option<Instant>,
}

/// A claimed row's place with its host: delivering, or in line for a slot. Given back when
/// dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    hosts: Arc<HostSlots>,
    key: String,
    slots: Arc<Semaphore>,
}

/// One delivery's slot on its host. How long it was held is the host's answer time.
#[derive(Debug)]
pub(crate) struct HostSlot {
    hosts: Arc<HostSlots>,
    key: String,
    taken_at: Instant,
    _permit: OwnedSemaphorePermit,
}

impl HostSlots {
    pub fn new(per_host: usize, first_guess: Duration) -> Arc<HostSlots> {
        Arc::new(HostSlots {
            per_host: per_host.max(1),
            first_guess,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HostState>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state<'a>(&self, hosts: &'a mut HashMap<String, HostState>, key: &str) -> &'a mut HostState {
        if hosts.len() >= MAX_HOSTS && !hosts.contains_key(key) {
            hosts.retain(|_, h| h.admitted > 0);
        }
        hosts.entry(key.to_string()).or_insert_with(|| HostState {
            slots: Arc::new(Semaphore::new(self.per_host)),
            admitted: 0,
            latency: None,
            paced_until: None,
            busy_since: None,
        })
    }

    /// A place for one more row of `key`'s host, or `None` when it already has `per_host`
    /// delivering and as many waiting.
    pub fn admit(self: &Arc<Self>, key: &str) -> Option<Admission> {
        let mut hosts = self.lock();
        let host = self.state(&mut hosts, key);
        if host.admitted >= 2 * self.per_host {
            return None;
        }
        host.admitted += 1;
        Some(Admission {
            hosts: Arc::clone(self),
            key: key.to_string(),
            slots: Arc::clone(&host.slots),
        })
    }

    /// How long from now a row for the full host `key` should wait. A host with a known answer
    /// time gets its rows spaced by that time divided among its slots, one after the other. A
    /// host not heard from yet gets one flat wait — the first guess, or as long as it has been
    /// busy, whichever is longer — so a burst is not spread on a guess that may be far too
    /// slow, and a slow host's backlog is swept ever less often.
    pub fn pace(&self, key: &str) -> Duration {
        let now = Instant::now();
        let mut hosts = self.lock();
        let host = self.state(&mut hosts, key);
        let Some(latency) = host.latency else {
            let busy_for = host.busy_since.map_or(Duration::ZERO, |t| now - t);
            return self.first_guess.max(busy_for);
        };
        let step = (latency / self.per_host as u32).max(Duration::from_millis(1));
        let at = host.paced_until.map_or(now, |t| t.max(now)) + step;
        host.paced_until = Some(at);
        at - now
    }
}

impl Admission {
    /// Waits in line for a slot on the host, until `deadline` at the latest.
    pub async fn slot(&self, deadline: tokio::time::Instant) -> Option<HostSlot> {
        let acquire = Arc::clone(&self.slots).acquire_owned();
        let permit = tokio::time::timeout_at(deadline, acquire)
            .await
            .ok()?
            .ok()?;
        let now = Instant::now();
        let mut hosts = self.hosts.lock();
        if let Some(host) = hosts.get_mut(&self.key) {
            host.busy_since.get_or_insert(now);
        }
        Some(HostSlot {
            hosts: Arc::clone(&self.hosts),
            key: self.key.clone(),
            taken_at: now,
            _permit: permit,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut hosts = self.hosts.lock();
        if let Some(host) = hosts.get_mut(&self.key) {
            host.admitted = host.admitted.saturating_sub(1);
        }
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let held = self.taken_at.elapsed();
        let mut hosts = self.hosts.lock();
        if let Some(host) = hosts.get_mut(&self.key) {
            host.latency = Some(match host.latency {
                None => held,
                Some(avg) => (avg * 4 + held) / 5,
            });
            // This slot's permit is still held here: all others free means the host is idle.
            if host.slots.available_permits() + 1 >= self.hosts.per_host {
                host.busy_since = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn a_host_runs_per_host_at_once_with_as_many_in_line() {
        let hosts = HostSlots::new(2, Duration::from_millis(100));
        let admitted: Vec<Admission> = (0..4).map(|_| hosts.admit("h").expect("room")).collect();
        assert!(
            hosts.admit("h").is_none(),
            "two delivering and two waiting is the most"
        );
        assert!(hosts.admit("other").is_some());
        let a = admitted[0].slot(soon()).await.expect("first slot");
        let _b = admitted[1].slot(soon()).await.expect("second slot");
        assert!(admitted[2].slot(soon()).await.is_none(), "third waits");
        drop(a);
        assert!(
            admitted[2].slot(soon()).await.is_some(),
            "a freed slot goes to the line"
        );
        drop(admitted);
        assert!(hosts.admit("h").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_not_heard_from_gets_one_flat_wait_that_grows_while_it_stays_busy() {
        let hosts = HostSlots::new(2, Duration::from_millis(100));
        assert_eq!(hosts.pace("new"), Duration::from_millis(100));
        assert_eq!(hosts.pace("new"), Duration::from_millis(100));
        let admission = hosts.admit("new").expect("room");
        let _busy = admission.slot(soon()).await.expect("slot");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(hosts.pace("new"), Duration::from_millis(150));
    }

    /// On a paused clock: a 200 ms answer spreads rows 100 ms apart over two slots, each
    /// after the one before; a host answering at once gets the 1 ms floor.
    #[tokio::test(start_paused = true)]
    async fn rows_for_a_known_host_are_spaced_by_its_answer_time() {
        let hosts = HostSlots::new(2, Duration::from_millis(100));
        let admission = hosts.admit("h").expect("room");
        let slot = admission.slot(soon()).await.expect("slot");
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(slot);
        assert_eq!(hosts.pace("h"), Duration::from_millis(100));
        assert_eq!(hosts.pace("h"), Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            hosts.pace("h"),
            Duration::from_millis(250),
            "after the last"
        );
        let fast = hosts.admit("fast").expect("room");
        drop(fast.slot(soon()).await.expect("slot"));
        assert_eq!(hosts.pace("fast"), Duration::from_millis(1));
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
