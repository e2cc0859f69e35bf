//! The control calls tests and `./dev` drive: scripted failures, reset, the inbox
//! (JSON and HTML), the webhook log and URL, and template review outcomes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::control_body::{self as field, read_body};
use super::{bad_request, json_response, ApiError, Shared};
use crate::inbox::{render_html, Config, InboxMessage, Script, Verdict};
use crate::templates;
use crate::util::now_ms;

/// `POST /control/fail`: one scripted outcome, queued `count` times.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FailBody {
    #[serde(deserialize_with = "field::non_negative_integer")]
    count: Option<u64>,
    /// Only sends to this recipient take the script.
    #[serde(deserialize_with = "field::string")]
    to: Option<String>,
    #[serde(deserialize_with = "field::integer")]
    code: Option<i64>,
    #[serde(deserialize_with = "field::non_negative_integer")]
    http_status: Option<u64>,
    #[serde(deserialize_with = "field::non_negative_integer")]
    delay_ms: Option<u64>,
    #[serde(deserialize_with = "field::string")]
    message: Option<String>,
    #[serde(deserialize_with = "field::string")]
    details: Option<String>,
    #[serde(deserialize_with = "field::string")]
    raw_body: Option<String>,
}

pub(super) async fn fail(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: FailBody = read_body(&body)?;
    let http_status = match body.http_status {
        None => None,
        Some(s @ 100..=599) => Some(s as u16),
        Some(_) => return Err(bad_request("'http_status' must be between 100 and 599")),
    };
    let script = Script {
        to: body.to.map(|t| t.trim_start_matches('+').to_string()),
        delay_ms: body.delay_ms,
        code: body.code,
        http_status,
        message: body.message,
        details: body.details,
        raw_body: body.raw_body,
    };
    if !script.fails() && script.delay_ms.is_none() {
        return Err(bad_request("Give at least one of 'code', 'http_status', 'delay_ms', 'raw_body'"));
    }
    let count = body.count.unwrap_or(1);
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

/// `POST /control/wa-id`: the WhatsApp account a recipient resolves to.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WaIdBody {
    #[serde(deserialize_with = "field::string_or_number")]
    to: Option<String>,
    /// `null` or absent: `to` is its own account again.
    #[serde(deserialize_with = "field::string_or_number")]
    wa_id: Option<String>,
}

/// Meta answers a send with the `wa_id` it resolved the recipient to, which for
/// Brazilian, Mexican and Argentine numbers is often another spelling of the number:
/// from now on sends to `to` answer with `wa_id`, and their statuses (and replies
/// quoting them without a `from`) come from it.
pub(super) async fn wa_id(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: WaIdBody = read_body(&body)?;
    let digits = |v: String, key: &str| {
        crate::util::phone_digits(&v).ok_or_else(|| bad_request(format!("'{key}' must be 8 to 15 digits")))
    };
    let to = digits(field::required(body.to, "to")?, "to")?;
    let wa_id = body.wa_id.map(|w| digits(w, "wa_id")).transpose()?;
    let mut inner = st.lock();
    match &wa_id {
        Some(w) => inner.wa_ids.insert(to.clone(), w.clone()),
        None => inner.wa_ids.remove(&to),
    };
    Ok(json_response(StatusCode::OK, json!({"to": to, "wa_id": wa_id.unwrap_or(to.clone())})))
}

/// `POST /control/reset` takes no fields; an empty body or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {}

pub(super) async fn reset(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let ResetBody {} = read_body(&body)?;
    {
        let mut inner = st.lock();
        inner.inbox.clear();
        inner.scripts.clear();
        inner.webhooks.clear();
        inner.wa_ids.clear();
        inner.account = Default::default();
        inner.sms.clear();
        inner.sms_scripts.clear();
        inner.whatsapp_outcomes.clear();
        inner.reset_templates(&st.config);
    }
    Ok(json_response(StatusCode::OK, json!({"ok": true})))
}

/// `POST /control/webhook-url`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WebhookUrlBody {
    #[serde(deserialize_with = "field::string")]
    url: Option<String>,
}

/// Points deliveries somewhere else, e.g. at a worker that started after the stand-in.
pub(super) async fn webhook_url(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let url = match read_body::<WebhookUrlBody>(&body)?.url {
        Some(url) if url.starts_with("http://") => url,
        _ => return Err(bad_request("'url' must be a plain http:// URL")),
    };
    st.lock().webhook_url = Some(url.clone());
    Ok(json_response(StatusCode::OK, json!({"webhook_url": url})))
}

pub(super) async fn inbox(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let want = q.get("to").map(|t| t.trim().trim_start_matches('+').to_string());
    let mut messages: Vec<Value> = st
        .lock()
        .inbox
        .iter()
        .filter(|m| want.as_ref().is_none_or(|w| m.to() == w))
        .map(InboxMessage::to_json)
        .collect();
    // SMS share the inbox, marked `"type":"sms"`, in the order received.
    messages.extend(super::twilio::sms_json(&st, want.as_deref()));
    messages.sort_by_key(|m| m["received_at_ms"].as_u64().unwrap_or(0));
    json_response(StatusCode::OK, json!({"messages": messages}))
}

pub(super) async fn inbox_html(State(st): State<Shared>) -> Response {
    let messages = st.lock().inbox.clone();
    let config = Config { webhook_url: st.webhook_url(), ..st.config.clone() };
    Html(render_html(&messages, &config)).into_response()
}

pub(super) async fn webhook_log(State(st): State<Shared>) -> Response {
    let deliveries = st.lock().webhooks.clone();
    json_response(StatusCode::OK, json!({"deliveries": deliveries}))
}

/// `POST /control/templates/review`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReviewBody {
    #[serde(deserialize_with = "field::string")]
    name: Option<String>,
    /// None: every language of that name.
    #[serde(deserialize_with = "field::string")]
    language: Option<String>,
    #[serde(deserialize_with = "field::string")]
    status: Option<String>,
    /// Why a REJECTED template was rejected.
    #[serde(deserialize_with = "field::string")]
    reason: Option<String>,
}

/// Sets a review outcome: at once for existing templates of that name (and language),
/// else as the verdict of a template created later.
pub(super) async fn template_review(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: ReviewBody = read_body(&body)?;
    let name = field::required(body.name, "name")?;
    let status =
        field::one_of(field::required(body.status, "status")?.to_ascii_uppercase(), "status", &templates::STATUSES)?;
    let reason = match body.reason.map(|r| r.to_ascii_uppercase()) {
        Some(r) if status != "REJECTED" => return Err(bad_request(format!("'reason' ({r}) only goes with REJECTED"))),
        Some(r) => Some(field::one_of(r, "reason", &templates::REJECTED_REASONS)?),
        None if status == "REJECTED" => Some("INVALID_FORMAT".to_string()),
        None => None,
    };
    let language = body.language;
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
