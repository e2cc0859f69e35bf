//! `GET /webhook` (Meta's handshake) and `POST /webhook` (signed deliveries).

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use worker::{Context, Env, Request};

use crate::core::api::WEBHOOK_BODY_LIMIT;
use crate::core::chat::{answer_to_attempt, answer_to_keyword, chat_text, ChatText};
use crate::core::cloud_api::text_message;
use crate::core::code::find_code_in_text;
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::protocol::{
    ChatCandidates, Delivery, DeliveryReply, Keyword, KeywordReply, ResolveMessage, SettleSms, Status, StatusReply,
    Word,
};
use crate::core::guard::{Channel, DeliveryStatus, MessageRef};
use crate::core::phone::mask_phone;
use crate::core::verification::whatsapp_channel_on;
use crate::core::webhook::{
    handshake as check_handshake, keyword, parse_delivery, verify_signature, Content, WebhookEvent,
};
use crate::core::webhook_lanes::{lanes, CONCURRENT_LANES};
use crate::edge::clock::now_ms;
use crate::edge::code_check::{check_code, check_or_pass, Checked, CodeCheck, MissingRecord};
use crate::edge::guard_client::{call, link_object, other_spelling_state};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{budget, codes, outbound};

pub fn handshake(req: &Request, config: &Config) -> Handled {
    // The raw URL's query, read without the `url` crate (its IDNA tables would
    // ship ~100 KB to the edge for three parameters).
    let url = req.inner().url();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let param =
        |name: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (mode, token, challenge) = (param("hub.mode"), param("hub.verify_token"), param("hub.challenge"));
    match check_handshake(mode.as_deref(), token.as_deref(), challenge.as_deref(), config.meta.verify_token.expose()) {
        Some(challenge) => Ok(Reply::Text(200, challenge.to_string())),
        None => Err(ApiError::verify_token_mismatch()),
    }
}

/// A text to send back in the chat: (number, text).
type ChatMessage = (String, String);

pub async fn deliver(req: &mut Request, env: &Env, ctx: &Context, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, WEBHOOK_BODY_LIMIT).await?;
    // The signature is checked over the raw bytes before anything is parsed.
    if !verify_signature(&config.app_secrets(), header(req, "X-Hub-Signature-256").as_deref(), &body) {
        return Err(ApiError::invalid_signature());
    }
    let events = parse_delivery(&body, &config.meta.phone_number_id, now_ms())
        .map_err(|e| ApiError::invalid_json(&e.to_string()))?;
    let mut chat = Vec::new();
    let mut retry = None;
    // Every item is handled even when one cannot be placed yet: the others must not
    // wait days for Meta's retries. Retrying the whole delivery is safe (dedupe).
    // Lanes for different people run side by side; each keeps its own order.
    let results: Vec<(LaneResult, RequestLog)> = stream::iter(lanes(&events))
        .map(|lane| run_lane(lane, &events, env, config))
        .buffer_unordered(CONCURRENT_LANES)
        .collect()
        .await;
    for (result, part) in results {
        log.absorb(part);
        chat.extend(result.chat);
        retry = retry.or(result.retry);
    }
    if !chat.is_empty() && config.meta.chat_replies {
        // Replies in the chat must not hold up Meta's delivery; those already earned
        // are sent even if another item asks for a retry (the retry will not repeat them).
        ctx.wait_until(send_chat_replies(env.clone(), config.clone(), chat));
    }
    if let Some(e) = retry {
        return Err(e);
    }
    Ok(Reply::Json(200, json!({ "ok": true, "events": events.len() })))
}

/// What one lane of a delivery earned: chat replies, and the error that asks Meta to
/// deliver the whole batch again, if any.
struct LaneResult {
    chat: Vec<ChatMessage>,
    retry: Option<ApiError>,
}

