//! `secapi/mch/addsubdevconfig` and `secapi/mch/querysubdevconfig` (服务商子商户开发配置): bind a
//! JSAPI payment directory or an appid to a sub-merchant, and list them.
//!
//! WeChat's documents give the fields (appid, mch_id, sub_mch_id, jsapi_path | sub_appid, sign;
//! the query's `jsapi_path_list` / `appid_config_list` as JSON strings) and say at most 5
//! directories; they are silent on the codes, so the sandbox's choices (see the README):
//! `INVALID_REQUEST` for a malformed item, a 6th directory, or an item already configured
//! (`配置已存在`, which clients may read as done); `LACK_PARAMS` when neither item is given.

use super::gate::Ctx;
use super::reply::{WxError, WxResult};
use crate::state::{SandboxState, lock};

/// WeChat keeps at most this many JSAPI payment directories per sub-merchant.
const MAX_JSAPI_PATHS: usize = 5;

fn invalid(des: impl Into<String>) -> WxError {
    WxError::new("INVALID_REQUEST", des)
}

fn check_jsapi_path(path: &str) -> Result<(), WxError> {
    let n = path.chars().count();
    let http = path.starts_with("https://") || path.starts_with("http://");
    let host_ok = url::Url::parse(path).is_ok_and(|u| u.host().is_some() && u.query().is_none());
    if !http || !host_ok || !path.ends_with('/') || n > 256 {
        return Err(invalid(format!(
            "授权目录格式错误: jsapi_path {path:?} must be an http(s):// URL of a directory, ending with '/', at most 256 characters"
        )));
    }
    Ok(())
}

fn check_appid(appid: &str) -> Result<(), WxError> {
    let ok = appid.starts_with("wx")
        && appid.len() <= 32
        && appid.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(invalid(format!(
            "sub_appid格式错误: {appid:?} must be a WeChat appid (wx followed by letters and digits, at most 32 characters)"
        )));
    }
    Ok(())
}

pub(crate) fn add(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let sub = ctx.sub()?.to_owned();
    {
        let mut store = lock(&state.wechat);
        store
            .sub_dev_configs
            .entry(sub.clone())
            .or_default()
            .add_calls += 1;
    }
    match (ctx.get("jsapi_path"), ctx.get("sub_appid")) {
        (None, None) => Err(WxError::new(
            "LACK_PARAMS",
            "缺少参数: one of jsapi_path or sub_appid is required",
        )),
        (Some(_), Some(_)) => Err(invalid(
            "jsapi_path and sub_appid are configured by separate calls: give one of them",
        )),
        (Some(path), None) => {
            check_jsapi_path(path)?;
            let mut store = lock(&state.wechat);
            let config = store.sub_dev_configs.entry(sub.clone()).or_default();
            if config.jsapi_paths.iter().any(|p| p == path) {
                return Err(invalid(format!(
                    "配置已存在: jsapi_path {path} is already configured for sub_mch_id {sub}"
                )));
            }
            if config.jsapi_paths.len() >= MAX_JSAPI_PATHS {
                return Err(invalid(format!(
                    "支付授权目录已达上限: at most {MAX_JSAPI_PATHS} jsapi_path per sub_mch_id"
                )));
            }
            config.jsapi_paths.push(path.to_owned());
            Ok(Vec::new())
        }
        (None, Some(appid)) => {
            check_appid(appid)?;
            if !state.dir.bind_wechat_appid(&ctx.sp.mch_id, &sub, appid) {
                return Err(invalid(format!(
                    "配置已存在: sub_appid {appid} is already bound to sub_mch_id {sub}"
                )));
            }
            let mut store = lock(&state.wechat);
            let config = store.sub_dev_configs.entry(sub).or_default();
            config.bound_appids.push(appid.to_owned());
            Ok(Vec::new())
        }
    }
}

pub(crate) fn query(state: &SandboxState, ctx: &Ctx) -> WxResult {
    let sub = ctx.sub()?.to_owned();
    let paths = {
        let mut store = lock(&state.wechat);
        let config = store.sub_dev_configs.entry(sub.clone()).or_default();
        config.query_calls += 1;
        config.jsapi_paths.clone()
    };
    // Every appid the sub-merchant may pay under: configured at start and bound since.
    let appids: Vec<serde_json::Value> = state
        .dir
        .wechat_sp(&ctx.sp.mch_id)
        .and_then(|sp| sp.sub_merchants.into_iter().find(|m| m.sub_mch_id == sub))
        .map(|m| {
            m.all_appids()
                .map(|appid| serde_json::json!({ "sub_appid": appid, "subscribe_appid": "" }))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(vec![
        (
            "jsapi_path_list".into(),
            serde_json::json!({ "jsapi_path_list": paths }).to_string(),
        ),
        (
            "appid_config_list".into(),
            serde_json::json!({ "appid_config_list": appids }).to_string(),
        ),
    ])
}
