//! Calls into `PhoneGuard` objects with the guard's typed protocol: a number
//! (`+<E.164>`), an address (`ip:<key>`), a message link (`msg:<id>`), the day's budget.

use worker::js_sys::Uint8Array;
use worker::{Env, Headers};

use crate::core::error::ApiError;
use crate::core::guard::protocol::GuardCall;
use crate::core::guard::wire::{decode, encode, WIRE_VERSION};
use crate::edge::outbound::post_request;

/// The content type of the guard's wire format (see `protocol::WIRE_VERSION`).
pub const WIRE_CONTENT_TYPE: &str = "application/x-postcard";

/// Sends one command; any failure (the object, its storage, an unreadable state) is
/// `503 storage_unavailable`, never a guess.
pub async fn call<C: GuardCall>(env: &Env, name: &str, command: &C) -> Result<C::Reply, ApiError> {
    // Only the encoding is per command: the round trip is one function for all of
    // them, so its code is in the module once, not once per command.
    let body = encode(command).map_err(|e| failed(C::OP, &e))?;
    let reply = send(env, name, C::OP, &body).await?;
    decode(&reply).map_err(|e| failed(C::OP, &e))
}

/// One command's round trip, its body and reply in the wire format.
async fn send(env: &Env, name: &str, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let attempt = async {
        let namespace = env.durable_object("PHONE_GUARD")?;
        let stub = namespace.id_from_name(name)?.get_stub()?;
        let headers = Headers::new();
        headers.set("Content-Type", WIRE_CONTENT_TYPE)?;
        let url = format!("https://phone-guard/{WIRE_VERSION}/{op}");
        let request = post_request(&url, &headers, &Uint8Array::from(body).into())?;
        let mut response = stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!("guard answered {}", response.status_code())));
        }
        response.bytes().await
    };
    attempt.await.map_err(|e| failed(op, &e.to_string()))
}

fn failed(op: &str, error: &str) -> ApiError {
    worker::console_error!("{}", serde_json::json!({ "guard_call": op, "error": error }));
    ApiError::storage_unavailable()
}

pub fn address_object(key: &str) -> String {
    format!("ip:{key}")
}

pub fn link_object(message_id: &str) -> String {
    format!("msg:{message_id}")
}

pub fn budget_object(now_ms: u64) -> String {
    format!("budget:{}", crate::core::time::rfc3339(now_ms).get(..10).unwrap_or("day"))
}
