//! Who calls the admin API: `Authorization: Bearer <token>` with either a JWT access token from
//! `POST /admin/api/session` or a named API token (`nkpadm_…`), both checked by the engine's
//! [`AdminIdentity`](nkpay_engine::AdminIdentity). Take [`AdminActor`] as a handler argument and
//! ask [`AdminActor::require`] for the permission the handler needs: no or a bad token → 401,
//! the wrong role → 403.
//!
//! The address recorded for the audit log is the TCP peer address; `X-Forwarded-For` is not
//! read yet (no trusted-proxy list is configured), so behind a proxy it is the proxy's.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures::future::LocalBoxFuture;
use nkpay_engine::{Actor, Permission};

use super::error::AdminError;
use crate::ApiState;

/// The authenticated caller of an admin call (a user or an API token, its role, an agent
/// admin's `sys_id`, the peer address).
#[derive(Debug, Clone)]
pub struct AdminActor(pub Actor);

impl AdminActor {
    /// `Ok` when the actor's role allows `permission`, else [`AdminError::Forbidden`] (403).
    pub fn require(&self, permission: Permission) -> Result<&Actor, AdminError> {
        if self.0.may(permission) {
            Ok(&self.0)
        } else {
            Err(AdminError::Forbidden(format!(
                "role {} may not {}",
                self.0.role,
                describe(permission)
            )))
        }
    }
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadNotifications => "read notifications",
        Permission::ResendNotifications => "re-send notifications",
        Permission::ManageIdentities => "manage admin users and API tokens",
        Permission::ReadServiceProviders => "read service providers",
        Permission::ManageServiceProviders => "manage service providers",
        Permission::ReadChannelAccounts => "read channel accounts",
        Permission::ManageChannelAccounts => "manage channel accounts",
    }
}

impl FromRequest for AdminActor {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<AdminActor, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        let bearer = bearer(req);
        let address = req.peer_addr().map(|a| a.ip().to_string());
        Box::pin(async move {
            let Some(state) = state else {
                tracing::error!("admin API mounted without ApiState app data");
                return Err(AdminError::Internal);
            };
            let bearer = bearer.ok_or(AdminError::Unauthorized)?;
            state
                .engine
                .admin_identity()
                .authenticate(&bearer, address)
                .await?
                .map(AdminActor)
                .ok_or(AdminError::Unauthorized)
        })
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}
