//! What the server's binary tests share: a free loopback port, a fresh temporary directory,
//! a child's stderr kept in a file, and waiting for a child to be ready.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
        // Different processes usually start at different places (the same place only when
        // their pids differ by a multiple of SPAN).
        let offset = (std::process::id() as usize % SPAN) * 7_919 % SPAN;
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

/// A new file `<dir>/<name>.stderr` for a child's standard error, so that a test can quote
/// what the child logged ([`logged`]): why it exited early, why a release failed.
#[allow(dead_code)]
pub fn stderr_file(dir: &Path, name: &str) -> (Stdio, PathBuf) {
    let path = dir.join(format!("{name}.stderr"));
    let file = std::fs::File::create(&path).expect("stderr file");
    (Stdio::from(file), path)
}

/// What a child wrote to its stderr file, or why it cannot be read.
#[allow(dead_code)]
pub fn logged(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// Waits until `ready()` holds (checked every 100 ms, for at most 180 s: a first start
/// generates keys, and a loaded machine is slow at it). Panics with the child's stderr (the
/// file `stderr`, see [`stderr_file`]) when the child exits first or the time is up.
#[allow(dead_code)]
pub fn wait_until_ready(child: &mut Child, stderr: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "nkpay exited early with {status}; its stderr:\n{}",
                logged(stderr)
            );
        }
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nkpay never became ready; its stderr:\n{}", logged(stderr));
}
