//! What the server's binary tests share: a free loopback port and a fresh temporary directory.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback TCP port nothing listens on right now (bound, checked, released), for a child
/// process to listen on.
///
/// Taken below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`): a port
/// from `bind(":0")` comes from that range, so between its release here and the child's bind
/// any outgoing connection of a test running beside this one (a database pool, an HTTP client)
/// can take it, and the child then exits on "address in use". Below the range only another
/// explicit bind can, and the counter keeps the tests of one binary apart. Falls back to
/// `bind(":0")` where the range leaves no room below it.
#[allow(dead_code)]
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    const SPAN: usize = 10_000;
    if ephemeral_low > SPAN + 1_024 {
        let start = ephemeral_low - SPAN;
        // Different binaries (and processes of the same suite) start at different places.
        let offset = (std::process::id() as usize).wrapping_mul(7_919);
        for _ in 0..SPAN {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = (start + (offset + n) % SPAN) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A new, empty directory under the system's temporary directory, named
/// `nkpay-<suite>-<name>-<pid>-<n>` (`n` counts calls in this process, so two tests of one
/// binary never share one).
#[allow(dead_code)]
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nkpay-{suite}-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
