//! A merchant's businesses end to end (issue 11), over real HTTP with the in-process sandbox,
//! on SQLite and PostgreSQL: busi/open's refusals (fee below the provider's floor names
//! `wx_conf_list.fee_rate`, another provider's merchant or `upper_huifu_id` → `22000000`), its
//! replay and `20000000`; WeChat opened by recording the `sub_mch_id` the sandbox issued; the
//! bindings of busi/config reaching the sandbox, `T_JSAPI` with a bound `sub_appid` paid and an
//! unbound one refused `22000001` before anything goes upstream; an unknown outcome left `P`
//! and retried, a refusal visible as `F`; busi/config/query with what WeChat reports; Alipay
//! opened through the sandboxed authorization page and callback, a used `state` refused, an
//! `A_NATIVE` trade placed with the new token, and the token refreshed; every business result
//! delivered to a local receiver.

mod onboarding_support;
mod support;

use nkpay_core::trade_type::TradeType;
use nkpay_sandbox::Faults;
use nkpay_store::fee_floors;
use nkpay_store::kinds::AdminRole;
use onboarding_support::{Receiver, token};
use serde_json::{Value, json};
use support::{MER_BARE, MER_OTHER, OTHER_SP, Platform, SP, fresh_id, today};

const OPEN: &str = "/v2/merchant/busi/open";
const CONFIG: &str = "/v2/merchant/busi/config";
const CONFIG_QUERY: &str = "/v2/merchant/busi/config/query";

/// Runs the dispatcher until the receiver got a notification whose `resp_data` holds every
/// one of `needles`, checks its signature with the platform key, and returns `resp_data`.
async fn notified(receiver: &Receiver, p: &Platform, needles: &[&str]) -> String {
    let (resp_data, sign) = receiver.wait_for(p, needles).await;
    nkpay_crypto::merchant_notify::verify_notify(
        &resp_data,
        &sign,
        &p.signer.newest().public_key(),
    )
    .expect("the notification is signed with the platform key");
    resp_data
}

