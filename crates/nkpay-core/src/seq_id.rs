//! `nkp_seq_id`: the platform's serial number for trades and refunds, also sent upstream as
//! `out_trade_no` / `out_refund_no`, so it must be ≤ 32 chars of `[0-9A-Za-z]`.
//!
//! Layout (28 ASCII digits, fixed width so byte order is time order):
//! `yyyyMMddHHmmssSSS` (17, Beijing time UTC+08:00 — the same as Asia/Shanghai, which has had
//! no daylight saving since 1991, so the offset never changes and order is preserved) +
//! node id (5, `00000`..`65535`) + counter within the millisecond (6).
//!
//! Uniqueness: within a generator a (millisecond, counter) pair is never reused — when the clock
//! goes backwards the last millisecond is kept, and when a millisecond's million ids are used up
//! the next millisecond is borrowed. Across nodes the node id differs (configuration must give
//! every running node its own id). Across restarts uniqueness relies on the wall clock at start
//! being later than the last id issued before the stop, which holds unless the clock was set
//! back across the restart.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;

/// Width of the per-millisecond counter; `COUNTER_LIMIT` ids fit in one millisecond.
const COUNTER_WIDTH: usize = 6;
const COUNTER_LIMIT: u32 = 1_000_000;
/// Total length of every id.
pub const SEQ_ID_LEN: usize = 17 + 5 + COUNTER_WIDTH;
const BEIJING_OFFSET_SECS: i32 = 8 * 3600;

#[derive(Debug)]
struct State {
    last_ms: i64,
    counter: u32,
    /// `yyyyMMddHHmmssSSS` + node id for `last_ms`, cached because formatting dates is the slow part.
    prefix: String,
}

/// Issues `nkp_seq_id`s for one node; share one per process (it is `Send + Sync`).
#[derive(Debug)]
pub struct SeqIdGenerator {
    node_id: u16,
    state: Mutex<State>,
}

impl SeqIdGenerator {
    /// A generator for node `node_id` (0 to 65535); every running node needs its own id.
    pub fn new(node_id: u16) -> SeqIdGenerator {
        SeqIdGenerator {
            node_id,
            state: Mutex::new(State {
                last_ms: i64::MIN,
                counter: 0,
                prefix: String::new(),
            }),
        }
    }

    /// The node id written into every id this generator issues.
    pub fn node_id(&self) -> u16 {
        self.node_id
    }

    /// A new id, 28 chars of `[0-9]`, greater than every id this generator issued before.
    pub fn next_id(&self) -> String {
        self.next_id_at(now_ms())
    }

    /// `next_id` with the clock reading given, so clock jumps can be tested.
    fn next_id_at(&self, now_ms: i64) -> String {
        // A poisoned lock only means another thread panicked while holding it; the state is a
        // pair of integers that is always consistent, so keep issuing ids.
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ms = if now_ms > st.last_ms {
            st.counter = 0;
            now_ms
        } else if st.counter + 1 < COUNTER_LIMIT {
            st.counter += 1;
            st.last_ms
        } else {
            st.counter = 0;
            st.last_ms + 1
        };
        if ms != st.last_ms || st.prefix.is_empty() {
            st.prefix = format!("{}{:05}", format_ms(ms), self.node_id);
            st.last_ms = ms;
        }
        let mut id = String::with_capacity(SEQ_ID_LEN);
        id.push_str(&st.prefix);
        id.push_str(&format!("{:0width$}", st.counter, width = COUNTER_WIDTH));
        id
    }
}

/// True when `s` has the shape of an id this module issues (for validating `org_nkp_seq_id`).
pub fn is_seq_id(s: &str) -> bool {
    s.len() == SEQ_ID_LEN && s.bytes().all(|b| b.is_ascii_digit())
}

fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2),
        // A clock before 1970 is broken; the monotonic rule above still keeps ids increasing.
        Err(_) => 0,
    }
}

fn format_ms(ms: i64) -> String {
    // Shifting by the fixed offset and formatting as UTC gives Beijing wall-clock time.
    let shifted = ms.saturating_add(i64::from(BEIJING_OFFSET_SECS) * 1000);
    DateTime::from_timestamp_millis(shifted)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .format("%Y%m%d%H%M%S%3f")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-01-01 12:00:00.123 Beijing time.
    const T0: i64 = 1_704_081_600_123;

    #[test]
    fn id_is_beijing_time_then_node_then_counter() {
        let g = SeqIdGenerator::new(7);
        assert_eq!(g.next_id_at(T0), "2024010112000012300007000000");
        assert_eq!(g.next_id_at(T0), "2024010112000012300007000001");
        assert_eq!(g.next_id_at(T0 + 1), "2024010112000012400007000000");
    }

    #[test]
    fn ids_fit_out_trade_no() {
        let g = SeqIdGenerator::new(u16::MAX);
        let id = g.next_id();
        assert!(id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(is_seq_id(&id));
        assert!(id.contains("65535"));
    }

    #[test]
    fn clock_going_backwards_never_lowers_the_id() {
        let g = SeqIdGenerator::new(1);
        let a = g.next_id_at(T0);
        let b = g.next_id_at(T0 - 5_000);
        let c = g.next_id_at(T0 - 1);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(b.starts_with("20240101120000123"));
    }

    #[test]
    fn exhausted_millisecond_borrows_the_next_one() {
        let g = SeqIdGenerator::new(1);
        let mut last = String::new();
        for _ in 0..COUNTER_LIMIT {
            last = g.next_id_at(T0);
        }
        assert!(last.ends_with("999999"));
        let next = g.next_id_at(T0);
        assert!(next > last);
        assert!(next.starts_with("20240101120000124"));
        // The wall clock catching up to the borrowed millisecond continues after it.
        assert!(g.next_id_at(T0 + 1) > next);
    }

    #[test]
    fn different_nodes_never_collide_in_the_same_millisecond() {
        let a = SeqIdGenerator::new(1).next_id_at(T0);
        let b = SeqIdGenerator::new(2).next_id_at(T0);
        assert_ne!(a, b);
    }
}
