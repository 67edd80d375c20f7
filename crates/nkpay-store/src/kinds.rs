//! The closed sets of words this crate stores in string columns (kinds and statuses that
//! belong to storage rather than to `nkpay_core`). Each parses back strictly, and each is a
//! sea-orm value type stored as its word, so entity columns hold the enum: a stored word that
//! is not one of the set fails the read ([`crate::StoreError::Corrupt`]).

use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

macro_rules! stored_words {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::DeriveValueType)]
        #[sea_orm(value_type = "String")]
        pub enum $name {
            $(
                #[doc = concat!("Stored as \"", $word, "\".")]
                $variant
            ),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| StoreError::Invalid {
                        field: $what,
                        rule: format!(
                            "{s:?} is not one of {}",
                            $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_words!(
    /// Whether a service provider, merchant, business, account or user may be used.
    RecordStatus, "status" { Active => "active", Disabled => "disabled" }
);

stored_words!(
    /// What an admin user or API token may do (issue 11, "Admin identity first"); the rules
    /// per role live in nkpay-engine's `admin_identity`. An agent admin is bound to one
    /// service provider (`sys_id` beside the role).
    AdminRole, "role" {
        PlatformAdmin => "platform-admin",
        Operator => "operator",
        Finance => "finance",
        AgentAdmin => "agent-admin",
        ReadOnly => "read-only",
    }
);

stored_words!(
    /// A merchant's legal form: enterprise or individual.
    MerchantKind, "merchant kind" { Ent => "ent", Indv => "indv" }
);

stored_words!(
    /// Where a merchant application (进件) is in its review, as Dougong's `apply_status` and
    /// `audit_status` write it: `P` pending review, `Y` approved, `N` rejected (with a reason),
    /// `F` failed (never finished: reserved for an application the platform could not process).
    /// A merchant carries its application's state; only `Y` may take payments.
    ApplyStatus, "apply status" {
        Pending => "P",
        Approved => "Y",
        Rejected => "N",
        Failed => "F",
    }
);

stored_words!(
    /// What an appid bound to a merchant is: an official account (`T_JSAPI`) or a
    /// mini-program (`T_MINIAPP`).
    AppidKind, "appid kind" { Mp => "mp", Miniapp => "miniapp" }
);

stored_words!(
    /// What a notification reports, as sent in `notify_type`: a trade's or refund's final
    /// state, an onboarding application's review result (`MERCHANT_AUDIT`, subject the
    /// `apply_no`), or a business-opening result (`BUSINESS`, issue 11 `/v2/merchant/busi/open`).
    NotificationKind, "notification kind" {
        Trade => "TRADE",
        Refund => "REFUND",
        MerchantAudit => "MERCHANT_AUDIT",
        Business => "BUSINESS",
    }
);

stored_words!(
    /// Where a notification is in its delivery.
    NotificationStatus, "notification status" {
        Pending => "pending",
        Delivered => "delivered",
        Dead => "dead",
    }
);

stored_words!(
    /// Where a platform signing key is in its life: `active` (the newest: new callers get
    /// it; one at most), `retiring` (replaced, still signing for the callers assigned to it
    /// until its announced retirement date), `retired` (signs nothing; listed so older
    /// messages can still be verified).
    KeyStatus, "key status" { Active => "active", Retiring => "retiring", Retired => "retired" }
);

stored_words!(
    /// Whose statement file it is.
    StatementOwner, "statement owner kind" { Merchant => "mer", ServiceProvider => "sys" }
);

stored_words!(
    /// Where a statement file is in its making.
    StatementStatus, "statement status" { Making => "making", Ready => "ready", Failed => "failed" }
);

stored_words!(
    /// Where a reconciliation run is: `running` (started; a run whose node died stays so, a
    /// later run of the day supersedes it), `done` (every bill read and compared), `failed` (a
    /// bill could not be had or read; nothing compared, `error` says why).
    RunStatus, "status" { Running => "running", Done => "done", Failed => "failed" }
);

stored_words!(
    /// What a reconciliation difference is: `missing_here` (the bill has a refund of one of
    /// our trades we have no record of), `missing_there` (succeeded here, absent from the
    /// channel's bill of the day), `amount_differs`, `state_differs` (paid or refunded at the
    /// channel, processing / closed / failed here), `fee_differs` (same amount, the channel's
    /// fee is not ours: the configured rate disagrees with the channel's). A bill row whose
    /// order number is not one of our trades is foreign: counted on the run, never a
    /// difference.
    DifferenceKind, "kind" {
        MissingHere => "missing_here",
        MissingThere => "missing_there",
        AmountDiffers => "amount_differs",
        StateDiffers => "state_differs",
        FeeDiffers => "fee_differs",
    }
);

stored_words!(
    /// What became of a reconciliation difference: `open` (nobody has dealt with it),
    /// `healed` (the run fixed it: finalized, refunded), `resolved` (an operator, with a note).
    DifferenceState, "state" { Open => "open", Healed => "healed", Resolved => "resolved" }
);

stored_words!(
    /// Which record a reconciliation difference is about: a payment or a refund.
    DifferenceRow, "row_kind" { Payment => "payment", Refund => "refund" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_parse_back_and_reject_near_misses() {
        for k in AppidKind::ALL {
            assert_eq!(k.as_str().parse::<AppidKind>().unwrap(), *k);
        }
        let err = "MP".parse::<AppidKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid appid kind: \"MP\" is not one of mp, miniapp"
        );
    }
}
