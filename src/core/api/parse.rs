//! Requests in: a route's body and headers, checked and typed, or the contract's
//! `ApiError` that says what is wrong with them.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::core::code::{is_request_id, normalize_typed_code};
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::events::event::calling_code;
use crate::core::guard::protocol::IdempotencyKey;
use crate::core::guard::Mode;
use crate::core::phone::{canonical_phone, normalize_phone, parse_phone, PhoneError};
use crate::core::sms::ChannelChoice;

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

/// The calling code of the `phone` a body carries, however the rest of it reads: for
/// counting a number refused for its country under its country.
pub fn typed_calling_code(body: &[u8]) -> Option<String> {
    let body: Map<String, Value> = serde_json::from_str(std::str::from_utf8(body).ok()?).ok()?;
    let phone = normalize_phone(body.get("phone")?.as_str()?)?;
    calling_code(&phone)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::tests::full;

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
    fn a_refused_number_keeps_its_calling_code() {
        // A shared (satellite) range, refused unless listed.
        let refused = r#"{"phone":"+882 16 123456"}"#;
        assert_eq!(request(refused).unwrap_err().code.as_str(), "country_not_allowed");
        assert_eq!(typed_calling_code(refused.as_bytes()).as_deref(), Some("882"));
        assert_eq!(typed_calling_code(br#"{"phone":"+33 6 12 34 56 78"}"#).as_deref(), Some("33"));
        for none in [&b"{"[..], br#"{"phone":"+999 1234"}"#, br#"{"phone":5}"#, br#"[]"#, b"\xff"] {
            assert_eq!(typed_calling_code(none), None, "{}", String::from_utf8_lossy(none));
        }
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
}
