//! The merchant's businesses (issue 11; dg-sdk 2.0.28 `V2MerchantBusiOpenRequest`,
//! `V2MerchantBusiConfigRequest`, `V2MerchantBusiConfigQueryRequest`):
//!
//! - `POST /v2/merchant/busi/open`: `huifu_id`, `upper_huifu_id` (the calling service provider),
//!   `wx_conf_list` / `ali_conf_list` — strings holding JSON arrays (as the SDKs send them) of
//!   `{"pay_scene": "…", "fee_rate": "0.38"}`, `fee_rate` in percent with at most 2 decimals —,
//!   `busi_async_return_url` (http(s), Dougong's `virgo://` prefix accepted). Reply:
//!   `huifu_id`, `wx_busi_stat` / `ali_busi_stat` (`P`/`S`/`F`), `busi_list` (JSON text).
//! - `POST /v2/merchant/busi/config`: `huifu_id`, `fee_type`, `wx_woa_app_id`, `wx_woa_path`,
//!   `wx_applet_app_id` (each one value or several separated by commas). Reply: `sub_mch_id`,
//!   `config_stat` (`S` all bound, `F` some refused, `P` some unknown), `bind_list`.
//! - `POST /v2/merchant/busi/config/query`: `huifu_id`. Reply: `wx_busi_stat`, `sub_mch_id`,
//!   `bind_list`, and `upstream_conf` — what WeChat's `querysubdevconfig` reports, marked
//!   `"source": "wechat.querysubdevconfig"`.

use nkpay_core::resp_code::RespCode;
use nkpay_engine::businesses::{
    BindingView, BusinessView, ConfEntry, ConfigAnswer, ConfigQuery, ConfigureBindings,
    OpenBusinesses, OpenedBusinesses, UpstreamConfig,
};
use serde_json::{Map, Value, json};

use nkpay_engine::businesses::is_http_url;

use super::fields::{Fields, check_id};
use super::reply::{Refusal, Reply};
use super::{OpenCall, Scoped};

/// Longest URL field, in characters (Dougong: 128 for `busi_async_return_url`; WeChat: 256
/// for a JSAPI directory).
pub const URL_MAX_CHARS: usize = 256;

/// `busi/open`.
pub struct BusiOpen;
/// `busi/config`.
pub struct BusiConfig;
/// `busi/config/query`.
pub struct BusiConfigQuery;

impl OpenCall for BusiOpen {
    type Request = OpenBusinesses;

    fn read(f: &Fields<'_>) -> Result<OpenBusinesses, Refusal> {
        let request = f.write_request()?;
        let upper = f.required("upper_huifu_id")?;
        check_id("upper_huifu_id", upper, 32)?;
        Ok(OpenBusinesses {
            request,
            upper_huifu_id: upper.to_owned(),
            wx_conf: conf_list(f, "wx_conf_list")?,
            ali_conf: conf_list(f, "ali_conf_list")?,
            notify_url: f
                .http_url("busi_async_return_url", URL_MAX_CHARS)?
                .map(str::to_owned),
        })
    }

    async fn run(s: Scoped<'_>, request: OpenBusinesses) -> Result<Map<String, Value>, Refusal> {
        let opened = s.engine.businesses().open(&s.scope, request).await?;
        Ok(open_reply(&opened))
    }
}

impl OpenCall for BusiConfig {
    type Request = ConfigureBindings;

