//! HTTP routes: the Cloud API send endpoint, control endpoints, inbox page, Turnstile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::inbox::{new_template_id, render_html, AppState, Config, InboxMessage, Script, Verdict};
use crate::meta_errors;
use crate::templates::{self, Template};
use crate::util::{mask_phone, new_wamid, now_ms, now_secs, parse_form, phone_digits, rfc3339_ms};
use crate::validate::{template_context, validate};
use crate::webhook::{self, StatusUpdate, STATUSES};

type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(inbox_html))
        .route("/inbox", get(inbox_html))
        .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
        .route("/{version}/{object_id}/messages", post(send_message))
        .route("/{version}/{object_id}/message_templates", get(list_templates).post(create_template))
        .route("/control/fail", post(control_fail))
        .route("/control/reset", post(control_reset))
        .route("/control/inbox", get(control_inbox))
        .route("/control/webhooks", get(control_webhooks))
        .route("/control/webhook-url", post(control_webhook_url))
        .route("/control/webhook/reply", post(webhook_reply))
        .route("/control/webhook/status", post(webhook_status))
        .route("/control/webhook/raw", post(webhook_raw))
        .route("/control/templates/review", post(control_template_review))
        .route("/turnstile/v0/siteverify", post(turnstile_siteverify))
        .fallback(|| async { control_error(StatusCode::NOT_FOUND, "not_found", "No such route") })
        .method_not_allowed_fallback(|| async {
            control_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed on this route")
        })
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One line per request on stderr; the path only (queries may hold phone numbers).
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    eprintln!("[meta-standin] {method} {path} -> {} ({} ms)", resp.status().as_u16(), started.elapsed().as_millis());
    resp
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn status_code(n: u16) -> StatusCode {
    StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Errors of the stand-in's own control API: `{"error":{"code":"slug","message":…}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, json!({"error": {"code": self.code, "message": self.message}}))
    }
}

fn control_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into() }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    control_error(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// Parses a control body as a JSON object; an empty body is `{}`.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("Body must be a JSON object")),
        Err(e) => Err(bad_request(format!("Body is not valid JSON: {e}"))),
    }
}

/// A control body with only `allowed` keys.
fn control_body(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let m = parse_object(body)?;
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad_request(format!("Unknown field '{k}'; allowed: {}", allowed.join(", ")))),
        None => Ok(m),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_request(format!("'{key}' must be a string"))),
    }
}

/// Accepts a string or a number (ids, phone numbers, timestamps).
fn opt_string_or_number(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad_request(format!("'{key}' must be a string or a number"))),
    }
}

fn opt_u64(m: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| bad_request(format!("'{key}' must be a non-negative integer"))),
    }
}

fn opt_i64(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| bad_request(format!("'{key}' must be an integer"))),
    }
}

// ---------------------------------------------------------------- Cloud API

fn is_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, t)) => scheme.eq_ignore_ascii_case("bearer") && t.trim() == token,
        None => false,
    }
}

/// 401 for a missing or wrong bearer token, with the header Graph sends.
fn unauthorized() -> Response {
    let mut resp = json_response(StatusCode::UNAUTHORIZED, meta_errors::invalid_token());
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token - Cannot parse access token\"",
        ),
    );
    resp
}

