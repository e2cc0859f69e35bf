//! Events, analytics and callbacks, the pure part. The edge (`edge::events`,
//! `edge::consumer`, `edge::analytics`, `handlers::admin`) only moves these between
//! the Queue, D1 and HTTP.
//!
//! - [`event`]: what an event looks like and how a guard's changes become events;
//! - [`callback`]: how a callback is signed (Standard Webhooks) and retried;
//! - [`analytics`]: the D1 schema, the rows, the stats queries and their shaping;
//! - [`admin`]: who may read them;
//! - [`settings`]: `ADMIN_TOKEN` and `CALLBACK_*`.

pub mod admin;
pub mod analytics;
pub mod callback;
pub mod event;
pub mod settings;

#[cfg(test)]
mod tests;

// What the rest of the worker uses; everything else is reached through its submodule.
pub use event::{event_id, events_from_changes, Event, EventType};
pub use settings::EventsConfig;
