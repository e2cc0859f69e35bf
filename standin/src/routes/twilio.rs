//! Twilio's Programmable Messaging, as far as the worker uses it: the Messages
//! endpoint (HTTP Basic auth, form-encoded, Twilio's JSON errors and its validation
//! codes), SMS kept in the inbox marked as SMS, scripted failures, and signed status
//! callbacks (`X-Twilio-Signature`) sent on command.
//!
//! The stand-in's Twilio account: `TWILIO_ACCOUNT_SID` = [`ACCOUNT_SID`],
//! `TWILIO_AUTH_TOKEN` = [`AUTH_TOKEN`]. Twilio's magic test numbers answer as Twilio
//! documents them: +15005550001 → 21211 (invalid), +15005550003 → 21408 (region not
//! enabled), +15005550004 → 21610 (STOP), +15005550009 → 21614 (not a mobile).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::Sha1;

use super::control_body::{self as field, read_body};
use super::{bad_request, json_response, ApiError, Shared};
use crate::util::{base64, mask_phone, now_ms, parse_form, random_bytes, rfc3339_ms};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "dev-twilio-auth-token-0123456789";

/// One SMS the Messages endpoint took.
#[derive(Debug, Clone)]
pub struct Sms {
    pub sid: String,
    pub to_digits: String,
    pub from: String,
    pub body: String,
    pub status_callback: Option<String>,
    pub received_at_ms: u64,
}

impl Sms {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.sid,
            "sid": self.sid,
            "channel": "sms",
            "type": "sms",
            "to": self.to_digits,
            "from": self.from,
            "text": self.body,
            "code": first_code(&self.body),
            "received_at": rfc3339_ms(self.received_at_ms),
            "received_at_ms": self.received_at_ms,
        })
    }
}

/// The first run of 6 to 10 digits: the code, as a person reads it.
fn first_code(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit()).find(|run| (6..=10).contains(&run.len())).map(str::to_string)
}

/// A scripted outcome for coming SMS sends.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsScript {
    pub to: Option<String>,
    pub code: i64,
    pub http_status: u16,
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn basic_auth_ok(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", base64(format!("{ACCOUNT_SID}:{AUTH_TOKEN}").as_bytes()));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json`.
pub(super) async fn send(
    State(st): State<Shared>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if account != ACCOUNT_SID || !basic_auth_ok(&headers) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(to) = get("To") else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let from = get("From").or_else(|| get("MessagingServiceSid"));
    let Some(from) = from else {
        return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.");
    };
    let Some(text) = get("Body").filter(|b| !b.is_empty()) else {
        return twilio_error(400, 21602, "Message body is required.");
    };
    let digits = to.strip_prefix('+').filter(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    let Some(digits) = digits.map(str::to_string) else {
        return twilio_error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    };
    match digits.as_str() {
        "15005550001" => return twilio_error(400, 21211, "The 'To' number is not a valid phone number."),
        "15005550003" => {
            return twilio_error(400, 21408, "Permission to send an SMS has not been enabled for the region.")
        }
        "15005550004" => return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        "15005550009" => return twilio_error(400, 21614, "'To' number is not a valid mobile number"),
        _ => {}
    }
    let scripted = {
        let mut inner = st.lock();
        let at = inner.sms_scripts.iter().position(|s| s.to.is_none() || s.to.as_deref() == Some(digits.as_str()));
        at.and_then(|i| inner.sms_scripts.remove(i))
    };
    if let Some(script) = scripted {
        eprintln!("[meta-standin] twilio: scripted {} for {}", script.code, mask_phone(&digits));
        return twilio_error(script.http_status, script.code, "Scripted failure");
    }
    let mut id = [0u8; 16];
    random_bytes(&mut id);
    let sms = Sms {
        sid: format!("SM{}", hex::encode(id)),
        to_digits: digits,
        from: from.clone(),
        body: text.clone(),
        status_callback: get("StatusCallback"),
        received_at_ms: now_ms(),
    };
    let answer = json!({
        "sid": sms.sid,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "from": from,
        "body": text,
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
    });
    eprintln!("[meta-standin] twilio: SMS {} to {}", sms.sid, mask_phone(&sms.to_digits));
    st.lock().sms.push(sms);
    json_response(StatusCode::CREATED, answer)
}

/// `POST /control/twilio/fail`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FailBody {
    #[serde(deserialize_with = "field::string")]
    to: Option<String>,
    #[serde(deserialize_with = "field::integer")]
    code: Option<i64>,
    #[serde(deserialize_with = "field::non_negative_integer")]
    http_status: Option<u64>,
    #[serde(deserialize_with = "field::non_negative_integer")]
    count: Option<u64>,
}

/// Scripts the next `count` SMS sends (to `to`, or any) to fail with Twilio's `code`.
pub(super) async fn fail(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: FailBody = read_body(&body)?;
    let code = field::required(body.code, "code")?;
    let http_status = match body.http_status.unwrap_or(400) {
        s @ 400..=599 => s as u16,
        _ => return Err(bad_request("'http_status' must be between 400 and 599")),
    };
    let count = body.count.unwrap_or(1).clamp(1, 10_000);
    let script = SmsScript { to: body.to.map(|t| t.trim_start_matches('+').to_string()), code, http_status };
    let mut inner = st.lock();
    for _ in 0..count {
        inner.sms_scripts.push_back(script.clone());
    }
    Ok(json_response(StatusCode::OK, json!({"queued": inner.sms_scripts.len()})))
}

/// `GET /control/sms?to=`: the SMS taken, oldest first.
pub(super) async fn list(State(st): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    json_response(StatusCode::OK, json!({"messages": sms_json(&st, q.get("to").map(String::as_str))}))
}

/// The SMS to `to` (digits or E.164), or all.
pub fn sms_json(st: &Shared, to: Option<&str>) -> Vec<Value> {
    let want = to.map(|t| t.trim().trim_start_matches('+').to_string());
    st.lock().sms.iter().filter(|s| want.as_ref().is_none_or(|w| *w == s.to_digits)).map(Sms::to_json).collect()
}

/// `X-Twilio-Signature` as Twilio computes it.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64(&mac.finalize().into_bytes())
}

