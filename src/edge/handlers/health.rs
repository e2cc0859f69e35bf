//! `GET /healthz`.

use serde_json::json;

use crate::core::config::{Config, Problems};
use crate::edge::http::Reply;

pub fn healthz(config: &Result<Config, Problems>) -> Reply {
    match config {
        Ok(_) => Reply::Json(200, json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") })),
        Err(problems) => Reply::Json(503, json!({ "ok": false, "problems": problems })),
    }
}
