//! Handlers translate between HTTP and the core; one module per concern.

pub mod admin;
pub mod assets;
mod caller;
pub mod docs;
pub mod health;
pub mod request;
pub mod twilio;
pub mod verify;
pub mod webhook;