async fn send_message(
    State(st): State<Shared>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_version(&version) {
        return json_response(
            StatusCode::BAD_REQUEST,
            meta_errors::unknown_path(&format!("/{version}/{phone_number_id}/messages")),
        );
    }
    if let Some(expected) = &st.config.phone_number_id {
        if expected != &phone_number_id {
            return json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_object(&phone_number_id));
        }
    }
    if !bearer_ok(&headers, &st.config.access_token) {
        return unauthorized();
    }

    // Scripts aimed at one recipient let concurrent tests script failures independently.
    let recipient = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["to"].as_str().map(|t| t.trim_start_matches('+').to_string()));
    let script = {
        let mut inner = st.lock();
        let position = inner.scripts.iter().position(|s| s.applies_to(recipient.as_deref()));
        position.and_then(|i| inner.scripts.remove(i))
    };
    if let Some(script) = script {
        if let Some(ms) = script.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if script.fails() {
            let resp = scripted_failure(&script, &body);
            eprintln!("[meta-standin] send -> scripted failure {} (code {:?})", resp.status().as_u16(), script.code);
            return resp;
        }
    }

    let acc = match validate(&body) {
        Ok(a) => a,
        Err(inv) => {
            eprintln!("[meta-standin] send rejected: ({}) {}", inv.code, inv.details);
            return json_response(StatusCode::BAD_REQUEST, meta_errors::send_error(inv.code, None, Some(&inv.details)));
        }
    };

    if let (Some(name), Some(language)) = (&acc.template_name, &acc.language) {
        let refused = {
            let mut inner = st.lock();
            inner.settle_templates(now_ms());
            templates::send_check(&inner.templates, name, language)
        };
        if let Some((code, details)) = refused {
            eprintln!("[meta-standin] send refused: ({code}) {details}");
            let status = status_code(meta_errors::lookup(code).http_status);
            return json_response(status, meta_errors::send_error(code, None, Some(&details)));
        }
    }

    let id = new_wamid(&acc.to_digits);
    let mut messages = json!({"id": id});
    if acc.kind == "template" {
        messages["message_status"] = json!("accepted");
    }
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": acc.to_input, "wa_id": acc.to_digits}],
        "messages": [messages],
    });
    eprintln!(
        "[meta-standin] send {} {} to {} accepted as {}",
        acc.kind,
        acc.template_name.as_deref().unwrap_or(""),
        mask_phone(&acc.to_digits),
        id
    );
    let msg =
        InboxMessage { id, received_at_ms: now_ms(), version, phone_number_id: phone_number_id.clone(), message: acc };
    {
        let mut inner = st.lock();
        inner.last_phone_number_id = Some(phone_number_id);
        inner.inbox.push(msg.clone());
    }
    if st.config.auto_status {
        tokio::spawn(auto_status(st.clone(), msg));
    }
    json_response(StatusCode::OK, answer)
}

fn scripted_failure(script: &Script, request_body: &[u8]) -> Response {
    if let Some(raw) = &script.raw_body {
        let status = status_code(script.http_status.unwrap_or(500));
        let ctype =
            if serde_json::from_str::<Value>(raw).is_ok() { "application/json" } else { "text/html; charset=utf-8" };
        return (status, [(header::CONTENT_TYPE, ctype)], raw.clone()).into_response();
    }
    let code = script.code.unwrap_or_else(|| meta_errors::code_for_status(script.http_status.unwrap_or(500)));
    let status = script.http_status.unwrap_or_else(|| meta_errors::lookup(code).http_status);
    let details = script.details.clone().or_else(|| {
        (code == 132_001)
            .then(|| template_context(request_body))
            .flatten()
            .map(|(name, lang)| format!("template name ({name}) does not exist in {lang}"))
    });
    json_response(status_code(status), meta_errors::send_error(code, script.message.as_deref(), details.as_deref()))
}

/// `--auto-status`: `sent` shortly after the send, `delivered` ≈200 ms later.
async fn auto_status(st: Shared, msg: InboxMessage) {
    if st.webhook_url().is_none() {
        eprintln!("[meta-standin] auto-status skipped: no --webhook-url");
        return;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    for (i, status) in ["sent", "delivered"].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let update = StatusUpdate {
            message_id: msg.id.clone(),
            recipient_id: Some(msg.to().to_string()),
            recipient_user_id: Some(webhook::user_id_for(msg.to())),
            status: status.into(),
            timestamp: now_secs(),
            biz_opaque_callback_data: msg.message.biz_opaque_callback_data.clone(),
            pricing: webhook::default_pricing(status, msg.category()),
            error_code: None,
            error_details: None,
        };
        let (body, sig) = signed(&st, &webhook::status(&st.business(), &update));
        let _ = deliver(&st, &format!("auto-status:{status}"), body, sig).await;
    }
}

// ---------------------------------------------------------------- templates

