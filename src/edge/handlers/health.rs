//! `GET /healthz`.

use serde_json::{json, Value};

use crate::core::config::{Config, Problems};
use crate::core::health::{warnings, Degradation};
use crate::edge::clock::now_ms;
use crate::edge::http::Reply;

/// `key_problem`: a signing key the runtime refuses, named like any other setting.
/// `features`: which optional features (events, analytics, callbacks, admin) are on.
/// `degraded`: the latest send failed for a cause the operator must fix; still 200,
/// so a load balancer keeps the worker (codes by other ways, status and verify work).
pub fn healthz(
    config: &Result<Config, Problems>,
    key_problem: Option<&'static str>,
    features: &Value,
    degraded: Option<&Degradation>,
) -> Reply {
    match (config, key_problem) {
        (Ok(config), None) => {
            let mut body = json!({ "ok": true, "version": env!("CARGO_PKG_VERSION"), "features": features });
            if let Some(degraded) = degraded {
                body["degraded"] = json!([degraded.view()]);
            }
            // Settings that work but need the operator's eye ("NAME: what").
            let mut warnings = warnings(config);
            warnings.extend(config.codes.test_numbers.warnings(now_ms()));
            if !warnings.is_empty() {
                body["warnings"] = json!(warnings);
            }
            Reply::Json(200, body)
        }
        (Ok(_), Some(problem)) => Reply::Json(503, json!({ "ok": false, "problems": [problem], "features": features })),
        (Err(problems), _) => Reply::Json(503, json!({ "ok": false, "problems": problems, "features": features })),
    }
}
