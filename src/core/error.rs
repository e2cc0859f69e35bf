//! The contract's errors: `{"error":{"code","message",...extra}}`.

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra fields beside `code` and `message` (`attempts_left`, `field`, ...).
    pub extra: Map<String, Value>,
    /// Sets `Retry-After` (and `retry_after` in the body).
    pub retry_after: Option<u64>,
    /// Sets `Allow` on 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), extra: Map::new(), retry_after: None, allow: None }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        let seconds = seconds.max(1);
        self.retry_after = Some(seconds);
        self.with("retry_after", seconds)
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        error.extend(self.extra.clone());
        json!({ "error": error })
    }

    pub fn invalid_json(detail: &str) -> Self {
        Self::new(400, "invalid_json", format!("The body is not valid JSON: {detail}."))
    }

    pub fn invalid_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message).with("field", field)
    }

    pub fn invalid_phone() -> Self {
        Self::new(400, "invalid_phone", "The phone number must be in E.164 format, like +14155550123.")
            .with("field", "phone")
    }

    pub fn invalid_code(attempts_left: u32) -> Self {
        Self::new(400, "invalid_code", "That code is not correct.").with("attempts_left", attempts_left)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("No {what} was found."))
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(405, "method_not_allowed", format!("This route only accepts {allow}."));
        e.allow = Some(allow);
        e
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(413, "payload_too_large", format!("The body is larger than {limit} bytes.")).with("limit", limit)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(415, "unsupported_media_type", "Send the body as application/json.")
    }

    pub fn rate_limited(retry_after: u64, reason: crate::core::guard::LimitReason) -> Self {
        Self::new(429, "rate_limited", crate::core::api::limit_message(reason))
            .retry_after(retry_after)
            .with("reason", reason.as_str())
    }

    pub fn misconfigured(settings: &[&str]) -> Self {
        Self::new(503, "misconfigured", "The service is not configured correctly.").with("settings", settings.to_vec())
    }

    /// KV or the Durable Object failed: our problem, not the caller's.
    pub fn storage_unavailable() -> Self {
        Self::new(503, "storage_unavailable", "Storage is unavailable; try again shortly.").retry_after(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_contract_shape() {
        let e = ApiError::invalid_code(3);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_code", "message": "That code is not correct.", "attempts_left": 3}})
        );
        let limited = ApiError::rate_limited(0, crate::core::guard::LimitReason::HourlyLimit);
        assert_eq!(limited.body()["error"]["reason"], "hourly_limit");
        assert_eq!(limited.retry_after, Some(1), "Retry-After is never 0");
        assert_eq!(limited.body()["error"]["retry_after"], 1);
        assert_eq!(ApiError::method_not_allowed("GET").allow, Some("GET"));
        assert_eq!(ApiError::misconfigured(&["OTP_SECRET"]).body()["error"]["settings"][0], "OTP_SECRET");
    }
}
