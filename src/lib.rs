//! whatsapp-otp-worker: phone-number verification over WhatsApp, as one Cloudflare Worker.
//!
//! `core` is pure Rust, tested natively; `edge` is the thin Workers shell
//! (routing, KV, the `PhoneGuard` Durable Object, outbound fetch), built for wasm32.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;
