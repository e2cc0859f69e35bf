//! The queue consumer, in this same worker. For `otp-events`: each batch is written
//! to D1 in one round trip (`INSERT OR IGNORE` on the event id, so a message
//! delivered again counts once), then each subscribed event is POSTed to the
//! callback URL. A failed callback retries only its own message, after the next
//! delay of the schedule; its D1 write is repeated then and ignored. After the last
//! retry the Queue moves the message to `otp-events-dlq`, which this consumer also
//! reads: there each event is recorded in D1 (`dead_letters`) and logged.
//!
//! The export is written out instead of `#[event(queue)]` because each retry's delay
//! depends on the message's `attempts`, which workers-rs' `Message` does not expose.

use futures_util::future::join_all;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::worker_sys::{Context as SysContext, Message as SysMessage, MessageBatch as SysBatch};
use worker::{Env, Headers};

use super::analytics::write;
use super::outbound::{post, FetchError};
use crate::core::events::analytics::{event_row, DeadLetter, Param, INSERT_DEAD_LETTER, INSERT_EVENT};
use crate::core::events::callback::{check_status, retry_delay, CallbackConfig, CallbackError, DEFAULT_RETRY_DELAYS};
use crate::core::events::Event;
use crate::edge::isolate::{settings, DB_BINDING};

/// How long one callback attempt may take.
const CALLBACK_TIMEOUT_MS: u64 = 5_000;

#[wasm_bindgen(js_name = queue, wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
pub async fn consume(batch: SysBatch, env: Env, _ctx: SysContext) -> Result<JsValue, JsValue> {
    let queue = batch.queue().map(String::from).unwrap_or_default();
    let messages: Vec<SysMessage> = match batch.messages() {
        Ok(array) => array.iter().map(|m| m.unchecked_into()).collect(),
        Err(e) => return Err(e),
    };
    if queue.ends_with("-dlq") {
        dead_letters(&env, &messages).await;
    } else {
        events(&env, &messages).await;
    }
    Ok(JsValue::UNDEFINED)
}

fn attempts(message: &SysMessage) -> u32 {
    js_sys::Reflect::get(message, &"attempts".into()).ok().and_then(|a| a.as_f64()).map_or(1, |a| a as u32)
}

/// The body as text: this worker sends text; a JSON body (sent by another producer)
/// is read back as its JSON text.
fn body_text(message: &SysMessage) -> Option<String> {
    let body = message.body().ok()?;
    body.as_string().or_else(|| js_sys::JSON::stringify(&body).ok().and_then(|s| s.as_string()))
}

fn message_id(message: &SysMessage) -> String {
    message.id().map(String::from).unwrap_or_default()
}

fn retry(message: &SysMessage, delay_s: u32) {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"delaySeconds".into(), &JsValue::from(delay_s));
    if let Err(e) = message.retry(options.into()) {
        worker::console_error!("{}", json!({ "queue": "retry failed", "error": e.as_string() }));
    }
}

fn ack(message: &SysMessage) {
    if let Err(e) = message.ack() {
        worker::console_error!("{}", json!({ "queue": "ack failed", "error": e.as_string() }));
    }
}

async fn events(env: &Env, messages: &[SysMessage]) {
    let isolate = settings(env);
    let delays: &[u32] = isolate.events.callback.as_ref().map_or(&DEFAULT_RETRY_DELAYS, |c| &c.retry_delays);
    let mut parsed: Vec<(&SysMessage, Event)> = Vec::new();
    for message in messages {
        match body_text(message).and_then(|t| serde_json::from_str::<Event>(&t).ok()) {
            Some(event) => parsed.push((message, event)),
            None => {
                // Nothing to learn from it, and retrying cannot change that.
                worker::console_error!(
                    "{}",
                    json!({ "events": "unreadable message dropped", "id": message_id(message) })
                );
                ack(message);
            }
        }
    }
    if let Ok(db) = env.d1(DB_BINDING) {
        let rows: Vec<Vec<Param>> = parsed.iter().filter_map(|(_, e)| event_row(e)).collect();
        if let Err(e) = write(&db, INSERT_EVENT, rows).await {
            worker::console_error!("{}", json!({ "events": "D1 write failed, batch retried", "error": e.to_string() }));
            for (message, _) in &parsed {
                retry(message, retry_delay(delays, attempts(message)));
            }
            return;
        }
    }
    let Some(callback) = isolate.events.callback.as_ref() else {
        parsed.iter().for_each(|(m, _)| ack(m));
        return;
    };
    let deliveries = parsed.iter().map(|(message, event)| async move {
        if !callback.wants(event.kind) {
            ack(message);
            return;
        }
        let attempt = attempts(message);
        match deliver(callback, event).await {
            Ok(()) => ack(message),
            Err(reason) => {
                let delay = callback.retry_delay(attempt);
                worker::console_log!(
                    "{}",
                    json!({ "callback": "failed", "event_id": event.id, "type": event.kind, "attempt": attempt,
                            "reason": reason.to_string(), "retry_in_s": delay })
                );
                retry(message, delay);
            }
        }
    });
    join_all(deliveries).await;
}

/// One signed POST; `Err` says why it did not count as delivered.
async fn deliver(callback: &CallbackConfig, event: &Event) -> Result<(), CallbackError> {
    let timestamp_s = crate::edge::clock::now_ms() / 1000;
    let (body, header_list) = callback.request(event, timestamp_s);
    let headers = Headers::new();
    for (name, value) in &header_list {
        headers.set(name, value).map_err(|e| CallbackError::Request(e.to_string()))?;
    }
    match post(&callback.url, headers, body, CALLBACK_TIMEOUT_MS).await {
        Ok((status, _)) => check_status(status),
        Err(FetchError::Timeout) => Err(CallbackError::Timeout),
        Err(FetchError::Network(detail)) => Err(CallbackError::Network(detail)),
    }
}

async fn dead_letters(env: &Env, messages: &[SysMessage]) {
    let now = crate::edge::clock::now_ms();
    let letters: Vec<DeadLetter> =
        messages.iter().map(|m| DeadLetter::new(&message_id(m), &body_text(m).unwrap_or_default(), now)).collect();
    for letter in &letters {
        worker::console_error!(
            "{}",
            json!({ "callback": "dead-lettered", "event_id": letter.event_id, "type": letter.kind })
        );
    }
    let rows: Vec<Vec<Param>> = letters.iter().map(DeadLetter::params).collect();
    match env.d1(DB_BINDING) {
        // Without D1 the log line is the record.
        Err(_) => messages.iter().for_each(ack),
        Ok(db) => match write(&db, INSERT_DEAD_LETTER, rows).await {
            Ok(()) => messages.iter().for_each(ack),
            Err(e) => {
                worker::console_error!("{}", json!({ "dead_letters": "D1 write failed", "error": e.to_string() }));
                messages.iter().for_each(|m| retry(m, retry_delay(&DEFAULT_RETRY_DELAYS, attempts(m))));
            }
        },
    }
}
