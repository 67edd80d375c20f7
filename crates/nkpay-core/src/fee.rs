//! The fee a trade is charged and the share of it each refund returns (issue 12 "Fees";
//! `docs/statements.md` "Fees"). Integer fen only, no floats.
//!
//! - **Rate**: the rate configured upstream for the sub-merchant's business
//!   (`merchant_channels.fee_rate_bp`, set by `busi/open`), in basis points, 0 to
//!   [`MAX_BASIS_POINTS`] (100%). The rate in force when the trade is created is recorded on it, so a
//!   later change of rate does not re-price older trades.
//! - **Trade fee** ([`trade_fee`]): `trans_amt × rate_bp / 10000`, rounded half up to the fen,
//!   charged when the trade succeeds.
//! - **Refunded fee** ([`refund_fee`]): cumulative pro rata. After refunds totalling `R` fen the
//!   fee returned so far is `floor(fee × R / trans_amt)` ([`fee_refunded_to_date`]); a refund
//!   returns that figure after it minus the figure before it. Partial refunds round down, the
//!   remainder goes with the refund that completes the amount: a full refund returns exactly the
//!   whole fee, and the fees returned never exceed the fee charged, whatever the number and
//!   order of the refunds.

use crate::error::CoreError;
use crate::fee_rate::MAX_BASIS_POINTS;
use crate::money::Money;

/// Basis points in 100%.
const BP_PER_UNIT: i128 = 10_000;

/// The fee on `trans_amt` at `rate_bp` basis points, rounded half up to the fen
/// (`(trans_amt × rate_bp + 5000) / 10000` in integers). [`CoreError::FeeRateOutOfRange`] when
/// `rate_bp` is outside 0 to [`MAX_BASIS_POINTS`]. The fee never exceeds `trans_amt`.
pub fn trade_fee(trans_amt: Money, rate_bp: i32) -> Result<Money, CoreError> {
    if !(0..=MAX_BASIS_POINTS).contains(&rate_bp) {
        return Err(CoreError::FeeRateOutOfRange { bp: rate_bp });
    }
    let fen = (i128::from(trans_amt.fen()) * i128::from(rate_bp) + BP_PER_UNIT / 2) / BP_PER_UNIT;
    money(fen)
}

/// The fee returned so far once `refunded` of a trade of `trans_amt` with fee `fee` has been
/// refunded: `floor(fee × refunded / trans_amt)` (0 when `trans_amt` is 0). Errors:
/// [`CoreError::RefundedOverPaid`] when `refunded` exceeds `trans_amt`,
/// [`CoreError::FeeOverAmount`] when `fee` exceeds `trans_amt`.
pub fn fee_refunded_to_date(
    fee: Money,
    trans_amt: Money,
    refunded: Money,
) -> Result<Money, CoreError> {
    if refunded > trans_amt {
        return Err(CoreError::RefundedOverPaid {
            refunded: refunded.fen(),
            trans_amt: trans_amt.fen(),
        });
    }
    if fee > trans_amt {
        return Err(CoreError::FeeOverAmount {
            fee: fee.fen(),
            trans_amt: trans_amt.fen(),
        });
    }
    if trans_amt.is_zero() {
        return Ok(Money::ZERO);
    }
    // Non-negative operands: integer division is the floor.
    money(i128::from(fee.fen()) * i128::from(refunded.fen()) / i128::from(trans_amt.fen()))
}

/// The fee a refund of `amount` returns when `refunded_before` of the trade had already been
/// refunded (successful refunds only):
/// `fee_refunded_to_date(refunded_before + amount) − fee_refunded_to_date(refunded_before)`.
/// Errors as [`fee_refunded_to_date`] ([`CoreError::RefundedOverPaid`] when the two together
/// exceed `trans_amt`).
pub fn refund_fee(
    fee: Money,
    trans_amt: Money,
    refunded_before: Money,
    amount: Money,
) -> Result<Money, CoreError> {
    let after = refunded_before
        .checked_add(amount)
        .ok_or(CoreError::RefundedOverPaid {
            refunded: refunded_before.fen().saturating_add(amount.fen()),
            trans_amt: trans_amt.fen(),
        })?;
    let to_date = fee_refunded_to_date(fee, trans_amt, after)?;
    let before = fee_refunded_to_date(fee, trans_amt, refunded_before)?;
    // floor is monotonic in `refunded`, so this is never negative.
    money(i128::from(to_date.fen()) - i128::from(before.fen()))
}

