//! The Cloud API send, `POST /{version}/{phone_number_id}/messages`: Meta's checks in
//! Meta's order, scripted failures, the inbox, and `--auto-status`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::graph::{bearer_ok, is_version, unauthorized};
use super::webhooks::{deliver, signed};
use super::{json_response, status_code, Shared};
use crate::inbox::{AppState, InboxMessage, Script};
use crate::meta_errors;
use crate::templates;
use crate::util::{mask_phone, new_wamid, now_ms, now_secs};
use crate::validate::{template_context, validate, Accepted};
use crate::webhook::{self, StatusUpdate};

pub(super) async fn send_message(
    State(st): State<Shared>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_request(&st, &version, &phone_number_id, &headers) {
        return refusal;
    }
    if let Some(failure) = run_script(&st, &body).await {
        return failure;
    }
    let acc = match validate(&body) {
        Ok(a) => a,
        Err(inv) => {
            eprintln!("[meta-standin] send rejected: ({}) {}", inv.code, inv.details);
            return json_response(StatusCode::BAD_REQUEST, meta_errors::send_error(inv.code, None, Some(&inv.details)));
        }
    };
    if let Some(refusal) = refuse_template(&st, &acc) {
        return refusal;
    }
    accept(&st, version, phone_number_id, acc)
}

/// Version, phone number id and token, in Graph's order.
fn refuse_request(st: &AppState, version: &str, phone_number_id: &str, headers: &HeaderMap) -> Option<Response> {
    if !is_version(version) {
        let path = format!("/{version}/{phone_number_id}/messages");
        return Some(json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_path(&path)));
    }
    if st.config.phone_number_id.as_deref().is_some_and(|expected| expected != phone_number_id) {
        return Some(json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_object(phone_number_id)));
    }
    if !bearer_ok(headers, &st.config.access_token) {
        return Some(unauthorized());
    }
    None
}

/// Takes the first queued script for this send, waits its delay, and answers its failure if it has one.
async fn run_script(st: &AppState, body: &[u8]) -> Option<Response> {
    // Scripts aimed at one recipient let concurrent tests script failures independently.
    let recipient = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["to"].as_str().map(|t| t.trim_start_matches('+').to_string()));
    let script = {
        let mut inner = st.lock();
        let position = inner.scripts.iter().position(|s| s.applies_to(recipient.as_deref()));
        position.and_then(|i| inner.scripts.remove(i))
    }?;
    if let Some(ms) = script.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if !script.fails() {
        return None;
    }
    let resp = scripted_failure(&script, body);
    eprintln!("[meta-standin] send -> scripted failure {} (code {:?})", resp.status().as_u16(), script.code);
    Some(resp)
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

/// A template send needs that template APPROVED in that language, as at Meta.
fn refuse_template(st: &AppState, acc: &Accepted) -> Option<Response> {
    let (Some(name), Some(language)) = (&acc.template_name, &acc.language) else {
        return None;
    };
    let (code, details) = {
        let mut inner = st.lock();
        inner.settle_templates(now_ms());
        templates::send_check(&inner.templates, name, language)
    }?;
    eprintln!("[meta-standin] send refused: ({code}) {details}");
    let status = status_code(meta_errors::lookup(code).http_status);
    Some(json_response(status, meta_errors::send_error(code, None, Some(&details))))
}

/// Puts an accepted send in the inbox and answers like Meta.
fn accept(st: &Shared, version: String, phone_number_id: String, acc: Accepted) -> Response {
    let wa_id = st.lock().wa_ids.get(&acc.to_digits).cloned().unwrap_or_else(|| acc.to_digits.clone());
    let id = new_wamid(&acc.to_digits);
    let mut messages = json!({"id": id});
    if acc.kind == "template" {
        messages["message_status"] = json!("accepted");
    }
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": acc.to_input, "wa_id": wa_id}],
        "messages": [messages],
    });
    eprintln!(
        "[meta-standin] send {} {} to {} accepted as {}",
        acc.kind,
        acc.template_name.as_deref().unwrap_or(""),
        mask_phone(&acc.to_digits),
        id
    );
    let msg = InboxMessage {
        id,
        received_at_ms: now_ms(),
        version,
        phone_number_id: phone_number_id.clone(),
        message: acc,
        wa_id,
    };
    {
        let mut inner = st.lock();
        inner.last_phone_number_id = Some(phone_number_id);
        inner.inbox.push(msg.clone());
    }
    let scripted = st.lock().whatsapp_outcomes.get(msg.to()).cloned();
    match scripted {
        Some(outcome) => {
            tokio::spawn(scripted_status(st.clone(), msg, outcome));
        }
        None if st.config.auto_status => {
            tokio::spawn(auto_status(st.clone(), msg));
        }
        None => {}
    }
    json_response(StatusCode::OK, answer)
}

/// `/control/whatsapp/delivery`: a message that stays `sent`, or fails with 131026.
async fn scripted_status(st: Shared, msg: InboxMessage, outcome: String) {
    if st.webhook_url().is_none() {
        return;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, error_code) = if outcome == "fail" { ("failed", Some(131026)) } else { ("sent", None) };
    deliver_status(&st, &msg, status, error_code, "scripted-status").await;
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
        deliver_status(&st, &msg, status, None, "auto-status").await;
    }
}

/// Posts a signed `status` webhook for the message, as Meta would, logged as
/// `{kind}:{status}`; a failed status carries `error_code` ("Message undeliverable").
async fn deliver_status(st: &Shared, msg: &InboxMessage, status: &str, error_code: Option<i64>, kind: &str) {
    let update = StatusUpdate {
        message_id: msg.id.clone(),
        recipient_id: Some(msg.wa_id.clone()),
        recipient_user_id: Some(webhook::user_id_for(&msg.wa_id)),
        status: status.into(),
        timestamp: now_secs(),
        biz_opaque_callback_data: msg.message.biz_opaque_callback_data.clone(),
        pricing: webhook::default_pricing(status, msg.category()),
        error_code,
        error_details: error_code.map(|_| "Message undeliverable".to_string()),
    };
    let (body, sig) = signed(st, &webhook::status(&st.business(), &update));
    let _ = deliver(st, &format!("{kind}:{status}"), body, sig).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
