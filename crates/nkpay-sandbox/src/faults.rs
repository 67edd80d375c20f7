//! Fault injection: what can go wrong between the platform and a channel — slow or failing calls,
//! calls that outlive the client's timeout, and notifies that are lost, repeated, reordered or
//! forged. Set by configuration or `POST /sandbox/faults`; read per call.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The outcome a WeChat refund reaches after it has settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundOutcome {
    #[default]
    Success,
    /// The refund could not be paid back (the buyer's card was cancelled …).
    Change,
    Refundclose,
}

impl RefundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundOutcome::Success => "SUCCESS",
            RefundOutcome::Change => "CHANGE",
            RefundOutcome::Refundclose => "REFUNDCLOSE",
        }
    }
}

/// Fault settings. Rates are shares in 0..=1; `*_times` counts fail the next N matching calls
/// before the rates apply (deterministic tests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every channel API call.
    pub latency_ms: u64,
    /// Share of calls answered SYSTEMERROR (WeChat) / 40004 ACQ.SYSTEM_ERROR (Alipay).
    pub system_error_rate: f64,
    pub system_error_times: u32,
    /// The system error is reported after the call took effect (the order exists, the refund was
    /// made): the ambiguous case a client must resolve by retrying or querying.
    pub system_error_after_processing: bool,
    /// Share of calls processed, then held `timeout_ms` before the reply (beyond a client's
    /// timeout).
    pub timeout_rate: f64,
    pub timeout_times: u32,
    pub timeout_ms: u64,
    /// Limit call faults to these APIs (WeChat path tail such as `unifiedorder`, `refund`, or
    /// an Alipay method such as `alipay.trade.refund`); empty means all.
    pub apis: Vec<String>,
    /// Share of notifies never delivered.
    pub notify_drop_rate: f64,
    /// Share of notifies delivered twice at once.
    pub notify_duplicate_rate: f64,
    /// Share of notifies held back `notify_reorder_delay_ms` so later ones overtake them.
    pub notify_reorder_rate: f64,
    pub notify_reorder_delay_ms: u64,
    /// Share of notifies sent with a wrong signature (WeChat refund notifies: encrypted with a
    /// wrong key), for forgery tests.
    pub notify_bad_signature_rate: f64,
    /// What WeChat refunds end in.
    pub refund_outcome: RefundOutcome,
    /// Changes to the bills served (WeChat `downloadbill`, Alipay's trade bill), for
    /// reconciliation tests: rows dropped, changed or added. The rest of each bill reflects the
    /// sandbox's real state.
    pub bill_faults: Vec<BillFault>,
}

/// One change to the bills the sandbox serves. A fault names a payment row by its
/// `out_trade_no`, or a refund row by `out_trade_no` and `out_refund_no` (Alipay
/// `out_request_no`). Amounts and fees in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum BillFault {
    /// Leave the row out.
    Drop {
        /// The merchant order number.
        out_trade_no: String,
        /// The refund row's number; absent: the payment row.
        #[serde(default)]
        out_refund_no: Option<String>,
    },
    /// Print another amount and/or fee on the row (the bill's totals follow).
    Change {
        /// The merchant order number.
        out_trade_no: String,
        /// The refund row's number; absent: the payment row.
        #[serde(default)]
        out_refund_no: Option<String>,
        /// The amount printed instead, fen (> 0).
        #[serde(default)]
        amount_fen: Option<i64>,
        /// The fee printed instead, fen, as charged (> 0 on a payment).
        #[serde(default)]
        fee_fen: Option<i64>,
    },
    /// Add a row the sandbox has no trade for, dated now: a payment, or a refund when
    /// `out_refund_no` is given (WeChat: only in `ALL` bills).
    Add {
        /// The merchant order number printed.
        out_trade_no: String,
        /// The refund row's number; absent: a payment row.
        #[serde(default)]
        out_refund_no: Option<String>,
        /// The amount, fen (> 0).
        amount_fen: i64,
    },
}

/// What a bill does with one of its real rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BillEdit {
    /// Printed as it is.
    Keep,
    /// Left out.
    Drop,
    /// Printed with these amount and fee (fen) where given.
    Change {
        amount_fen: Option<i64>,
        fee_fen: Option<i64>,
    },
}