/// An admin API call: (status, JSON body).
async fn admin(
    p: &Platform,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", p.base_url);
    let req = match method {
        "GET" => http.get(url),
        "PUT" => http.put(url),
        _ => http.post(url),
    }
    .bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let res = req.send().await.expect("admin call");
    let status = res.status().as_u16();
    let v = res.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn open_data(
    mer_id: &str,
    upper: &str,
    wx_rate: Option<&str>,
    ali_rate: Option<&str>,
    notify: &str,
) -> Value {
    let mut d = json!({
        "req_date": today(),
        "req_seq_id": fresh_id(),
        "huifu_id": mer_id,
        "upper_huifu_id": upper,
        "busi_async_return_url": format!("virgo://{notify}"),
    });
    if let Some(r) = wx_rate {
        d["wx_conf_list"] =
            json!([{"pay_scene": "1", "fee_rate": r}, {"pay_scene": "2", "fee_rate": r}])
                .to_string()
                .into();
    }
    if let Some(r) = ali_rate {
        d["ali_conf_list"] = json!([{"pay_scene": "1", "fee_rate": r}])
            .to_string()
            .into();
    }
    d
}

fn bind_list(reply: &support::Reply) -> Vec<Value> {
    serde_json::from_str::<Value>(reply.get("bind_list"))
        .expect("bind_list JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The Alipay authorization link of MER_BARE: (status, body).
async fn auth_link(p: &Platform, token: &str) -> (u16, Value) {
    let path = format!("/admin/api/merchants/{MER_BARE}/businesses/alipay/auth-link");
    admin(p, "GET", &path, token, None).await
}

/// A jspay for MER_BARE; WeChat trades pay under `sub_appid`.
async fn jspay(p: &Platform, trade_type: &str, sub_appid: Option<&str>) -> support::Reply {
    let extra = match sub_appid {
        Some(appid) => {
            json!({"wx_data": json!({"sub_appid": appid, "sub_openid": "oBare1"}).to_string()})
        }
        None => json!({}),
    };
    p.sp.call(
        "/v2/trade/payment/jspay",
        p.jspay_data(MER_BARE, trade_type, extra),
    )
    .await
}

/// A busi/config for MER_BARE with `fields` beside the request's ids and `fee_type`.
async fn config_call(p: &Platform, fields: Value) -> support::Reply {
    let mut data = json!({"req_date": today(), "req_seq_id": fresh_id(), "huifu_id": MER_BARE, "fee_type": "02"});
    if let (Value::Object(d), Value::Object(f)) = (&mut data, fields) {
        d.extend(f);
    }
    p.sp.call(CONFIG, data).await
}

/// Makes every pending Alipay authorization link of the test database expired.
async fn expire_auth_links(p: &Platform) {
    use nkpay_store::entity::merchant_channel;
    use nkpay_store::sea_orm::sea_query::Expr;
    use nkpay_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    merchant_channel::Entity::update_many()
        .col_expr(
            merchant_channel::Column::AliAuthStateExpiresAt,
            Expr::value(past),
        )
        .filter(merchant_channel::Column::AliAuthStateHash.is_not_null())
        .exec(p.db.conn())
        .await
        .expect("expire links");
}

async fn set_apply_status(p: &Platform, mer_id: &str, status: &str) {
    use nkpay_store::entity::merchant;
    use nkpay_store::sea_orm::sea_query::Expr;
    use nkpay_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    merchant::Entity::update_many()
        .col_expr(merchant::Column::ApplyStatus, Expr::value(status))
        .filter(merchant::Column::MerId.eq(mer_id))
        .exec(p.db.conn())
        .await
        .expect("apply status");
}

async fn set_floors(p: &Platform) {
    for (t, bp) in [
        (TradeType::TJsapi, 30),
        (TradeType::TMiniapp, 25),
        (TradeType::ANative, 50),
    ] {
        fee_floors::set(p.db.conn(), SP, t, bp, chrono::Utc::now())
            .await
            .expect("floor");
    }
}

#[actix_web::test]
async fn busi_open_checks_floor_and_scope_and_replays_the_first_answer() {
    // The merchant's review state is set in the database behind the engine's back below, so
    // the engine reads callers and their merchants on every request.
    let config = nkpay_engine::EngineConfig {
        merchant_refresh: std::time::Duration::ZERO,
        ..support::test_config()
    };
    for p in Platform::all_with(config).await {
        set_floors(&p).await;
        let low =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, Some("0.20"), None, "http://127.0.0.1:9/n"),
            )
            .await;
        assert_eq!(low.code(), "10000000", "{}: {:?}", p.label, low.data);
        assert!(
            low.desc().starts_with("wx_conf_list.fee_rate格式错误"),
            "{}",
            low.desc()
        );
        assert!(low.desc().contains("0.30"), "{}", low.desc());

        let low_ali =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, None, Some("0.49"), "http://127.0.0.1:9/n"),
            )
            .await;
        assert!(
            low_ali.desc().starts_with("ali_conf_list.fee_rate"),
            "{}",
            low_ali.desc()
        );

        let bad_rate =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, Some("0.385"), None, "http://127.0.0.1:9/n"),
            )
            .await;
        assert!(
            bad_rate.desc().starts_with("wx_conf_list.fee_rate格式错误"),
            "{}",
            bad_rate.desc()
        );

        // Another provider's merchant, another provider named as upper_huifu_id, a merchant
        // calling for itself (its service provider opens), another provider calling.
        for (who, client, mer_id, upper) in [
            ("foreign merchant", &p.sp, MER_OTHER, SP),
            ("other upper_huifu_id", &p.sp, MER_BARE, OTHER_SP),
            ("merchant itself", &p.mer_b, support::MER_B, SP),
            ("other provider", &p.other_sp, MER_BARE, OTHER_SP),
        ] {
            let data = open_data(mer_id, upper, Some("0.38"), None, "http://127.0.0.1:9/n");
            let refused = client.call(OPEN, data).await;
            assert_eq!(
                refused.code(),
                "22000000",
                "{} {who}: {:?}",
                p.label,
                refused.data
            );
        }

        // A merchant whose application is not approved yet opens nothing.
        set_apply_status(&p, MER_BARE, "P").await;
        let unapproved =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, Some("0.38"), None, "http://127.0.0.1:9/n"),
            )
            .await;
        assert_eq!(
            unapproved.code(),
            "22000000",
            "{}: {:?}",
            p.label,
            unapproved.data
        );
        set_apply_status(&p, MER_BARE, "Y").await;

        let data = open_data(
            MER_BARE,
            SP,
            Some("0.38"),
            Some("0.60"),
            "http://127.0.0.1:9/n",
        );
        let first = p.sp.call(OPEN, data.clone()).await;
        assert_eq!(first.code(), "00000000", "{}: {:?}", p.label, first.data);
        assert_eq!(first.get("wx_busi_stat"), "P");
        assert_eq!(first.get("ali_busi_stat"), "P");
        assert_eq!(first.get("huifu_id"), MER_BARE);
        let again = p.sp.call(OPEN, data.clone()).await;
        assert_eq!(
            again.data, first.data,
            "{}: a replay answers the first answer",
            p.label
        );
        let mut changed = data.clone();
        changed["ali_conf_list"] = json!([{"pay_scene": "1", "fee_rate": "0.70"}])
            .to_string()
            .into();
        let conflict = p.sp.call(OPEN, changed).await;
        assert_eq!(conflict.code(), "20000000", "{}", p.label);

        // Not open yet: no trade on either channel.
        let closed = jspay(&p, "A_NATIVE", None).await;
        assert_eq!(closed.code(), "22000001", "{}: {:?}", p.label, closed.data);
        p.stop().await;
    }
}

