//! The public API's inputs and outputs, free of any HTTP library:
//! bodies in, typed requests or `ApiError`s out; guard replies in, JSON out.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::code::{is_request_id, normalize_typed_code};
use super::config::Config;
use super::error::ApiError;
use super::guard::number::DeliveryView;
use super::guard::number::{AttemptOutcome, ReserveOk};
use super::guard::protocol::{AttemptReply, IdempotencyKey, ReserveReply};
use super::guard::{Mode, RequestStatus, RequestView};
use super::phone::{canonical_phone, parse_phone, PhoneError};
use super::record::CodeRecord;
use super::sms::ChannelChoice;
use super::time::{rfc3339, secs_until};
use super::token::IssuedToken;

pub const API_BODY_LIMIT: usize = 4 * 1024;
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;
const MAX_IDEMPOTENCY_KEY: usize = 255;

#[derive(Debug, Clone, PartialEq)]
pub struct OtpRequest {
    /// The canonical form (`canonical_phone`): the number's guard, record, token, logs.
    pub phone: String,
    /// The number as typed (normalised to E.164): what the code is sent to.
    pub recipient: String,
    pub language: Option<String>,
    pub mode: Mode,
    pub turnstile_token: Option<String>,
    /// `channel`: `auto` unless asked otherwise.
    pub channel: ChannelChoice,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VerifyTarget {
    RequestId(String),
    Phone(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyRequest {
    pub target: VerifyTarget,
    pub code: String,
}

/// Content type, size and JSON-object checks shared by every JSON route.
pub fn json_object(content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > API_BODY_LIMIT {
        return Err(ApiError::payload_too_large(API_BODY_LIMIT));
    }
    let is_json = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    // Text first, then `from_str`: every JSON reader in the worker then shares one
    // parser instead of a second copy for byte slices.
    let text = std::str::from_utf8(body).map_err(|e| ApiError::invalid_json(&e.to_string()))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_request("body", "The body must be a JSON object.")),
        Err(e) => Err(ApiError::invalid_json(&e.to_string())),
    }
}

fn optional_string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_request(field, format!("`{field}` must be a string."))),
    }
}

fn required_string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    optional_string(body, field)?.ok_or_else(|| ApiError::invalid_request(field, format!("`{field}` is required.")))
}

fn phone_field(body: &Map<String, Value>, config: &Config) -> Result<String, ApiError> {
    parse_phone(required_string(body, "phone")?, &config.limits.allowed_country_codes).map_err(|e| match e {
        PhoneError::Invalid => ApiError::invalid_phone(),
        PhoneError::CountryNotAllowed => ApiError::country_not_allowed(),
    })
}

/// `en_US`, `pt_BR`, `en`; `en-US` is accepted and written Meta's way.
fn language_field(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(locale) = optional_string(body, "locale")? else {
        return Ok(None);
    };
    let locale = locale.replace('-', "_");
    let valid = match locale.split_once('_') {
        None => (2..=3).contains(&locale.len()) && locale.bytes().all(|b| b.is_ascii_lowercase()),
        Some((lang, region)) => {
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && (2..=4).contains(&region.len())
                && region.bytes().all(|b| b.is_ascii_alphanumeric())
        }
    };
    if valid {
        Ok(Some(locale))
    } else {
        Err(ApiError::invalid_request("locale", "`locale` must look like en_US."))
    }
}

