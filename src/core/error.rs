//! The contract's errors: `{"error":{"code","message",...extra}}`.
//!
//! Every error the worker answers is built here, by a named constructor: the code,
//! its status and its sentence live in one place, so a code cannot drift from the
//! status the contract gives it, and `grep` finds every answer the API can give.

use serde_json::{json, Map, Value};

use super::guard::LimitReason;

/// One variant per `error.code` of the contract (`openapi/openapi.json`'s `ErrorCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    InvalidRequest,
    InvalidPhone,
    InvalidCode,
    Unauthorized,
    InvalidSignature,
    OptedOut,
    CountryNotAllowed,
    CaptchaFailed,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyVerified,
    RequestInProgress,
    Expired,
    Superseded,
    Revoked,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotOnWhatsApp,
    IdempotencyKeyReused,
    RateLimited,
    TooManyAttempts,
    WhatsAppUnavailable,
    WhatsAppRejected,
    /// The SMS provider did not take an SMS-only request's message.
    SmsUnavailable,
    Misconfigured,
    WhatsAppAuthFailed,
    WhatsAppThrottled,
    StorageUnavailable,
    DailyBudgetExhausted,
    AnalyticsUnavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 33] = [
        Self::InvalidJson,
        Self::InvalidRequest,
        Self::InvalidPhone,
        Self::InvalidCode,
        Self::Unauthorized,
        Self::InvalidSignature,
        Self::OptedOut,
        Self::CountryNotAllowed,
        Self::CaptchaFailed,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::AlreadyVerified,
        Self::RequestInProgress,
        Self::Expired,
        Self::Superseded,
        Self::Revoked,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::NotOnWhatsApp,
        Self::IdempotencyKeyReused,
        Self::RateLimited,
        Self::TooManyAttempts,
        Self::WhatsAppUnavailable,
        Self::WhatsAppRejected,
        Self::SmsUnavailable,
        Self::Misconfigured,
        Self::WhatsAppAuthFailed,
        Self::WhatsAppThrottled,
        Self::StorageUnavailable,
        Self::DailyBudgetExhausted,
        Self::AnalyticsUnavailable,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidPhone => "invalid_phone",
            Self::InvalidCode => "invalid_code",
            Self::Unauthorized => "unauthorized",
            Self::InvalidSignature => "invalid_signature",
            Self::OptedOut => "opted_out",
            Self::CountryNotAllowed => "country_not_allowed",
            Self::CaptchaFailed => "captcha_failed",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::AlreadyVerified => "already_verified",
            Self::RequestInProgress => "request_in_progress",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::Revoked => "revoked",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotOnWhatsApp => "not_on_whatsapp",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RateLimited => "rate_limited",
            Self::TooManyAttempts => "too_many_attempts",
            Self::WhatsAppUnavailable => "whatsapp_unavailable",
            Self::WhatsAppRejected => "whatsapp_rejected",
            Self::SmsUnavailable => "sms_unavailable",
            Self::Misconfigured => "misconfigured",
            Self::WhatsAppAuthFailed => "whatsapp_auth_failed",
            Self::WhatsAppThrottled => "whatsapp_throttled",
            Self::StorageUnavailable => "storage_unavailable",
            Self::DailyBudgetExhausted => "daily_budget_exhausted",
            Self::AnalyticsUnavailable => "analytics_unavailable",
            Self::Internal => "internal_error",
        }
    }

    /// The HTTP status the contract gives the code: never 500 (a 5xx we answer is
    /// one a client may retry, and says whose fault it was).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::InvalidRequest | Self::InvalidPhone | Self::InvalidCode => 400,
            Self::Unauthorized | Self::InvalidSignature => 401,
            Self::OptedOut | Self::CountryNotAllowed | Self::CaptchaFailed | Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::AlreadyVerified | Self::RequestInProgress => 409,
            Self::Expired | Self::Superseded | Self::Revoked => 410,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::NotOnWhatsApp | Self::IdempotencyKeyReused => 422,
            Self::RateLimited | Self::TooManyAttempts => 429,
            Self::WhatsAppUnavailable | Self::WhatsAppRejected | Self::SmsUnavailable => 502,
            Self::Misconfigured
            | Self::WhatsAppAuthFailed
            | Self::WhatsAppThrottled
            | Self::StorageUnavailable
            | Self::DailyBudgetExhausted
            | Self::AnalyticsUnavailable
            | Self::Internal => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra fields beside `code` and `message` (`attempts_left`, `field`, ...).
    pub extra: Map<String, Value>,
    /// Sets `Retry-After` (and `retry_after` in the body).
    pub retry_after: Option<u64>,
    /// Sets `Allow` on 405.
    pub allow: Option<&'static str>,
}