/// A row added to every bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BillAddition {
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub amount_fen: i64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            system_error_rate: 0.0,
            system_error_times: 0,
            system_error_after_processing: false,
            timeout_rate: 0.0,
            timeout_times: 0,
            timeout_ms: 30_000,
            apis: Vec::new(),
            notify_drop_rate: 0.0,
            notify_duplicate_rate: 0.0,
            notify_reorder_rate: 0.0,
            notify_reorder_delay_ms: 500,
            notify_bad_signature_rate: 0.0,
            refund_outcome: RefundOutcome::Success,
            bill_faults: Vec::new(),
        }
    }
}

impl Faults {
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("system_error_rate", self.system_error_rate),
            ("timeout_rate", self.timeout_rate),
            ("notify_drop_rate", self.notify_drop_rate),
            ("notify_duplicate_rate", self.notify_duplicate_rate),
            ("notify_reorder_rate", self.notify_reorder_rate),
            ("notify_bad_signature_rate", self.notify_bad_signature_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "faults.{name} must be a share between 0 and 1, got {rate}"
                ));
            }
        }
        for fault in &self.bill_faults {
            let amounts = match fault {
                BillFault::Drop { .. } => vec![],
                BillFault::Change {
                    amount_fen,
                    fee_fen,
                    ..
                } => vec![*amount_fen, fee_fen.map(|f| f.abs().max(1))],
                BillFault::Add { amount_fen, .. } => vec![Some(*amount_fen)],
            };
            if amounts.iter().flatten().any(|a| *a <= 0) {
                return Err("faults.bill_faults: amount_fen must be more than 0".to_owned());
            }
        }
        Ok(())
    }
}

impl BillFault {
    fn names(&self, order: &str, refund: Option<&str>) -> bool {
        let (o, r) = match self {
            BillFault::Drop {
                out_trade_no,
                out_refund_no,
            }
            | BillFault::Change {
                out_trade_no,
                out_refund_no,
                ..
            } => (out_trade_no, out_refund_no),
            BillFault::Add { .. } => return false,
        };
        o == order && r.as_deref() == refund
    }
}

/// What happens to one API call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallFaults {
    pub latency: Duration,
    pub system_error: Option<SystemErrorAt>,
    pub hold: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SystemErrorAt {
    BeforeProcessing,
    AfterProcessing,
}

/// What happens to one notify.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NotifyFaults {
    pub drop: bool,
    pub duplicate: bool,
    pub reorder_delay: Option<Duration>,
    pub bad_signature: bool,
}

/// The live fault settings, shared by all workers.
#[derive(Debug)]
pub(crate) struct FaultBox(Mutex<Faults>);

fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::thread_rng().gen_bool(rate.clamp(0.0, 1.0))
}

impl FaultBox {
    pub fn new(faults: Faults) -> Self {
        FaultBox(Mutex::new(faults))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self) -> Faults {
        self.lock().clone()
    }

    pub fn set(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *self.lock() = faults;
        Ok(())
    }

    pub fn refund_outcome(&self) -> RefundOutcome {
        self.lock().refund_outcome
    }

    /// Decides the faults of one call to `api`, consuming a `*_times` count when one applies.
    pub fn for_call(&self, api: &str) -> CallFaults {
        let mut f = self.lock();
        let mut out = CallFaults {
            latency: Duration::from_millis(f.latency_ms),
            ..CallFaults::default()
        };
        if !f.apis.is_empty() && !f.apis.iter().any(|a| a == api) {
            return out;
        }
        let fail = if f.system_error_times > 0 {
            f.system_error_times -= 1;
            true
        } else {
            roll(f.system_error_rate)
        };
        if fail {
            out.system_error = Some(if f.system_error_after_processing {
                SystemErrorAt::AfterProcessing
            } else {
                SystemErrorAt::BeforeProcessing
            });
        }
        let hold = if f.timeout_times > 0 {
            f.timeout_times -= 1;
            true
        } else {
            roll(f.timeout_rate)
        };
        if hold {
            out.hold = Some(Duration::from_millis(f.timeout_ms));
        }
        out
    }

