//! Alipay third-party app authorization (第三方应用授权): the page a merchant opens to grant the
//! ISV app, `alipay.open.auth.token.app` (authorization code or refresh token → tokens) and
//! `alipay.open.auth.token.app.query` (what a token is worth).
//!
//! Source: Alipay open-platform documents 第三方应用授权 and the two methods' pages: the page is
//! `https://openauth.alipay.com/oauth2/appToAppAuth.htm?app_id=…&redirect_uri=…[&state=…]`,
//! which sends the merchant back to `redirect_uri` with `app_auth_code` (and `app_id`, `state`);
//! the exchange answers `user_id`, `auth_app_id`, `app_auth_token`, `app_refresh_token`,
//! `expires_in`, `re_expires_in` (seconds), newer replies the same inside `tokens[]`; refusals are
//! `40002` `isv.code-invalid` (unknown, used or expired code) and `isv.refresh-token-invalid`.

use chrono::{DateTime, Utc};
use nkpay_core::secret::Secret;
use nkpay_crypto::rsa_keys::{RsaPrivateKey, RsaPublicKey};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::AlipayAccount;
use super::reply::{self, Answer};
use super::transformers::{MASK, SignedCall, masked_call};
use crate::error::ChannelError;
use crate::transport::Delivery;

pub(super) const TOKEN: &str = "alipay.open.auth.token.app";
pub(super) const TOKEN_QUERY: &str = "alipay.open.auth.token.app.query";

/// The authorization page of Alipay's production gateway.
const PRODUCTION_PAGE: &str = "https://openauth.alipay.com/oauth2/appToAppAuth.htm";

/// One merchant's grant to the ISV app, from `alipay.open.auth.token.app`.
#[derive(Debug, Clone)]
pub struct AppAuthGrant {
    /// The merchant's Alipay user id (`2088…`, 16 digits): the seller of its trades.
    pub user_id: String,
    /// The merchant's app the grant is for (`auth_app_id`).
    pub auth_app_id: String,
    /// Sent as `app_auth_token` on every call made for the merchant.
    pub app_auth_token: Secret<String>,
    /// Trades for a new `app_auth_token` ([`AlipayChannel::refresh_app_auth_token`](super::AlipayChannel::refresh_app_auth_token)); single use.
    pub app_refresh_token: Secret<String>,
    /// How long `app_auth_token` is valid, in seconds from the reply.
    pub expires_in_secs: i64,
    /// How long `app_refresh_token` is valid, in seconds from the reply.
    pub re_expires_in_secs: i64,
}

/// What `alipay.open.auth.token.app.query` says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAuthStatus {
    /// `status` is `valid`.
    pub valid: bool,
    /// The merchant's Alipay user id.
    pub user_id: String,
    /// The merchant's app the grant is for.
    pub auth_app_id: String,
    /// Seconds the token stays valid, from the reply.
    pub expires_in_secs: i64,
}

/// Where the merchant authorizes the ISV app: Alipay's page for Alipay's gateways
/// (`openapi.alipay.com` → `openauth.alipay.com`; the open-platform sandbox gateways
/// `openapi.alipaydev.com` / `openapi-sandbox.dl.alipaydev.com` → their `openauth` hosts), and for
/// any other gateway (the nkpay sandbox, `…/gateway.do`) `oauth2/appToAppAuth.htm` beside it.
pub(super) fn auth_page(gateway: &Url) -> Url {
    let alipay_host = |host: &str| match host {
        "openapi.alipay.com" => Some("openauth.alipay.com"),
        "openapi.alipaydev.com" => Some("openauth.alipaydev.com"),
        "openapi-sandbox.dl.alipaydev.com" => Some("openauth-sandbox.dl.alipaydev.com"),
        _ => None,
    };
    if let Some(page_host) = gateway.host_str().and_then(alipay_host) {
        let mut page = gateway.clone();
        if page.set_host(Some(page_host)).is_ok() {
            page.set_path("/oauth2/appToAppAuth.htm");
            page.set_query(None);
            return page;
        }
    }
    match gateway.join("oauth2/appToAppAuth.htm") {
        Ok(mut page) => {
            page.set_query(None);
            page
        }
        // A gateway URL that cannot take a relative path (cannot-be-a-base) has no page beside
        // it; Alipay's own page is the only sensible answer.
        Err(_) => Url::parse(PRODUCTION_PAGE).unwrap_or_else(|_| gateway.clone()),
    }
}

