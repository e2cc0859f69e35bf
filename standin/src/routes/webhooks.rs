//! Meta-style webhook deliveries to the worker: the `/control/webhook/*` commands
//! (a user's reply, a status, raw bytes) and the signed post every delivery goes
//! through, logged for `/control/webhooks`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::control_body::{self as field, read_body};
use super::{bad_request, control_error, json_response, ApiError, Shared};
use crate::inbox::AppState;
use crate::util::{mask_phone, new_wamid, now_ms, now_secs, phone_digits, rfc3339_ms};
use crate::webhook::{self, StatusUpdate, STATUSES};

/// Posts one delivery and records it in the webhook log.
pub(super) async fn deliver(
    st: &AppState,
    kind: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(u16, String), webhook::PostFailure> {
    let url = st.webhook_url().unwrap_or_default();
    let logged_body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let result = webhook::post(&st.http, &url, body, signature.as_deref()).await;
    let mut entry = json!({
        "at": rfc3339_ms(now_ms()),
        "kind": kind,
        "url": url,
        "signature": signature,
        "body": logged_body,
    });
    match &result {
        Ok((status, text)) => {
            entry["webhook_status"] = json!(status);
            entry["webhook_body"] = json!(text);
            eprintln!("[meta-standin] webhook {kind} -> {status}");
        }
        Err(f) => {
            entry["error"] = json!(f.message);
            eprintln!("[meta-standin] webhook {kind} failed: {}", f.message);
        }
    }
    st.log_webhook(entry);
    result
}

/// The bytes a built delivery is posted as, and their signature header.
pub(super) fn signed(st: &AppState, delivery: &Value) -> (Vec<u8>, Option<String>) {
    let body = serde_json::to_vec(delivery).unwrap_or_default();
    let sig = webhook::signature_header(&st.config.app_secret, &body);
    (body, Some(sig))
}

/// The body of a `/control/webhook/*` command; 409 first when there is nowhere to post.
fn read_command<T: DeserializeOwned>(st: &AppState, body: &[u8]) -> Result<T, ApiError> {
    if st.webhook_url().is_none() {
        return Err(control_error(
            StatusCode::CONFLICT,
            "no_webhook_url",
            "meta-standin was started without --webhook-url (or STANDIN_WEBHOOK_URL)",
        ));
    }
    read_body(body)
}

/// The answer of every `/control/webhook/*` command.
async fn post_and_answer(
    st: &AppState,
    kind: &str,
    message_id: Option<String>,
    delivery: Value,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<Response, ApiError> {
    match deliver(st, kind, body, signature).await {
        Ok((status, text)) => Ok(json_response(
            StatusCode::OK,
            json!({"message_id": message_id, "webhook_status": status, "webhook_body": text, "delivery": delivery}),
        )),
        Err(f) if f.timed_out => Err(control_error(StatusCode::GATEWAY_TIMEOUT, "webhook_timeout", f.message)),
        Err(f) => Err(control_error(StatusCode::BAD_GATEWAY, "webhook_unreachable", f.message)),
    }
}

/// A business-scoped user id, checked for its shape.
fn user_id(given: Option<String>, key: &str) -> Result<Option<String>, ApiError> {
    match given {
        Some(u) if !webhook::valid_user_id(&u) => {
            Err(bad_request(format!("'{key}' must be a BSUID like US.13491208655302741918")))
        }
        other => Ok(other),
    }
}

/// `POST /control/webhook/reply`: a text message from a user.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReplyBody {
    #[serde(deserialize_with = "field::string_or_number")]
    from: Option<String>,
    #[serde(deserialize_with = "field::string")]
    text: Option<String>,
    #[serde(deserialize_with = "field::string")]
    id: Option<String>,
    #[serde(deserialize_with = "field::string")]
    name: Option<String>,
    #[serde(deserialize_with = "field::string_or_number")]
    timestamp: Option<String>,
    #[serde(deserialize_with = "field::string")]
    user_id: Option<String>,
    /// A user who arrives by username: no phone number in the delivery.
    #[serde(deserialize_with = "field::boolean")]
    no_phone: Option<bool>,
    #[serde(deserialize_with = "field::string")]
    username: Option<String>,
    /// The message this one replies to.
    #[serde(deserialize_with = "field::string")]
    context_id: Option<String>,
}

pub(super) async fn reply(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: ReplyBody = read_command(&st, &body)?;
    let from = match body.from {
        Some(f) => Some(phone_digits(&f).ok_or_else(|| bad_request("'from' must be 8 to 15 digits"))?),
        // A reply to one of our messages comes from the account Meta delivered it to.
        None => {
            body.context_id.as_ref().and_then(|c| st.lock().inbox.iter().find(|m| &m.id == c).map(|m| m.wa_id.clone()))
        }
    };
    let user_id = match (user_id(body.user_id, "user_id")?, &from) {
        (Some(u), _) => u,
        (None, Some(f)) => webhook::user_id_for(f),
        (None, None) => return Err(bad_request("'from' or 'user_id' is required")),
    };
    let text = field::required(body.text, "text")?;
    let id = body.id.unwrap_or_else(|| new_wamid(from.as_deref().unwrap_or(&user_id)));
    let incoming = webhook::Incoming {
        from: if body.no_phone.unwrap_or(false) { None } else { from.clone() },
        user_id,
        name: body.name.unwrap_or_else(|| "Test User".into()),
        username: body.username,
        id: id.clone(),
        timestamp: body.timestamp.unwrap_or_else(|| now_secs().to_string()),
        body: text,
        context: body.context_id.map(|c| (st.business().display_phone_number, c)),
    };

    let delivery = webhook::incoming_text(&st.business(), &incoming);
    let (body, sig) = signed(&st, &delivery);
    match &incoming.from {
        Some(f) => eprintln!("[meta-standin] reply from {}", mask_phone(f)),
        None => eprintln!("[meta-standin] reply from a user id, no phone number"),
    }
    post_and_answer(&st, "reply", Some(id), delivery, body, sig).await
}

/// `POST /control/webhook/status`: a status update for a sent message.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StatusBody {
    #[serde(deserialize_with = "field::string")]
    message_id: Option<String>,
    #[serde(deserialize_with = "field::string_or_number")]
    recipient_id: Option<String>,
    #[serde(deserialize_with = "field::string")]
    recipient_user_id: Option<String>,
    /// Leaves `recipient_id` out: only the BSUID identifies the recipient.
    #[serde(deserialize_with = "field::boolean")]
    no_recipient: Option<bool>,
    #[serde(deserialize_with = "field::string")]
    status: Option<String>,
    /// Absent: echo what the send carried (as Meta does); explicit null: leave it out.
    #[serde(deserialize_with = "field::nullable_string")]
    biz_opaque_callback_data: Option<Option<String>>,
    #[serde(deserialize_with = "field::integer")]
    error_code: Option<i64>,
    #[serde(deserialize_with = "field::string")]
    error_details: Option<String>,
    #[serde(deserialize_with = "field::non_negative_integer")]
    timestamp: Option<u64>,
    /// Given at all (even null), it asks for pricing on any status.
    #[serde(deserialize_with = "field::nullable_string")]
    category: Option<Option<String>>,
    #[serde(deserialize_with = "field::boolean")]
    billable: Option<bool>,
    #[serde(deserialize_with = "field::string")]
    pricing_model: Option<String>,
    #[serde(deserialize_with = "field::boolean")]
    no_pricing: Option<bool>,
}