/// Version, business account id and token checks of the template routes, in Graph's order.
fn template_preamble(
    st: &AppState,
    method: &str,
    version: &str,
    waba_id: &str,
    headers: &HeaderMap,
) -> Option<Response> {
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

async fn create_template(
    State(st): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(resp) = template_preamble(&st, "post", &version, &waba_id, &headers) {
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

async fn list_templates(
    State(st): State<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = template_preamble(&st, "get", &version, &waba_id, &headers) {
        return resp;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(n @ 1..=1000)) => n,
        Some(_) => {
            let e = meta_errors::new_graph_error(
                "(#100) Param limit must be a number from 1 to 1000",
                100,
                None,
                None,
                None,
                None,
            );
            return json_response(StatusCode::BAD_REQUEST, e);
        }
    };
    let offset: usize = match q.get("after") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("OFFSET").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                let e = meta_errors::new_graph_error("(#100) Invalid paging cursor", 100, None, None, None, None);
                return json_response(StatusCode::BAD_REQUEST, e);
            }
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
                next.push_str(&format!("&{key}={}", crate::util::percent_encode(v)));
            }
        }
        paging["next"] = json!(next);
    }
    json_response(StatusCode::OK, json!({"data": page, "paging": paging}))
}

/// Sets a review outcome: at once for existing templates of that name (and language),
/// else as the verdict of a template created later.
async fn control_template_review(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let m = control_body(&body, &["name", "language", "status", "reason"])?;
    let name = opt_string(&m, "name")?.ok_or_else(|| bad_request("'name' is required"))?;
    let language = opt_string(&m, "language")?;
    let status = opt_string(&m, "status")?.ok_or_else(|| bad_request("'status' is required"))?.to_ascii_uppercase();
    if !templates::STATUSES.contains(&status.as_str()) {
        return Err(bad_request(format!("'status' must be one of {}", templates::STATUSES.join(", "))));
    }
    let reason = match opt_string(&m, "reason")?.map(|r| r.to_ascii_uppercase()) {
        Some(r) if status != "REJECTED" => return Err(bad_request(format!("'reason' ({r}) only goes with REJECTED"))),
        Some(r) if !templates::REJECTED_REASONS.contains(&r.as_str()) => {
            return Err(bad_request(format!("'reason' must be one of {}", templates::REJECTED_REASONS.join(", "))))
        }
        Some(r) => Some(r),
        None if status == "REJECTED" => Some("INVALID_FORMAT".to_string()),
        None => None,
    };
    let now = now_ms();
    let mut inner = st.lock();
    inner.settle_templates(now);
    let mut updated = Vec::new();
    for t in inner.templates.iter_mut().filter(|t| t.name == name && language.as_ref().is_none_or(|l| *l == t.language))
    {
        if status == "PENDING" {
            t.review_ends_ms = Some(now + st.config.review_ms);
            t.verdict = ("APPROVED".into(), None);
        } else {
            t.review_ends_ms = None;
        }
        t.status = status.clone();
        t.rejected_reason = reason.clone();
        updated.push(json!({"id": t.id, "name": t.name, "language": t.language, "status": t.status}));
    }
    let scripted = updated.is_empty();
    if scripted {
        inner.verdicts.push(Verdict { name, language, status, reason });
    }
    Ok(json_response(StatusCode::OK, json!({"updated": updated, "scripted": scripted})))
}

// ---------------------------------------------------------------- control

async fn control_fail(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let m = control_body(&body, &["count", "to", "code", "http_status", "delay_ms", "message", "details", "raw_body"])?;
    let count = opt_u64(&m, "count")?.unwrap_or(1);
    let http_status = match opt_u64(&m, "http_status")? {
        None => None,
        Some(s @ 100..=599) => Some(s as u16),
        Some(_) => return Err(bad_request("'http_status' must be between 100 and 599")),
    };
    let script = Script {
        to: opt_string(&m, "to")?.map(|t| t.trim_start_matches('+').to_string()),
        delay_ms: opt_u64(&m, "delay_ms")?,
        code: opt_i64(&m, "code")?,
        http_status,
        message: opt_string(&m, "message")?,
        details: opt_string(&m, "details")?,
        raw_body: opt_string(&m, "raw_body")?,
    };
    if !script.fails() && script.delay_ms.is_none() {
        return Err(bad_request("Give at least one of 'code', 'http_status', 'delay_ms', 'raw_body'"));
    }
    if !(1..=10_000).contains(&count) {
        return Err(bad_request("'count' must be between 1 and 10000"));
    }
    let queued = {
        let mut inner = st.lock();
        for _ in 0..count {
            inner.scripts.push_back(script.clone());
        }
        inner.scripts.len()
    };
    Ok(json_response(StatusCode::OK, json!({"queued": queued})))
}