/// The page with `app_id`, `redirect_uri` and `state` (`state` left out when empty).
pub(super) fn auth_url(gateway: &Url, app_id: &str, redirect_uri: &str, state: &str) -> String {
    let mut page = auth_page(gateway);
    {
        let mut q = page.query_pairs_mut();
        q.append_pair("app_id", app_id);
        q.append_pair("redirect_uri", redirect_uri);
        if !state.is_empty() {
            q.append_pair("state", state);
        }
    }
    page.to_string()
}

#[derive(Serialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
enum TokenBiz<'a> {
    AuthorizationCode { code: &'a str },
    RefreshToken { refresh_token: &'a str },
}

pub(super) fn exchange(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    code: &str,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    if code.trim().is_empty() {
        return Err(ChannelError::invalid(
            "code",
            "is empty: the app_auth_code the authorization page sent back",
        ));
    }
    masked_call(
        account,
        key,
        TOKEN,
        &TokenBiz::AuthorizationCode { code },
        &TokenBiz::AuthorizationCode { code: MASK },
        now,
    )
}

pub(super) fn refresh(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    if refresh_token.trim().is_empty() {
        return Err(ChannelError::invalid("refresh_token", "is empty"));
    }
    masked_call(
        account,
        key,
        TOKEN,
        &TokenBiz::RefreshToken { refresh_token },
        &TokenBiz::RefreshToken {
            refresh_token: MASK,
        },
        now,
    )
}

#[derive(Serialize)]
struct QueryBiz<'a> {
    app_auth_token: &'a str,
}

pub(super) fn query(
    account: &AlipayAccount,
    key: &RsaPrivateKey,
    app_auth_token: &str,
    now: DateTime<Utc>,
) -> Result<SignedCall, ChannelError> {
    if app_auth_token.trim().is_empty() {
        return Err(ChannelError::invalid("app_auth_token", "is empty"));
    }
    masked_call(
        account,
        key,
        TOKEN_QUERY,
        &QueryBiz { app_auth_token },
        &QueryBiz {
            app_auth_token: MASK,
        },
        now,
    )
}

/// Alipay writes these numbers as JSON numbers or as strings; both are read.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(i64),
        Text(String),
    }
    match Number::deserialize(d)? {
        Number::Int(n) => Ok(n),
        Number::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("{t:?} is not a number of seconds"))),
    }
}

#[derive(Deserialize)]
struct Tokens {
    user_id: String,
    auth_app_id: String,
    app_auth_token: String,
    app_refresh_token: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
    #[serde(deserialize_with = "seconds")]
    re_expires_in: i64,
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(flatten)]
    top: Option<Tokens>,
    #[serde(default)]
    tokens: Vec<Tokens>,
}

/// A call's outcome: the value, Alipay's refusal (`code`, `message`), or `Err` — unknown.
pub(super) type Judged<T> = Result<Result<T, (String, String)>, String>;

fn answer(delivery: &Delivery, method: &str, public_key: &RsaPublicKey) -> Judged<String> {
    match reply::open(delivery, method, public_key)? {
        Answer::Success(inner) => Ok(Ok(inner)),
        Answer::Busy(reason) => Err(reason),
        Answer::Refused { code, message } => Ok(Err((code, message))),
    }
}

