//! What the service provider's console reads and does beyond the other services (issue 13):
//! trades and refunds with filters and pages, a trade's detail and timeline, a refund started
//! by an operator ([`trades`]); the dashboard's figures ([`dashboard`]); admin users and API
//! tokens, the audit log and the platform's public keys ([`identities`]).
//!
//! Who may is [`crate::Actor::may`] (issue 13's roles): [`crate::Permission::ReadTrades`] and
//! [`crate::Permission::ReadDashboard`] for every role, an agent admin narrowed here to its own
//! service provider's merchants (another's trade reads as absent); [`crate::Permission::Refund`]
//! (platform admins and operators; finance and read-only do not);
//! [`crate::Permission::ManageIdentities`] for users and tokens and [`crate::Permission::ReadAuditLog`] for
//! the audit log (platform admins); the platform's public keys are read with
//! [`crate::Permission::ReadChannelAccounts`] (the platform's settings, not an agent's).

pub mod dashboard;
pub mod identities;
pub mod trades;

use nkpay_store::kinds::AdminRole;

use crate::admin_identity::Actor;
pub(crate) use crate::admin_identity::require;
use crate::engine::service;
use crate::error::EngineError;

service!(
    /// The console's reads and its operator refund (see the module docs for who may).
    Console
);

/// The service provider an agent admin is narrowed to; `None` for roles that see all.
/// [`EngineError::Forbidden`] for an agent admin bound to none.
pub(crate) fn agent_scope(by: &Actor) -> Result<Option<String>, EngineError> {
    match by.role {
        AdminRole::AgentAdmin => by.sys_id.clone().map(Some).ok_or_else(|| {
            EngineError::Forbidden("an agent admin without a service provider".to_owned())
        }),
        _ => Ok(None),
    }
}

/// The largest page a listing answers.
pub const MAX_PAGE_SIZE: u64 = 200;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// Which rows of a listing: `size` rows (1 to [`MAX_PAGE_SIZE`]) from `offset`. Asked for as
/// a 1-based page and a size, or as an offset and a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows skipped.
    pub offset: u64,
    /// Rows per page.
    pub size: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            offset: 0,
            size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PageRequest {
    /// Page `page` (from 1, default 1) of `size` rows (default [`DEFAULT_PAGE_SIZE`]):
    /// [`EngineError::Invalid`] naming `page` (0, or so far that the offset overflows) or
    /// `size` (0 or over [`MAX_PAGE_SIZE`]).
    pub fn new(page: Option<u64>, size: Option<u64>) -> Result<PageRequest, EngineError> {
        let page = page.unwrap_or(1);
        let size = checked_size("size", size)?;
        if page == 0 {
            return Err(EngineError::invalid("page", "must be 1 or more"));
        }
        let offset = (page - 1)
            .checked_mul(size)
            .ok_or_else(|| EngineError::invalid("page", "is too large"))?;
        Ok(PageRequest { offset, size })
    }

    /// `limit` rows (default [`DEFAULT_PAGE_SIZE`]) after skipping `offset` (default 0):
    /// [`EngineError::Invalid`] naming `limit` (0 or over [`MAX_PAGE_SIZE`]).
    pub fn from_offset(
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> Result<PageRequest, EngineError> {
        Ok(PageRequest {
            offset: offset.unwrap_or(0),
            size: checked_size("limit", limit)?,
        })
    }

    /// The 1-based page these rows start (the page they fall on when `offset` is not a
    /// multiple of `size`).
    pub fn page(self) -> u64 {
        self.offset / self.size.max(1) + 1
    }

    /// The rows this page covers.
    pub(crate) fn window(self) -> nkpay_store::console_queries::Window {
        nkpay_store::console_queries::Window {
            offset: self.offset,
            limit: self.size,
        }
    }
}

fn checked_size(field: &str, size: Option<u64>) -> Result<u64, EngineError> {
    let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(EngineError::invalid(
            field,
            format!("must be 1 to {MAX_PAGE_SIZE}"),
        ))
    }
}

/// One page of a listing and how many rows match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filter, on every page.
    pub total: u64,
    /// The page asked for.
    pub page: PageRequest,
}