const WRONG_CODE: &str = "That code is not correct.";

impl ApiError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), extra: Map::new(), retry_after: None, allow: None }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    fn retry_after(mut self, seconds: u64) -> Self {
        let seconds = seconds.max(1);
        self.retry_after = Some(seconds);
        self.with("retry_after", seconds)
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.as_str().into());
        error.insert("message".into(), self.message.clone().into());
        error.extend(self.extra.clone());
        json!({ "error": error })
    }

    // 400

    pub fn invalid_json(detail: &str) -> Self {
        Self::new(ErrorCode::InvalidJson, format!("The body is not valid JSON: {detail}."))
    }

    /// A field (or header) that is missing or malformed; `field` names it.
    pub fn invalid_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with("field", field)
    }

    pub fn invalid_phone() -> Self {
        Self::new(ErrorCode::InvalidPhone, "The phone number must be in E.164 format, like +14155550123.")
            .with("field", "phone")
    }

    pub fn invalid_code(attempts_left: u32) -> Self {
        Self::new(ErrorCode::InvalidCode, WRONG_CODE).with("attempts_left", attempts_left)
    }

    /// Verify by phone answers every failure alike, so it reveals nothing about the
    /// number (no request, pending, expired, inbound, used up): the same sentence, no
    /// `attempts_left`.
    pub fn invalid_code_by_phone() -> Self {
        Self::new(ErrorCode::InvalidCode, WRONG_CODE)
    }

    // 401

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "A valid admin token is required: Authorization: Bearer <ADMIN_TOKEN>.")
    }

    pub fn invalid_signature() -> Self {
        Self::new(ErrorCode::InvalidSignature, "X-Hub-Signature-256 is missing or does not match.")
    }

    // 403

    pub fn opted_out() -> Self {
        Self::new(ErrorCode::OptedOut, "This number has opted out of WhatsApp codes (reply START to opt in).")
    }

    pub fn country_not_allowed() -> Self {
        Self::new(ErrorCode::CountryNotAllowed, "Codes cannot be sent to numbers in this country.")
    }

    pub fn captcha_failed() -> Self {
        Self::new(ErrorCode::CaptchaFailed, "The captcha check failed; try again.")
    }

    /// Without `CF-Connecting-IP` a request would be unlimited, so it is refused.
    pub fn client_address_unknown() -> Self {
        Self::new(ErrorCode::Forbidden, "The client address is unknown; requests must come through Cloudflare.")
    }

    pub fn verify_token_mismatch() -> Self {
        Self::new(ErrorCode::Forbidden, "The verify token does not match.")
    }

    /// `POST /v1/otp/status` with a `client_secret` that is not this request's (or a
    /// request issued before client secrets existed): no token without it.
    pub fn wrong_client_secret() -> Self {
        Self::new(ErrorCode::Forbidden, "The client_secret does not match this request.")
    }

    /// A channel the operator turned off with `VERIFY_VIA`.
    pub fn channel_off(which: &str) -> Self {
        Self::new(ErrorCode::Forbidden, format!("Verification by {which} is turned off on this service."))
    }

    // 404, 405

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("No {what} was found."))
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(ErrorCode::MethodNotAllowed, format!("This route only accepts {allow}."));
        e.allow = Some(allow);
        e
    }

    // 409, 410

    pub fn already_verified() -> Self {
        Self::new(ErrorCode::AlreadyVerified, "This request was already verified.")
    }

    pub fn request_in_progress() -> Self {
        Self::new(ErrorCode::RequestInProgress, "A request with this Idempotency-Key is still being processed.")
            .retry_after(1)
    }

    pub fn expired() -> Self {
        Self::new(ErrorCode::Expired, "This code has expired; request a new one.")
    }

    pub fn superseded() -> Self {
        Self::new(ErrorCode::Superseded, "A newer code was requested; use that one.")
    }

    pub fn revoked() -> Self {
        Self::new(ErrorCode::Revoked, "The owner of this number said this verification was not theirs; it was revoked.")
    }

    // 413, 415, 422

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, format!("The body is larger than {limit} bytes.")).with("limit", limit)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, "Send the body as application/json.")
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was already used for a different request; use a new key.",
        )
    }

    // 429

    pub fn rate_limited(retry_after: u64, reason: LimitReason) -> Self {
        Self::new(ErrorCode::RateLimited, limit_message(reason))
            .retry_after(retry_after)
            .with("reason", reason.as_str())
    }

    /// `retry_after`: seconds until a new code may be requested.
    pub fn too_many_attempts(retry_after: u64) -> Self {
        Self::new(ErrorCode::TooManyAttempts, "Too many wrong codes; request a new code.").retry_after(retry_after)
    }

    // Meta refused or failed a send (422, 502, 503); `whatsapp_code` is Meta's own code.

    pub fn not_on_whatsapp(whatsapp_code: Option<i64>) -> Self {
        Self::new(ErrorCode::NotOnWhatsApp, "This number cannot receive WhatsApp messages.").with_meta(whatsapp_code)
    }

    pub fn whatsapp_throttled(retry_after: u64, whatsapp_code: Option<i64>) -> Self {
        Self::new(ErrorCode::WhatsAppThrottled, "WhatsApp is limiting messages right now; try again later.")
            .retry_after(retry_after)
            .with_meta(whatsapp_code)
    }

    pub fn whatsapp_rejected(whatsapp_code: Option<i64>) -> Self {
        Self::new(ErrorCode::WhatsAppRejected, "WhatsApp rejected the message.").with_meta(whatsapp_code)
    }

    pub fn whatsapp_auth_failed(whatsapp_code: Option<i64>) -> Self {
        Self::new(ErrorCode::WhatsAppAuthFailed, "The WhatsApp account credentials were refused.")
            .with_meta(whatsapp_code)
    }

    pub fn whatsapp_unavailable(whatsapp_code: Option<i64>) -> Self {
        Self::new(ErrorCode::WhatsAppUnavailable, "WhatsApp could not be reached in time; try again.")
            .with_meta(whatsapp_code)
    }

    /// An SMS-only request whose SMS the provider did not take (`sms_code`: its error).
    pub fn sms_unavailable(sms_code: Option<i64>) -> Self {
        let error = Self::new(ErrorCode::SmsUnavailable, "The SMS could not be sent; try again or use WhatsApp.");
        match sms_code {
            Some(code) => error.with("sms_code", code),
            None => error,
        }
    }

    fn with_meta(self, whatsapp_code: Option<i64>) -> Self {
        match whatsapp_code {
            Some(code) => self.with("whatsapp_code", code),
            None => self,
        }
    }

    // 503: our side

    pub fn misconfigured(settings: &[&str]) -> Self {
        Self::new(ErrorCode::Misconfigured, "The service is not configured correctly.")
            .with("settings", settings.to_vec())
    }

    /// KV or the Durable Object failed or could not be read: our problem, not the caller's.
    pub fn storage_unavailable() -> Self {
        Self::new(ErrorCode::StorageUnavailable, "Storage is unavailable; try again shortly.").retry_after(1)
    }

    pub fn daily_budget_exhausted(retry_after: u64) -> Self {
        Self::new(
            ErrorCode::DailyBudgetExhausted,
            "The service has sent as many codes as it may today; try again tomorrow.",
        )
        .retry_after(retry_after)
    }

    pub fn analytics_unavailable() -> Self {
        Self::new(ErrorCode::AnalyticsUnavailable, "The analytics database did not answer; try again shortly.")
    }

    /// Something of ours failed that is not storage (the random source, building a
    /// response): retried like a 503, told apart in logs and by clients.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "The service failed to answer; try again shortly.").retry_after(1)
    }
}

