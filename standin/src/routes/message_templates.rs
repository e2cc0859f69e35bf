//! Graph's message templates, `GET`/`POST /{version}/{waba_id}/message_templates`:
//! creation under Meta's rules for authentication templates, a timed review, and the
//! paged listing.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::graph::{bearer_ok, is_version, unauthorized};
use super::{json_response, Shared};
use crate::inbox::{new_template_id, AppState};
use crate::meta_errors;
use crate::templates::{self, Template};
use crate::util::{now_ms, percent_encode};

/// Version, business account id and token, in Graph's order.
fn refuse_request(st: &AppState, method: &str, version: &str, waba_id: &str, headers: &HeaderMap) -> Option<Response> {
    if !is_version(version) {
        let path = format!("/{version}/{waba_id}/message_templates");
        return Some(json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_path(&path)));
    }
    if st.config.waba_id.as_deref().is_some_and(|expected| expected != waba_id) {
        return Some(json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_object_for(method, waba_id)));
    }
    if !bearer_ok(headers, &st.config.access_token) {
        return Some(unauthorized());
    }
    None
}

pub(super) async fn create(
    State(st): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(resp) = refuse_request(&st, "post", &version, &waba_id, &headers) {
        return resp;
    }
    let new = match templates::validate_new(&body) {
        Ok(n) => n,
        Err(refusal) => {
            eprintln!(
                "[meta-standin] template refused: ({}) {}",
                refusal.code,
                refusal.user_title.as_deref().unwrap_or(&refusal.message)
            );
            return json_response(StatusCode::BAD_REQUEST, refusal.to_json());
        }
    };
    let now = now_ms();
    let mut inner = st.lock();
    inner.settle_templates(now);
    if inner.templates.iter().any(|t| t.name == new.name && t.language == new.language) {
        eprintln!("[meta-standin] template {} ({}) already exists", new.name, new.language);
        return json_response(StatusCode::BAD_REQUEST, templates::already_exists(&new.language).to_json());
    }
    // The latest verdict scripted for this name (and language) decides the review.
    let verdict = inner
        .verdicts
        .iter()
        .rev()
        .find(|v| v.name == new.name && v.language.as_ref().is_none_or(|l| *l == new.language))
        .map(|v| (v.status.clone(), v.reason.clone()))
        .unwrap_or_else(|| ("APPROVED".into(), None));
    let template = Template {
        id: new_template_id(),
        name: new.name,
        language: new.language,
        category: new.category,
        components: new.components,
        message_send_ttl_seconds: new.message_send_ttl_seconds,
        status: "PENDING".into(),
        rejected_reason: None,
        review_ends_ms: Some(now + st.config.review_ms),
        verdict,
    };
    eprintln!("[meta-standin] template {} ({}) created, in review", template.name, template.language);
    let answer = json!({"id": template.id, "status": "PENDING", "category": template.category});
    inner.templates.push(template);
    json_response(StatusCode::OK, answer)
}

/// Graph's plain `(#100)` error for a bad query parameter.
fn bad_param(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, meta_errors::new_graph_error(message, 100, None, None, None, None))
}

pub(super) async fn list(
    State(st): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refuse_request(&st, "get", &version, &waba_id, &headers) {
        return resp;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(n @ 1..=1000)) => n,
        Some(_) => return bad_param("(#100) Param limit must be a number from 1 to 1000"),
    };
    let offset: usize = match q.get("after") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("OFFSET").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return bad_param("(#100) Invalid paging cursor"),
        },
    };
    let fields: Option<Vec<String>> =
        q.get("fields").map(|f| f.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    let matching: Vec<Value> = {
        let mut inner = st.lock();
        inner.settle_templates(now_ms());
        inner
            .templates
            .iter()
            .filter(|t| q.get("name").is_none_or(|n| &t.name == n))
            .filter(|t| q.get("language").is_none_or(|l| &t.language == l))
            .filter(|t| q.get("status").is_none_or(|s| t.status.eq_ignore_ascii_case(s)))
            .map(|t| t.to_json(fields.as_deref()))
            .collect()
    };
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let end = offset + page.len();
    let mut paging = json!({"cursors": {"before": format!("OFFSET{offset}"), "after": format!("OFFSET{end}")}});
    if end < matching.len() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let mut next = format!("http://{host}/{version}/{waba_id}/message_templates?limit={limit}&after=OFFSET{end}");
        for key in ["fields", "name", "language", "status"] {
            if let Some(v) = q.get(key) {
                next.push_str(&format!("&{key}={}", percent_encode(v)));
            }
        }
        paging["next"] = json!(next);
    }
    json_response(StatusCode::OK, json!({"data": page, "paging": paging}))
}
