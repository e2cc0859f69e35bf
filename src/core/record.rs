//! The KV value for one issued code (`otp:<request_id>`): written once, never updated.

use serde::{Deserialize, Serialize};

use super::guard::{Mode, RETENTION_MS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub phone: String,
    /// `hash_code(OTP_SECRET, request_id, code)`; the code itself is never stored.
    pub code_hash: String,
    pub created_ms: u64,
    /// What decides validity: KV's own expiry is at least 60 s and comes later.
    pub expires_ms: u64,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `hash_client_secret(OTP_SECRET, request_id, client_secret)`. Absent in records
    /// written before client secrets: those never hand out a token by status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
    /// A test number's request (`TEST_NUMBERS`): its token says `"test": true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

pub fn kv_key(request_id: &str) -> String {
    format!("otp:{request_id}")
}

/// `expirationTtl` = max(60, TTL + grace): KV's minimum is 60 s, and the record
/// outlives the code by the grace period so late calls get `expired`, not `not_found`.
pub fn kv_ttl_seconds(ttl_s: u64) -> u64 {
    (ttl_s + RETENTION_MS / 1000).max(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_respects_kv_minimum_and_grace() {
        assert_eq!(kv_ttl_seconds(2), 2 + 3600);
        assert!(kv_ttl_seconds(0) >= 60);
        assert_eq!(kv_key("otp_x"), "otp:otp_x");
    }

    #[test]
    fn record_never_holds_the_code() {
        let r = CodeRecord {
            phone: "+14155550123".into(),
            code_hash: crate::core::code::hash_code("k", "otp_x", "123456"),
            created_ms: 1,
            expires_ms: 2,
            mode: Mode::Outbound,
            locale: None,
            client_secret_hash: Some(crate::core::code::hash_client_secret("k", "otp_x", "cs_abc")),
            test: false,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("123456") && !json.contains("cs_abc"));
        assert_eq!(serde_json::from_str::<CodeRecord>(&json).unwrap(), r);
    }

    #[test]
    fn records_from_before_client_secrets_still_read() {
        let old = r#"{"phone":"+1","code_hash":"h","created_ms":1,"expires_ms":2,"mode":"outbound"}"#;
        assert_eq!(serde_json::from_str::<CodeRecord>(old).unwrap().client_secret_hash, None);
    }
}
