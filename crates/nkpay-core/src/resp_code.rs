//! `resp_code` values of the merchant API (API.md "Codes") with their default `resp_desc`.

use crate::error::CoreError;
use crate::string_enum::string_enum;

/// A `resp_code` of the merchant API; the doc of each variant gives its code and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RespCode {
    /// 00000000 accepted / succeeded; read `trans_stat`.
    Success,
    /// 00000100 accepted, processing.
    Processing,
    /// 10000000 parameter error; `resp_desc` names the field and the rule.
    ParamError,
    /// 10000001 signature verification failed.
    SignatureInvalid,
    /// 10000002 unknown `sys_id`, or `product_id` does not match it.
    UnknownSysId,
    /// 20000000 same `req_date`+`req_seq_id` with different content.
    DuplicateRequest,
    /// 22000000 merchant not found, not active, or not allowed for this `sys_id`.
    MerchantNotAllowed,
    /// 22000001 payment method not opened for this merchant.
    PaymentMethodNotOpened,
    /// 23000001 original trade not found.
    OriginalTradeNotFound,
    /// 23000002 trade state does not allow this.
    TradeStateNotAllowed,
    /// 23000003 refund exceeds the refundable amount.
    RefundExceedsRefundable,
    /// 90000000 rate-limited or restricted.
    RateLimited,
    /// 98888888 upstream channel error.
    ChannelError,
    /// 99999999 internal error.
    InternalError,
}

impl RespCode {
    /// Every code, in the order API.md lists them.
    pub const ALL: [RespCode; 14] = [
        RespCode::Success,
        RespCode::Processing,
        RespCode::ParamError,
        RespCode::SignatureInvalid,
        RespCode::UnknownSysId,
        RespCode::DuplicateRequest,
        RespCode::MerchantNotAllowed,
        RespCode::PaymentMethodNotOpened,
        RespCode::OriginalTradeNotFound,
        RespCode::TradeStateNotAllowed,
        RespCode::RefundExceedsRefundable,
        RespCode::RateLimited,
        RespCode::ChannelError,
        RespCode::InternalError,
    ];

    /// The eight-digit code string, e.g. "00000000".
    pub fn code(self) -> &'static str {
        match self {
            RespCode::Success => "00000000",
            RespCode::Processing => "00000100",
            RespCode::ParamError => "10000000",
            RespCode::SignatureInvalid => "10000001",
            RespCode::UnknownSysId => "10000002",
            RespCode::DuplicateRequest => "20000000",
            RespCode::MerchantNotAllowed => "22000000",
            RespCode::PaymentMethodNotOpened => "22000001",
            RespCode::OriginalTradeNotFound => "23000001",
            RespCode::TradeStateNotAllowed => "23000002",
            RespCode::RefundExceedsRefundable => "23000003",
            RespCode::RateLimited => "90000000",
            RespCode::ChannelError => "98888888",
            RespCode::InternalError => "99999999",
        }
    }

    /// Used when nothing more specific is known; merchants of a Chinese payment API expect Chinese.
    pub fn default_desc(self) -> &'static str {
        match self {
            RespCode::Success => "交易成功",
            RespCode::Processing => "交易处理中",
            RespCode::ParamError => "参数错误",
            RespCode::SignatureInvalid => "验签失败",
            RespCode::UnknownSysId => "系统号不存在或产品号不匹配",
            RespCode::DuplicateRequest => "重复请求",
            RespCode::MerchantNotAllowed => "商户不存在、未生效或无权操作",
            RespCode::PaymentMethodNotOpened => "商户未开通该支付方式",
            RespCode::OriginalTradeNotFound => "原交易不存在",
            RespCode::TradeStateNotAllowed => "交易状态不允许此操作",
            RespCode::RefundExceedsRefundable => "退款金额超过可退金额",
            RespCode::RateLimited => "请求过于频繁或受限",
            RespCode::ChannelError => "通道异常",
            RespCode::InternalError => "系统内部错误",
        }
    }

    /// The code string, so the shared string-enum impls (Display, serde) emit "00000000".
    pub fn as_str(self) -> &'static str {
        self.code()
    }

    /// Whether the request was accepted (`Success` or `Processing`): the caller then reads `trans_stat`.
    pub fn is_success(self) -> bool {
        matches!(self, RespCode::Success | RespCode::Processing)
    }
}

string_enum!(RespCode, CoreError::UnknownRespCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_code_is_present_once() {
        let codes: Vec<&str> = RespCode::ALL.iter().map(|c| c.code()).collect();
        let expected = [
            "00000000", "00000100", "10000000", "10000001", "10000002", "20000000", "22000000",
            "22000001", "23000001", "23000002", "23000003", "90000000", "98888888", "99999999",
        ];
        assert_eq!(codes, expected);
    }

    #[test]
    fn codes_round_trip_and_have_a_description() {
        for c in RespCode::ALL {
            assert_eq!(c.code().parse::<RespCode>().unwrap(), c);
            assert!(!c.default_desc().is_empty());
        }
        assert!("12345678".parse::<RespCode>().is_err());
    }
}
