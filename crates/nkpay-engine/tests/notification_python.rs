//! The signature checked by an independent implementation: the Python receiver printed in
//! docs/notifications.md (pycryptodome) runs against the dispatcher, verifies every
//! notification, dedupes a re-send by `nkp_seq_id`, and rejects one signed with another key.

mod notification_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use nkpay_crypto::rsa_keys::RsaPrivateKey;
use nkpay_engine::notifications::{Dispatcher, console};
use nkpay_engine::platform_keys::PlatformSigner;
use nkpay_store::testing::databases;
use notification_support::fixtures::*;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv with pycryptodome (`NKPAY_TEST_PYTHON` overrides).
fn python() -> PathBuf {
    let path = std::env::var_os("NKPAY_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: create the venv with pycryptodome (python -m venv .venv && .venv/bin/pip install pycryptodome) or set NKPAY_TEST_PYTHON",
        path.display()
    );
    path
}

/// The first ```python block of docs/notifications.md.
fn documented_receiver() -> String {
    let doc =
        std::fs::read_to_string(workspace().join("docs/notifications.md")).expect("read docs");
    let start = doc.find("```python\n").expect("a python block in the docs") + "```python\n".len();
    let len = doc[start..].find("```").expect("end of the python block");
    doc[start..start + len].to_string()
}

struct PyReceiver {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PyReceiver {
    async fn start(dir: &std::path::Path) -> PyReceiver {
        let script = dir.join("receiver.py");
        std::fs::write(&script, documented_receiver()).expect("write receiver");
        let key = dir.join("platform_public.pem");
        std::fs::write(&key, signer().public_key().to_spki_pem()).expect("write key");
        let mut child = Command::new(python())
            .arg(&script)
            .env("NKPAY_KEY_ID", KEY_ID)
            .env("NKPAY_PUBLIC_KEY_FILE", &key)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python receiver");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let started = Instant::now();
        let port = loop {
            let port = lines
                .lock()
                .expect("lines")
                .iter()
                .find_map(|l| l.strip_prefix("listening ").and_then(|p| p.parse().ok()));
            if let Some(port) = port {
                break port;
            }
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "the Python receiver exited"
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the Python receiver never listened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        PyReceiver { child, port, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_python_receiver_verifies_dedupes_and_rejects_forgeries() {
    let dir = std::env::temp_dir().join(format!("nkpay-notify-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let py = PyReceiver::start(&dir).await;
    let url = format!("http://127.0.0.1:{}/notify", py.port);
    for t in databases().await {
        let tag = if t.label == "sqlite" { "Q" } else { "P" };
        let a = enqueue(&t.db, MER_ID, &format!("{tag}0001"), &url).await;
        let b = enqueue(&t.db, MER_ID, &format!("{tag}0002"), &url).await;
        let d = Dispatcher::new(t.db.clone(), signer(), config(&[60_000]), "node-py").expect("d");
        let round = d.run_once().await.expect("round");
        assert_eq!(round.delivered, 2, "{}: {:?}", t.label, py.lines());
        for id in [a, b] {
            let at = attempts(&t.db, id).await;
            let body = at[0].response_body.clone().unwrap_or_default();
            assert_eq!(
                body,
                format!("RECV_ORD_ID_r{}", row(&t.db, id).await.subject_nkp_seq_id)
            );
        }

        // A re-send arrives again; the receiver acknowledges it as a duplicate.
        console::resend_one(&t.db, a, Utc::now())
            .await
            .expect("resend")
            .expect("found");
        assert_eq!(d.run_once().await.expect("round").delivered, 1);

        // Signed with a key that is not the platform's (same key id): refused, not delivered.
        let forged = enqueue(&t.db, MER_ID, &format!("{tag}0003"), &url).await;
        let intruder = PlatformSigner::new(KEY_ID, RsaPrivateKey::generate_2048().expect("key"));
        let bad = Dispatcher::new(t.db.clone(), intruder, config(&[60_000]), "node-x").expect("d");
        assert_eq!(bad.run_once().await.expect("round").failed, 1);
        let at = attempts(&t.db, forged).await;
        assert_eq!(
            (at[0].http_status, at[0].delivered),
            (Some(400), false),
            "{}",
            t.label
        );
        assert_eq!(at[0].response_body.as_deref(), Some("bad signature"));

        let lines = py.lines();
        for expected in [
            format!("verified {tag}0001 S"),
            format!("verified {tag}0002 S"),
            format!("duplicate {tag}0001"),
        ] {
            assert!(
                lines.contains(&expected),
                "{}: no {expected:?} in {lines:?}",
                t.label
            );
        }
    }
    assert_eq!(
        py.lines()
            .iter()
            .filter(|l| *l == "rejected bad signature")
            .count(),
        databases_run(&py)
    );
    drop(py);
    let _ = std::fs::remove_dir_all(dir);
}

/// How many databases the loop ran on, judged by the receiver's "verified" lines (2 each).
fn databases_run(py: &PyReceiver) -> usize {
    py.lines()
        .iter()
        .filter(|l| l.starts_with("verified "))
        .count()
        / 2
}
