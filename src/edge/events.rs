//! The hook every guard change goes through: the changes an operator must see (a
//! budget warning, a revocation) are logged, and, when the `EVENTS` queue is bound,
//! every change goes onto it as events in the background, so a queue that is slow or
//! down never slows or fails the request that caused them (it is logged and counted).

use std::cell::Cell;

use serde_json::json;
use worker::{Env, Queue, QueueContentType, RawMessageBuilder, SendMessage};

use crate::core::events::{event_id, events_from_changes, mark_test_events, Event};
use crate::core::guard::Change;
use crate::core::phone::mask_phone;
use crate::edge::clock::now_ms;
use crate::edge::isolate::QUEUE_BINDING;

thread_local! {
    /// Events this isolate could not put on the queue.
    static UNSENT: Cell<u64> = const { Cell::new(0) };
}

pub fn new_event_id() -> String {
    let mut random = [0u8; 16];
    // Without randomness the id still has to be unique: fall back to the clock.
    if getrandom::fill(&mut random).is_err() {
        random[..8].copy_from_slice(&now_ms().to_le_bytes());
    }
    event_id(random)
}

/// Awaited, where the caller already runs in the background (or once a day).
pub async fn publish_now(env: &Env, number: &str, changes: Vec<Change>) {
    let Ok(queue) = env.queue(QUEUE_BINDING) else {
        return;
    };
    send(queue, events_from_changes(number, &changes, now_ms(), new_event_id)).await;
}

/// The hook the `PhoneGuard` object calls with the changes one command made to
/// `number`'s state. Returns at once; the queue send runs in the background (the
/// object outlives the command that changed it).
/// `test_ids`: the requests of test numbers, whose events are marked.
pub fn publish(env: &Env, number: &str, changes: Vec<Change>, test_ids: &[String]) {
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    for change in changes.iter().filter(|c| matches!(c, Change::BudgetWarning { .. } | Change::Revoked { .. })) {
        worker::console_warn!("{}", json!({ "guard_change": change, "phone": masked }));
    }
    if changes.is_empty() {
        return;
    }
    let Ok(queue) = env.queue(QUEUE_BINDING) else {
        return;
    };
    let mut events = events_from_changes(number, &changes, now_ms(), new_event_id);
    mark_test_events(&mut events, test_ids);
    worker::wasm_bindgen_futures::spawn_local(send(queue, events));
}

/// Puts `events` on the queue; a failure is logged and counted, never raised.
pub async fn send(queue: Queue, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let messages: Vec<SendMessage<worker::wasm_bindgen::JsValue>> = events
        .iter()
        .map(|event| {
            let text = serde_json::to_string(event).unwrap_or_default();
            RawMessageBuilder::new(text.into()).build_with_content_type(QueueContentType::Text)
        })
        .collect();
    if let Err(e) = queue.send_raw_batch(messages).await {
        let unsent = UNSENT.with(|c| {
            c.set(c.get() + events.len() as u64);
            c.get()
        });
        let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        worker::console_error!(
            "{}",
            json!({ "events": "not queued", "types": types, "unsent_in_isolate": unsent, "error": e.to_string() })
        );
    }
}
