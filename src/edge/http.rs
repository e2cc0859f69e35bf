//! HTTP plumbing: what handlers return, and how it becomes a `Response`.

use js_sys::{Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::ReadableStreamDefaultReader;
use worker::{Headers, Request, Response, Result};

use crate::core::config::AllowedOrigins;
use crate::core::csp::page_policy;
use crate::core::error::ApiError;

/// What a handler produces; the router turns it into a `Response`.
pub enum Reply {
    Json(u16, Value),
    Text(u16, String),
    Html(String),
    /// A public document (script, OpenAPI file, key set) with its own type and caching.
    Asset {
        content_type: &'static str,
        cache_control: &'static str,
        body: String,
    },
    NoContent,
}

pub type Handled = std::result::Result<Reply, ApiError>;

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Reads at most `limit` bytes. With a `Content-Length` (the runtime holds the body
/// to it), a larger one is refused before anything is read. Without one (a chunked
/// upload), the body is read as a stream with a byte counter and refused as soon as
/// it passes the limit, without reading the rest.
/// Bodies declared up to this size are read (and dropped) even when over the limit.
const DRAINED_EXCESS: usize = 64 * 1024;

pub async fn read_body(req: &mut Request, limit: usize) -> std::result::Result<Vec<u8>, ApiError> {
    let unreadable = |_| ApiError::invalid_request("body", "The body could not be read.");
    let declared = header(req, "Content-Length").and_then(|l| l.trim().parse::<usize>().ok());
    let body = match declared {
        // A modest excess is read and dropped, so the connection ends cleanly (a body
        // left half-sent can break the client's next request on the same connection);
        // a large one is refused at once.
        Some(len) if len > limit && len <= DRAINED_EXCESS => {
            let _ = req.bytes().await;
            return Err(ApiError::payload_too_large(limit));
        }
        Some(len) if len > limit => return Err(ApiError::payload_too_large(limit)),
        Some(_) => req.bytes().await.map_err(unreadable)?,
        None => read_stream(req, limit).await?,
    };
    if body.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(body)
}

async fn read_stream(req: &Request, limit: usize) -> std::result::Result<Vec<u8>, ApiError> {
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let unreadable = |_| ApiError::invalid_request("body", "The body could not be read.");
    // A reader of our own, not `Request::stream`: that one cancels the upload when it
    // is dropped, and a cancelled upload can lose the 413 on its way out. Releasing
    // the lock stops reading and leaves the rest of the body unread.
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        if Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            reader.release_lock();
            return Ok(body);
        }
        let bytes: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(unreadable)?.unchecked_into();
        if body.len() + bytes.length() as usize > limit {
            reader.release_lock();
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend(bytes.to_vec());
    }
}

fn json_response(status: u16, body: &Value) -> Result<Response> {
    let mut resp = Response::from_bytes(serde_json::to_vec(body).unwrap_or_default())?.with_status(status);
    resp.headers_mut().set("Content-Type", "application/json; charset=utf-8")?;
    Ok(resp)
}

pub fn to_response(handled: Handled) -> Result<Response> {
    let cache_control = match &handled {
        Ok(Reply::Asset { cache_control, .. }) => *cache_control,
        // Bodies carry tokens and codes: never cached.
        _ => "no-store",
    };
    let mut resp = build(handled)?;
    let headers = resp.headers_mut();
    headers.set("Cache-Control", cache_control)?;
    // Never sniffed into something else.
    headers.set("X-Content-Type-Options", "nosniff")?;
    Ok(resp)
}

fn build(handled: Handled) -> Result<Response> {
    match handled {
        Ok(Reply::Json(status, body)) => json_response(status, &body),
        Ok(Reply::Text(status, text)) => {
            let mut resp = Response::ok(text)?.with_status(status);
            resp.headers_mut().set("Content-Type", "text/plain; charset=utf-8")?;
            Ok(resp)
        }
        Ok(Reply::Html(html)) => {
            let policy = page_policy(&html);
            let mut resp = Response::from_html(html)?;
            let headers = resp.headers_mut();
            headers.set("Content-Security-Policy", &policy)?;
            // The sites the pages link to (wa.me) learn nothing of where the user was.
            headers.set("Referrer-Policy", "no-referrer")?;
            Ok(resp)
        }
        Ok(Reply::Asset { content_type, body, .. }) => {
            let mut resp = Response::ok(body)?;
            resp.headers_mut().set("Content-Type", content_type)?;
            Ok(resp)
        }
        Ok(Reply::NoContent) => Ok(Response::empty()?.with_status(204)),
        Err(e) => {
            let mut resp = json_response(e.status(), &e.body())?;
            if let Some(seconds) = e.retry_after {
                resp.headers_mut().set("Retry-After", &seconds.to_string())?;
            }
            if let Some(allow) = e.allow {
                resp.headers_mut().set("Allow", allow)?;
            }
            Ok(resp)
        }
    }
}

/// Adds CORS headers when the request's `Origin` is allowed.
pub fn apply_cors(resp: &mut Response, origin: Option<&str>, allowed: &AllowedOrigins, preflight: bool) -> Result<()> {
    let Some(origin) = origin.filter(|o| allowed.allows(o)) else {
        return Ok(());
    };
    let headers: &mut Headers = resp.headers_mut();
    headers.set("Access-Control-Allow-Origin", origin)?;
    headers.append("Vary", "Origin")?;
    headers.set("Access-Control-Expose-Headers", "Retry-After")?;
    if preflight {
        headers.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
        headers.set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key")?;
        headers.set("Access-Control-Max-Age", "86400")?;
    }
    Ok(())
}
