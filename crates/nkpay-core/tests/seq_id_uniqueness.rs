//! A million ids from eight threads sharing one generator: no duplicates, and each thread
//! sees its ids strictly increasing (lexicographically, which is the id order).

use std::collections::HashSet;
use std::sync::Arc;
use std::thread;

use nkpay_core::seq_id::{SEQ_ID_LEN, SeqIdGenerator};

#[test]
fn a_million_ids_from_eight_threads_are_unique_and_ordered_per_thread() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 125_000;
    let generator = Arc::new(SeqIdGenerator::new(42));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let g = Arc::clone(&generator);
            thread::spawn(move || {
                let mut ids: Vec<u128> = Vec::with_capacity(PER_THREAD);
                let mut prev = String::new();
                for _ in 0..PER_THREAD {
                    let id = g.next_id();
                    assert_eq!(id.len(), SEQ_ID_LEN);
                    assert!(id > prev, "{id} after {prev}");
                    // 28 decimal digits fit a u128; numbers keep the set small.
                    ids.push(id.parse().unwrap());
                    prev = id;
                }
                ids
            })
        })
        .collect();
    let mut seen: HashSet<u128> = HashSet::with_capacity(THREADS * PER_THREAD);
    for h in handles {
        for id in h.join().unwrap() {
            assert!(seen.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(seen.len(), THREADS * PER_THREAD);
}

#[test]
fn ids_of_two_nodes_interleave_in_time_order() {
    let a = SeqIdGenerator::new(1);
    let b = SeqIdGenerator::new(2);
    let first = a.next_id();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let second = b.next_id();
    assert!(first < second);
    assert_ne!(first[17..22], second[17..22]);
}