/// Why a new code cannot be sent yet, in words a person understands.
fn limit_message(reason: LimitReason) -> &'static str {
    match reason {
        LimitReason::ResendCooldown => "A code was just sent; wait a moment before asking for another.",
        LimitReason::HourlyLimit => "Too many codes were sent to this number in the last hour; try again later.",
        LimitReason::DailyLimit => "Too many codes were sent to this number today; try again later.",
        LimitReason::IpLimit => "Too many requests from this network; try again later.",
        LimitReason::TooManyFailures => "Too many wrong codes for this number; try again tomorrow.",
        LimitReason::NotMe => "The owner of this number reported a sign-in that was not theirs; try again tomorrow.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn body_has_the_contract_shape() {
        let e = ApiError::invalid_code(3);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_code", "message": "That code is not correct.", "attempts_left": 3}})
        );
        assert_eq!(
            ApiError::invalid_code_by_phone().body(),
            json!({"error": {"code": "invalid_code", "message": "That code is not correct."}})
        );
        let limited = ApiError::rate_limited(0, LimitReason::HourlyLimit);
        assert_eq!(limited.body()["error"]["reason"], "hourly_limit");
        assert_eq!(limited.retry_after, Some(1), "Retry-After is never 0");
        assert_eq!(limited.body()["error"]["retry_after"], 1);
        assert_eq!(ApiError::method_not_allowed("GET").allow, Some("GET"));
        assert_eq!(ApiError::misconfigured(&["OTP_SECRET"]).body()["error"]["settings"][0], "OTP_SECRET");
        assert_eq!(ApiError::whatsapp_rejected(Some(132000)).body()["error"]["whatsapp_code"], 132000);
        assert!(ApiError::whatsapp_rejected(None).extra.is_empty());
    }

    /// The enum and the OpenAPI document name the same codes, with no status over 5xx
    /// left to a default: a code added on one side only fails here.
    #[test]
    fn every_error_code_is_in_the_openapi_document_and_back() {
        let document: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        let listed: BTreeSet<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("the document lists its error codes")
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let ours: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ours.len(), ErrorCode::ALL.len(), "no code twice");
        assert_eq!(ours, listed);
        // Every code the document uses anywhere (per-response enums too) is one of ours.
        let mut stack = vec![&document];
        while let Some(node) = stack.pop() {
            match node {
                Value::Object(map) => {
                    if let Some(Value::Array(codes)) = map.get("enum") {
                        if codes.iter().any(|c| c == "invalid_code" || c == "rate_limited") {
                            for code in codes {
                                assert!(ours.contains(code.as_str().unwrap()), "{code} is not an ErrorCode");
                            }
                        }
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }

    #[test]
    fn statuses_follow_the_contract_table() {
        for code in ErrorCode::ALL {
            let status = code.status();
            assert!((400..=503).contains(&status) && status != 500, "{code}: {status}");
        }
        assert_eq!(ApiError::storage_unavailable().status(), 503);
        assert_eq!(ApiError::internal().status(), 503);
        assert_ne!(ApiError::internal().code, ApiError::storage_unavailable().code);
    }
}
