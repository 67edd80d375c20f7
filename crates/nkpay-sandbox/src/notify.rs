//! Delivery of channel notifies: POST to the merchant's notify URL, retried on the channel's own
//! schedule (scaled) until the receiver acknowledges, with the configured notify faults applied.
//! Every notify and its attempts are recorded for `GET /sandbox/state`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::clock::TimeScale;
use crate::faults::NotifyFaults;
use crate::state::lock;

/// WeChat Pay: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h after the first attempt.
pub(crate) const WECHAT_SCHEDULE: &[u64] = &[
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];
/// Alipay: 4m, 10m, 10m, 1h, 2h, 6h, 15h after the first attempt.
pub(crate) const ALIPAY_SCHEDULE: &[u64] = &[240, 600, 600, 3600, 7200, 21600, 54000];

/// How the receiver says "got it".
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ack {
    /// XML whose return_code is SUCCESS.
    WechatXml,
    /// The body `success`.
    AlipayText,
}

impl Ack {
    fn accepts(self, body: &str) -> bool {
        match self {
            Ack::WechatXml => crate::wechat::xml::parse(body, "xml")
                .is_ok_and(|f| f.get("return_code").is_some_and(|c| c == "SUCCESS")),
            Ack::AlipayText => body.trim() == "success",
        }
    }
}

/// One notify to deliver.
pub(crate) struct Outgoing {
    pub channel: &'static str,
    pub kind: &'static str,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub url: String,
    pub content_type: &'static str,
    pub body: String,
    /// The same notify with a wrong signature, sent instead when the forgery fault fires.
    pub forged_body: String,
    pub ack: Ack,
    pub schedule: &'static [u64],
}

/// What happened to one notify.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NotifyRecord {
    pub id: u64,
    pub channel: String,
    pub kind: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub url: String,
    /// The body as sent (the forged one when `forged`).
    pub body: String,
    pub attempts: u32,
    pub delivered: bool,
    /// Every scheduled attempt failed.
    pub gave_up: bool,
    pub dropped: bool,
    pub duplicated: bool,
    pub reordered: bool,
    pub forged: bool,
    pub last_error: Option<String>,
}

pub(crate) struct Notifier {
    client: reqwest::Client,
    records: Mutex<Vec<NotifyRecord>>,
    scale: TimeScale,
    shutdown: watch::Receiver<bool>,
    runtime: Handle,
}

impl Notifier {
    pub fn new(
        scale: TimeScale,
        attempt_timeout: Duration,
        shutdown: watch::Receiver<bool>,
        runtime: Handle,
    ) -> Self {
        // A client that cannot be built with a timeout is not worth failing the start for.
        let client = reqwest::Client::builder()
            .timeout(attempt_timeout)
            .build()
            .unwrap_or_default();
        Notifier {
            client,
            records: Mutex::new(Vec::new()),
            scale,
            shutdown,
            runtime,
        }
    }

    /// Runs channel-side background work (a refund settling) next to the deliveries.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(work);
    }

    pub fn records(&self) -> Vec<NotifyRecord> {
        lock(&self.records).clone()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut NotifyRecord)) {
        if let Some(r) = lock(&self.records).iter_mut().find(|r| r.id == id) {
            f(r);
        }
    }

    /// Records the notify and starts delivering it in the background.
    pub fn send(self: &Arc<Self>, id: u64, out: Outgoing, faults: NotifyFaults) {
        let body = if faults.bad_signature {
            out.forged_body.clone()
        } else {
            out.body.clone()
        };
        lock(&self.records).push(NotifyRecord {
            id,
            channel: out.channel.to_owned(),
            kind: out.kind.to_owned(),
            out_trade_no: out.out_trade_no.clone(),
            out_refund_no: out.out_refund_no.clone(),
            url: out.url.clone(),
            body: body.clone(),
            attempts: 0,
            delivered: false,
            gave_up: false,
            dropped: faults.drop,
            duplicated: faults.duplicate,
            reordered: faults.reorder_delay.is_some(),
            forged: faults.bad_signature,
            last_error: None,
        });
        if faults.drop {
            return;
        }
        let me = Arc::clone(self);
        self.runtime
            .spawn(async move { me.deliver(id, out, body, faults).await });
    }

    /// Sleeps `d`; false when the sandbox shuts down meanwhile.
    async fn wait(&self, d: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = shutdown.changed() => false,
        }
    }

    async fn deliver(&self, id: u64, out: Outgoing, body: String, faults: NotifyFaults) {
        if let Some(d) = faults.reorder_delay
            && !self.wait(d).await
        {
            return;
        }
        for attempt in 0..=out.schedule.len() {
            if attempt > 0 {
                let secs = out.schedule[attempt - 1] as f64;
                if !self.wait(self.scale.delay(secs)).await {
                    return;
                }
            }
            // A duplicated notify arrives twice at once, as parallel deliveries do.
            let results = if faults.duplicate {
                let (a, b) = tokio::join!(self.attempt(&out, &body), self.attempt(&out, &body));
                vec![a, b]
            } else {
                vec![self.attempt(&out, &body).await]
            };
            let sends = results.len() as u32;
            let ok = results.iter().any(Result::is_ok);
            let error = results.into_iter().find_map(Result::err);
            self.update(id, |r| {
                r.attempts += sends;
                r.last_error = if ok { None } else { error };
            });
            if ok {
                self.update(id, |r| r.delivered = true);
                return;
            }
        }
        self.update(id, |r| r.gave_up = true);
    }

    async fn attempt(&self, out: &Outgoing, body: &str) -> Result<(), String> {
        let resp = self
            .client
            .post(&out.url)
            .header(reqwest::header::CONTENT_TYPE, out.content_type)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", out.url))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("reading the reply of {}: {e}", out.url))?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", snippet(&text)));
        }
        if !out.ack.accepts(&text) {
            return Err(format!("not acknowledged: {}", snippet(&text)));
        }
        Ok(())
    }
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}
