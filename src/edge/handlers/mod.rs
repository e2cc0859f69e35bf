//! Handlers translate between HTTP and the core; one module per concern.

pub mod assets;
pub mod health;
pub mod otp;
pub mod webhook;
