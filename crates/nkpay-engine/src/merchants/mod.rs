//! Merchant onboarding (进件, issue 11): a service provider's application for an enterprise
//! (`/v2/merchant/basicdata/ent`) or individual (`/indv`) merchant, the platform's review of it
//! (approve / reject, the result notified to `async_return_url`), freezing a merchant, and what
//! the merchant API and the console read about merchants and their applications.
//!
//! Forms are checked by the api (every field with its rule); here: who may apply and for whom,
//! the request id (`sys_id`, `req_date`, `req_seq_id`: onboarding has no `mer_id` yet) and its
//! replays, the `mer_id` and `apply_no` allocated, personal data sealed at rest and masked
//! everywhere else, the review rules and the audit.
//!
//! A merchant exists from its application on (`apply_status` P) but takes payments only once
//! approved (Y) and while not frozen ([`Merchants::check_may_trade`]).

mod apply;
mod personal;
mod read;
mod review;

use crate::engine::service;

pub use apply::{Applied, Apply};
pub use personal::{PersonalField, PersonalKind};
pub(crate) use read::check_may_trade;
pub use read::{ApplicationView, MerchantDetail};
pub use review::{MerchantAction, may};

service!(
    /// Merchants and their onboarding applications: apply, review, freeze, read.
    Merchants
);
