//! The merchant open API (API.md): one file per endpoint — its typed request read from `data`
//! and its reply written from the engine's typed answer — and here the routes and the one way
//! every endpoint is handled: read the body (bounded) → parse the envelope → read the endpoint's
//! typed request (its form only, no I/O) → in the engine: prove the caller (`sys_id` +
//! `product_id`, `sign` with its key), check it may act for `mer_id`, run the request → write
//! and sign the reply. Every answer is signed, refusals included; only a body that is not JSON at
//! all gets a non-200 status.

pub mod basicdata;
pub mod busi;
pub mod close;
pub mod fields;
pub mod filequery;
pub mod jspay;
pub mod platform_keys;
pub mod query;
pub mod refund;
pub mod reply;

use crate::ApiState;
use crate::limits::Limits;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use futures::StreamExt;
use nkpay_core::resp_code::RespCode;
use nkpay_crypto::envelope::{self, EnvelopeError, SignedRequest};
use nkpay_engine::{Caller, Engine, Scope};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::marker::PhantomData;

use fields::Fields;
use reply::Refusal;

/// `POST` aggregate scan: create a trade.
pub const JSPAY: &str = "/v2/trade/payment/jspay";
/// `POST` query a trade.
pub const QUERY: &str = "/v2/trade/payment/scanpay/query";
/// `POST` close an unpaid trade.
pub const CLOSE: &str = "/v2/trade/payment/scanpay/close";
/// `POST` refund a paid trade.
pub const REFUND: &str = "/v2/trade/payment/scanpay/refund";
/// `POST` query a refund.
pub const REFUND_QUERY: &str = "/v2/trade/payment/scanpay/refundquery";
/// `POST` statement (对账单) files of a day, with signed download links.
pub const FILEQUERY: &str = "/v2/trade/check/filequery";

/// `POST` open a merchant's WeChat / Alipay business.
pub const BUSI_OPEN: &str = "/v2/merchant/busi/open";
/// `POST` bind JSAPI directories and appids to the merchant's WeChat sub-merchant.
pub const BUSI_CONFIG: &str = "/v2/merchant/busi/config";
/// `POST` the merchant's WeChat bindings.
pub const BUSI_CONFIG_QUERY: &str = "/v2/merchant/busi/config/query";

/// `POST` apply for an enterprise merchant (进件).
pub const BASICDATA_ENT: &str = "/v2/merchant/basicdata/ent";
/// `POST` apply for an individual merchant (进件).
pub const BASICDATA_INDV: &str = "/v2/merchant/basicdata/indv";
/// `POST` a merchant's detail.
pub const BASICDATA_QUERY: &str = "/v2/merchant/basicdata/query";
/// `POST` an application's state.
pub const BASICDATA_STATUS_QUERY: &str = "/v2/merchant/basicdata/status/query";

/// One merchant API endpoint: its path, its actix route, and a run of its `read` alone (no
/// I/O) so the fields it reads can be listed.
struct Endpoint {
    path: &'static str,
    route: fn() -> actix_web::Route,
    read: fn(&Fields<'_>),
}

/// An endpoint scoped to a merchant ([`OpenCall`]).
const fn merchant<C: OpenCall + 'static>(path: &'static str) -> Endpoint {
    Endpoint {
        path,
        route: merchant_route::<C>,
        read: merchant_read::<C>,
    }
}

fn merchant_route<C: OpenCall + 'static>() -> actix_web::Route {
    web::post().to(handle::<C>)
}

fn merchant_read<C: OpenCall>(f: &Fields<'_>) {
    let _ = f.mer_id();
    let _ = C::read(f);
}

/// An endpoint for the caller alone ([`CallerCall`]).
const fn caller<C: CallerCall + 'static>(path: &'static str) -> Endpoint {
    Endpoint {
        path,
        route: caller_route::<C>,
        read: caller_read::<C>,
    }
}

fn caller_route<C: CallerCall + 'static>() -> actix_web::Route {
    web::post().to(handle_caller::<C>)
}

fn caller_read<C: CallerCall>(f: &Fields<'_>) {
    let _ = C::read(f);
}

