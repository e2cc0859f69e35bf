//! Calls into `PhoneGuard` objects with the guard's typed protocol: a number
//! (`+<E.164>`), an address (`ip:<key>`), a message link (`msg:<id>`), the day's budget.

use worker::js_sys::{Promise, Uint8Array};
use worker::wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Headers};

use crate::core::error::ApiError;
use crate::core::guard::number::OtherSpellingState;
use crate::core::guard::protocol::{GuardCall, ReadOtherSpelling};
use crate::core::guard::wire::{decode, encode, WIRE_CONTENT_TYPE, WIRE_VERSION};
use crate::edge::isolate::GUARD_BINDING;
use crate::edge::outbound::post_request;

/// Sends one command; any failure (the object, its storage, an unreadable state) is
/// `503 storage_unavailable`, never a guess.
pub async fn call<C: GuardCall>(env: &Env, name: &str, command: &C) -> Result<C::Reply, ApiError> {
    // Only the encoding is per command: the round trip is one function for all of
    // them, so its code is in the module once, not once per command.
    let body = encode(command).map_err(|e| failed(C::OP, &e.to_string()))?;
    let reply = send(env, name, C::OP, &body).await?;
    decode(&reply).map_err(|e| failed(C::OP, &e.to_string()))
}

/// The stub's own `fetch`: workers-rs's `Stub::fetch_with_request` wraps the answer in
/// a `worker::Response`, which reads its `cf` and `webSocket` properties and then
/// reads the body as a chunked stream; one `arrayBuffer()` is all a reply needs.
#[wasm_bindgen]
extern "C" {
    type GuardStub;
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &GuardStub, request: &web_sys::Request) -> Result<Promise, JsValue>;
}

/// One command's round trip, its body and reply in the wire format.
async fn send(env: &Env, name: &str, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let attempt = async {
        let stub = env.durable_object(GUARD_BINDING)?.id_from_name(name)?.get_stub()?.into_rpc::<GuardStub>();
        let headers = Headers::new();
        headers.set("Content-Type", WIRE_CONTENT_TYPE)?;
        let url = format!("https://phone-guard/{WIRE_VERSION}/{op}");
        let request = post_request(&url, &headers, &Uint8Array::from(body).into())?;
        let response: web_sys::Response = JsFuture::from(stub.fetch(request.inner())?).await?.dyn_into()?;
        if response.status() != 200 {
            return Err(worker::Error::RustError(format!("guard answered {}", response.status())));
        }
        let buffer = JsFuture::from(response.array_buffer()?).await?;
        Ok(Uint8Array::new(&buffer).to_vec())
    };
    attempt.await.map_err(|e: worker::Error| failed(op, &e.to_string()))
}

fn failed(op: &str, error: &str) -> ApiError {
    worker::console_error!("{}", serde_json::json!({ "guard_call": op, "error": error }));
    ApiError::storage_unavailable()
}

/// What the guard of a canonical number's other spelling holds (see
/// `number::spelling`); only numbers of Brazil, Mexico and Argentina have one, so
/// only they pay this one extra read. Nothing is written there.
pub async fn other_spelling_state(env: &Env, number: &str) -> Result<Option<OtherSpellingState>, ApiError> {
    match crate::core::phone::other_spelling(number) {
        Some(other) => call(env, &other, &ReadOtherSpelling {}).await,
        None => Ok(None),
    }
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
