//! The pure core: no Workers types, no I/O, no clock of its own.
//! Everything here compiles and is tested natively with `cargo test`.

pub mod api;
pub mod chat;
pub mod cloud_api;
pub mod code;
pub mod config;
pub mod countries;
pub mod crypto;
pub mod csp;
pub mod error;
pub mod events;
pub mod guard;
pub mod health;
pub mod locale;
pub mod net;
pub mod phone;
pub mod record;
pub mod secret;
pub mod sms;
pub mod test_numbers;
pub mod time;
pub mod token;
pub mod verification;
pub mod webhook;
pub mod webhook_lanes;
