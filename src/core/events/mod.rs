//! Events, analytics and callbacks, the pure part (their settings are read with the
//! rest, in `core::config`). The edge (`edge::events`,
//! `edge::consumer`, `edge::analytics`, `handlers::admin`) only moves these between
//! the Queue, D1 and HTTP.
//!
//! - [`event`]: what an event looks like and how a guard's changes become events;
//! - [`callback`]: how a callback is signed (Standard Webhooks) and retried;
//! - [`analytics`]: the D1 schema, the rows, the stats queries and their shaping;
//! - [`retention`]: how old raw events become daily rollups, and are deleted;
//! - [`refused`]: refused code requests, tallied per isolate and counted by reason;
//! - [`resend`]: sending a dead letter's event again, once;
//! - [`spend`]: what the billable messages cost, at the operator's prices;
//! - [`admin`]: who may read them.

pub mod admin;
pub mod analytics;
pub mod callback;
pub mod event;
pub mod refused;
pub mod resend;
pub mod retention;
pub mod spend;

#[cfg(test)]
mod retention_tests;
#[cfg(test)]
pub(crate) mod tests;

// What the rest of the worker uses; everything else is reached through its submodule.
pub use event::{event_id, events_from_changes, mark_test_events, Event, EventType};