#[actix_web::test]
async fn wechat_opens_with_the_issued_sub_mch_id_and_binds_in_order() {
    for p in Platform::all().await {
        let receiver = Receiver::start().await;
        set_floors(&p).await;
        let opened =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, Some("0.38"), None, &receiver.url),
            )
            .await;
        assert_eq!(
            opened.get("wx_busi_stat"),
            "P",
            "{}: {:?}",
            p.label,
            opened.data
        );

        // busi/config needs the open business.
        let early = config_call(&p, json!({"wx_woa_app_id": "wxbare0000000000a1"})).await;
        assert_eq!(early.code(), "22000001", "{}: {:?}", p.label, early.data);

        // WeChat may refuse the merchant: the operator records it (F, notified with the
        // reason); finance may not; a number WeChat issues later still opens the business.
        let refusal = format!("/admin/api/merchants/{MER_BARE}/businesses/wechat/refusal");
        let operator = token(&p, AdminRole::Operator, None).await;
        let (status, body) = admin(
            &p,
            "POST",
            &refusal,
            &operator,
            Some(json!({"reason": "  "})),
        )
        .await;
        assert_eq!(status, 400, "{}: {body}", p.label);
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("reason"),
            "{body}"
        );
        let finance_refuses = token(&p, AdminRole::Finance, None).await;
        let reason = json!({"reason": "营业执照与主体不符"});
        let (status, _) = admin(&p, "POST", &refusal, &finance_refuses, Some(reason.clone())).await;
        assert_eq!(status, 403, "{}", p.label);
        let (status, body) = admin(&p, "POST", &refusal, &operator, Some(reason.clone())).await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(body["state"], "F", "{}: {body}", p.label);
        let refused = notified(
            &receiver,
            &p,
            &["\"busi_stat\":\"F\"", "营业执照与主体不符"],
        )
        .await;
        assert!(refused.contains("\"busi_type\":\"wechat\""), "{refused}");
        let alipay_refusal = format!("/admin/api/merchants/{MER_BARE}/businesses/alipay/refusal");
        let (status, body) =
            admin(&p, "POST", &alipay_refusal, &operator, Some(reason.clone())).await;
        assert_eq!(status, 400, "busi/open did not ask for Alipay: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("channel"),
            "{body}"
        );

        let issued = p
            .sandbox_post(
                "/sandbox/wechat/sub-merchants",
                json!({"mch_id": p.wechat_mch_id, "name": "bare shop"}),
            )
            .await;
        let sub_mch_id = issued["sub_mch_id"]
            .as_str()
            .expect("sub_mch_id")
            .to_owned();

        let path = format!("/admin/api/merchants/{MER_BARE}/businesses/wechat");
        let finance = token(&p, AdminRole::Finance, None).await;
        let (status, _) = admin(
            &p,
            "PUT",
            &path,
            &finance,
            Some(json!({"sub_mch_id": sub_mch_id})),
        )
        .await;
        assert_eq!(status, 403, "{}", p.label);
        let other_agent = token(&p, AdminRole::AgentAdmin, Some(OTHER_SP)).await;
        let (status, _) = admin(
            &p,
            "PUT",
            &path,
            &other_agent,
            Some(json!({"sub_mch_id": sub_mch_id})),
        )
        .await;
        assert_eq!(status, 404, "{}", p.label);
        let agent = token(&p, AdminRole::AgentAdmin, Some(SP)).await;
        let (status, body) = admin(
            &p,
            "PUT",
            &path,
            &agent,
            Some(json!({"sub_mch_id": "12ab"})),
        )
        .await;
        assert_eq!(status, 400, "{}", p.label);
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("sub_mch_id"),
            "{body}"
        );
        let (status, body) = admin(
            &p,
            "PUT",
            &path,
            &agent,
            Some(json!({"sub_mch_id": sub_mch_id})),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(body["state"], "S");
        let audit = nkpay_store::audit_log::page(p.db.conn(), i64::MAX, 50)
            .await
            .expect("audit");
        assert!(
            audit
                .iter()
                .any(|a| a.action == "business.wechat.sub_mch_id"),
            "{}: audited",
            p.label
        );
        assert!(
            audit.iter().any(|a| a.action == "business.refused"),
            "{}: the refusal audited",
            p.label
        );
        // An open business is never refused.
        let (status, body) = admin(&p, "POST", &refusal, &operator, Some(reason)).await;
        assert_eq!(status, 400, "{}: {body}", p.label);
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("channel"),
            "{body}"
        );
        let notice = notified(
            &receiver,
            &p,
            &["BUSINESS", MER_BARE, &sub_mch_id, "busi_stat"],
        )
        .await;
        assert!(notice.contains("wechat"), "{notice}");

        // Bind a directory and an official account.
        let dir = "https://bare.example/pay/";
        let mp = "wxbare0000000000a1";
        let config = config_call(&p, json!({"wx_woa_path": dir, "wx_woa_app_id": mp})).await;
        assert_eq!(config.code(), "00000000", "{}: {:?}", p.label, config.data);
        assert_eq!(config.get("config_stat"), "S", "{:?}", config.data);
        let list = bind_list(&config);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["bind_type"], "wx_woa_path");
        assert_eq!(list[1]["bind_type"], "wx_woa_app_id");
        let sandbox = p.state().wechat.sub_dev_configs[&sub_mch_id].clone();
        assert_eq!(sandbox.jsapi_paths, vec![dir.to_owned()]);
        assert_eq!(sandbox.appids, vec![mp.to_owned()]);
        assert_eq!(sandbox.addsubdevconfig_calls, 2);
        notified(&receiver, &p, &["BUSINESS", "wechat_config", mp]).await;

        // The bound sub_appid pays; an unbound one is refused before anything goes upstream.
        let paid = jspay(&p, "T_JSAPI", Some(mp)).await;
        assert_eq!(paid.code(), "00000100", "{}: {:?}", p.label, paid.data);
        let calls_before: u32 = p.state().wechat.unifiedorder_calls.values().sum();
        let unbound = jspay(&p, "T_JSAPI", Some("wxbare0000000000z9")).await;
        assert_eq!(
            unbound.code(),
            "22000001",
            "{}: {:?}",
            p.label,
            unbound.data
        );
        let calls_after: u32 = p.state().wechat.unifiedorder_calls.values().sum();
        assert_eq!(
            calls_before, calls_after,
            "{}: nothing went upstream",
            p.label
        );

        // An unknown outcome stays P and the retry binds it; a refusal is visible as F.
        p.set_faults(Faults {
            system_error_times: 1,
            apis: vec!["addsubdevconfig".into()],
            ..Faults::default()
        });
        let mini = "wxbare0000000000m1";
        let unknown = config_call(&p, json!({"wx_applet_app_id": mini})).await;
        assert_eq!(
            unknown.code(),
            "00000000",
            "{}: {:?}",
            p.label,
            unknown.data
        );
        assert_eq!(unknown.get("config_stat"), "P", "{:?}", unknown.data);
        let list = bind_list(&unknown);
        assert_eq!(list[0]["bind_stat"], "P", "{list:?}");
        p.set_faults(Faults::default());
        let refused = config_call(&p, json!({"wx_applet_app_id": "notawechatappid"})).await;
        assert_eq!(refused.get("config_stat"), "F", "{:?}", refused.data);
        let refused_list = bind_list(&refused);
        assert_eq!(refused_list[0]["bind_stat"], "F", "{refused_list:?}");
        assert_eq!(
            refused_list[0]["err_code"], "INVALID_REQUEST",
            "{refused_list:?}"
        );
        notified(
            &receiver,
            &p,
            &["wechat_config", "notawechatappid", "INVALID_REQUEST"],
        )
        .await;
        let mini_id: i64 = list[0]["bind_id"].as_str().unwrap().parse().unwrap();
        // Not bound yet: a mini-program trade with it is refused.
        let early_mini = jspay(&p, "T_MINIAPP", Some(mini)).await;
        assert_eq!(early_mini.code(), "22000001", "{}", p.label);
        let operator = token(&p, AdminRole::Operator, None).await;
        let (status, body) = admin(
            &p,
            "POST",
            &format!("/admin/api/merchants/{MER_BARE}/bindings/{mini_id}/retry"),
            &operator,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(body["state"], "S", "{body}");
        assert_eq!(body["attempts"], 2, "{body}");
        let mini_paid = jspay(&p, "T_MINIAPP", Some(mini)).await;
        assert_eq!(
            mini_paid.code(),
            "00000100",
            "{}: {:?}",
            p.label,
            mini_paid.data
        );
        // Every binding of that request is final now: its result went out.
        notified(
            &receiver,
            &p,
            &["wechat_config", mini, "\"busi_stat\":\"S\""],
        )
        .await;

        // The job leaves a fresh unknown outcome alone, then asks WeChat again.
        let businesses = p.engine.businesses();
        let settle = chrono::Duration::seconds(30);
        let sent = businesses
            .retry_pending(chrono::Utc::now(), settle, 10)
            .await
            .expect("job round");
        assert_eq!(sent, 0, "{}: not settled yet", p.label);
        let job_mini = "wxbare0000000000m2";
        p.set_faults(Faults {
            system_error_times: 1,
            apis: vec!["addsubdevconfig".into()],
            ..Faults::default()
        });
        let by_job = config_call(&p, json!({"wx_applet_app_id": job_mini})).await;
        assert_eq!(by_job.get("config_stat"), "P", "{:?}", by_job.data);
        p.set_faults(Faults::default());
        let later = chrono::Utc::now() + chrono::Duration::seconds(31);
        let sent = businesses
            .retry_pending(later, settle, 10)
            .await
            .expect("job round");
        assert_eq!(sent, 1, "{}", p.label);
        notified(
            &receiver,
            &p,
            &["wechat_config", job_mini, "\"busi_stat\":\"S\""],
        )
        .await;

        let q =
            p.sp.call(
                CONFIG_QUERY,
                json!({"req_date": today(), "req_seq_id": fresh_id(), "huifu_id": MER_BARE}),
            )
            .await;
        assert_eq!(q.code(), "00000000", "{}: {:?}", p.label, q.data);
        assert_eq!(q.get("sub_mch_id"), sub_mch_id);
        assert_eq!(bind_list(&q).len(), 5);
        let upstream: Value = serde_json::from_str(q.get("upstream_conf")).expect("upstream JSON");
        assert_eq!(upstream["source"], "wechat.querysubdevconfig");
        assert_eq!(upstream["jsapi_path_list"], json!([dir]));
        let appids = upstream["appid_config_list"].to_string();
        assert!(appids.contains(mp) && appids.contains(mini), "{upstream}");

        // The console view.
        let (status, body) = admin(
            &p,
            "GET",
            &format!("/admin/api/merchants/{MER_BARE}/businesses"),
            &finance,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", p.label);
        assert_eq!(body["bindings"].as_array().map(Vec::len), Some(5), "{body}");
        receiver.stop().await;
        p.stop().await;
    }
}

