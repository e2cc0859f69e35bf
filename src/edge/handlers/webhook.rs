//! `GET /webhook` (Meta's handshake) and `POST /webhook` (signed deliveries).

use serde_json::json;
use worker::{Context, Env, Request};

use crate::core::api::WEBHOOK_BODY_LIMIT;
use crate::core::cloud_api::text_message;
use crate::core::code::{code_matches, find_code_in_text};
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::{Channel, GuardCommand, GuardReply};
use crate::core::phone::mask_phone;
use crate::core::webhook::{
    chat_reply, handshake as check_handshake, keyword, keyword_reply, parse_delivery, verify_signature, Keyword,
    WebhookEvent,
};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{codes, guard_client, outbound};

pub fn handshake(req: &Request, config: &Config) -> Handled {
    // The raw URL's query, read without the `url` crate (its IDNA tables would
    // ship ~100 KB to the edge for three parameters).
    let url = req.inner().url();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let param =
        |name: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (mode, token, challenge) = (param("hub.mode"), param("hub.verify_token"), param("hub.challenge"));
    match check_handshake(mode.as_deref(), token.as_deref(), challenge.as_deref(), &config.verify_token) {
        Some(challenge) => Ok(Reply::Text(200, challenge.to_string())),
        None => Err(ApiError::new(403, "forbidden", "The verify token does not match.")),
    }
}

pub async fn deliver(req: &mut Request, env: &Env, ctx: &Context, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, WEBHOOK_BODY_LIMIT).await?;
    // The signature is checked over the raw bytes before anything is parsed.
    if !verify_signature(&config.app_secrets(), header(req, "X-Hub-Signature-256").as_deref(), &body) {
        return Err(ApiError::new(401, "invalid_signature", "X-Hub-Signature-256 is missing or does not match."));
    }
    let events = parse_delivery(&body, &config.phone_number_id).map_err(|e| ApiError::invalid_json(&e))?;
    let mut chat = Vec::new();
    let mut outcome = Ok(());
    for event in &events {
        match handle_event(event, env, config, log).await {
            Ok(Some(message)) => chat.push(message),
            Ok(None) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if !chat.is_empty() {
        // Replies in the chat must not hold up Meta's delivery; those already
        // earned are sent even if a later event failed (a retry will not repeat them).
        let config = config.clone();
        ctx.wait_until(async move {
            for (phone, text) in chat {
                if let Err(failure) = outbound::send_message(&config, &text_message(&phone, &text)).await {
                    worker::console_error!("chat reply to {} failed: {:?}", mask_phone(&phone), failure.kind);
                }
            }
        });
    }
    outcome?;
    Ok(Reply::Json(200, json!({ "ok": true, "events": events.len() })))
}

/// Applies one event; returns a chat message to send back, if any. An `Err`
/// makes the whole delivery 503 so Meta retries it; dedupe makes that safe.
async fn handle_event(
    event: &WebhookEvent,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Option<(String, String)>, ApiError> {
    match event {
        WebhookEvent::Text { from, message_id, body } => match keyword(body) {
            Some(word) => opt_in_or_out(word, from, message_id, env, log).await,
            None => match find_code_in_text(body, config.otp_length) {
                Some(code) => code_from_chat(&code, from, message_id, env, config, log).await,
                None => Ok(None),
            },
        },
        WebhookEvent::Other { from, kind, .. } => {
            log.note(format!("{kind} message from {} ignored", mask_phone(from)));
            Ok(None)
        }
        WebhookEvent::Status { message_id, recipient, status, request_id, error_code } => {
            let command = GuardCommand::Delivery {
                message_id: message_id.clone(),
                request_id: request_id.clone(),
                status: *status,
                error_code: *error_code,
            };
            if guard_client::call(env, recipient, &command).await? == GuardReply::NotFound {
                log.note(format!("{} status for an unknown message", status.as_str()));
            }
            Ok(None)
        }
        WebhookEvent::OtherNumber { phone_number_id } => {
            log.note(format!("change for phone number id {phone_number_id} skipped"));
            Ok(None)
        }
        WebhookEvent::SystemError { code, title } => {
            worker::console_warn!("{}", json!({ "webhook_system_error": code, "title": title }));
            Ok(None)
        }
    }
}

/// `STOP`/`UNSUBSCRIBE` or `START`: recorded in the number's guard, confirmed in the chat.
async fn opt_in_or_out(
    word: Keyword,
    from: &str,
    message_id: &str,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Option<(String, String)>, ApiError> {
    let command = GuardCommand::OptOut { message_id: message_id.to_string(), opted_out: word == Keyword::Stop };
    let reply = guard_client::call(env, from, &command).await?;
    log.note(format!("{word:?} from {}", mask_phone(from)));
    Ok(matches!(reply, GuardReply::Done { .. }).then(|| (from.to_string(), keyword_reply(word).to_string())))
}

/// A code typed in the chat: checked against the number's newest request, with
/// the same attempt budget and single use as `/v1/otp/verify`.
async fn code_from_chat(
    code: &str,
    from: &str,
    message_id: &str,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Option<(String, String)>, ApiError> {
    let GuardReply::View { request: Some(latest) } = guard_client::call(env, from, &GuardCommand::Latest).await? else {
        log.note(format!("code from {} with no request", mask_phone(from)));
        return Ok(None);
    };
    let Some(record) = codes::get(env, &latest.request_id).await? else {
        // KV is eventually consistent: a record written at another location may
        // not be readable here yet. A 503 makes Meta deliver the reply again later.
        return if latest.live { Err(ApiError::storage_unavailable()) } else { Ok(None) };
    };
    // Meta authenticates the sender: the code only counts from the request's own number.
    let correct =
        record.phone == from && code_matches(&config.otp_secrets(), &latest.request_id, code, &record.code_hash);
    let attempt = GuardCommand::Attempt {
        request_id: latest.request_id,
        correct,
        channel: Channel::WhatsApp,
        message_id: Some(message_id.to_string()),
    };
    let reply = guard_client::call(env, from, &attempt).await?;
    log.note(format!("code from {}: {}", mask_phone(from), reply_name(&reply)));
    Ok(chat_reply(&reply).map(|text| (from.to_string(), text)))
}

fn reply_name(reply: &GuardReply) -> String {
    serde_json::to_value(reply).ok().and_then(|v| v["reply"].as_str().map(str::to_string)).unwrap_or_default()
}