async fn run_lane(lane: Vec<usize>, events: &[WebhookEvent], env: &Env, config: &Config) -> (LaneResult, RequestLog) {
    let mut log = RequestLog::start(now_ms());
    let mut result = LaneResult { chat: Vec::new(), retry: None };
    for i in lane {
        match handle_event(&events[i], env, config, &mut log).await {
            Ok(Some(message)) => result.chat.push(message),
            Ok(None) => {}
            Err(e) => result.retry = Some(e),
        }
    }
    (result, log)
}

/// Every chat reply is a message we pay for: it spends from the day's send budget
/// like a code, and is dropped (logged) once that is used up.
async fn send_chat_replies(env: Env, config: Config, chat: Vec<ChatMessage>) {
    for (phone, text) in chat {
        if let Some(max) = config.limits.max_sends_per_day_global {
            if let Err(e) = budget::spend(&env, &phone, max).await {
                // `daily_budget_exhausted`, or the budget's own object unreachable.
                let reason = e.code.as_str();
                worker::console_warn!(
                    "{}",
                    json!({ "chat_reply": "not_sent", "reason": reason, "phone": mask_phone(&phone) })
                );
                continue;
            }
        }
        if let Err(failure) = outbound::send_message(&config, &text_message(&phone, &text)).await {
            worker::console_error!(
                "{}",
                json!({ "chat_reply": "failed", "phone": mask_phone(&phone), "whatsapp_code": failure.meta_code, "http_status": failure.http_status })
            );
            if config.limits.max_sends_per_day_global.is_some() {
                budget::refund(&env).await;
            }
        }
    }
}

