//! `GET /healthz` and the optional demo page.

use serde_json::json;

use crate::core::config::{Config, Problems};
use crate::core::error::ApiError;
use crate::edge::http::{Handled, Reply};

/// `features`: which optional features (events, analytics, callbacks, admin) are on.
pub fn healthz(config: &Result<Config, Problems>, features: serde_json::Value) -> Reply {
    match config {
        Ok(_) => Reply::Json(200, json!({ "ok": true, "version": env!("CARGO_PKG_VERSION"), "features": features })),
        Err(problems) => Reply::Json(503, json!({ "ok": false, "problems": problems, "features": features })),
    }
}

pub fn demo_page(config: &Config) -> Handled {
    if !config.demo_page {
        return Err(ApiError::not_found("route"));
    }
    Ok(Reply::Html(include_str!("../../../static/demo.html").to_string()))
}