#[actix_web::test]
async fn alipay_opens_through_the_authorization_flow_and_refreshes() {
    for p in Platform::all().await {
        let receiver = Receiver::start().await;
        set_floors(&p).await;
        let opened =
            p.sp.call(
                OPEN,
                open_data(MER_BARE, SP, None, Some("0.60"), &receiver.url),
            )
            .await;
        assert_eq!(
            opened.get("ali_busi_stat"),
            "P",
            "{}: {:?}",
            p.label,
            opened.data
        );

        let agent = token(&p, AdminRole::AgentAdmin, Some(SP)).await;
        let (status, body) = auth_link(&p, &agent).await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        let url = body["url"].as_str().expect("url").to_owned();
        assert!(
            url.contains("appToAppAuth.htm") && url.contains("state="),
            "{url}"
        );

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = http
            .get(format!("{url}&sandbox_auto_authorize=true"))
            .send()
            .await
            .expect("auth page");
        assert_eq!(page.status().as_u16(), 302, "{}", p.label);
        let callback = page
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("redirect")
            .to_owned();
        assert!(
            callback.starts_with(&format!("{}/callback/alipay/app-auth?", p.base_url)),
            "{callback}"
        );
        let done = http.get(&callback).send().await.expect("callback");
        assert_eq!(done.status().as_u16(), 200, "{}", p.label);
        // The state is single use.
        let again = http.get(&callback).send().await.expect("callback again");
        assert_eq!(again.status().as_u16(), 400, "{}", p.label);
        let wrong = http
            .get(format!(
                "{}/callback/alipay/app-auth?app_id=x&app_auth_code=y&state=nope",
                p.base_url
            ))
            .send()
            .await
            .expect("wrong state");
        assert_eq!(wrong.status().as_u16(), 400, "{}", p.label);
        assert_eq!(p.state().alipay.app_auth.code_exchanges, 1, "{}", p.label);

        notified(
            &receiver,
            &p,
            &["BUSINESS", MER_BARE, "alipay", "\"busi_stat\":\"S\""],
        )
        .await;

        let paid = jspay(&p, "A_NATIVE", None).await;
        assert_eq!(paid.code(), "00000100", "{}: {:?}", p.label, paid.data);
        assert!(!paid.get("qr_code").is_empty());

        // A refresh round renews the grant; the new token pays.
        let nothing = p
            .engine
            .businesses()
            .refresh_due(chrono::Utc::now(), chrono::Duration::days(1))
            .await
            .expect("refresh");
        assert_eq!(
            nothing.refreshed, 0,
            "{}: a fresh grant is not due",
            p.label
        );
        let report = p
            .engine
            .businesses()
            .refresh_due(chrono::Utc::now(), chrono::Duration::days(400))
            .await
            .expect("refresh");
        assert_eq!(report.refreshed, 1, "{}: {report:?}", p.label);
        assert_eq!(p.state().alipay.app_auth.refresh_calls, 1);
        let paid = jspay(&p, "A_NATIVE", None).await;
        assert_eq!(paid.code(), "00000100", "{}: {:?}", p.label, paid.data);

        // An expired link is refused like a used one.
        let (_, body) = auth_link(&p, &agent).await;
        expire_auth_links(&p).await;
        let expired = http
            .get(format!(
                "{}&sandbox_auto_authorize=true",
                body["url"].as_str().expect("url")
            ))
            .send()
            .await
            .expect("auth page");
        let callback = expired
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("redirect")
            .to_owned();
        let refused = http.get(&callback).send().await.expect("callback");
        assert_eq!(refused.status().as_u16(), 400, "{}", p.label);
        assert_eq!(p.state().alipay.app_auth.code_exchanges, 1, "{}", p.label);

        // A code Alipay refuses: 502 page, the reason kept, the open business untouched.
        let (_, body) = auth_link(&p, &agent).await;
        let link = url::Url::parse(body["url"].as_str().expect("url")).expect("link");
        let pairs: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
        let bogus = http
            .get(format!("{}/callback/alipay/app-auth", p.base_url))
            .query(&[
                ("app_id", pairs["app_id"].as_str()),
                ("app_auth_code", "not-a-code"),
                ("state", pairs["state"].as_str()),
            ])
            .send()
            .await
            .expect("callback with a bad code");
        assert_eq!(bogus.status().as_u16(), 502, "{}", p.label);
        let (_, view) = admin(
            &p,
            "GET",
            &format!("/admin/api/merchants/{MER_BARE}/businesses"),
            &agent,
            None,
        )
        .await;
        let ali = view["businesses"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["channel"] == "alipay"))
            .cloned()
            .expect("alipay business");
        assert_eq!(ali["state"], "S", "{view}");
        assert!(
            ali["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("authorization not completed"),
            "{view}"
        );
        receiver.stop().await;
        p.stop().await;
    }
}
