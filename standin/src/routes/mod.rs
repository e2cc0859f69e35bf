//! HTTP routes, one module per surface: the Cloud API send, Graph's message templates,
//! the control calls tests drive, webhook deliveries to the worker, and Turnstile.

mod account;
mod cloud_api;
mod control;
mod control_body;
mod graph;
mod message_templates;
mod turnstile;
pub mod twilio;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::inbox::AppState;

type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(control::inbox_html))
        .route("/inbox", get(control::inbox_html))
        .route("/healthz", get(|| async { Json(json!({"ok": true})) }))
        .route("/{version}/{object_id}/messages", post(cloud_api::send_message))
        .route("/{version}/{object_id}/message_templates", get(message_templates::list).post(message_templates::create))
        .route("/{version}/debug_token", get(account::debug_token))
        .route("/{version}/{object_id}", get(account::phone_number))
        .route(
            "/{version}/{object_id}/subscribed_apps",
            get(account::subscribed_apps).post(account::subscribed_apps).delete(account::subscribed_apps),
        )
        .route("/control/account", post(account::control))
        .route("/control/account/reset", post(account::reset))
        .route("/control/fail", post(control::fail))
        .route("/control/reset", post(control::reset))
        .route("/control/inbox", get(control::inbox))
        .route("/control/webhooks", get(control::webhook_log))
        .route("/control/webhook-url", post(control::webhook_url))
        .route("/control/wa-id", post(control::wa_id))
        .route("/control/webhook/reply", post(webhooks::reply))
        .route("/control/webhook/status", post(webhooks::status))
        .route("/control/webhook/raw", post(webhooks::raw))
        .route("/control/templates/review", post(control::template_review))
        .route("/turnstile/v0/siteverify", post(turnstile::siteverify))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(twilio::send))
        .route("/control/twilio/fail", post(twilio::fail))
        .route("/control/twilio/status", post(twilio::status))
        .route("/control/sms", get(twilio::list))
        .route("/control/whatsapp/delivery", post(twilio::whatsapp_delivery))
        .fallback(|| async { control_error(StatusCode::NOT_FOUND, "not_found", "No such route") })
        .method_not_allowed_fallback(|| async {
            control_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed on this route")
        })
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One line per request on stderr; the path only (queries may hold phone numbers).
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    eprintln!("[meta-standin] {method} {path} -> {} ({} ms)", resp.status().as_u16(), started.elapsed().as_millis());
    resp
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn status_code(n: u16) -> StatusCode {
    StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Errors of the stand-in's own control API: `{"error":{"code":"slug","message":…}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, json!({"error": {"code": self.code, "message": self.message}}))
    }
}

fn control_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into() }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    control_error(StatusCode::BAD_REQUEST, "bad_request", message)
}
