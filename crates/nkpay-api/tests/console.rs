//! `/console` serves the built web console (crates/nkpay-api/src/console.rs): the page at the
//! root and for every client route (SPA fallback, never cached), hashed assets with a long
//! cache, 404 for a missing asset or an escaping path, and 503 naming the build command when
//! the directory holds no build.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{App, test, web};
use nkpay_api::console::{self, ConsoleDir};

const PAGE: &str = "<!doctype html><div id=\"root\">nkpay console</div>";
const SCRIPT: &str = "console.log('app')";

/// A directory shaped like Vite's output: index.html, assets/<name>-<hash>.js, favicon.svg.
fn built_console() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("assets")).expect("assets dir");
    std::fs::write(dir.path().join("index.html"), PAGE).expect("index");
    std::fs::write(dir.path().join("assets/index-3f9a1c.js"), SCRIPT).expect("asset");
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").expect("favicon");
    dir
}

macro_rules! app {
    ($dir:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new(ConsoleDir($dir.to_path_buf())))
                .configure(console::configure),
        )
        .await
    };
}

fn header(
    resp: &actix_web::dev::ServiceResponse,
    name: actix_web::http::header::HeaderName,
) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn the_console_root_serves_index_html_uncached() {
    let dir = built_console();
    let app = app!(dir.path());
    for path in ["/console", "/console/"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CACHE_CONTROL), "no-cache", "{path}");
        assert!(
            header(&resp, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        let body = test::read_body(resp).await;
        assert_eq!(body, PAGE.as_bytes(), "{path}");
    }
}

#[actix_web::test]
async fn a_deep_link_falls_back_to_index_html() {
    let dir = built_console();
    let app = app!(dir.path());
    for path in [
        "/console/trades/0101202611290000000001",
        "/console/settings/channel-accounts",
        "/console/merchants/6666000100000001?tab=businesses",
    ] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CACHE_CONTROL), "no-cache", "{path}");
        let body = test::read_body(resp).await;
        assert_eq!(body, PAGE.as_bytes(), "{path}");
    }
}

#[actix_web::test]
async fn hashed_assets_are_cached_for_a_year_and_others_revalidate() {
    let dir = built_console();
    let app = app!(dir.path());
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/console/assets/index-3f9a1c.js")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&resp, CONTENT_TYPE).contains("javascript"));
    assert_eq!(test::read_body(resp).await, SCRIPT.as_bytes());

    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/console/favicon.svg")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, CACHE_CONTROL), "no-cache");
    assert!(header(&resp, CONTENT_TYPE).starts_with("image/svg"));
}

#[actix_web::test]
async fn a_missing_asset_or_an_escaping_path_is_404_not_the_page() {
    let dir = built_console();
    let app = app!(dir.path());
    for path in [
        "/console/assets/index-gone.js",
        "/console/..%2Fnkpay-console-secret.txt",
        "/console/../nkpay-console-secret.txt",
        "/console/assets/../../nkpay-console-secret.txt",
        "/console/.hidden",
    ] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[actix_web::test]
async fn without_a_build_the_console_answers_503_saying_how_to_build_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    let app = app!(empty.path());
    for path in ["/console", "/console/trades"] {
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body = String::from_utf8(test::read_body(resp).await.to_vec()).expect("utf-8");
        assert!(body.contains("scripts/start"), "{body}");
        assert!(body.contains("npm ci &amp;&amp; npm run build"), "{body}");
        assert!(body.contains("console.dir"), "{body}");
    }
    // Built while running: served at the next request, no restart.
    std::fs::write(empty.path().join("index.html"), PAGE).expect("index");
    let resp =
        test::call_service(&app, test::TestRequest::get().uri("/console").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}
