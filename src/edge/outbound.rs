//! Outbound HTTP: the Cloud API (timeout, one retry for transient failures) and
//! Turnstile.

use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::Value;
use worker::wasm_bindgen::JsValue;
use worker::{web_sys, AbortController, Delay, Fetch, Headers, Request};

use crate::core::cloud_api::{read_send_response, SendFailure, SentMessage, SEND_TIMEOUT_MS};
use crate::core::config::Config;

pub enum FetchError {
    Timeout,
    Network(String),
}

/// A POST of `body` to `url` (the Cloud API, Turnstile, a guard object). Built on
/// `web_sys` directly: `worker::RequestInit` also converts every Cloudflare `cf` option
/// (image resizing and the rest), ~15 KB of wasm (6 KB gzip) this worker never uses.
/// `body` is a JS string or byte array.
pub fn post_request(url: &str, headers: &Headers, body: &JsValue) -> worker::Result<Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(headers.as_ref());
    init.set_body(body);
    Ok(Request::from(web_sys::Request::new_with_str_and_init(url, &init)?))
}

/// POSTs `body` and returns (status, text), abandoning the request after `timeout_ms`.
pub async fn post(url: &str, headers: Headers, body: String, timeout_ms: u64) -> Result<(u16, String), FetchError> {
    let request =
        post_request(url, &headers, &JsValue::from_str(&body)).map_err(|e| FetchError::Network(e.to_string()))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let exchange = async move {
        let mut response = fetch.send_with_signal(&signal).await?;
        let text = response.text().await?;
        Ok::<_, worker::Error>((response.status_code(), text))
    };
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    match select(Box::pin(exchange), Box::pin(timeout)).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(FetchError::Network(e.to_string())),
        Either::Right(_) => {
            controller.abort();
            Err(FetchError::Timeout)
        }
    }
}

fn json_headers() -> Headers {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    headers
}

/// Sends one message through the Cloud API; `Ok` is Meta's message id and `wa_id`.
pub async fn send_message(config: &Config, message: &Value) -> Result<SentMessage, SendFailure> {
    let url = config.meta.messages_url();
    let body = message.to_string();
    let mut tries = 0;
    loop {
        tries += 1;
        let headers = json_headers();
        let _ = headers.set("Authorization", &format!("Bearer {}", config.meta.access_token.expose()));
        let outcome = match post(&url, headers, body.clone(), SEND_TIMEOUT_MS).await {
            Ok((status, text)) => read_send_response(status, &text),
            Err(FetchError::Timeout) => Err(SendFailure::timeout()),
            Err(FetchError::Network(detail)) => {
                worker::console_error!("cloud api unreachable: {detail}");
                Err(SendFailure::network())
            }
        };
        match outcome {
            Err(failure) if failure.transient && tries < 2 => continue,
            other => return other,
        }
    }
}

/// Cloudflare Turnstile's siteverify; any failure to ask counts as a failed check.
pub async fn turnstile_passes(config: &Config, secret: &str, token: &str, ip: Option<&str>) -> bool {
    let mut body = serde_json::json!({ "secret": secret, "response": token });
    if let Some(ip) = ip {
        body["remoteip"] = ip.into();
    }
    match post(&config.web.turnstile_verify_url, json_headers(), body.to_string(), 5_000).await {
        Ok((200, text)) => {
            serde_json::from_str::<Value>(&text).ok().and_then(|v| v["success"].as_bool()).unwrap_or(false)
        }
        _ => false,
    }
}
