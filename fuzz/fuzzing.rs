//! What every fuzz harness shares (docs/fuzzing.md): how many cases a run tries, the committed
//! seed corpus of a target, and inputs made by mutating those seeds the way coverage-guided
//! fuzzers do (bit flips, byte insertions and deletions, splices, boundary bytes and tokens),
//! mixed with plain random bytes. Harnesses are `proptest` tests, so they run on stable Rust
//! under `cargo test`; a failing input is shrunk and saved in the crate's
//! `proptest-regressions/` files, which are committed and replayed first on every run.
//!
//! Test support only: each harness includes this file with `#[path]` (so no crate is built with
//! a fuzzing feature, and nothing of it reaches the server).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases each target runs when `NKPAY_FUZZ_CASES` is not set: the bounded run inside
/// `cargo test`.
pub const DEFAULT_CASES: u32 = 4096;

/// The proptest configuration of a fuzz target: `NKPAY_FUZZ_CASES` cases (else
/// [`DEFAULT_CASES`]), no time limit per case, failures persisted next to the harness's source.
pub fn config() -> Config {
    let cases = std::env::var("NKPAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// The workspace's `fuzz/corpus/<target>` directory, from a crate's `CARGO_MANIFEST_DIR`.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir)
        .join("../../fuzz/corpus")
        .join(target)
}

/// Every seed file of `dir`, sorted by name. A missing or empty corpus is a broken checkout,
/// so it panics (this runs in tests only).
pub fn seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("seed {}: {e}", p.display())))
        .collect();
    assert!(!seeds.is_empty(), "fuzz corpus {} is empty", dir.display());
    seeds
}

/// Tokens that break parsers of the formats we read (XML, forms, JSON, CSV, TOML, numbers).
const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&x;",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
    b"<?xml version=\"1.0\"?>",
    b"</xml>",
    b"<xml>",
    b"=",
    b"%",
    b"%zz",
    b"%ff",
    b"%00",
    b"+",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"1e400",
    b"-0",
    b"9999999999999999999999",
    b"\r\n",
    b"\n",
    b"\t",
    b"\0",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xe4\xb8",
    b"\xe2\x80\xa8",
    b"`",
    b"'",
    b"#",
    b"[[",
    b"]]",
    b"0.001",
    b"-1",
    b"2147483648",
    b"99999999.99",
    b"100000000.01",
    b"\xe6\x80\xbb\xe4\xba\xa4\xe6\x98\x93\xe5\x8d\x95\xe6\x95\xb0",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Token(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0xff), Just(b'0'), Just(b'9'), any::<u8>()]
        )
            .prop_map(|(at, b)| Mutation::SetByte(at, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..32).prop_map(|(at, n)| Mutation::Remove(at, n)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, t)| Mutation::Token(at, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(input: &mut Vec<u8>, m: &Mutation) {
    let len = input.len();
    let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
    match m {
        Mutation::FlipBit(i, bit) if len > 0 => input[i % len] ^= 1 << bit,
        Mutation::SetByte(i, b) if len > 0 => input[i % len] = *b,
        Mutation::Insert(i, bytes) => {
            let p = at(*i);
            input.splice(p..p, bytes.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let p = i % len;
            input.drain(p..(p + n).min(len));
        }
        Mutation::Duplicate(i, n) if len > 0 => {
            let p = i % len;
            let piece: Vec<u8> = input[p..(p + n).min(len)].to_vec();
            input.splice(p..p, piece);
        }
        Mutation::Token(i, t) => {
            let p = at(*i);
            let token = TOKENS[t % TOKENS.len()];
            input.splice(p..p, token.iter().copied());
        }
        Mutation::Truncate(i) => input.truncate(at(*i)),
        _ => {}
    }
}

/// Inputs for a target: mostly its seeds with 1 to 8 mutations each (so they get deep into the
/// parser), sometimes a seed unchanged, sometimes random bytes.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    let mutated = (0..n, proptest::collection::vec(mutation(), 1..8)).prop_map({
        let seeds = seeds.clone();
        move |(i, ms)| {
            let mut input = seeds[i].clone();
            for m in &ms {
                apply(&mut input, m);
            }
            input
        }
    });
    let unchanged = (0..n).prop_map(move |i| seeds[i].clone());
    prop_oneof![
        8 => mutated,
        1 => unchanged,
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

/// [`inputs`] as text (lossy UTF-8), for parsers that take `&str`.
pub fn text_inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = String> {
    inputs(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}