pub(super) async fn status(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: StatusBody = read_command(&st, &body)?;
    let update = status_update(&st, body)?;
    let delivery = webhook::status(&st.business(), &update);
    let (body, sig) = signed(&st, &delivery);
    let kind = format!("status:{}", update.status);
    post_and_answer(&st, &kind, Some(update.message_id), delivery, body, sig).await
}

/// The update a status command describes; what it leaves out comes from the inbox.
fn status_update(st: &AppState, body: StatusBody) -> Result<StatusUpdate, ApiError> {
    let message_id = field::required(body.message_id, "message_id")?;
    let status = field::one_of(field::required(body.status, "status")?, "status", &STATUSES)?;
    let known = st.lock().inbox.iter().find(|x| x.id == message_id).cloned();
    let recipient = match body.recipient_id {
        Some(r) => Some(phone_digits(&r).ok_or_else(|| bad_request("'recipient_id' must be 8 to 15 digits"))?),
        None => known.as_ref().map(|k| k.wa_id.clone()),
    };
    let recipient_user_id = match user_id(body.recipient_user_id, "recipient_user_id")? {
        Some(u) => Some(u),
        None => recipient.as_deref().map(webhook::user_id_for),
    };
    if recipient.is_none() && recipient_user_id.is_none() {
        return Err(bad_request("'recipient_id' or 'recipient_user_id' is required for a message id not in the inbox"));
    }
    let biz_opaque_callback_data = match body.biz_opaque_callback_data {
        Some(given) => given,
        None => known.as_ref().and_then(|k| k.message.biz_opaque_callback_data.clone()),
    };
    let category_given = body.category.is_some();
    let category = body
        .category
        .flatten()
        .unwrap_or_else(|| known.as_ref().map_or("authentication", |k| k.category()).to_string());
    // Pricing: sent/delivered by default; any pricing field asks for it on other statuses too.
    let pricing = if body.no_pricing.unwrap_or(false) {
        None
    } else if body.billable.is_some() || body.pricing_model.is_some() || category_given {
        Some(webhook::Pricing {
            billable: body.billable.unwrap_or(true),
            pricing_model: body.pricing_model.unwrap_or_else(|| "PMP".into()),
            category,
        })
    } else {
        webhook::default_pricing(&status, &category)
    };
    Ok(StatusUpdate {
        message_id,
        recipient_id: if body.no_recipient.unwrap_or(false) { None } else { recipient },
        recipient_user_id,
        status,
        timestamp: body.timestamp.unwrap_or_else(now_secs),
        biz_opaque_callback_data,
        pricing,
        error_code: body.error_code,
        error_details: body.error_details,
    })
}

