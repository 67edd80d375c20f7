//! What every channel call costs and how it failed, recorded at the transport (issue 14;
//! docs/observability.md) through the `metrics` facade: the process's recorder (the server
//! installs a Prometheus one) sees them, and without a recorder they cost next to nothing. One
//! observation per HTTP exchange, so a permitted re-send counts twice.

use std::time::Duration;

/// Histogram, seconds from sending a channel request to the last byte of its reply (or to the
/// failure); labels `channel` (`wechat`, `alipay`) and `call` (the channel's name for it:
/// `pay/unifiedorder`, `alipay.trade.precreate`, `bill download`, …). Its `_count` is the number
/// of calls.
pub const CHANNEL_CALL_DURATION: &str = "nkpay_channel_call_duration_seconds";

/// Counter of channel calls that failed at the transport; labels `channel`, `call` and `error`:
/// `no_reply` (connection refused or reset, time-out, TLS failure, reply cut off) or `status`
/// (a reply whose HTTP status is not 2xx). A refusal inside a 200 reply (`FAIL`, a sub-code) is
/// the protocol's answer, not a transport error, and is not counted here.
pub const CHANNEL_CALL_ERRORS: &str = "nkpay_channel_call_errors_total";

/// Registers the help text of this crate's series with the installed recorder.
pub fn describe() {
    metrics::describe_histogram!(
        CHANNEL_CALL_DURATION,
        metrics::Unit::Seconds,
        "Channel call latency by channel and call, from sending to the end of the reply"
    );
    metrics::describe_counter!(
        CHANNEL_CALL_ERRORS,
        "Channel calls without a reply (no_reply) or with a non-2xx HTTP status (status)"
    );
}

/// How one exchange ended, for [`CHANNEL_CALL_ERRORS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEnd {
    /// A reply with a 2xx status.
    Answered,
    /// A reply with another status.
    BadStatus,
    /// No (complete) reply.
    NoReply,
}

/// Records one exchange of `call` to `channel` that took `duration`.
pub(crate) fn record(channel: &'static str, call: &'static str, duration: Duration, end: CallEnd) {
    metrics::histogram!(CHANNEL_CALL_DURATION, "channel" => channel, "call" => call)
        .record(duration.as_secs_f64());
    let error = match end {
        CallEnd::Answered => return,
        CallEnd::BadStatus => "status",
        CallEnd::NoReply => "no_reply",
    };
    metrics::counter!(CHANNEL_CALL_ERRORS, "channel" => channel, "call" => call, "error" => error)
        .increment(1);
}