    fn read(f: &Fields<'_>) -> Result<ConfigureBindings, Refusal> {
        let request = f.write_request()?;
        let fee_type = f.required("fee_type")?;
        check_id("fee_type", fee_type, 8)?;
        let appids = |key: &'static str| -> Result<Vec<String>, Refusal> {
            let items = list(f, key)?;
            for a in &items {
                check_id(key, a, 32)?;
            }
            Ok(items)
        };
        let paths = list(f, "wx_woa_path")?;
        for p in &paths {
            check_jsapi_path(p)?;
        }
        Ok(ConfigureBindings {
            request,
            fee_type: fee_type.to_owned(),
            jsapi_paths: paths,
            mp_appids: appids("wx_woa_app_id")?,
            miniapp_appids: appids("wx_applet_app_id")?,
        })
    }

    async fn run(s: Scoped<'_>, request: ConfigureBindings) -> Result<Map<String, Value>, Refusal> {
        let answer = s.engine.businesses().configure(&s.scope, request).await?;
        Ok(config_reply(&answer))
    }
}

impl OpenCall for BusiConfigQuery {
    type Request = ();

    fn read(f: &Fields<'_>) -> Result<(), Refusal> {
        f.request_id()?;
        Ok(())
    }

    async fn run(s: Scoped<'_>, _: ()) -> Result<Map<String, Value>, Refusal> {
        let q = s.engine.businesses().config_query(&s.scope).await?;
        Ok(query_reply(s.scope.merchant.mer_id.as_str(), &q))
    }
}

/// A conf list: a JSON array, or a string holding one; absent or empty → no entries. Each
/// entry needs `pay_scene` (1 to 16 letters, digits, `_` or `-`) and `fee_rate` (percent,
/// at most 2 decimals, 0 to 100).
fn conf_list(f: &Fields<'_>, key: &'static str) -> Result<Vec<ConfEntry>, Refusal> {
    let not_list = || Refusal::invalid(key, "must be a string holding a JSON array of objects");
    let items = match f.optional(key).map_err(|_| not_list())? {
        None => return Ok(Vec::new()),
        Some(s) => match super::fields::strict_json(s) {
            Some(Value::Array(a)) => a,
            _ => return Err(not_list()),
        },
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(obj) = item else {
            return Err(not_list());
        };
        let entry = f.nested(
            &obj,
            if key == "wx_conf_list" {
                "wx_conf_list."
            } else {
                "ali_conf_list."
            },
        );
        let pay_scene = entry.required("pay_scene")?;
        check_id(&format!("{key}.pay_scene"), pay_scene, 16)?;
        let fee_rate = match obj.get("fee_rate") {
            Some(Value::Number(n)) => n.to_string(),
            _ => entry.required("fee_rate")?.to_owned(),
        };
        let fee_rate_bp = nkpay_core::fee_rate::parse_percent(&fee_rate).ok_or_else(|| {
            Refusal::invalid(
                format!("{key}.fee_rate"),
                "must be a percentage with at most 2 decimals, 0.00 to 100.00",
            )
        })?;
        out.push(ConfEntry {
            pay_scene: pay_scene.to_owned(),
            fee_rate_bp,
        });
    }
    Ok(out)
}

/// One value or several separated by commas, trimmed, duplicates dropped.
fn list(f: &Fields<'_>, key: &'static str) -> Result<Vec<String>, Refusal> {
    let raw: Vec<String> = f
        .optional(key)?
        .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect())
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for v in raw.into_iter().filter(|v| !v.is_empty()) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// WeChat's JSAPI directory rule: `http(s)://`, ends with `/`, at most 256 characters.
fn check_jsapi_path(path: &str) -> Result<(), Refusal> {
    let ok =
        path.chars().count() <= URL_MAX_CHARS && path.ends_with('/') && is_http_url(path, true);
    if !ok {
        return Err(Refusal::invalid(
            "wx_woa_path",
            "must be an http(s) URL ending with / (at most 256 characters)",
        ));
    }
    Ok(())
}

fn business_json(b: &BusinessView) -> Value {
    json!({
        "busi_type": b.channel,
        "busi_stat": b.state,
        "fee_rate": b.fee_rate,
        "pay_scene": b.pay_scenes,
        "sub_mch_id": b.sub_mch_id,
        "auth_app_id": b.auth_app_id,
        "reason": b.reason,
    })
}