/// `POST /control/webhook/raw`: any payload, signed or not.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawBody {
    /// A JSON value, or a string sent as the exact body.
    #[serde(deserialize_with = "field::any_value")]
    payload: Option<Value>,
    /// `valid` (the default), `missing`, `forged`, or a literal header.
    #[serde(deserialize_with = "field::string")]
    signature: Option<String>,
}

/// The first `messages[].id` or `statuses[].id` of a delivery, if any.
fn delivery_message_id(v: &Value) -> Option<String> {
    let value = v.get("entry")?.get(0)?.get("changes")?.get(0)?.get("value")?;
    let list = value.get("messages").or_else(|| value.get("statuses"))?;
    Some(list.get(0)?.get("id")?.as_str()?.to_string())
}

pub(super) async fn raw(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: RawBody = read_command(&st, &body)?;
    let (raw, delivery) = match body.payload {
        None => return Err(bad_request("'payload' is required")),
        Some(Value::String(s)) => {
            (s.as_bytes().to_vec(), serde_json::from_str::<Value>(&s).unwrap_or_else(|_| Value::String(s.clone())))
        }
        Some(v) => (serde_json::to_vec(&v).unwrap_or_default(), v),
    };
    let secret = &st.config.app_secret;
    let signature = match body.signature.as_deref() {
        None | Some("valid") => Some(webhook::signature_header(secret, &raw)),
        Some("missing") => None,
        Some("forged") => Some(webhook::signature_header(&format!("forged-{secret}"), &raw)),
        Some(literal) => Some(literal.to_string()),
    };
    let message_id = delivery_message_id(&delivery);
    post_and_answer(&st, "raw", message_id, delivery, raw, signature).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_message_ids_in_deliveries() {
        let v = crate::samples::load("incoming-text.json");
        assert_eq!(
            delivery_message_id(&v).as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
        );
        let v = crate::samples::load("status-read.json");
        assert!(delivery_message_id(&v).unwrap().starts_with("wamid."));
        assert_eq!(delivery_message_id(&json!({"x": 1})), None);
    }
}