pub(super) fn judge_token(delivery: &Delivery, public_key: &RsaPublicKey) -> Judged<AppAuthGrant> {
    let inner = match answer(delivery, TOKEN, public_key)? {
        Ok(inner) => inner,
        Err(refused) => return Ok(Err(refused)),
    };
    let reply: TokenReply = reply::typed(&inner)?;
    let t = reply
        .top
        .or_else(|| reply.tokens.into_iter().next())
        .ok_or("reply has neither app_auth_token nor tokens[]")?;
    Ok(Ok(AppAuthGrant {
        user_id: t.user_id,
        auth_app_id: t.auth_app_id,
        app_auth_token: Secret::new(t.app_auth_token),
        app_refresh_token: Secret::new(t.app_refresh_token),
        expires_in_secs: t.expires_in,
        re_expires_in_secs: t.re_expires_in,
    }))
}

#[derive(Deserialize)]
struct QueryReply {
    user_id: String,
    auth_app_id: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
    status: String,
}

pub(super) fn judge_query(delivery: &Delivery, public_key: &RsaPublicKey) -> Judged<AppAuthStatus> {
    let inner = match answer(delivery, TOKEN_QUERY, public_key)? {
        Ok(inner) => inner,
        Err(refused) => return Ok(Err(refused)),
    };
    let r: QueryReply = reply::typed(&inner)?;
    let valid = match r.status.as_str() {
        "valid" => true,
        "invalid" => false,
        other => return Err(format!("unknown status {other:?}")),
    };
    Ok(Ok(AppAuthStatus {
        valid,
        user_id: r.user_id,
        auth_app_id: r.auth_app_id,
        expires_in_secs: r.expires_in,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(gateway: &str) -> String {
        auth_page(&Url::parse(gateway).unwrap()).to_string()
    }

    #[test]
    fn the_page_is_alipays_for_alipays_gateways_and_beside_any_other() {
        assert_eq!(
            page("https://openapi.alipay.com/gateway.do"),
            PRODUCTION_PAGE
        );
        assert_eq!(
            page("https://openapi-sandbox.dl.alipaydev.com/gateway.do"),
            "https://openauth-sandbox.dl.alipaydev.com/oauth2/appToAppAuth.htm"
        );
        assert_eq!(
            page("http://127.0.0.1:8090/gateway.do"),
            "http://127.0.0.1:8090/oauth2/appToAppAuth.htm"
        );
        assert_eq!(
            page("https://proxy.example.com/alipay/gateway.do?charset=utf-8"),
            "https://proxy.example.com/alipay/oauth2/appToAppAuth.htm"
        );
    }

    #[test]
    fn the_url_carries_app_id_the_encoded_redirect_and_state() {
        let url = auth_url(
            &Url::parse("https://openapi.alipay.com/gateway.do").unwrap(),
            "2021000000000001",
            "https://pay.example.com/alipay/authorized?m=1",
            "s 1",
        );
        assert_eq!(
            url,
            "https://openauth.alipay.com/oauth2/appToAppAuth.htm?app_id=2021000000000001&redirect_uri=https%3A%2F%2Fpay.example.com%2Falipay%2Fauthorized%3Fm%3D1&state=s+1"
        );
    }

    #[test]
    fn token_replies_are_read_from_the_top_or_from_tokens() {
        let flat = r#"{"code":"10000","msg":"Success","user_id":"2088000000000101","auth_app_id":"2021000000000101","app_auth_token":"t","app_refresh_token":"r","expires_in":31536000,"re_expires_in":"32140800"}"#;
        let r: TokenReply = reply::typed(flat).unwrap();
        let t = r.top.unwrap();
        assert_eq!((t.expires_in, t.re_expires_in), (31_536_000, 32_140_800));
        let nested = r#"{"code":"10000","msg":"Success","tokens":[{"user_id":"2088000000000101","auth_app_id":"2021000000000101","app_auth_token":"t","app_refresh_token":"r","expires_in":1,"re_expires_in":2}]}"#;
        let r: TokenReply = reply::typed(nested).unwrap();
        assert!(r.top.is_none());
        assert_eq!(r.tokens[0].app_auth_token, "t");
    }
}
