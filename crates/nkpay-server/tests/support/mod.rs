//! What the server's binary tests share: a free loopback port and a fresh temporary directory.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback TCP port nothing listens on right now (bound, read, released).
#[allow(dead_code)]
pub fn free_port() -> u16 {
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