async fn control_reset(State(st): State<Shared>) -> Response {
    {
        let mut inner = st.lock();
        inner.inbox.clear();
        inner.scripts.clear();
        inner.webhooks.clear();
        inner.reset_templates(&st.config);
    }
    json_response(StatusCode::OK, json!({"ok": true}))
}

/// Points deliveries somewhere else, e.g. at a worker that started after the stand-in.
async fn control_webhook_url(State(st): State<Shared>, body: Bytes) -> Response {
    let result = control_body(&body, &["url"]).and_then(|m| match opt_string(&m, "url")? {
        Some(url) if url.starts_with("http://") => Ok(url),
        _ => Err(bad_request("'url' must be a plain http:// URL".to_string())),
    });
    match result {
        Ok(url) => {
            st.lock().webhook_url = Some(url.clone());
            json_response(StatusCode::OK, json!({"webhook_url": url}))
        }
        Err(e) => e.into_response(),
    }
}

async fn control_inbox(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let want = q.get("to").map(|t| t.trim().trim_start_matches('+').to_string());
    let messages: Vec<Value> = st
        .lock()
        .inbox
        .iter()
        .filter(|m| want.as_ref().is_none_or(|w| m.to() == w))
        .map(InboxMessage::to_json)
        .collect();
    json_response(StatusCode::OK, json!({"messages": messages}))
}

async fn control_webhooks(State(st): State<Shared>) -> Response {
    let deliveries = st.lock().webhooks.clone();
    json_response(StatusCode::OK, json!({"deliveries": deliveries}))
}

async fn inbox_html(State(st): State<Shared>) -> Response {
    let messages = st.lock().inbox.clone();
    let config = Config { webhook_url: st.webhook_url(), ..st.config.clone() };
    Html(render_html(&messages, &config)).into_response()
}

// ---------------------------------------------------------------- webhooks