fn money(fen: i128) -> Result<Money, CoreError> {
    let fen = i64::try_from(fen).unwrap_or(i64::MAX);
    Money::from_fen(fen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(fen: i64) -> Money {
        Money::from_fen(fen).unwrap()
    }

    #[test]
    fn the_trade_fee_rounds_half_up_to_the_fen() {
        assert_eq!(trade_fee(m(1050), 38).unwrap(), m(4)); // 3.99 fen
        assert_eq!(trade_fee(m(100), 50).unwrap(), m(1)); // 0.50 fen
        assert_eq!(trade_fee(m(100), 49).unwrap(), m(0)); // 0.49 fen
        assert_eq!(trade_fee(m(10_000), 60).unwrap(), m(60));
        assert_eq!(trade_fee(Money::MAX, MAX_BASIS_POINTS).unwrap(), Money::MAX);
        assert_eq!(trade_fee(m(1), 0).unwrap(), m(0));
    }

    #[test]
    fn a_rate_outside_0_to_10000_bp_is_refused_naming_the_rule() {
        for bp in [-1, 10_001, i32::MAX, i32::MIN] {
            let e = trade_fee(m(100), bp).unwrap_err();
            assert_eq!(e, CoreError::FeeRateOutOfRange { bp });
            assert!(e.to_string().contains("0 to 10000"), "{e}");
        }
    }

    #[test]
    fn partial_refunds_round_down_and_the_last_takes_the_remainder() {
        // 100.00 yuan at 0.38%: fee 0.38 yuan.
        let (t, fee) = (m(10_000), m(38));
        assert_eq!(refund_fee(fee, t, m(0), m(3_333)).unwrap(), m(12)); // 12.6654
        assert_eq!(refund_fee(fee, t, m(3_333), m(3_333)).unwrap(), m(13)); // 25.3308 → 25
        assert_eq!(refund_fee(fee, t, m(6_666), m(3_334)).unwrap(), m(13)); // 38 − 25
        assert_eq!(fee_refunded_to_date(fee, t, t).unwrap(), fee);
    }

    #[test]
    fn refunding_more_than_was_paid_or_a_fee_above_the_amount_is_refused() {
        assert_eq!(
            refund_fee(m(4), m(100), m(60), m(41)).unwrap_err(),
            CoreError::RefundedOverPaid {
                refunded: 101,
                trans_amt: 100
            }
        );
        assert_eq!(
            fee_refunded_to_date(m(101), m(100), m(1)).unwrap_err(),
            CoreError::FeeOverAmount {
                fee: 101,
                trans_amt: 100
            }
        );
        assert_eq!(fee_refunded_to_date(m(0), m(0), m(0)).unwrap(), m(0));
    }

    /// A paid amount, a rate, and a sequence of partial refunds that sum to at most the amount.
    fn trade_and_refunds() -> impl Strategy<Value = (i64, i32, Vec<i64>)> {
        // Small amounts as well as large ones, and refunds from a fen to the whole amount.
        let amount = prop_oneof![1i64..=100, 1i64..=100_000, 1i64..=Money::MAX.fen()];
        (amount, 0..=MAX_BASIS_POINTS).prop_flat_map(|(amt, bp)| {
            let part = prop_oneof![1i64..=amt, 1i64..=(amt / 8).max(1), 1i64..=3];
            let refunds = prop::collection::vec(part, 0..16).prop_map(move |mut parts| {
                // Cut the sequence where it would exceed the amount.
                let mut left = amt;
                parts.retain_mut(|p| {
                    *p = (*p).min(left);
                    left -= *p;
                    *p > 0
                });
                parts
            });
            (Just(amt), Just(bp), refunds)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn fees_refunded_never_exceed_the_fee_and_match_the_pro_rata_rule(
            (amt, bp, parts) in trade_and_refunds()
        ) {
            let trans_amt = m(amt);
            let fee = trade_fee(trans_amt, bp).unwrap();
            prop_assert!(fee <= trans_amt);
            let (mut refunded, mut returned) = (0i64, 0i64);
            for part in &parts {
                let this = refund_fee(fee, trans_amt, m(refunded), m(*part)).unwrap();
                refunded += part;
                returned += this.fen();
                prop_assert!(returned <= fee.fen());
                let expected = i128::from(fee.fen()) * i128::from(refunded) / i128::from(amt);
                prop_assert_eq!(i128::from(returned), expected);
            }
            // The rest, if any, completes the refund: the whole fee has then come back.
            let rest = amt - refunded;
            if rest > 0 {
                returned += refund_fee(fee, trans_amt, m(refunded), m(rest)).unwrap().fen();
            }
            prop_assert_eq!(returned, fee.fen());
        }

        #[test]
        fn the_trade_fee_is_the_rate_rounded_half_up(amt in 0i64..=Money::MAX.fen(), bp in 0..=MAX_BASIS_POINTS) {
            let fee = i128::from(trade_fee(m(amt), bp).unwrap().fen());
            // fee is the nearest fen to amt × bp / 10000, halves up: |2·10000·fee − 2·amt·bp| ≤ 10000
            // with ties (exactly 10000) only from below.
            let exact2 = 2 * i128::from(amt) * i128::from(bp);
            let diff = 2 * BP_PER_UNIT * fee - exact2;
            prop_assert!(-BP_PER_UNIT < diff && diff <= BP_PER_UNIT, "amt {} bp {} fee {}", amt, bp, fee);
        }
    }
}