/// Applies one event; returns a chat message to send back, if any. An `Err` makes
/// the whole delivery 503 so Meta delivers it again.
async fn handle_event(
    event: &WebhookEvent,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Option<ChatMessage>, ApiError> {
    match event {
        WebhookEvent::Message { sender, message, replying_to, content } => {
            let Content::Text(text) = content else {
                log.note("a message without text ignored");
                return Ok(None);
            };
            match &sender.phone {
                Some(phone) => {
                    let answer = match keyword(text) {
                        Some(word) => keyword_from(phone, word, message, env, log).await,
                        None => match find_code_in_text(text, config.codes.length) {
                            Some(code) => {
                                let quoted = replying_to.as_deref().zip(sender.wa_id.as_deref());
                                code_from_number(&code, phone, quoted, message, env, config, log).await
                            }
                            None => Ok(None),
                        },
                    };
                    // The chat answer goes to the spelling WhatsApp wrote the sender in.
                    answer.map(|a| a.map(|(number, text)| (sender.wa_id.clone().unwrap_or(number), text)))
                }
                None => {
                    let code = find_code_in_text(text, config.codes.length);
                    match (replying_to, code) {
                        (Some(quoted), Some(code)) => code_quoting(&code, quoted, message, env, config, log).await,
                        _ => {
                            // No number and no quote: nothing ties it to a request for sure.
                            log.note(format!("message without a phone number ignored ({})", user_hint(sender)));
                            Ok(None)
                        }
                    }
                }
            }
        }
        WebhookEvent::Status { message_id, status, request_id, error_code, pricing_category } => {
            let Some(number) = owner_of(message_id, request_id.as_deref(), env).await? else {
                log.note(format!("{} status for an unknown message", status.as_str()));
                return Ok(None);
            };
            let command = Delivery {
                number: number.clone(),
                message_id: message_id.clone(),
                request_id: request_id.clone(),
                status: *status,
                error_code: *error_code,
                pricing_category: pricing_category.clone(),
            };
            let reply = call(env, &number, &command).await?;
            if let Some(id) = request_id {
                log.request_id(id);
            }
            if let DeliveryReply::FallBack(job) = &reply {
                // The guard claimed this request's one SMS: it goes now.
                let result = crate::edge::sms::run_job(env, Some(config), job).await;
                let settle = SettleSms { number: number.clone(), request_id: job.request_id.clone(), result };
                call(env, &number, &settle).await?;
            }
            if *status == DeliveryStatus::Failed || reply == DeliveryReply::UnknownMessage {
                worker::console_log!(
                    "{}",
                    json!({ "status": status.as_str(), "request_id": request_id, "phone": mask_phone(&number), "whatsapp_code": error_code, "applied": reply != DeliveryReply::Stale && reply != DeliveryReply::UnknownMessage })
                );
            }
            Ok(None)
        }
        WebhookEvent::OtherNumber { phone_number_id } => {
            log.note(format!("change for phone number id {phone_number_id} skipped"));
            Ok(None)
        }
        WebhookEvent::System { kind, phone, new_phone } => {
            // Counted by this line (`webhook_system`); nothing in the guards changes.
            worker::console_log!(
                "{}",
                json!({ "webhook_system": kind, "phone": phone.as_deref().map(mask_phone), "new_phone": new_phone.as_deref().map(mask_phone) })
            );
            Ok(None)
        }
        WebhookEvent::SystemError { code, title } => {
            worker::console_warn!("{}", json!({ "webhook_system_error": code, "title": title }));
            Ok(None)
        }
        WebhookEvent::Skipped { what } => {
            log.note(format!("skipped: {what}"));
            Ok(None)
        }
    }
}

/// Enough of a business-scoped user id to correlate logs, not to identify.
fn user_hint(sender: &crate::core::webhook::Sender) -> String {
    match &sender.user_id {
        Some(id) => format!("user {}…", id.chars().take(6).collect::<String>()),
        None => "no user id".into(),
    }
}

/// Which number one of our messages went to: by the request id we attached, else
/// by the message's link. Never by the recipient field of the status.
async fn owner_of(message_id: &str, request_id: Option<&str>, env: &Env) -> Result<Option<String>, ApiError> {
    if let Some(request_id) = request_id {
        if let Some(record) = codes::get(env, request_id).await? {
            return Ok(Some(record.phone));
        }
    }
    Ok(call(env, &link_object(message_id), &ResolveMessage {}).await?.map(|link| link.number))
}

/// `STOP`/`UNSUBSCRIBE`, `START` and `NOT ME`: recorded in the number's guard,
/// acknowledged in the chat in the language of the number's last request.
async fn keyword_from(
    phone: &str,
    word: Word,
    message: &MessageRef,
    env: &Env,
    log: &mut RequestLog,
) -> Result<Option<ChatMessage>, ApiError> {
    let other_spelling = other_spelling_state(env, phone).await?;
    let command = Keyword { number: phone.to_string(), word, message: message.clone(), other_spelling };
    let reply = call(env, phone, &command).await?;
    let said = match word {
        Word::Stop => "STOP",
        Word::Start => "START",
        Word::NotMe => "NOT ME",
    };
    log.note(format!("{said} from {}", mask_phone(phone)));
    if let KeywordReply::NotMe { revoked: Some(id), .. } = &reply {
        log.request_id(id);
    }
    Ok(answer_to_keyword(word, &reply).map(|text| (phone.to_string(), text)))
}

/// The live requests of a number a code from WhatsApp may be for, and its chat locale.
async fn chat_candidates(
    number: &str,
    message: &MessageRef,
    env: &Env,
    config: &Config,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let lookup = ChatCandidates { number: number.to_string(), message: message.clone() };
    let found = call(env, number, &lookup).await?;
    let request_ids = found
        .candidates
        .into_iter()
        .filter(|c| whatsapp_channel_on(config.codes.verify_via, c.mode))
        .map(|c| c.request_id)
        .collect();
    Ok((request_ids, found.locale))
}

/// The number a message quoting ours belongs to, when it comes from the very `wa_id`
/// Meta answered that send with: the recipient, in a spelling the canonical form does
/// not fold (a typed `+54 AA 15 …`, say). Asked only when the sender's own guard has
/// nothing live.
async fn quoted_by_recipient(quoted: Option<(&str, &str)>, phone: &str, env: &Env) -> Result<Option<String>, ApiError> {
    let Some((quoted, wa_id)) = quoted else {
        return Ok(None);
    };
    let link = call(env, &link_object(quoted), &ResolveMessage {}).await?;
    Ok(link.filter(|l| l.wa_id.as_deref() == Some(wa_id) && l.number != phone).map(|l| l.number))
}

/// A code in a message from a number: checked against that number's live requests
/// (the code it was sent, every live inbound code), with the same attempt budget and
/// single use as the API. `quoted`: the message it replies to and the sender's `wa_id`.
async fn code_from_number(
    code: &str,
    sender_phone: &str,
    quoted: Option<(&str, &str)>,
    message: &MessageRef,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Option<ChatMessage>, ApiError> {
    let (mut phone, (mut request_ids, mut locale)) =
        (sender_phone.to_string(), chat_candidates(sender_phone, message, env, config).await?);
    if request_ids.is_empty() {
        if let Some(owner) = quoted_by_recipient(quoted, sender_phone, env).await? {
            (request_ids, locale) = chat_candidates(&owner, message, env, config).await?;
            phone = owner;
        }
    }
    let phone = phone.as_str();
    if request_ids.is_empty() {
        log.note(format!("code from {} with no live request", mask_phone(phone)));
        return Ok(None);
    }
    let check = CodeCheck {
        code,
        request_ids,
        number: Some(phone),
        // Meta authenticates the sender: the code only counts from the request's own number.
        sender: Some(phone),
        channel: Channel::WhatsApp,
        message: Some(message.clone()),
        missing: MissingRecord::NotYetVisible,
    };
    let Some(checked) = check_or_pass(env, config, check).await? else {
        // It belongs to none of the number's live requests: no attempt spent anywhere.
        log.note(format!("code from {} matches no live request", mask_phone(phone)));
        return Ok(Some((phone.to_string(), chat_text(locale.as_deref(), &ChatText::NoMatch))));
    };
    log.request_id(&checked.request_id);
    log.note(format!("code from {}", mask_phone(phone)));
    log.field("attempt", serde_json::to_value(checked.reply.outcome).unwrap_or_default());
    chat_answer(&checked, env, config).await
}

/// A code in a message without a phone number (a username): it counts only when it
/// quotes the very message we sent for a live request.
async fn code_quoting(
    code: &str,
    quoted: &str,
    message: &MessageRef,
    env: &Env,
    config: &Config,
    log: &mut RequestLog,
) -> Result<Option<ChatMessage>, ApiError> {
    if !config.codes.verify_via.reply {
        return Ok(None);
    }
    let Some(link) = call(env, &link_object(quoted), &ResolveMessage {}).await? else {
        log.note("a reply without a phone number quotes no message of ours");
        return Ok(None);
    };
    log.request_id(&link.request_id);
    let check = CodeCheck {
        code,
        request_ids: vec![link.request_id],
        number: Some(&link.number),
        sender: None,
        channel: Channel::WhatsApp,
        message: Some(message.clone()),
        missing: MissingRecord::NotYetVisible,
    };
    let checked = check_code(env, config, check).await?;
    log.note("code quoting our message");
    log.field("attempt", serde_json::to_value(checked.reply.outcome).unwrap_or_default());
    chat_answer(&checked, env, config).await
}

/// The chat's answer to a checked code, in the language the request's code went out in:
/// the guard's (settled with the language Meta took), not the one asked for.
async fn chat_answer(checked: &Checked, env: &Env, config: &Config) -> Result<Option<ChatMessage>, ApiError> {
    let Some(text) = answer_to_attempt(&checked.reply.outcome, &config.meta.service_name) else {
        return Ok(None);
    };
    let status =
        Status { number: checked.number.clone(), request_id: checked.request_id.clone(), policy: config.send_policy() };
    let locale = match call(env, &checked.number, &status).await? {
        StatusReply::Found { view } => view.locale,
        StatusReply::Forgotten => checked.record.locale.clone(),
    };
    Ok(Some((checked.number.clone(), chat_text(locale.as_deref(), &text))))
}