fn binding_json(b: &BindingView) -> Value {
    json!({
        "bind_id": b.id.to_string(),
        "bind_type": match b.kind.as_str() {
            "jsapi_path" => "wx_woa_path",
            "mp_appid" => "wx_woa_app_id",
            _ => "wx_applet_app_id",
        },
        "value": b.value,
        "bind_stat": b.state,
        "err_code": b.err_code,
        "err_msg": b.err_msg,
        "req_date": b.req_date,
        "req_seq_id": b.req_seq_id,
    })
}

fn stat_of(businesses: &[BusinessView], channel: &str) -> Option<String> {
    businesses
        .iter()
        .find(|b| b.channel == channel)
        .map(|b| b.state.clone())
}

/// busi/open's reply.
pub fn open_reply(o: &OpenedBusinesses) -> Map<String, Value> {
    let mut d = Reply::with_code(
        RespCode::Success,
        "业务开通申请已受理: each business has its own state (busi_stat)",
    );
    d.set("huifu_id", &o.mer_id)
        .set("req_date", &o.req_date)
        .set("req_seq_id", &o.req_seq_id)
        .set_opt("wx_busi_stat", stat_of(&o.businesses, "wechat"))
        .set_opt("ali_busi_stat", stat_of(&o.businesses, "alipay"))
        .set(
            "busi_list",
            Value::from(o.businesses.iter().map(business_json).collect::<Vec<_>>()).to_string(),
        );
    d.into_map()
}

/// busi/config's reply.
pub fn config_reply(a: &ConfigAnswer) -> Map<String, Value> {
    let stat = if a.bindings.iter().any(|b| b.state == "P") {
        "P"
    } else if a.bindings.iter().all(|b| b.state == "S") {
        "S"
    } else {
        "F"
    };
    let desc = match stat {
        "S" => "配置成功",
        "P" => "配置处理中: some calls to WeChat had no answer yet; they are retried",
        _ => "部分配置失败: see bind_list for WeChat's refusal of each item",
    };
    let mut d = Reply::with_code(RespCode::Success, desc);
    d.set("huifu_id", &a.mer_id)
        .set("req_date", &a.req_date)
        .set("req_seq_id", &a.req_seq_id)
        .set("sub_mch_id", &a.sub_mch_id)
        .set("config_stat", stat)
        .set(
            "bind_list",
            Value::from(a.bindings.iter().map(binding_json).collect::<Vec<_>>()).to_string(),
        );
    d.into_map()
}

/// busi/config/query's reply.
pub fn query_reply(mer_id: &str, q: &ConfigQuery) -> Map<String, Value> {
    let mut d = Reply::with_code(RespCode::Success, "查询成功");
    d.set("huifu_id", mer_id)
        .set("wx_busi_stat", &q.business.state)
        .set_opt("sub_mch_id", q.business.sub_mch_id.clone())
        .set(
            "bind_list",
            Value::from(q.bindings.iter().map(binding_json).collect::<Vec<_>>()).to_string(),
        );
    if let Some(up) = &q.upstream {
        let v = match up {
            UpstreamConfig::Read {
                jsapi_paths,
                sub_appids,
            } => json!({
                "source": "wechat.querysubdevconfig",
                "jsapi_path_list": jsapi_paths,
                "appid_config_list": sub_appids,
            }),
            UpstreamConfig::Unavailable(reason) => json!({
                "source": "wechat.querysubdevconfig",
                "error": reason,
            }),
        };
        d.set("upstream_conf", v.to_string());
    }
    d.into_map()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsapi_path_is_http_and_ends_with_slash() {
        assert!(check_jsapi_path("https://shop.example/pay/").is_ok());
        for bad in [
            "https://shop.example/pay",
            "ftp://x.example/",
            "shop.example/pay/",
        ] {
            let err = check_jsapi_path(bad).unwrap_err();
            assert!(err.desc.starts_with("wx_woa_path格式错误"), "{bad}");
        }
    }
}