/// Every endpoint of the merchant API, in one table.
const ENDPOINTS: &[Endpoint] = &[
    merchant::<jspay::Jspay>(JSPAY),
    merchant::<query::Query>(QUERY),
    merchant::<close::Close>(CLOSE),
    merchant::<refund::Refund>(REFUND),
    merchant::<refund::RefundQuery>(REFUND_QUERY),
    caller::<filequery::FileQuery>(FILEQUERY),
    caller::<basicdata::ApplyEnt>(BASICDATA_ENT),
    caller::<basicdata::ApplyIndv>(BASICDATA_INDV),
    merchant::<basicdata::Query>(BASICDATA_QUERY),
    merchant::<basicdata::StatusQuery>(BASICDATA_STATUS_QUERY),
    merchant::<busi::BusiOpen>(BUSI_OPEN),
    merchant::<busi::BusiConfig>(BUSI_CONFIG),
    merchant::<busi::BusiConfigQuery>(BUSI_CONFIG_QUERY),
];

/// Mounts the merchant API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for e in ENDPOINTS {
        cfg.route(e.path, (e.route)());
    }
    cfg.route(platform_keys::PATH, web::get().to(platform_keys::list));
}

/// The path of every merchant API endpoint.
pub fn endpoint_paths() -> impl Iterator<Item = &'static str> {
    ENDPOINTS.iter().map(|e| e.path)
}

/// The `data` fields endpoint `path` looks up when reading `data` (nested ones as
/// `wx_data.openid`; with valid `data` every field its path through the rules reaches), or
/// `None` when `path` is no endpoint. For checking the field rules of the bad-input matrix
/// against what the code reads (issue 15).
pub fn fields_read(path: &str, data: &Map<String, Value>) -> Option<BTreeSet<String>> {
    let endpoint = ENDPOINTS.iter().find(|e| e.path == path)?;
    let log = RefCell::new(BTreeSet::new());
    (endpoint.read)(&Fields::tracked(data, &log));
    Some(log.into_inner())
}

/// The caller's scope and the engine, for one endpoint's run.
pub struct Scoped<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// Who calls, for which merchant (already authorized).
    pub scope: Scope,
}

/// One endpoint of the merchant API: how its `data` reads, and what it runs.
pub trait OpenCall {
    /// The typed request.
    type Request;

    /// Reads and checks the form of every field of `data` (except `mer_id`, read first by the
    /// handler), refusing with the field's name and rule.
    fn read(f: &Fields<'_>) -> Result<Self::Request, Refusal>;

    /// Runs the request in the engine and renders the reply `data` (unsigned).
    fn run(
        s: Scoped<'_>,
        request: Self::Request,
    ) -> impl Future<Output = Result<Map<String, Value>, Refusal>>;
}

/// An endpoint run for the caller alone, before any merchant exists: onboarding (进件), whose
/// request has no `mer_id`. The caller is proven by its signature as for every endpoint.
pub trait CallerCall {
    /// The typed request.
    type Request;