pub fn parse_otp_request(content_type: Option<&str>, body: &[u8], config: &Config) -> Result<OtpRequest, ApiError> {
    let body = json_object(content_type, body)?;
    let mode = match optional_string(&body, "mode")? {
        None | Some("outbound") => Mode::Outbound,
        Some("inbound") => Mode::Inbound,
        Some(_) => return Err(ApiError::invalid_request("mode", "`mode` must be \"outbound\" or \"inbound\".")),
    };
    let language = language_field(&body)?;
    let turnstile_token = optional_string(&body, "turnstile_token")?.map(str::to_string);
    if turnstile_token.as_ref().is_some_and(|t| t.len() > 2048) {
        return Err(ApiError::invalid_request("turnstile_token", "`turnstile_token` is too long."));
    }
    let channel = match optional_string(&body, "channel")? {
        None => ChannelChoice::Auto,
        Some(word) => ChannelChoice::parse(word).ok_or_else(|| {
            ApiError::invalid_request("channel", "`channel` must be \"auto\", \"whatsapp\" or \"sms\".")
        })?,
    };
    let recipient = phone_field(&body, config)?;
    let phone = canonical_phone(&recipient);
    Ok(OtpRequest { phone, recipient, language, mode, turnstile_token, channel })
}

pub fn parse_verify_request(
    content_type: Option<&str>,
    body: &[u8],
    config: &Config,
) -> Result<VerifyRequest, ApiError> {
    let body = json_object(content_type, body)?;
    let code_field = required_string(&body, "code")?;
    let target = match optional_string(&body, "request_id")? {
        Some(id) if is_request_id(id) => VerifyTarget::RequestId(id.to_string()),
        Some(_) => return Err(ApiError::invalid_request("request_id", "`request_id` is not a request id.")),
        None if body.get("phone").is_some() => VerifyTarget::Phone(canonical_phone(&phone_field(&body, config)?)),
        None => return Err(ApiError::invalid_request("request_id", "`request_id` or `phone` is required.")),
    };
    let code = normalize_typed_code(code_field, config.codes.length)
        .ok_or_else(|| ApiError::invalid_request("code", format!("`code` must be {} digits.", config.codes.length)))?;
    Ok(VerifyRequest { target, code })
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn parse_idempotency_key(header: Option<&str>) -> Result<Option<String>, ApiError> {
    match header {
        None => Ok(None),
        Some(key)
            if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        Some(_) => Err(ApiError::invalid_request(
            "Idempotency-Key",
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
        )),
    }
}

/// `POST /v1/otp/status {"request_id","client_secret"}`: the id alone is in logs and URLs.
pub fn parse_status_request(content_type: Option<&str>, body: &[u8]) -> Result<(String, String), ApiError> {
    let body = json_object(content_type, body)?;
    match required_string(&body, "request_id")? {
        id if is_request_id(id) => Ok((id.to_string(), required_string(&body, "client_secret")?.to_string())),
        _ => Err(ApiError::invalid_request("request_id", "`request_id` is not a request id.")),
    }
}

/// An `Idempotency-Key` scoped to the caller's address and to the request itself.
pub fn idempotency_scope(key: &str, address_key: &str, request: &OtpRequest) -> IdempotencyKey {
    let mut slot = Sha256::new();
    for part in [address_key, "\0", key] {
        slot.update(part.as_bytes());
    }
    let mut fingerprint = Sha256::new();
    let mode = match request.mode {
        Mode::Outbound => "outbound",
        Mode::Inbound => "inbound",
    };
    for part in [request.phone.as_str(), "\0", mode, "\0", request.language.as_deref().unwrap_or("")] {
        fingerprint.update(part.as_bytes());
    }
    // `auto` adds nothing, so keys given before channels existed keep their meaning.
    match request.channel {
        ChannelChoice::Auto => {}
        ChannelChoice::WhatsApp => fingerprint.update(b"\0whatsapp"),
        ChannelChoice::Sms => fingerprint.update(b"\0sms"),
    }
    IdempotencyKey {
        slot: hex::encode(&slot.finalize()[..16]),
        fingerprint: hex::encode(&fingerprint.finalize()[..16]),
    }
}

/// The guard's refusal of a send, as the contract's error (`None`: reserved or replayed).
pub fn reserve_error(reply: &ReserveReply) -> Option<ApiError> {
    Some(match reply {
        ReserveReply::Reserved(_) | ReserveReply::Replay { .. } => return None,
        ReserveReply::InProgress => ApiError::request_in_progress(),
        ReserveReply::KeyReused => ApiError::idempotency_key_reused(),
        ReserveReply::OptedOut => ApiError::opted_out(),
        ReserveReply::Limited { retry_after_s, reason } => ApiError::rate_limited(*retry_after_s, *reason),
    })
}

/// What a reserved send tells the caller.
pub fn reserved(reply: &ReserveReply) -> Option<ReserveOk> {
    match reply {
        ReserveReply::Reserved(ok) => Some(*ok),
        _ => None,
    }
}

/// A verify attempt's refusal as the contract's error (`None`: verified).
pub fn attempt_error(reply: &AttemptReply) -> Option<ApiError> {
    Some(match reply.outcome {
        AttemptOutcome::Verified { .. } => return None,
        AttemptOutcome::Wrong { attempts_left } => ApiError::invalid_code(attempts_left),
        AttemptOutcome::Locked => ApiError::too_many_attempts(reply.retry_after_s),
        AttemptOutcome::AlreadyVerified => ApiError::already_verified(),
        AttemptOutcome::Revoked => ApiError::revoked(),
        AttemptOutcome::Expired => ApiError::expired(),
        AttemptOutcome::Superseded => ApiError::superseded(),
        AttemptOutcome::NotFound | AttemptOutcome::Duplicate | AttemptOutcome::TooOld => {
            ApiError::not_found("live request")
        }
        AttemptOutcome::WrongChannel => ApiError::invalid_request(
            "request_id",
            "This is an inbound request: it is verified by sending the code from WhatsApp, not through this API.",
        ),
    })
}

/// A verify by request id that did not verify, as the contract's error. The guard
/// forgets requests a while after they end; the record still knows when it expired.
pub fn verify_error(reply: &AttemptReply, record: &CodeRecord, now_ms: u64) -> ApiError {
    match reply.outcome {
        AttemptOutcome::NotFound if now_ms >= record.expires_ms => ApiError::expired(),
        _ => attempt_error(reply).unwrap_or_else(ApiError::storage_unavailable),
    }
}

/// The status of a request its guard has forgotten, from its record alone.
pub fn forgotten_view(request_id: &str, record: &CodeRecord, now_ms: u64) -> RequestView {
    RequestView {
        request_id: request_id.to_string(),
        mode: record.mode,
        status: if now_ms >= record.expires_ms { RequestStatus::Expired } else { RequestStatus::Pending },
        live: false,
        created_ms: record.created_ms,
        expires_ms: record.expires_ms,
        attempts_left: 0,
        resend_after_s: 0,
        delivery: None,
        deliveries: Vec::new(),
        verified: None,
        locale: record.locale.clone(),
    }
}

/// The 202 body of `POST /v1/otp/request`.
pub fn accepted_body(request_id: &str, expires_ms: u64, resend_after_s: u64, attempts_left: u32, now_ms: u64) -> Value {
    json!({
        "request_id": request_id,
        "status": "pending",
        "expires_at": rfc3339(expires_ms),
        "expires_in": secs_until(now_ms, expires_ms),
        "resend_after": resend_after_s,
        "attempts_left": attempts_left,
    })
}

/// `https://wa.me/<business number>?text=<message>`: the user taps it and sends the code.
pub fn wa_link(business_number: &str, service: &str, code: &str) -> String {
    let text = inbound_message(service, code);
    format!("https://wa.me/{business_number}?text={}", utf8_percent_encode(&text, NON_ALPHANUMERIC))
}

/// The prefilled text names the service and says what sending it does, so a person
/// tricked into sending it can see that it signs someone in.
pub fn inbound_message(service: &str, code: &str) -> String {
    format!("Sign me in to {service}. My verification code is {code}")
}

pub fn verified_body(request_id: &str, token: &IssuedToken) -> Value {
    json!({
        "verified": true,
        "request_id": request_id,
        "token": token.token,
        "token_expires_at": rfc3339(token.expires_ms),
    })
}

/// One leg of a request, as the status routes show it.
fn delivery_body(delivery: &DeliveryView) -> Value {
    let mut d = json!({
        "channel": delivery.channel.as_str(),
        "status": delivery.status.as_str(),
        "updated_at": rfc3339(delivery.updated_ms),
    });
    if let Some(code) = delivery.error_code {
        d["error_code"] = code.into();
    }
    if let Some(category) = &delivery.pricing_category {
        d["pricing_category"] = category.clone().into();
    }
    if let Some(reason) = delivery.fallback_reason {
        d["fallback_reason"] = reason.as_str().into();
    }
    d
}

/// The 200 body of the status routes (the token only from `POST /v1/otp/status`).
pub fn status_body(view: &RequestView, token: Option<&IssuedToken>) -> Value {
    let mut body = json!({
        "request_id": view.request_id,
        "status": view.status.as_str(),
        "expires_at": rfc3339(view.expires_ms),
        "resend_after": view.resend_after_s,
        "attempts_left": view.attempts_left,
    });
    if let Some(delivery) = &view.delivery {
        body["delivery"] = delivery_body(delivery);
        body["channel"] = delivery.channel.as_str().into();
    }
    if !view.deliveries.is_empty() {
        body["deliveries"] = view.deliveries.iter().map(delivery_body).collect();
    }
    if let Some((_, via)) = view.verified {
        body["verified_via"] = json!(via);
    }
    if let Some(token) = token {
        body["token"] = token.token.clone().into();
        body["token_expires_at"] = rfc3339(token.expires_ms).into();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::tests::full;
    use crate::core::guard::{DeliveryStatus, LimitReason, VerifiedVia};

    fn config() -> Config {
        let map = full();
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    const JSON: Option<&str> = Some("application/json");

    fn request(body: &str) -> Result<OtpRequest, ApiError> {
        parse_otp_request(JSON, body.as_bytes(), &config())
    }

    fn verify(body: &str) -> Result<VerifyRequest, ApiError> {
        parse_verify_request(JSON, body.as_bytes(), &config())
    }

    #[test]
    fn a_request_body_is_normalised() {
        let r = request(r#"{"phone":"+1 (415) 555-0123","locale":"pt-BR","mode":"inbound"}"#).unwrap();
        assert_eq!(r.phone, "+14155550123");
        assert_eq!(r.language.as_deref(), Some("pt_BR"));
        assert_eq!(r.mode, Mode::Inbound);
        assert_eq!(request(r#"{"phone":"+14155550123"}"#).unwrap().mode, Mode::Outbound);
    }

    #[test]
    fn malformed_bodies_get_the_contract_codes() {
        let cases: &[(Option<&str>, &str, u16, &str)] = &[
            (JSON, "{", 400, "invalid_json"),
            (JSON, "", 400, "invalid_json"),
            (JSON, "[]", 400, "invalid_request"),
            (JSON, "{}", 400, "invalid_request"),
            (JSON, r#"{"phone":14155550123}"#, 400, "invalid_request"),
            (JSON, r#"{"phone":"abc"}"#, 400, "invalid_phone"),
            (JSON, r#"{"phone":"+14155550123","mode":"sideways"}"#, 400, "invalid_request"),
            (JSON, r#"{"phone":"+14155550123","locale":"english please"}"#, 400, "invalid_request"),
            (Some("text/plain"), r#"{"phone":"+14155550123"}"#, 415, "unsupported_media_type"),
            (None, r#"{"phone":"+14155550123"}"#, 415, "unsupported_media_type"),
        ];
        for (ct, body, status, code) in cases {
            let e = parse_otp_request(*ct, body.as_bytes(), &config()).unwrap_err();
            assert_eq!((e.status(), e.code.as_str()), (*status, *code), "{body}");
        }
        let big = format!(r#"{{"phone":"+14155550123","pad":"{}"}}"#, "x".repeat(API_BODY_LIMIT));
        assert_eq!(request(&big).unwrap_err().status(), 413);
    }

    #[test]
    fn verify_bodies() {
        let id = "otp_AAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            verify(&format!(r#"{{"request_id":"{id}","code":"123 456"}}"#)).unwrap(),
            VerifyRequest { target: VerifyTarget::RequestId(id.into()), code: "123456".into() }
        );
        assert_eq!(
            verify(r#"{"phone":"+14155550123","code":"123456"}"#).unwrap().target,
            VerifyTarget::Phone("+14155550123".into())
        );
        for (body, field) in [
            (r#"{"request_id":"otp_AAAAAAAAAAAAAAAAAAAAAA","code":"12345a"}"#, "code"),
            (r#"{"request_id":"otp_AAAAAAAAAAAAAAAAAAAAAA","code":123456}"#, "code"),
            (r#"{"request_id":"otp_AAAAAAAAAAAAAAAAAAAAAA"}"#, "code"),
            (r#"{"request_id":"nope","code":"123456"}"#, "request_id"),
            (r#"{"code":"123456"}"#, "request_id"),
        ] {
            let e = verify(body).unwrap_err();
            assert_eq!((e.code.as_str(), e.extra["field"].as_str().unwrap()), ("invalid_request", field), "{body}");
        }
    }

    #[test]
    fn idempotency_keys() {
        assert_eq!(parse_idempotency_key(None).unwrap(), None);
        assert_eq!(parse_idempotency_key(Some("abc-123")).unwrap().as_deref(), Some("abc-123"));
        assert!(parse_idempotency_key(Some("")).is_err());
        assert!(parse_idempotency_key(Some("has space")).is_err());
        assert!(parse_idempotency_key(Some(&"k".repeat(256))).is_err());
    }

    #[test]
    fn wa_links_carry_the_code() {
        assert_eq!(
            wa_link("15550783881", "Acme", "123456"),
            "https://wa.me/15550783881?text=Sign%20me%20in%20to%20Acme%2E%20My%20verification%20code%20is%20123456"
        );
    }

    #[test]
    fn idempotency_keys_are_scoped_to_address_and_body() {
        let r = request(r#"{"phone":"+14155550123"}"#).unwrap();
        let other_body = request(r#"{"phone":"+14155550124"}"#).unwrap();
        let a = idempotency_scope("k1", "203.0.113.7", &r);
        assert_eq!(a, idempotency_scope("k1", "203.0.113.7", &r));
        assert_ne!(a.slot, idempotency_scope("k1", "203.0.113.8", &r).slot, "another address, another slot");
        assert_ne!(a.slot, idempotency_scope("k2", "203.0.113.7", &r).slot);
        let b = idempotency_scope("k1", "203.0.113.7", &other_body);
        assert_eq!((a.slot == b.slot, a.fingerprint == b.fingerprint), (true, false));
    }

    #[test]
    fn every_refusal_maps_to_a_contract_error() {
        use crate::core::guard::number::AttemptOutcome as A;
        let cases = [
            (A::Wrong { attempts_left: 2 }, 400, "invalid_code"),
            (A::Locked, 429, "too_many_attempts"),
            (A::AlreadyVerified, 409, "already_verified"),
            (A::Revoked, 410, "revoked"),
            (A::Expired, 410, "expired"),
            (A::Superseded, 410, "superseded"),
            (A::NotFound, 404, "not_found"),
            (A::WrongChannel, 400, "invalid_request"),
        ];
        for (outcome, status, code) in cases {
            let e = attempt_error(&AttemptReply { outcome, retry_after_s: 42 }).unwrap();
            assert_eq!((e.status(), e.code.as_str()), (status, code), "{outcome:?}");
        }
        let locked = attempt_error(&AttemptReply { outcome: A::Locked, retry_after_s: 42 }).unwrap();
        assert_eq!((locked.retry_after, &locked.body()["error"]["retry_after"]), (Some(42), &json!(42)));
        let limited = reserve_error(&ReserveReply::Limited { retry_after_s: 9, reason: LimitReason::NotMe }).unwrap();
        assert_eq!((limited.status(), &limited.body()["error"]["reason"]), (429, &json!("not_me")));
        assert_eq!(reserve_error(&ReserveReply::KeyReused).unwrap().status(), 422);
        assert_eq!(reserve_error(&ReserveReply::InProgress).unwrap().status(), 409);
        assert!(ApiError::invalid_code_by_phone().body()["error"].get("attempts_left").is_none());
    }

    #[test]
    fn a_forgotten_request_is_told_by_its_record() {
        use crate::core::guard::number::AttemptOutcome as A;
        let record = CodeRecord {
            phone: "+14155550123".into(),
            code_hash: "h".into(),
            created_ms: 1_000,
            expires_ms: 5_000,
            mode: Mode::Outbound,
            locale: Some("es".into()),
            client_secret_hash: None,
            test: false,
        };
        let forgotten = AttemptReply { outcome: A::NotFound, retry_after_s: 0 };
        assert_eq!(verify_error(&forgotten, &record, 5_000).code.as_str(), "expired");
        assert_eq!(verify_error(&forgotten, &record, 4_999).code.as_str(), "not_found");
        let wrong = AttemptReply { outcome: A::Wrong { attempts_left: 1 }, retry_after_s: 0 };
        assert_eq!(verify_error(&wrong, &record, 9_000).code.as_str(), "invalid_code");
        assert_eq!(forgotten_view("otp_x", &record, 4_999).status.as_str(), "pending");
        let view = forgotten_view("otp_x", &record, 5_000);
        assert_eq!((view.status.as_str(), view.attempts_left, view.locale.as_deref()), ("expired", 0, Some("es")));
    }

    #[test]
    fn status_body_shows_delivery_and_token() {
        let view = RequestView {
            request_id: "otp_x".into(),
            mode: Mode::Outbound,
            status: crate::core::guard::RequestStatus::Verified,
            live: false,
            created_ms: 0,
            expires_ms: 0,
            attempts_left: 4,
            resend_after_s: 12,
            delivery: Some(DeliveryView {
                channel: crate::core::guard::Leg::Sms,
                fallback_reason: Some(crate::core::guard::FallbackReason::NotOnWhatsapp),
                status: DeliveryStatus::Failed,
                error_code: Some(131026),
                pricing_category: Some("authentication".into()),
                updated_ms: 0,
            }),
            deliveries: vec![],
            verified: Some((0, VerifiedVia::Reply)),
            locale: None,
        };
        let token = IssuedToken { token: "t.t.t".into(), expires_ms: 600_000 };
        let body = status_body(&view, Some(&token));
        assert_eq!(body["delivery"]["status"], "failed");
        assert_eq!(body["delivery"]["error_code"], 131026);
        assert_eq!(body["verified_via"], "reply");
        assert_eq!(body["token"], "t.t.t");
        assert!(body["delivery"].get("message_id").is_none());
        assert_eq!(body["delivery"]["pricing_category"], "authentication");
        assert_eq!(body["resend_after"], 12);
        assert_eq!(
            (&body["channel"], &body["delivery"]["fallback_reason"]),
            (&json!("sms"), &json!("not_on_whatsapp"))
        );
        assert!(body.get("deliveries").is_none());
    }

    #[test]
    fn tokens_carry_the_verification() {
        let t = crate::core::token::issue_token(
            &config().tokens,
            "+14155550123",
            "otp_x",
            1_700_000_000_500,
            VerifiedVia::Code,
        );
        assert_eq!(t.expires_ms, (1_700_000_000 + 600) * 1000);
        assert_eq!(t.token.split('.').count(), 3);
    }
}
