//! Callbacks to the customer's backend: Standard Webhooks signing, the request a
//! receiver gets, what counts as delivered, and when a failed one is retried.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::Mac;

use super::event::{Event, EventType};
use crate::core::crypto::hmac_sha256;

pub const DEFAULT_CALLBACK_EVENTS: [EventType; 3] = [EventType::Verified, EventType::Failed, EventType::OptedOut];
/// Seconds before each callback retry: about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h.
pub const DEFAULT_RETRY_DELAYS: [u32; 6] = [5, 30, 120, 600, 1800, 3600];
/// The longest delay a Queue accepts for a retry (12 hours).
pub const MAX_RETRY_DELAY_S: u32 = 43_200;

/// The Standard Webhooks key: `whsec_` + base64 of the raw key.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackSecret(Vec<u8>);

impl fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSecret(..)")
    }
}

impl CallbackSecret {
    pub fn parse(s: &str) -> Option<Self> {
        let key = B64.decode(s.trim().strip_prefix("whsec_")?).ok()?;
        (key.len() >= 16).then_some(CallbackSecret(key))
    }

    /// `v1,<base64 HMAC-SHA256("id.timestamp.body")>`.
    pub fn sign(&self, msg_id: &str, timestamp_s: u64, body: &str) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(format!("{msg_id}.{timestamp_s}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallbackConfig {
    pub url: String,
    pub secret: CallbackSecret,
    pub events: Vec<EventType>,
    pub retry_delays: Vec<u32>,
}

impl CallbackConfig {
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }

    /// Seconds to wait before retrying after failed attempt `attempt` (1 = the first);
    /// past the schedule, its last delay.
    pub fn retry_delay(&self, attempt: u32) -> u32 {
        retry_delay(&self.retry_delays, attempt)
    }

    /// The request a receiver gets: the body and the Standard Webhooks headers.
    pub fn request(&self, event: &Event, timestamp_s: u64) -> (String, Vec<(&'static str, String)>) {
        let body = serde_json::to_string(event).unwrap_or_default();
        let signature = self.secret.sign(&event.id, timestamp_s, &body);
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", "whatsapp-otp-worker".to_string()),
            ("webhook-id", event.id.clone()),
            ("webhook-timestamp", timestamp_s.to_string()),
            ("webhook-signature", signature),
        ];
        (body, headers)
    }
}

/// The delay after failed attempt `attempt` on the schedule `delays`; an empty
/// schedule falls back to the default's first step.
pub fn retry_delay(delays: &[u32], attempt: u32) -> u32 {
    let index = (attempt.max(1) - 1) as usize;
    delays.get(index).or(delays.last()).copied().unwrap_or(DEFAULT_RETRY_DELAYS[0])
}

/// Why a callback attempt did not count as delivered (logged, then retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    /// The request could not be built (a header the runtime refused).
    Request(String),
    /// The receiver answered, but not with a 2xx.
    Status(u16),
    Timeout,
    Network(String),
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(detail) => f.write_str(detail),
            Self::Status(status) => write!(f, "status {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Network(detail) => write!(f, "network: {detail}"),
        }
    }
}

/// Only a 2xx answer counts as delivered: anything else is retried.
pub fn check_status(status: u16) -> Result<(), CallbackError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(CallbackError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::event::events_from_changes;
    use crate::core::events::tests::{ids, NOW};
    use crate::core::guard::Change;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        let secret = CallbackSecret::parse(SECRET).unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert!(CallbackSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(CallbackSecret::parse("whsec_not base64!").is_none());
        assert!(CallbackSecret::parse("whsec_c2hvcnQ=").is_none(), "a 5-byte key is too short");
        assert_eq!(format!("{:?}", CallbackSecret::parse(SECRET).unwrap()), "CallbackSecret(..)");
    }

    #[test]
    fn retry_schedule_grows_then_holds() {
        let delays: Vec<u32> = (1..=8).map(|a| retry_delay(&DEFAULT_RETRY_DELAYS, a)).collect();
        assert_eq!(delays, [5, 30, 120, 600, 1800, 3600, 3600, 3600]);
        assert_eq!(retry_delay(&DEFAULT_RETRY_DELAYS, 0), 5);
        assert_eq!(retry_delay(&[], 3), 5);
    }

    #[test]
    fn only_a_2xx_is_delivered() {
        assert_eq!(check_status(200), Ok(()));
        assert_eq!(check_status(299), Ok(()));
        assert_eq!(check_status(302).map_err(|e| e.to_string()), Err("status 302".into()));
        assert_eq!(check_status(500), Err(CallbackError::Status(500)));
        assert_eq!(CallbackError::Timeout.to_string(), "timeout");
        assert_eq!(CallbackError::Network("reset".into()).to_string(), "network: reset");
    }

    #[test]
    fn callback_request_carries_standard_webhooks_headers() {
        let config = crate::core::events::tests::settings(&[
            ("CALLBACK_URL", "https://backend.example/cb"),
            ("CALLBACK_SECRET", SECRET),
        ]);
        let callback = config.callback.unwrap();
        let event = events_from_changes("+14155550123", &[Change::OptedOut], NOW, ids()).remove(0);
        let (body, headers) = callback.request(&event, 1_764_151_200);
        let header = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(header("webhook-id"), event.id);
        assert_eq!(header("webhook-timestamp"), "1764151200");
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("webhook-signature"), callback.secret.sign(&event.id, 1_764_151_200, &body));
        assert_eq!(serde_json::from_str::<Event>(&body).unwrap(), event);
    }
}
