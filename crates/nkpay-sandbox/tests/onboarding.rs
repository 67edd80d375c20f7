//! Onboarding on the sandbox, spoken to directly: the control endpoint issuing sub_mch_ids, the
//! sub-merchant development configuration rules, and the Alipay app authorization refusals
//! (expired and foreign codes, grant types). The connectors' side is in
//! `nkpay-channels/tests/*_against_sandbox.rs`.

mod client;

use std::time::Duration;

use client::*;
use nkpay_crypto::wechat_sign::WechatSignType;
use nkpay_sandbox::Faults;

async fn post_sub_merchant(
    sb: &nkpay_sandbox::RunningSandbox,
    body: &str,
) -> (u16, serde_json::Value) {
    post_json(sb, "/sandbox/wechat/sub-merchants", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_issues_distinct_sub_mch_ids_to_a_known_provider_only() {
    let sb = start().await;
    let body = format!(r#"{{"mch_id":"{SP_MCH}","name":"Tea"}}"#);
    let (status, first) = post_sub_merchant(&sb, &body).await;
    assert_eq!(status, 200);
    let (_, second) = post_sub_merchant(&sb, &body).await;
    assert_ne!(first["sub_mch_id"], second["sub_mch_id"]);
    let current = sb.current_accounts();
    let subs = &current.wechat.service_providers[0].sub_merchants;
    assert_eq!(subs.len(), 4);
    assert_eq!(subs[2].name, "Tea");
    // The configuration as started is unchanged.
    assert_eq!(
        sb.accounts().wechat.service_providers[0]
            .sub_merchants
            .len(),
        2
    );

    let (status, err) = post_sub_merchant(&sb, r#"{"mch_id":"1999999999"}"#).await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("1999999999"));
    let (status, err) = post_sub_merchant(&sb, r#"{"name":"no mch_id"}"#).await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("mch_id"));
}

fn dev_config(extra: &[(&str, &str)]) -> Fields {
    let mut f = fields(&[
        ("appid", SP_APPID),
        ("mch_id", SP_MCH),
        ("sub_mch_id", SUB_MCH),
    ]);
    f.extend(fields(extra));
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsubdevconfig_takes_exactly_one_well_formed_item() {
    let sb = start().await;
    let add = "/secapi/mch/addsubdevconfig";
    let md5 = WechatSignType::Md5;
    let none = wx(&sb, add, dev_config(&[])).await;
    assert_eq!(none.err_code(md5), "LACK_PARAMS");
    let both = wx(
        &sb,
        add,
        dev_config(&[
            ("jsapi_path", "https://a.example.com/p/"),
            ("sub_appid", "wx00000000000000aa"),
        ]),
    )
    .await;
    assert_eq!(both.err_code(md5), "INVALID_REQUEST");
    for bad in [
        "https://a.example.com/p",
        "ftp://a.example.com/p/",
        "https://a.example.com/p/?q=1",
    ] {
        let r = wx(&sb, add, dev_config(&[("jsapi_path", bad)])).await;
        assert_eq!(r.err_code(md5), "INVALID_REQUEST", "{bad}");
    }
    let bad_appid = wx(&sb, add, dev_config(&[("sub_appid", "not-an-appid")])).await;
    assert_eq!(bad_appid.err_code(md5), "INVALID_REQUEST");
    // A configured appid is already bound.
    let known = wx(&sb, add, dev_config(&[("sub_appid", SUB_APPID)])).await;
    assert_eq!(known.err_code(md5), "INVALID_REQUEST");
    assert!(
        known.get("err_code_des").contains("已存在"),
        "{}",
        known.body
    );

    // HMAC-SHA256 works when the request says so.
    let mut hmac = dev_config(&[("jsapi_path", "https://a.example.com/h/")]);
    hmac.insert("nonce_str".into(), "n1".into());
    let r = wx_raw(&sb, add, to_xml(&sign_wx(hmac, WechatSignType::HmacSha256))).await;
    assert_eq!(r.err_code(WechatSignType::HmacSha256), "");

    let seen = &sb.state().wechat.sub_dev_configs[SUB_MCH];
    assert_eq!(seen.addsubdevconfig_calls, 8);
    assert_eq!(seen.jsapi_paths, ["https://a.example.com/h/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_apply_to_the_sub_dev_config_calls_by_name() {
    let sb = start().await;
    sb.set_faults(Faults {
        system_error_times: 1,
        apis: vec!["querysubdevconfig".into()],
        ..Default::default()
    })
    .unwrap();
    let query = "/secapi/mch/querysubdevconfig";
    let r = wx(&sb, query, dev_config(&[])).await;
    assert_eq!(r.err_code(WechatSignType::Md5), "SYSTEMERROR");
    let r = wx(&sb, query, dev_config(&[])).await;
    assert_eq!(r.err_code(WechatSignType::Md5), "");
    assert_eq!(r.get("jsapi_path_list"), r#"{"jsapi_path_list":[]}"#);
}

/// Authorizes the demo ISV app on the page at once; returns the code.
async fn auth_code(sb: &nkpay_sandbox::RunningSandbox) -> String {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/oauth2/appToAppAuth.htm", sb.base_url()))
        .query(&[
            ("app_id", ISV_APP_ID),
            ("redirect_uri", "https://pay.example.com/back"),
            ("sandbox_auto_authorize", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location.query_pairs().all(|(k, _)| k != "state"),
        "{location}"
    );
    location
        .query_pairs()
        .find(|(k, _)| k == "app_auth_code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

const TOKEN_METHOD: &str = "alipay.open.auth.token.app";

async fn token_call(sb: &nkpay_sandbox::RunningSandbox, biz: serde_json::Value) -> AliReply {
    let mut p = ali_params(TOKEN_METHOD, biz);
    p.remove("app_auth_token");
    ali_get(sb, &sign_ali(p, &isv_key()), &response_key(TOKEN_METHOD)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_expires_after_ten_minutes_of_channel_time() {
    // 600 channel seconds are 60 ms here.
    let sb = start_with(|c| c.time_scale = 0.0001).await;
    let code = auth_code(&sb).await;
    // The code was made before auth_code returned: 61 ms later it has expired for sure.
    tokio::time::sleep(Duration::from_millis(61)).await;
    let r = token_call(
        &sb,
        serde_json::json!({"grant_type": "authorization_code", "code": code}),
    )
    .await;
    assert_eq!(r.codes(), ("40002", "isv.code-invalid"));
    assert!(r.get("sub_msg").contains("expired"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_calls_check_their_grant_type_and_the_calling_app() {
    let sb = start().await;
    let r = token_call(&sb, serde_json::json!({"code": "x"})).await;
    assert_eq!(r.codes(), ("40001", "isv.missing-parameter"));
    let r = token_call(&sb, serde_json::json!({"grant_type": "password"})).await;
    assert_eq!(r.codes(), ("40002", "isv.grant-type-invalid"));
    let r = token_call(&sb, serde_json::json!({"grant_type": "authorization_code"})).await;
    assert_eq!(r.codes(), ("40001", "isv.missing-parameter"));
    let r = token_call(
        &sb,
        serde_json::json!({"grant_type": "refresh_token", "refresh_token": "202611BBnever"}),
    )
    .await;
    assert_eq!(r.codes(), ("40002", "isv.refresh-token-invalid"));

    let query = "alipay.open.auth.token.app.query";
    let mut p = ali_params(query, serde_json::json!({"app_auth_token": TOKEN}));
    p.remove("app_auth_token");
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), &response_key(query)).await;
    assert_eq!(r.codes().0, "10000");
    assert_eq!(r.get("status"), "valid");
    let mut p = ali_params(
        query,
        serde_json::json!({"app_auth_token": "202611BBnever"}),
    );
    p.remove("app_auth_token");
    let r = ali_get(&sb, &sign_ali(p, &isv_key()), &response_key(query)).await;
    assert_eq!(r.codes(), ("40002", "isv.invalid-app-auth-token"));

    // A code is good once.
    let code = auth_code(&sb).await;
    let ok = token_call(
        &sb,
        serde_json::json!({"grant_type": "authorization_code", "code": code}),
    )
    .await;
    assert_eq!(ok.codes().0, "10000");
    assert_eq!(ok.inner["tokens"][0]["user_id"], ok.inner["user_id"]);
    let again = token_call(
        &sb,
        serde_json::json!({"grant_type": "authorization_code", "code": code}),
    )
    .await;
    assert_eq!(again.codes(), ("40002", "isv.code-invalid"));
    assert_eq!(sb.state().alipay.app_auth.code_exchanges, 3);
}
