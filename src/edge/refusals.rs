//! Refused code requests onto the queue, tallied per isolate (`core::events::refused`
//! says why): the first refusal schedules a flush in the background, and the flush
//! sends one event per reason for every refusal counted until then.

use std::cell::RefCell;
use std::time::Duration;

use worker::{Context, Delay, Env};

use crate::core::error::ApiError;
use crate::core::events::refused::{refusal_reason, RefusalTally, FLUSH_AFTER_MS};
use crate::edge::clock::now_ms;
use crate::edge::events::{new_event_id, send};
use crate::edge::isolate::QUEUE_BINDING;

thread_local! {
    static TALLY: RefCell<RefusalTally> = RefCell::new(RefusalTally::default());
}

/// Counts `error` when it is a refusal and the `EVENTS` queue is bound, under the
/// calling code of the number refused when it is known.
pub fn count(env: &Env, ctx: &Context, error: &ApiError, country_code: Option<&str>) {
    let Some(reason) = refusal_reason(error) else {
        return;
    };
    let Ok(queue) = env.queue(QUEUE_BINDING) else {
        return;
    };
    // The borrow ends before anything awaits.
    if !TALLY.with(|tally| tally.borrow_mut().add(reason, country_code, now_ms())) {
        return;
    }
    ctx.wait_until(async move {
        Delay::from(Duration::from_millis(FLUSH_AFTER_MS)).await;
        let events = TALLY.with(|tally| tally.borrow_mut().take(new_event_id));
        send(queue, events).await;
    });
}
