//! Handlers translate between HTTP and the core; one module per concern.

pub mod admin;
pub mod assets;
pub mod docs;
pub mod health;
pub mod otp;
pub mod webhook;
