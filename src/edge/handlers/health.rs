//! `GET /healthz`.

use serde_json::{json, Value};

use crate::core::config::{Config, Problems};
use crate::edge::clock::now_ms;
use crate::edge::http::Reply;

/// `key_problem`: a signing key the runtime refuses, named like any other setting.
/// `features`: which optional features (events, analytics, callbacks, admin) are on.
pub fn healthz(config: &Result<Config, Problems>, key_problem: Option<&'static str>, features: &Value) -> Reply {
    match (config, key_problem) {
        (Ok(config), None) => {
            // Settings that work but need the operator's eye ("NAME: what").
            let warnings = config.codes.test_numbers.warnings(now_ms());
            Reply::Json(
                200,
                json!({ "ok": true, "version": env!("CARGO_PKG_VERSION"), "features": features, "warnings": warnings }),
            )
        }
        (Ok(_), Some(problem)) => Reply::Json(503, json!({ "ok": false, "problems": [problem], "features": features })),
        (Err(problems), _) => Reply::Json(503, json!({ "ok": false, "problems": problems, "features": features })),
    }
}
