//! What `/healthz` says beyond "the settings are valid": sends failing for a cause the
//! operator must fix (`degraded`), and settings that are allowed but risky (`warnings`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cloud_api::{FailureKind, SendFailure};
use super::config::{AllowedOrigins, Config};
use super::time::rfc3339;

/// Where the degraded state is kept (a key of the codes' KV namespace, beside `otp:*`).
pub const DEGRADED_KEY: &str = "health:degraded";

/// The latest send failed for a cause only the operator can fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Degradation {
    /// The contract's error code the send answered (`whatsapp_rejected`, …).
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_code: Option<i64>,
    /// When sends started failing this way.
    pub since_ms: u64,
}

impl Degradation {
    /// As `/healthz` shows it.
    pub fn view(&self) -> Value {
        let mut item = json!({ "cause": self.cause, "since": rfc3339(self.since_ms) });
        if let Some(code) = self.whatsapp_code {
            item["whatsapp_code"] = code.into();
        }
        item
    }
}

/// Meta's codes that mean the template or the account needs the operator: the
/// template missing, paused or disabled, or not matching what we send (132xxx), a
/// payload Meta refuses for every user, payment and policy blocks, text mode
/// outside the service window.
fn operator_rejection(code: i64) -> bool {
    matches!(code, 100 | 368 | 131008 | 131009 | 131042 | 131047 | 132000..=132999)
}

/// Whether this failed send says the service is degraded for everyone: the token is
/// refused, the business account is throttled, or the template cannot be sent.
/// A recipient's problem (not on WhatsApp, one user's pair rate) and Meta's outages
/// (which the retry and `whatsapp_unavailable` already tell) do not count.
pub fn operator_cause(failure: &SendFailure) -> bool {
    match failure.kind {
        FailureKind::AuthFailed => true,
        FailureKind::Throttled { .. } => !failure.costs_the_user(),
        FailureKind::Rejected => failure.meta_code.is_some_and(operator_rejection),
        FailureKind::NotOnWhatsApp | FailureKind::Unavailable => false,
    }
}

/// What a send's outcome does to the stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Keep,
    Set(Degradation),
    Clear,
}

/// After a send: `failure` is `None` when Meta took the message. Only a change is
/// written, so a steady state (healthy, or failing the same way) costs no write.
pub fn after_send(current: Option<&Degradation>, failure: Option<&SendFailure>, now_ms: u64) -> Change {
    match (current, failure) {
        (Some(_), None) => Change::Clear,
        (None, None) => Change::Keep,
        (_, Some(f)) if !operator_cause(f) => Change::Keep,
        (current, Some(f)) => {
            let cause = f.api_error().code.as_str().to_string();
            match current {
                Some(d) if d.cause == cause && d.whatsapp_code == f.meta_code => Change::Keep,
                _ => Change::Set(Degradation { cause, whatsapp_code: f.meta_code, since_ms: now_ms }),
            }
        }
    }
}

/// Settings that are valid but risky in production, each as `"<SETTING>: <why>"`.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.web.allowed_origins == AllowedOrigins::Any {
        out.push("ALLOWED_ORIGINS: * lets any website call the API from a browser".to_string());
    }
    if config.meta.api_base.starts_with("http://") {
        out.push("WHATSAPP_API_BASE: plain http, the access token travels unencrypted".to_string());
    }
    if config.web.demo_page {
        out.push("DEMO_PAGE: the reference page is served, anyone can send codes from it".to_string());
    }
    if config.limits.max_sends_per_day_global.is_none() {
        out.push("MAX_SENDS_PER_DAY_GLOBAL: not set, nothing caps a day's spend on messages".to_string());
    }
    if config.codes.max_attempts > 5 {
        out.push(format!(
            "OTP_MAX_ATTEMPTS: {} wrong tries per code make a guess more likely than the default 5",
            config.codes.max_attempts
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cloud_api::read_send_response;
    use crate::core::config::tests::full;

    fn failure(http: u16, code: i64) -> SendFailure {
        let body = json!({"error": {"message": "x", "type": "OAuthException", "code": code}}).to_string();
        read_send_response(http, &body).unwrap_err()
    }

    #[test]
    fn operator_side_causes() {
        for (http, code) in [(400, 132001), (400, 132015), (400, 132016), (401, 190), (400, 130429), (400, 80007)] {
            assert!(operator_cause(&failure(http, code)), "{code}");
        }
        for (http, code) in [(400, 131026), (400, 131056), (500, 131000), (400, 131049)] {
            assert!(!operator_cause(&failure(http, code)), "{code}");
        }
        assert!(!operator_cause(&SendFailure::timeout()));
    }

    #[test]
    fn a_failure_sets_a_success_clears_a_repeat_keeps() {
        let paused = failure(400, 132015);
        let Change::Set(set) = after_send(None, Some(&paused), 1_000) else { panic!("not set") };
        assert_eq!(
            set,
            Degradation { cause: "whatsapp_rejected".into(), whatsapp_code: Some(132015), since_ms: 1_000 }
        );
        assert_eq!(set.view(), json!({"cause": "whatsapp_rejected", "whatsapp_code": 132015, "since": rfc3339(1_000)}));
        assert_eq!(after_send(Some(&set), Some(&paused), 9_000), Change::Keep, "same cause: no write");
        let Change::Set(other) = after_send(Some(&set), Some(&failure(401, 190)), 9_000) else { panic!("not set") };
        assert_eq!((other.cause.as_str(), other.since_ms), ("whatsapp_auth_failed", 9_000));
        assert_eq!(after_send(Some(&set), None, 9_000), Change::Clear);
        assert_eq!(after_send(None, None, 9_000), Change::Keep);
        assert_eq!(after_send(Some(&set), Some(&failure(400, 131026)), 9_000), Change::Keep, "a user's problem");
    }

    #[test]
    fn risky_settings_warn_by_name() {
        let config = |extra: &[(&'static str, &str)]| {
            let mut map = full();
            for (k, v) in extra {
                map.insert(k, v.to_string());
            }
            Config::from_lookup(|k| map.get(k).cloned()).unwrap()
        };
        let safe = config(&[("MAX_SENDS_PER_DAY_GLOBAL", "1000"), ("ALLOWED_ORIGINS", "https://app.example")]);
        assert_eq!(warnings(&safe), Vec::<String>::new());
        let risky = config(&[
            ("ALLOWED_ORIGINS", "*"),
            ("WHATSAPP_API_BASE", "http://127.0.0.1:8788"),
            ("DEMO_PAGE", "true"),
            ("OTP_MAX_ATTEMPTS", "8"),
        ]);
        let warned = warnings(&risky);
        let names: Vec<&str> = warned.iter().map(|w| w.split(':').next().unwrap_or_default()).collect();
        assert_eq!(
            names,
            ["ALLOWED_ORIGINS", "WHATSAPP_API_BASE", "DEMO_PAGE", "MAX_SENDS_PER_DAY_GLOBAL", "OTP_MAX_ATTEMPTS"]
        );
        assert!(warnings(&risky).iter().all(|w| !w.contains("127.0.0.1")), "no setting's value leaks");
    }
}
