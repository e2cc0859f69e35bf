//! Graph's reads of the business account that `otpctl doctor` makes: the token's
//! debug info, the phone number's fields, the subscribed apps (and subscribing);
//! and `/control/account`, which breaks one of them at a time.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::graph::{bearer_ok, is_version, unauthorized};
use super::{bad_request, json_response, ApiError, Shared};
use crate::account::{Account, AccountChange};
use crate::inbox::{AppState, DEFAULT_DISPLAY_PHONE_NUMBER, DEFAULT_PHONE_NUMBER_ID, DEFAULT_WABA_ID};
use crate::meta_errors;
use crate::util::now_secs;

/// Version, then the token (a revoked or expired one is refused everywhere, 190).
fn refuse(st: &AppState, version: &str, path: &str, headers: &HeaderMap) -> Option<Response> {
    if !is_version(version) {
        return Some(json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_path(path)));
    }
    let account = st.lock().account.clone();
    let expired = account.token_expires_at != 0 && account.token_expires_at <= now_secs();
    if !bearer_ok(headers, &st.config.access_token) || !account.token_valid || expired {
        return Some(unauthorized());
    }
    None
}

fn waba_id(st: &AppState) -> String {
    st.config.waba_id.clone().unwrap_or_else(|| DEFAULT_WABA_ID.into())
}

pub(super) async fn debug_token(
    State(st): State<Shared>,
    Path(version): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refuse(&st, &version, &format!("/{version}/debug_token"), &headers) {
        return resp;
    }
    match q.get("input_token") {
        None => json_response(
            StatusCode::BAD_REQUEST,
            meta_errors::new_graph_error("(#100) The parameter input_token is required", 100, None, None, None, None),
        ),
        // Another token than the stand-in's: not one it can parse.
        Some(input) if *input != st.config.access_token => json_response(
            StatusCode::OK,
            json!({"data": {"error": {"code": 190,
                "message": "Invalid OAuth access token - Cannot parse access token"}, "is_valid": false, "scopes": []}}),
        ),
        Some(_) => {
            let account = st.lock().account.clone();
            json_response(StatusCode::OK, account.debug_token(&waba_id(&st), now_secs()))
        }
    }
}

pub(super) async fn phone_number(
    State(st): State<Shared>,
    Path((version, object_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refuse(&st, &version, &format!("/{version}/{object_id}"), &headers) {
        return resp;
    }
    let known = st.config.phone_number_id.clone().unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.into());
    if object_id != known {
        return json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_object_for("get", &object_id));
    }
    let account = st.lock().account.clone();
    let display = format!("+{DEFAULT_DISPLAY_PHONE_NUMBER}");
    json_response(
        StatusCode::OK,
        account.phone_number(&object_id, &waba_id(&st), &display, q.get("fields").map(String::as_str)),
    )
}

/// GET lists the subscribed apps, POST subscribes the token's app, DELETE unsubscribes it.
pub(super) async fn subscribed_apps(
    State(st): State<Shared>,
    method: axum::http::Method,
    Path((version, object_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = refuse(&st, &version, &format!("/{version}/{object_id}/subscribed_apps"), &headers) {
        return resp;
    }
    if object_id != waba_id(&st) {
        let verb = method.as_str().to_ascii_lowercase();
        return json_response(StatusCode::BAD_REQUEST, meta_errors::unknown_object_for(&verb, &object_id));
    }
    let mut inner = st.lock();
    match method {
        axum::http::Method::GET => json_response(StatusCode::OK, inner.account.subscribed_apps()),
        m => {
            inner.account.subscribed = m == axum::http::Method::POST;
            json_response(StatusCode::OK, json!({"success": true}))
        }
    }
}

/// `POST /control/account`: see `account::AccountChange`; `{}` reads it back.
pub(super) async fn control(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let change: AccountChange = if body.iter().all(u8::is_ascii_whitespace) {
        AccountChange::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?
    };
    let mut inner = st.lock();
    inner.account.apply(change, now_secs());
    let a = &inner.account;
    Ok(json_response(
        StatusCode::OK,
        json!({"token_valid": a.token_valid, "token_expires_at": a.token_expires_at, "scopes": a.scopes,
            "subscribed": a.subscribed, "status": a.status, "platform_type": a.platform_type,
            "can_send_message": a.can_send_message, "messaging_limit_tier": a.messaging_limit_tier,
            "account_mode": a.account_mode, "quality_rating": a.quality_rating}),
    ))
}

/// `POST /control/account/reset`: healthy again.
pub(super) async fn reset(State(st): State<Shared>) -> Response {
    st.lock().account = Account::default();
    json_response(StatusCode::OK, json!({"ok": true}))
}
