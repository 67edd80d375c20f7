//! How large one amount may be (issue 15, fault 5): the channel's own field limit
//! ([`ChannelKind::max_amount_fen`]: WeChat's `total_fee` is a 32-bit number of fen, Alipay's
//! `total_amount` at most 100000000.00 yuan) and the platform's per-trade cap
//! (`EngineConfig::max_trans_amt`, `limits.max_trans_amt_fen`). Checked before anything is
//! stored or sent; a breach is `10000000` naming the field.

use nkpay_core::money::Money;
use nkpay_core::trade_type::ChannelKind;

use crate::error::EngineError;

/// The channel's words in a refusal.
fn channel_rule(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Wechat => "WeChat Pay carries amounts as a 32-bit number of fen",
        ChannelKind::Alipay => "Alipay takes at most 100000000.00 yuan",
    }
}

/// `amount` (the request's `field`, in fen) must fit `channel`'s field and, when given, the
/// per-trade `cap`. Otherwise [`EngineError::Invalid`] naming `field`, the limit in yuan and
/// whose limit it is.
pub(crate) fn check(
    field: &str,
    amount: Money,
    channel: ChannelKind,
    cap: Option<Money>,
) -> Result<(), EngineError> {
    let channel_max = channel.max_amount_fen();
    if amount.fen() > channel_max {
        return Err(EngineError::invalid(
            field,
            format!(
                "金额超过通道上限: must be at most {} yuan ({})",
                Money::yuan_of_fen(channel_max),
                channel_rule(channel)
            ),
        ));
    }
    if let Some(cap) = cap
        && amount > cap
    {
        return Err(EngineError::invalid(
            field,
            format!(
                "金额超过单笔限额: must be at most {cap} yuan (the platform's per-trade limit)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(f: i64) -> Money {
        Money::from_fen(f).unwrap()
    }

    #[test]
    fn wechat_stops_at_the_largest_32_bit_fen() {
        assert!(check("trans_amt", fen(2_147_483_647), ChannelKind::Wechat, None).is_ok());
        let e = check("trans_amt", fen(2_147_483_648), ChannelKind::Wechat, None).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("trans_amt格式错误"), "{text}");
        assert!(text.contains("21474836.47"), "{text}");
        // Alipay takes it: every amount the API can parse fits Alipay's field.
        assert!(check("trans_amt", fen(2_147_483_648), ChannelKind::Alipay, None).is_ok());
        assert!(check("ord_amt", Money::MAX, ChannelKind::Alipay, None).is_ok());
    }

    #[test]
    fn the_per_trade_cap_applies_to_every_channel() {
        for c in ChannelKind::ALL {
            assert!(check("trans_amt", fen(50_000), c, Some(fen(50_000))).is_ok());
            let e = check("trans_amt", fen(50_001), c, Some(fen(50_000))).unwrap_err();
            assert!(e.to_string().contains("500.00"), "{e}");
        }
    }
}
