//! Who calls the admin API: `Authorization: Bearer <token>` with either a JWT access token from
//! `POST /admin/api/session` or a named API token (`nkpadm_…`), both checked by the engine's
//! [`AdminIdentity`](nkpay_engine::AdminIdentity). [`guard`] checks every admin request against
//! [`super::ROUTES`] before the handler runs (no or a bad token → 401, the wrong role → 403, a
//! route without a line → 404) and hands the caller to the handler as [`AdminActor`];
//! [`AdminActor::require`] lets a handler check a further permission.
//!
//! The address recorded for the audit log and counted by login throttling is
//! [`client_address`]: the TCP peer, unless the peer is one of `admin.trusted_proxies`; then
//! `X-Forwarded-For` is walked from the right, skipping trusted hops, and the first untrusted
//! hop is the client. A caller that is not a trusted proxy cannot choose its address by sending
//! the header.

use std::net::{IpAddr, SocketAddr};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, dev::Payload, web};
use futures::future::LocalBoxFuture;
use nkpay_engine::config::TrustedProxies;
use nkpay_engine::{Actor, Permission};

use super::Access;
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
                permission.describe()
            )))
        }
    }
}

/// What [`guard`] leaves for the handler: the caller, and the pattern it checked.
#[derive(Debug, Clone)]
struct Guarded {
    actor: Actor,
    pattern: String,
}

/// The admin API's gate (mounted by [`super::configure`] around every admin route): finds the
/// request's route in [`super::ROUTES`] by actix's resource map and enforces its [`Access`]
/// before any extractor or handler runs. A path no resource matches is passed on (actix
/// answers 404); a route without a line answers 404 naming the fix.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let refuse = |req: ServiceRequest, e: AdminError| {
        Ok(req.into_response(e.error_response()).map_into_right_body())
    };
    let needs = match super::access(req.method(), &pattern) {
        Some(Access::Public) => return Ok(next.call(req).await?.map_into_left_body()),
        Some(Access::Needs(permission)) => permission,
        None => {
            tracing::error!(method = %req.method(), %pattern, "admin route without an access rule in admin::ROUTES");
            let e = AdminError::NoRoute(format!("{} {pattern}", req.method()));
            return refuse(req, e);
        }
    };
    let actor = match authenticate(req.request()).await {
        Ok(actor) => actor,
        Err(e) => return refuse(req, e),
    };
    if let Err(e) = actor.require(needs) {
        return refuse(req, e);
    }
    req.extensions_mut().insert(Guarded {
        actor: actor.0,
        pattern,
    });
    Ok(next.call(req).await?.map_into_left_body())
}

/// The actor `req`'s bearer token proves: 401 ([`AdminError::Unauthorized`]) for none or a bad
/// one.
async fn authenticate(req: &HttpRequest) -> Result<AdminActor, AdminError> {
    let Some(state) = req.app_data::<web::Data<ApiState>>().cloned() else {
        tracing::error!("admin API mounted without ApiState app data");
        return Err(AdminError::Internal);
    };
    let address = client_address(req, state.engine.trusted_proxies()).map(|ip| ip.to_string());
    let bearer = bearer(req).ok_or(AdminError::Unauthorized)?;
    state
        .engine
        .admin_identity()
        .authenticate(&bearer, address)
        .await?
        .map(AdminActor)
        .ok_or(AdminError::Unauthorized)
}

impl FromRequest for AdminActor {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<AdminActor, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let guarded = req.extensions().get::<Guarded>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let Some(guarded) = guarded else {
                // Mounted outside the guard: authenticate here (the handler's own checks hold).
                return authenticate(&req).await;
            };
            // The guard found the route by path; actix routed by path and method. Were they
            // different routes, the rule checked would not be this handler's.
            if req.match_pattern().as_deref() != Some(guarded.pattern.as_str()) {
                tracing::error!(
                    checked = %guarded.pattern,
                    routed = ?req.match_pattern(),
                    "admin guard checked another route than the one routed; reorder the routes"
                );
                return Err(AdminError::Internal);
            }
            Ok(AdminActor(guarded.actor))
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

/// The address of the client behind `req`: the socket peer, unless the peer is a trusted
/// proxy; then the first untrusted hop of `X-Forwarded-For` read from the right (every
/// `X-Forwarded-For` header, in order, comma-separated). `None` when the peer is unknown (a
/// test request without one).
pub fn client_address(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(forwarded_client(peer, &forwarded, trusted))
}

/// [`client_address`]'s walk over the `X-Forwarded-For` header values (oldest hop first,
/// as proxies append). An entry that is not an address (`unknown`, garbage) stops the walk:
/// the hop that reported it is the last one known, and is answered.
pub fn forwarded_client(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    if !trusted.contains(peer) {
        return client;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop_address(hop) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            return client;
        }
    }
    client
}

/// One `X-Forwarded-For` entry as an address: `192.0.2.1`, `2001:db8::1`, or with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_sends() {
        let none = TrustedProxies::default();
        let got = forwarded_client(ip("198.51.100.7"), &["203.0.113.9"], &none);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // A caller from outside claims to be an internal proxy's client.
        let got = forwarded_client(ip("198.51.100.7"), &["10.1.2.3, 203.0.113.9"], &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The client put a forged entry first; the proxies appended what they saw.
        let got = forwarded_client(
            ip("10.0.0.2"),
            &["1.1.1.1, 203.0.113.9", "192.0.2.7, 10.0.0.1"],
            &trusted,
        );
        assert_eq!(got, ip("203.0.113.9"));
        let got = forwarded_client(ip("10.0.0.2"), &["203.0.113.9"], &trusted);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn all_hops_trusted_or_unreadable_answer_the_last_known_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let got = forwarded_client(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.1"], &trusted);
        assert_eq!(got, ip("10.0.0.9"));
        let got = forwarded_client(ip("10.0.0.2"), &[], &trusted);
        assert_eq!(got, ip("10.0.0.2"));
        let got = forwarded_client(ip("10.0.0.2"), &["unknown, 10.0.0.1"], &trusted);
        assert_eq!(got, ip("10.0.0.1"));
    }

    #[test]
    fn hops_with_ports_and_ipv6_are_read() {
        let trusted = proxies(&["2001:db8::/32", "127.0.0.1"]);
        let got = forwarded_client(
            ip("::ffff:127.0.0.1"),
            &["[2001:db9::5]:4711, 2001:db8::1"],
            &trusted,
        );
        assert_eq!(got, ip("2001:db9::5"));
        let got = forwarded_client(ip("127.0.0.1"), &["203.0.113.9:1234"], &trusted);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn a_bad_proxy_entry_is_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8", "10.0.0.300"]).unwrap_err();
        assert!(
            err.contains("entry 1") && err.contains("10.0.0.300"),
            "{err}"
        );
    }
}
