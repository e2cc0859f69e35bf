//! Static documents compiled into the worker: the browser client (always) and the
//! reference page with its scripts (only when `DEMO_PAGE=true`).

use crate::core::config::{Config, Problems};
use crate::core::error::ApiError;
use crate::edge::http::{Handled, Reply};

/// The npm package's module file itself, so `/client.js` and the package never differ.
pub const CLIENT_JS: &str = include_str!("../../../clients/js/index.js");
const PAGE_HTML: &str = include_str!("../../../static/index.html");
const PAGE_JS: &str = include_str!("../../../static/page.js");
const QR_JS: &str = include_str!("../../../static/qr.js");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// Short enough that a deploy reaches browsers within minutes.
const SCRIPT_CACHE: &str = "public, max-age=300";

/// `GET /client.js`, `/page.js`, `/qr.js`.
pub fn script(path: &str, config: &Result<Config, Problems>) -> Handled {
    let body = match path {
        "/client.js" => CLIENT_JS,
        "/page.js" if demo_on(config) => PAGE_JS,
        "/qr.js" if demo_on(config) => QR_JS,
        _ => return Err(ApiError::not_found("route")),
    };
    Ok(Reply::Asset { content_type: JAVASCRIPT, cache_control: SCRIPT_CACHE, body: body.to_string() })
}

/// `GET /`: the reference page.
pub fn page(config: &Config) -> Handled {
    if !config.web.demo_page {
        return Err(ApiError::not_found("route"));
    }
    Ok(Reply::Html(PAGE_HTML.to_string()))
}

fn demo_on(config: &Result<Config, Problems>) -> bool {
    config.as_ref().is_ok_and(|c| c.web.demo_page)
}