/// `POST /control/twilio/status`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StatusBody {
    #[serde(deserialize_with = "field::string")]
    sid: Option<String>,
    #[serde(deserialize_with = "field::string")]
    status: Option<String>,
    #[serde(deserialize_with = "field::integer")]
    error_code: Option<i64>,
}

const CALLBACK_STATUSES: [&str; 5] = ["queued", "sent", "delivered", "undelivered", "failed"];

/// Posts a signed status callback for the SMS `sid` to its `StatusCallback`, as
/// Twilio does; answers with what the worker said.
pub(super) async fn status(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: StatusBody = read_body(&body)?;
    let sid = field::required(body.sid, "sid")?;
    let status = field::one_of(field::required(body.status, "status")?, "status", &CALLBACK_STATUSES)?;
    let sms = st.lock().sms.iter().find(|s| s.sid == sid).cloned();
    let sms = sms.ok_or_else(|| bad_request("no SMS with that 'sid'"))?;
    let url = sms.status_callback.clone().ok_or_else(|| bad_request("that SMS had no StatusCallback"))?;
    let mut params = vec![
        ("AccountSid".to_string(), ACCOUNT_SID.to_string()),
        ("ApiVersion".to_string(), "2010-04-01".to_string()),
        ("From".to_string(), sms.from.clone()),
        ("MessageSid".to_string(), sms.sid.clone()),
        ("MessageStatus".to_string(), status.clone()),
        ("SmsSid".to_string(), sms.sid.clone()),
        ("SmsStatus".to_string(), status.clone()),
        ("To".to_string(), format!("+{}", sms.to_digits)),
    ];
    if let Some(code) = body.error_code {
        params.push(("ErrorCode".to_string(), code.to_string()));
    }
    let form: String = params
        .iter()
        .map(|(k, v)| format!("{}={}", crate::util::percent_encode(k), crate::util::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = st
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature(AUTH_TOKEN, &url, &params))
        .body(form)
        .send()
        .await;
    let (code, text) = match response {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => return Err(super::control_error(StatusCode::BAD_GATEWAY, "callback_failed", e.to_string())),
    };
    eprintln!("[meta-standin] twilio: status {status} for {sid} -> {code}");
    Ok(json_response(StatusCode::OK, json!({"callback_status": code, "callback_body": text})))
}

/// `POST /control/whatsapp/delivery`: what happens to coming WhatsApp messages to
/// `to` after the send: `stay_sent` (one `sent` status, never `delivered`), `fail`
/// (a `failed` status with 131026), or `normal` (forget the script).
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DeliveryBody {
    #[serde(deserialize_with = "field::string")]
    to: Option<String>,
    #[serde(deserialize_with = "field::string")]
    outcome: Option<String>,
}

pub(super) async fn whatsapp_delivery(State(st): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: DeliveryBody = read_body(&body)?;
    let to = field::required(body.to, "to")?.trim_start_matches('+').to_string();
    let outcome = field::required(body.outcome, "outcome")?;
    let mut inner = st.lock();
    match outcome.as_str() {
        "stay_sent" | "fail" => inner.whatsapp_outcomes.insert(to.clone(), outcome.clone()),
        "normal" => inner.whatsapp_outcomes.remove(&to),
        _ => return Err(bad_request("'outcome' must be stay_sent, fail or normal")),
    };
    Ok(json_response(StatusCode::OK, json!({"to": to, "outcome": outcome})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }

    #[test]
    fn the_code_is_found_in_the_text() {
        assert_eq!(first_code("123456 is your Acme code. Valid for 5 min.").as_deref(), Some("123456"));
        assert_eq!(first_code("Valid for 5 min.\n\n@x.com #12345678").as_deref(), Some("12345678"));
        assert_eq!(first_code("no code"), None);
    }
}
