//! Trade and refund states and the only moves allowed between them: from processing to one final
//! state, once. Storage enforces the same rule with conditional UPDATEs; this is its definition.

use crate::error::CoreError;
use crate::string_enum::string_enum;

/// `trans_stat` as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransStat {
    /// Processing.
    P,
    /// Succeeded.
    S,
    /// Failed (a closed trade is reported as failed).
    F,
}

impl TransStat {
    /// Every value.
    pub const ALL: [TransStat; 3] = [TransStat::P, TransStat::S, TransStat::F];

    /// "P", "S" or "F", as sent in `trans_stat`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransStat::P => "P",
            TransStat::S => "S",
            TransStat::F => "F",
        }
    }
}

/// A trade's state; stored as "P", "S", "F", "C".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
pub enum TradeStatus {
    /// "P": placed, waiting for the payer or the channel.
    Processing,
    /// "S": paid.
    Succeeded,
    /// "F": the channel refused or the payment failed.
    Failed,
    /// "C": closed before payment (by the merchant or on expiry).
    Closed,
}

impl TradeStatus {
    /// Every state.
    pub const ALL: [TradeStatus; 4] = [
        TradeStatus::Processing,
        TradeStatus::Succeeded,
        TradeStatus::Failed,
        TradeStatus::Closed,
    ];

    /// The stored string: "P", "S", "F" or "C".
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Processing => "P",
            TradeStatus::Succeeded => "S",
            TradeStatus::Failed => "F",
            TradeStatus::Closed => "C",
        }
    }

    /// What the merchant sees: a closed trade is a payment that did not happen, so `F`.
    pub fn trans_stat(self) -> TransStat {
        match self {
            TradeStatus::Processing => TransStat::P,
            TradeStatus::Succeeded => TransStat::S,
            TradeStatus::Failed | TradeStatus::Closed => TransStat::F,
        }
    }

    /// Whether the trade can no longer move (anything but processing).
    pub fn is_final(self) -> bool {
        self != TradeStatus::Processing
    }

    /// Processing → Succeeded | Failed | Closed; nothing else (staying put is not a move).
    pub fn can_move_to(self, next: TradeStatus) -> bool {
        self == TradeStatus::Processing && next != TradeStatus::Processing
    }

    /// `next` if the move is allowed, else an error naming both states.
    pub fn move_to(self, next: TradeStatus) -> Result<TradeStatus, CoreError> {
        checked_move(
            "trade",
            self.can_move_to(next),
            self.as_str(),
            (next, next.as_str()),
        )
    }
}

/// A refund's state; stored as "P", "S", "F".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "sea-orm",
    derive(sea_orm::DeriveValueType),
    sea_orm(value_type = "String")
)]
pub enum RefundStatus {
    /// "P": sent to the channel, result not known yet.
    Processing,
    /// "S": the channel refunded the money.
    Succeeded,
    /// "F": the channel refused or the refund failed; the reserved amount is released.
    Failed,
}

impl RefundStatus {
    /// Every state.
    pub const ALL: [RefundStatus; 3] = [
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    /// The stored string, the same as its `trans_stat`: "P", "S" or "F".
    pub fn as_str(self) -> &'static str {
        self.trans_stat().as_str()
    }

    /// What the merchant sees; one to one with the refund state.
    pub fn trans_stat(self) -> TransStat {
        match self {
            RefundStatus::Processing => TransStat::P,
            RefundStatus::Succeeded => TransStat::S,
            RefundStatus::Failed => TransStat::F,
        }
    }

    /// Whether the refund can no longer move (anything but processing).
    pub fn is_final(self) -> bool {
        self != RefundStatus::Processing
    }

    /// Processing → Succeeded | Failed; nothing else.
    pub fn can_move_to(self, next: RefundStatus) -> bool {
        self == RefundStatus::Processing && next != RefundStatus::Processing
    }

    /// `next` if the move is allowed, else an error naming both states.
    pub fn move_to(self, next: RefundStatus) -> Result<RefundStatus, CoreError> {
        checked_move(
            "refund",
            self.can_move_to(next),
            self.as_str(),
            (next, next.as_str()),
        )
    }
}

/// The one place an illegal move becomes an error, so trades and refunds word it alike.
fn checked_move<T>(
    what: &'static str,
    allowed: bool,
    from: &'static str,
    to: (T, &'static str),
) -> Result<T, CoreError> {
    if allowed {
        Ok(to.0)
    } else {
        Err(CoreError::IllegalTransition {
            what,
            from,
            to: to.1,
        })
    }
}

string_enum!(TransStat, CoreError::UnknownTransStat);
string_enum!(TradeStatus, CoreError::UnknownTradeStatus);
string_enum!(RefundStatus, CoreError::UnknownRefundStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_trade_may_end_in_any_final_state() {
        for next in [
            TradeStatus::Succeeded,
            TradeStatus::Failed,
            TradeStatus::Closed,
        ] {
            assert!(TradeStatus::Processing.can_move_to(next));
            assert_eq!(TradeStatus::Processing.move_to(next).unwrap(), next);
        }
    }

    #[test]
    fn final_trade_states_never_move() {
        for from in TradeStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in TradeStatus::ALL {
                assert!(!from.can_move_to(to), "{from} -> {to}");
            }
        }
        let err = TradeStatus::Closed
            .move_to(TradeStatus::Succeeded)
            .unwrap_err();
        assert_eq!(err.to_string(), "trade cannot move from C to S");
    }

    #[test]
    fn processing_is_not_a_move_to_itself() {
        assert!(!TradeStatus::Processing.can_move_to(TradeStatus::Processing));
        assert!(!RefundStatus::Processing.can_move_to(RefundStatus::Processing));
    }

    #[test]
    fn refund_moves_once_from_processing() {
        assert!(RefundStatus::Processing.can_move_to(RefundStatus::Succeeded));
        assert!(RefundStatus::Processing.can_move_to(RefundStatus::Failed));
        assert!(!RefundStatus::Succeeded.can_move_to(RefundStatus::Failed));
        assert!(!RefundStatus::Failed.can_move_to(RefundStatus::Succeeded));
    }

    #[test]
    fn closed_trade_reports_failure_to_merchants() {
        assert_eq!(TradeStatus::Closed.trans_stat(), TransStat::F);
        assert_eq!(TradeStatus::Succeeded.trans_stat(), TransStat::S);
        assert_eq!(TradeStatus::Processing.trans_stat(), TransStat::P);
    }

    #[test]
    fn status_strings_round_trip_and_unknown_ones_are_named() {
        for s in TradeStatus::ALL {
            assert_eq!(s.as_str().parse::<TradeStatus>().unwrap(), s);
        }
        for s in RefundStatus::ALL {
            assert_eq!(s.as_str().parse::<RefundStatus>().unwrap(), s);
        }
        assert_eq!("S".parse::<TransStat>().unwrap(), TransStat::S);
        assert!(
            "C".parse::<RefundStatus>()
                .unwrap_err()
                .to_string()
                .contains("\"C\"")
        );
        assert!("X".parse::<TransStat>().is_err());
    }
}
