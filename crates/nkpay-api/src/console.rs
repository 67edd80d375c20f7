//! The web console (`admin-ui/`, issue 13) served at `/console`: the files Vite builds into a
//! directory (`console.dir`, default [`DEFAULT_DIR`] relative to the working directory).
//!
//! - `GET /console`, `/console/` and every client route (`/console/trades/…`) answer
//!   `index.html` with `Cache-Control: no-cache`, so a new build is picked up at the next load;
//! - files that exist answer as themselves; Vite's content-hashed `assets/…` with a year's
//!   `immutable` cache, everything else `no-cache`;
//! - a missing `assets/…` file is 404 (never the page, which a browser would run as script);
//! - when the directory holds no `index.html`, every console path answers 503 with a page saying
//!   how to build it (`scripts/start` does it). The directory is looked at per request, so a
//!   build made while nkpay runs is served without a restart.
//!
//! Paths are taken apart into plain names: a `..`, a name starting with `.`, a backslash or a NUL
//! never reaches the file system (404). Only `GET` and `HEAD` are routed.

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// Where the console is mounted.
pub const PATH: &str = "/console";
/// The built console's default directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "admin-ui/dist";
/// Cache header of Vite's content-hashed files: their name changes with their content.
const HASHED_CACHE: &str = "public, max-age=31536000, immutable";
/// Cache header of `index.html` and the other unhashed files: revalidate every time.
const NO_CACHE: &str = "no-cache";

/// The directory the console is served from (app data; absent: [`DEFAULT_DIR`]).
#[derive(Debug, Clone)]
pub struct ConsoleDir(pub PathBuf);

impl Default for ConsoleDir {
    fn default() -> Self {
        ConsoleDir(PathBuf::from(DEFAULT_DIR))
    }
}

/// Mounts `/console` and everything under it (`GET`/`HEAD`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource([PATH.to_owned(), format!("{PATH}/{{tail:.*}}")])
            .route(web::get().to(serve))
            .route(web::head().to(serve)),
    );
}

/// What a console path names inside the directory.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A relative file path made only of plain names (may not exist).
    File(PathBuf),
    /// The page itself (`/console`, `/console/`).
    Index,
    /// A name that may not be served (`..`, hidden, backslash, NUL).
    Refused,
}

fn target(tail: &str) -> Target {
    let mut path = PathBuf::new();
    for name in tail.split('/').filter(|n| !n.is_empty()) {
        if name.starts_with('.') || name.contains('\\') || name.contains('\0') {
            return Target::Refused;
        }
        path.push(name);
    }
    if path.as_os_str().is_empty() {
        Target::Index
    } else {
        Target::File(path)
    }
}

async fn serve(req: HttpRequest, dir: Option<web::Data<ConsoleDir>>) -> HttpResponse {
    let dir = dir.map_or_else(|| ConsoleDir::default().0, |d| d.0.clone());
    let index = dir.join("index.html");
    if !index.is_file() {
        return not_built(&dir);
    }
    let tail = req.match_info().get("tail").unwrap_or("");
    match target(tail) {
        Target::Refused => HttpResponse::NotFound().finish(),
        Target::Index => file(&req, &index, NO_CACHE).await,
        Target::File(rel) => {
            let path = dir.join(&rel);
            let hashed = rel.starts_with("assets");
            if path.is_file() {
                file(&req, &path, if hashed { HASHED_CACHE } else { NO_CACHE }).await
            } else if hashed {
                HttpResponse::NotFound().finish()
            } else {
                // A client route (`/console/trades/…`): the page routes it in the browser.
                file(&req, &index, NO_CACHE).await
            }
        }
    }
}

async fn file(req: &HttpRequest, path: &Path, cache: &'static str) -> HttpResponse {
    match NamedFile::open_async(path).await {
        Ok(named) => {
            let mut response = named.into_response(req);
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
            response
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "console file unreadable");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// 503 with a page saying how to build the console.
fn not_built(dir: &Path) -> HttpResponse {
    let dir = html_escape(&dir.display().to_string());
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nkpay console not built</title></head><body>\
         <h1>The console is not built</h1>\
         <p>nkpay serves the web console from <code>{dir}</code> (configuration key \
         <code>console.dir</code>), which holds no <code>index.html</code>.</p>\
         <p>Build it from the repository root with <code>scripts/start</code> (builds it when \
         missing or stale, then starts the demo), or by hand: \
         <code>cd admin-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>. \
         No restart is needed after building.</p>\
         <p>控制台尚未构建:在仓库根目录运行 <code>scripts/start</code>,或 \
         <code>cd admin-ui &amp;&amp; npm ci &amp;&amp; npm run build</code>。</p>\
         </body></html>"
    );
    HttpResponse::ServiceUnavailable()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, NO_CACHE))
        .body(body)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_become_a_relative_path() {
        assert_eq!(target(""), Target::Index);
        assert_eq!(target("/"), Target::Index);
        assert_eq!(
            target("assets/index-abc.js"),
            Target::File(PathBuf::from("assets/index-abc.js"))
        );
        assert_eq!(
            target("trades//X1/"),
            Target::File(PathBuf::from("trades/X1"))
        );
    }

    #[test]
    fn parent_hidden_and_odd_names_are_refused() {
        for tail in [
            "..",
            "a/../../etc/passwd",
            ".env",
            "assets/.git",
            "a\\b",
            "a\0b",
        ] {
            assert_eq!(target(tail), Target::Refused, "{tail:?}");
        }
    }
}