/// Posts one delivery and records it in the webhook log.
async fn deliver(
    st: &AppState,
    kind: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(u16, String), webhook::PostFailure> {
    let url = st.webhook_url().unwrap_or_default();
    let logged_body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let result = webhook::post(&st.http, &url, body, signature.as_deref()).await;
    let mut entry = json!({
        "at": rfc3339_ms(now_ms()),
        "kind": kind,
        "url": url,
        "signature": signature,
        "body": logged_body,
    });
    match &result {
        Ok((status, text)) => {
            entry["webhook_status"] = json!(status);
            entry["webhook_body"] = json!(text);
            eprintln!("[meta-standin] webhook {kind} -> {status}");
        }
        Err(f) => {
            entry["error"] = json!(f.message);
            eprintln!("[meta-standin] webhook {kind} failed: {}", f.message);
        }
    }
    st.log_webhook(entry);
    result
}

/// The bytes a built delivery is posted as, and their signature header.
fn signed(st: &AppState, delivery: &Value) -> (Vec<u8>, Option<String>) {
    let body = serde_json::to_vec(delivery).unwrap_or_default();
    let sig = webhook::signature_header(&st.config.app_secret, &body);
    (body, Some(sig))
}

/// The body of a `/control/webhook/*` command; 409 first when there is nowhere to post.
fn webhook_command(st: &AppState, body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    if st.webhook_url().is_none() {
        return Err(control_error(
            StatusCode::CONFLICT,
            "no_webhook_url",
            "meta-standin was started without --webhook-url (or STANDIN_WEBHOOK_URL)",
        ));
    }
    control_body(body, allowed)
}

/// The answer of every `/control/webhook/*` command.
async fn post_and_answer(
    st: &AppState,
    kind: &str,
    message_id: Option<String>,
    delivery: Value,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<Response, ApiError> {
    match deliver(st, kind, body, signature).await {
        Ok((status, text)) => Ok(json_response(
            StatusCode::OK,
            json!({"message_id": message_id, "webhook_status": status, "webhook_body": text, "delivery": delivery}),
        )),
        Err(f) if f.timed_out => Err(control_error(StatusCode::GATEWAY_TIMEOUT, "webhook_timeout", f.message)),
        Err(f) => Err(control_error(StatusCode::BAD_GATEWAY, "webhook_unreachable", f.message)),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad_request(format!("'{key}' must be true or false"))),
    }
}

fn opt_user_id(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match opt_string(m, key)? {
        Some(u) if !webhook::valid_user_id(&u) => {
            Err(bad_request(format!("'{key}' must be a BSUID like US.13491208655302741918")))
        }
        other => Ok(other),
    }
}

async fn webhook_reply(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let m = webhook_command(
        &st,
        &body,
        &["from", "text", "id", "name", "timestamp", "user_id", "no_phone", "username", "context_id"],
    )?;
    let from = match opt_string_or_number(&m, "from")? {
        Some(f) => Some(phone_digits(&f).ok_or_else(|| bad_request("'from' must be 8 to 15 digits"))?),
        None => None,
    };
    let user_id = match (opt_user_id(&m, "user_id")?, &from) {
        (Some(u), _) => u,
        (None, Some(f)) => webhook::user_id_for(f),
        (None, None) => return Err(bad_request("'from' or 'user_id' is required")),
    };
    let no_phone = opt_bool(&m, "no_phone")?.unwrap_or(false);
    let text = opt_string(&m, "text")?.ok_or_else(|| bad_request("'text' is required"))?;
    let id = opt_string(&m, "id")?.unwrap_or_else(|| new_wamid(from.as_deref().unwrap_or(&user_id)));
    let incoming = webhook::Incoming {
        from: if no_phone { None } else { from.clone() },
        user_id,
        name: opt_string(&m, "name")?.unwrap_or_else(|| "Test User".into()),
        username: opt_string(&m, "username")?,
        id: id.clone(),
        timestamp: opt_string_or_number(&m, "timestamp")?.unwrap_or_else(|| now_secs().to_string()),
        body: text,
        context: opt_string(&m, "context_id")?.map(|c| (st.business().display_phone_number, c)),
    };

    let delivery = webhook::incoming_text(&st.business(), &incoming);
    let (body, sig) = signed(&st, &delivery);
    match &incoming.from {
        Some(f) => eprintln!("[meta-standin] reply from {}", mask_phone(f)),
        None => eprintln!("[meta-standin] reply from a user id, no phone number"),
    }
    post_and_answer(&st, "reply", Some(id), delivery, body, sig).await
}

async fn webhook_status(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let m = webhook_command(
        &st,
        &body,
        &[
            "message_id",
            "recipient_id",
            "recipient_user_id",
            "no_recipient",
            "status",
            "biz_opaque_callback_data",
            "error_code",
            "error_details",
            "timestamp",
            "category",
            "billable",
            "pricing_model",
            "no_pricing",
        ],
    )?;
    let message_id = opt_string(&m, "message_id")?.ok_or_else(|| bad_request("'message_id' is required"))?;
    let status = opt_string(&m, "status")?.ok_or_else(|| bad_request("'status' is required"))?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(bad_request(format!("'status' must be one of {}", STATUSES.join(", "))));
    }
    let known = st.lock().inbox.iter().find(|x| x.id == message_id).cloned();
    let recipient = match opt_string_or_number(&m, "recipient_id")? {
        Some(r) => Some(phone_digits(&r).ok_or_else(|| bad_request("'recipient_id' must be 8 to 15 digits"))?),
        None => known.as_ref().map(|k| k.to().to_string()),
    };
    let recipient_user_id = match opt_user_id(&m, "recipient_user_id")? {
        Some(u) => Some(u),
        None => recipient.as_deref().map(webhook::user_id_for),
    };
    if recipient.is_none() && recipient_user_id.is_none() {
        return Err(bad_request("'recipient_id' or 'recipient_user_id' is required for a message id not in the inbox"));
    }
    let no_recipient = opt_bool(&m, "no_recipient")?.unwrap_or(false);
    // Absent: echo what the send carried (as Meta does); explicit null: leave it out.
    let biz_opaque_callback_data = if m.contains_key("biz_opaque_callback_data") {
        opt_string(&m, "biz_opaque_callback_data")?
    } else {
        known.as_ref().and_then(|k| k.message.biz_opaque_callback_data.clone())
    };
    let category = opt_string(&m, "category")?
        .unwrap_or_else(|| known.as_ref().map_or("authentication", |k| k.category()).to_string());
    let billable = opt_bool(&m, "billable")?;
    let pricing_model = opt_string(&m, "pricing_model")?;
    // Pricing: sent/delivered by default; any pricing field asks for it on other statuses too.
    let pricing = if opt_bool(&m, "no_pricing")?.unwrap_or(false) {
        None
    } else if billable.is_some() || pricing_model.is_some() || m.contains_key("category") {
        Some(webhook::Pricing {
            billable: billable.unwrap_or(true),
            pricing_model: pricing_model.unwrap_or_else(|| "PMP".into()),
            category: category.clone(),
        })
    } else {
        webhook::default_pricing(&status, &category)
    };
    let update = StatusUpdate {
        message_id,
        recipient_id: if no_recipient { None } else { recipient },
        recipient_user_id,
        status,
        timestamp: opt_u64(&m, "timestamp")?.unwrap_or_else(now_secs),
        biz_opaque_callback_data,
        pricing,
        error_code: opt_i64(&m, "error_code")?,
        error_details: opt_string(&m, "error_details")?,
    };

    let delivery = webhook::status(&st.business(), &update);
    let (body, sig) = signed(&st, &delivery);
    let kind = format!("status:{}", update.status);
    post_and_answer(&st, &kind, Some(update.message_id), delivery, body, sig).await
}

