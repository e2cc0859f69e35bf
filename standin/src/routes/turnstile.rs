//! Cloudflare Turnstile's `POST /turnstile/v0/siteverify`: any token passes unless it
//! is empty or starts with `fail`, so tests can ask for either outcome.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::json_response;
use crate::util::{now_ms, parse_form, rfc3339_ms};

pub(super) async fn siteverify(headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    // Cloudflare takes both a form and JSON; unreadable bodies have no fields.
    let fields: HashMap<String, String> = if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string()))).collect(),
            _ => HashMap::new(),
        }
    } else {
        parse_form(&String::from_utf8_lossy(&body)).into_iter().collect()
    };
    let secret = fields.get("secret").map(String::as_str).unwrap_or("");
    let response = fields.get("response").map(String::as_str).unwrap_or("");
    let answer = if secret.is_empty() {
        json!({"success": false, "error-codes": ["missing-input-secret"]})
    } else if response.is_empty() || response.starts_with("fail") {
        json!({"success": false, "error-codes": ["invalid-input-response"]})
    } else {
        json!({"success": true, "error-codes": [], "challenge_ts": rfc3339_ms(now_ms()), "hostname": "localhost"})
    };
    json_response(StatusCode::OK, answer)
}