    /// What a bill does with the row of `out_trade_no` (a refund row: with `out_refund_no`).
    pub fn bill_edit(&self, out_trade_no: &str, out_refund_no: Option<&str>) -> BillEdit {
        let f = self.lock();
        match f
            .bill_faults
            .iter()
            .find(|b| b.names(out_trade_no, out_refund_no))
        {
            Some(BillFault::Drop { .. }) => BillEdit::Drop,
            Some(BillFault::Change {
                amount_fen,
                fee_fen,
                ..
            }) => BillEdit::Change {
                amount_fen: *amount_fen,
                fee_fen: *fee_fen,
            },
            _ => BillEdit::Keep,
        }
    }

    /// The rows every bill adds.
    pub fn bill_additions(&self) -> Vec<BillAddition> {
        self.lock()
            .bill_faults
            .iter()
            .filter_map(|b| match b {
                BillFault::Add {
                    out_trade_no,
                    out_refund_no,
                    amount_fen,
                } => Some(BillAddition {
                    out_trade_no: out_trade_no.clone(),
                    out_refund_no: out_refund_no.clone(),
                    amount_fen: *amount_fen,
                }),
                _ => None,
            })
            .collect()
    }

    pub fn for_notify(&self) -> NotifyFaults {
        let f = self.lock();
        NotifyFaults {
            drop: roll(f.notify_drop_rate),
            duplicate: roll(f.notify_duplicate_rate),
            reorder_delay: roll(f.notify_reorder_rate)
                .then(|| Duration::from_millis(f.notify_reorder_delay_ms)),
            bad_signature: roll(f.notify_bad_signature_rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_counts_fail_exactly_that_many_calls() {
        let faults = FaultBox::new(Faults {
            system_error_times: 2,
            ..Faults::default()
        });
        let failed = (0..5)
            .filter(|_| faults.for_call("unifiedorder").system_error.is_some())
            .count();
        assert_eq!(failed, 2);
    }

    #[test]
    fn faults_limited_to_named_apis_leave_others_alone() {
        let faults = FaultBox::new(Faults {
            system_error_rate: 1.0,
            apis: vec!["refund".to_owned()],
            ..Faults::default()
        });
        assert!(faults.for_call("unifiedorder").system_error.is_none());
        assert_eq!(
            faults.for_call("refund").system_error,
            Some(SystemErrorAt::BeforeProcessing)
        );
    }

    #[test]
    fn bill_faults_name_their_row_and_refuse_non_positive_amounts() {
        let faults = FaultBox::new(Faults {
            bill_faults: vec![
                BillFault::Drop {
                    out_trade_no: "T1".into(),
                    out_refund_no: Some("R1".into()),
                },
                BillFault::Change {
                    out_trade_no: "T1".into(),
                    out_refund_no: None,
                    amount_fen: Some(7),
                    fee_fen: None,
                },
                BillFault::Add {
                    out_trade_no: "X1".into(),
                    out_refund_no: None,
                    amount_fen: 3,
                },
            ],
            ..Faults::default()
        });
        assert_eq!(faults.bill_edit("T1", Some("R1")), BillEdit::Drop);
        assert_eq!(
            faults.bill_edit("T1", None),
            BillEdit::Change {
                amount_fen: Some(7),
                fee_fen: None
            }
        );
        assert_eq!(faults.bill_edit("T1", Some("R2")), BillEdit::Keep);
        assert_eq!(faults.bill_edit("X1", None), BillEdit::Keep);
        assert_eq!(faults.bill_additions().len(), 1);
        let err = faults
            .set(Faults {
                bill_faults: vec![BillFault::Add {
                    out_trade_no: "X2".into(),
                    out_refund_no: None,
                    amount_fen: 0,
                }],
                ..Faults::default()
            })
            .unwrap_err();
        assert!(err.contains("bill_faults"), "{err}");
        let json = r#"{"bill_faults":[{"action":"change","out_trade_no":"T","fee_fen":5}]}"#;
        let parsed: Faults = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed.bill_faults,
            vec![BillFault::Change {
                out_trade_no: "T".into(),
                out_refund_no: None,
                amount_fen: None,
                fee_fen: Some(5)
            }]
        );
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let faults = FaultBox::new(Faults::default());
        let err = faults
            .set(Faults {
                notify_drop_rate: 1.5,
                ..Faults::default()
            })
            .unwrap_err();
        assert!(err.contains("notify_drop_rate"), "{err}");
    }
}