/// The first `messages[].id` or `statuses[].id` of a delivery, if any.
fn delivery_message_id(v: &Value) -> Option<String> {
    let value = v.get("entry")?.get(0)?.get("changes")?.get(0)?.get("value")?;
    let list = value.get("messages").or_else(|| value.get("statuses"))?;
    Some(list.get(0)?.get("id")?.as_str()?.to_string())
}

async fn webhook_raw(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let m = webhook_command(&st, &body, &["payload", "signature"])?;
    let (raw, delivery) = match m.get("payload") {
        None => return Err(bad_request("'payload' is required")),
        Some(Value::String(s)) => {
            (s.as_bytes().to_vec(), serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.clone())))
        }
        Some(v) => (serde_json::to_vec(v).unwrap_or_default(), v.clone()),
    };
    let secret = &st.config.app_secret;
    let signature = match opt_string(&m, "signature")?.as_deref() {
        None | Some("valid") => Some(webhook::signature_header(secret, &raw)),
        Some("missing") => None,
        Some("forged") => Some(webhook::signature_header(&format!("forged-{secret}"), &raw)),
        Some(literal) => Some(literal.to_string()),
    };
    let message_id = delivery_message_id(&delivery);
    post_and_answer(&st, "raw", message_id, delivery, raw, signature).await
}

// ---------------------------------------------------------------- Turnstile

async fn turnstile_siteverify(headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("v23.0"));
        assert!(is_version("v1.10"));
        for bad in ["23.0", "v23", "v23.", "v.0", "vx.0", "v23.0.1", "V23.0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(!bearer_ok(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert!(bearer_ok(&h, "tok"));
        assert!(!bearer_ok(&h, "other"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer tok"));
        assert!(bearer_ok(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("tok"));
        assert!(!bearer_ok(&h, "tok"));
    }

    #[test]
    fn scripted_failures_pick_status_and_body() {
        for (code, http_status, want) in [
            (Some(131_026), None, 400),
            (Some(190), None, 401),
            (Some(131_026), Some(500), 500),
            (None, Some(503), 503),
        ] {
            let s = Script { code, http_status, ..Default::default() };
            let got = scripted_failure(&s, b"{}").status();
            assert_eq!(got, want, "code {code:?}, http_status {http_status:?}");
        }
        let s =
            Script { raw_body: Some("<html>bad gateway</html>".into()), http_status: Some(502), ..Default::default() };
        let r = scripted_failure(&s, b"{}");
        assert_eq!(r.status(), 502);
        assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    }

    #[test]
    fn finds_message_ids_in_deliveries() {
        let v = crate::samples::load("incoming-text.json");
        assert_eq!(
            delivery_message_id(&v).as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
        );
        let v = crate::samples::load("status-read.json");
        assert!(delivery_message_id(&v).unwrap().starts_with("wamid."));
        assert_eq!(delivery_message_id(&json!({"x": 1})), None);
    }
}
