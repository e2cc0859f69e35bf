//! `GET /healthz`.

use serde_json::json;

use crate::core::config::{Config, Problems};
use crate::edge::http::Reply;

/// `features`: which optional features (events, analytics, callbacks, admin) are on.
pub fn healthz(config: &Result<Config, Problems>, features: serde_json::Value) -> Reply {
    match config {
        Ok(_) => Reply::Json(200, json!({ "ok": true, "version": env!("CARGO_PKG_VERSION"), "features": features })),
        Err(problems) => Reply::Json(503, json!({ "ok": false, "problems": problems, "features": features })),
    }
}