    /// Reads and checks the form of every field of `data`, refusing with the field's name and
    /// rule.
    fn read(f: &Fields<'_>) -> Result<Self::Request, Refusal>;

    /// Runs the request for the proven `caller` and renders the reply `data` (unsigned).
    fn run(
        engine: &Engine,
        caller: Caller,
        request: Self::Request,
    ) -> impl Future<Output = Result<Map<String, Value>, Refusal>>;
}

/// How a parsed request is run: scoped to a merchant ([`OpenCall`]) or for the caller alone
/// ([`CallerCall`]).
trait Run {
    fn run(
        engine: &Engine,
        limits: &Limits,
        request: &SignedRequest,
    ) -> impl Future<Output = Result<Map<String, Value>, Refusal>>;
}

struct ForMerchant<C>(PhantomData<C>);
struct ForCaller<C>(PhantomData<C>);

impl<C: OpenCall> Run for ForMerchant<C> {
    async fn run(
        engine: &Engine,
        limits: &Limits,
        request: &SignedRequest,
    ) -> Result<Map<String, Value>, Refusal> {
        run::<C>(engine, limits, request).await
    }
}

impl<C: CallerCall> Run for ForCaller<C> {
    /// The caller (proven by its signature, within its rate), the typed request, the run; a
    /// field's refusal is answered only once the caller is proven.
    async fn run(
        engine: &Engine,
        limits: &Limits,
        request: &SignedRequest,
    ) -> Result<Map<String, Value>, Refusal> {
        let read = C::read(&Fields::new(&request.data));
        let caller = proven_caller(engine, limits, request).await?;
        C::run(engine, caller, read?).await
    }
}

/// The actix handler of endpoint `C`.
pub async fn handle<C: OpenCall>(
    state: web::Data<ApiState>,
    payload: web::Payload,
) -> HttpResponse {
    respond::<ForMerchant<C>>(state, payload).await
}

/// The actix handler of caller-only endpoint `C`.
pub async fn handle_caller<C: CallerCall>(
    state: web::Data<ApiState>,
    payload: web::Payload,
) -> HttpResponse {
    respond::<ForCaller<C>>(state, payload).await
}

/// Reads the body (bounded), parses the envelope, runs `R`, signs the answer or the refusal —
/// with the platform key of the envelope's `sys_id` (the newest key when there is none or it is
/// no caller: `PlatformKeys::signer_for`).
async fn respond<R: Run>(state: web::Data<ApiState>, payload: web::Payload) -> HttpResponse {
    let newest = || async { reply::signer_for(&state.engine, None).await };
    let body = match read_limited(payload, state.body_limit_bytes).await {
        Ok(b) => b,
        Err(desc) => {
            return reply::signed(
                &newest().await,
                StatusCode::OK,
                reply::refusal(RespCode::ParamError, &desc, None),
            );
        }
    };
    let request = match envelope::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            // Only a body that is not JSON at all gets a non-200 status (API.md).
            let (status, code) = match e {
                EnvelopeError::NotJson(_) => (StatusCode::BAD_REQUEST, RespCode::ParamError),
                EnvelopeError::Missing("sign") => (StatusCode::OK, RespCode::SignatureInvalid),
                _ => (StatusCode::OK, RespCode::ParamError),
            };
            return reply::signed(
                &newest().await,
                status,
                reply::refusal(code, &e.to_string(), None),
            );
        }
    };
    let data = &request.data;
    let answer = R::run(&state.engine, &state.limits, &request).await;
    let signer = reply::signer_for(&state.engine, Some(&request.sys_id)).await;
    match answer {
        Ok(answer) => reply::signed(&signer, StatusCode::OK, answer),
        Err(r) => reply::signed(
            &signer,
            StatusCode::OK,
            reply::refusal(r.code, &r.desc, Some(data)),
        ),
    }
}

/// The caller proven by its signature, then counted against its rate (`90000000` over it):
/// counted only once proven, so a forged `sys_id` spends nobody's allowance.
async fn proven_caller(
    engine: &Engine,
    limits: &Limits,
    request: &SignedRequest,
) -> Result<Caller, Refusal> {
    let caller = engine.callers().verify_caller(request).await?;
    within_rate(limits, caller)
}

/// The caller counted against its rate (`90000000` over it).
fn within_rate(limits: &Limits, caller: Caller) -> Result<Caller, Refusal> {
    limits
        .check_sys_id(&caller.sys_id)
        .map_err(|desc| Refusal::new(RespCode::RateLimited, desc))?;
    Ok(caller)
}

/// The caller (proven by its signature, within its rate), the merchant scope, the typed
/// request, the run. The fields are read before the engine is entered, but a field's refusal
/// is answered only once the caller is proven: an unsigned request learns nothing.
async fn run<C: OpenCall>(
    engine: &Engine,
    limits: &Limits,
    request: &SignedRequest,
) -> Result<Map<String, Value>, Refusal> {
    let f = Fields::new(&request.data);
    let mer_id = f.mer_id();
    let read = C::read(&f);
    // The merchant comes with the caller when the caller is its service provider (one read).
    let (caller, merchant) = engine
        .callers()
        .verify_caller_for(request, mer_id.as_ref().ok().copied())
        .await?;
    let caller = within_rate(limits, caller)?;
    // The merchant scope before the fields: a caller learns nothing about another's merchant.
    let scope = engine
        .callers()
        .authorize_with(&caller, mer_id?, merchant)
        .await?;
    C::run(Scoped { engine, scope }, read?).await
}

/// The body, or why it is refused (more than `limit` bytes, cut off).
pub(crate) async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("请求报文读取失败: {e}"))?;
        if body.len() + chunk.len() > limit {
            return Err(format!(
                "请求报文过大: the body must be at most {limit} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
