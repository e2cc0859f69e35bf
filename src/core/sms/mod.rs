//! The SMS fallback's pure parts: the text (and how many SMS segments it takes),
//! Twilio's request, answers, error codes and callback signatures (`twilio`), the
//! `webhook` provider's signed `sms.send` body (`relay`), the sealed code kept while a
//! fallback is possible (`seal`), and why a fallback happened (`FallbackReason`).

pub mod relay;
pub mod seal;
pub mod text;
pub mod twilio;

use serde::{Deserialize, Serialize};

use crate::core::cloud_api::{FailureKind, SendFailure};
use crate::core::config::Config;
use crate::core::error::ApiError;
pub use crate::core::guard::leg::{FallbackReason, Leg};
use crate::core::guard::Mode;

/// The channel a caller asked for (`channel` in `POST /v1/otp/request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelChoice {
    /// WhatsApp first, SMS when a fallback trigger fires (where SMS is possible).
    #[default]
    Auto,
    WhatsApp,
    Sms,
}

impl ChannelChoice {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "whatsapp" => Some(Self::WhatsApp),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// How a request's code goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// WhatsApp; `fallback`: SMS when a fallback trigger fires.
    WhatsApp { fallback: bool },
    /// SMS only (`channel: "sms"`).
    Sms,
}

/// Which way a request's code goes: `sms` only where SMS is on, the number's country
/// is in `SMS_COUNTRY_CODES` and the code is sent (inbound mode is WhatsApp's own);
/// elsewhere `auto` is plain WhatsApp and `sms` is refused, naming `channel`.
pub fn route(config: &Config, choice: ChannelChoice, mode: Mode, recipient: &str) -> Result<Route, ApiError> {
    let sms_possible = mode == Mode::Outbound && config.sms.as_ref().is_some_and(|sms| sms.allows_number(recipient));
    match choice {
        ChannelChoice::WhatsApp => Ok(Route::WhatsApp { fallback: false }),
        ChannelChoice::Auto => Ok(Route::WhatsApp { fallback: sms_possible }),
        ChannelChoice::Sms if sms_possible => Ok(Route::Sms),
        ChannelChoice::Sms => Err(ApiError::invalid_request(
            "channel",
            match (config.sms.is_some(), mode) {
                (false, _) => "`channel` \"sms\" is not available: SMS is off.",
                (true, Mode::Inbound) => "`channel` \"sms\" cannot be used with `mode` \"inbound\".",
                (true, Mode::Outbound) => "`channel` \"sms\" is not available for this number's country.",
            },
        )),
    }
}

/// Meta refused the send: the same code goes by SMS at once, for this reason (the
/// error code the API would otherwise have answered).
pub fn reason_of_refusal(failure: &SendFailure) -> FallbackReason {
    match failure.kind {
        FailureKind::NotOnWhatsApp => FallbackReason::NotOnWhatsapp,
        FailureKind::Throttled { .. } => FallbackReason::WhatsappThrottled,
        FailureKind::Rejected => FallbackReason::WhatsappRejected,
        FailureKind::AuthFailed => FallbackReason::WhatsappAuthFailed,
        FailureKind::Unavailable => FallbackReason::WhatsappUnavailable,
    }
}

/// Why an SMS did not go out: the leg failed (`error_code`: the provider's), and
/// whether the fault was the provider's or ours (the user is not charged for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsFailure {
    pub error_code: Option<i64>,
    pub http_status: Option<u16>,
    /// Worth one more try (5xx, a dropped connection, Twilio's rate limit).
    pub transient: bool,
    /// About the recipient (invalid number, STOP, landline): the number's fault.
    pub about_recipient: bool,
}

impl SmsFailure {
    pub fn timeout() -> Self {
        SmsFailure { error_code: None, http_status: None, transient: false, about_recipient: false }
    }

    pub fn network() -> Self {
        SmsFailure { error_code: None, http_status: None, transient: true, about_recipient: false }
    }

    /// Not worth another try (a refusal of ours, such as the day's budget).
    pub fn not_transient(mut self) -> Self {
        self.transient = false;
        self
    }

    pub fn status(http_status: u16) -> Self {
        SmsFailure {
            error_code: None,
            http_status: Some(http_status),
            transient: http_status >= 500 || http_status == 429,
            about_recipient: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sms: &[(&'static str, &str)]) -> Config {
        let mut map = crate::core::config::tests::full();
        for (k, v) in sms {
            map.insert(k, v.to_string());
        }
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn sms_goes_only_where_it_may() {
        let off = config(&[]);
        let on = config(&[
            ("SMS_PROVIDER", "webhook"),
            ("SMS_WEBHOOK_URL", "https://sms.example.com/"),
            ("SMS_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ("SMS_COUNTRY_CODES", "44"),
        ]);
        let uk = "+447700900123";
        let us = "+14155550123";
        let out = Mode::Outbound;
        assert_eq!(route(&on, ChannelChoice::Auto, out, uk), Ok(Route::WhatsApp { fallback: true }));
        assert_eq!(route(&on, ChannelChoice::Sms, out, uk), Ok(Route::Sms));
        assert_eq!(route(&on, ChannelChoice::WhatsApp, out, uk), Ok(Route::WhatsApp { fallback: false }));
        // Outside SMS_COUNTRY_CODES, with SMS off, or inbound: auto is WhatsApp, sms refused.
        for (config, mode, phone) in [(&on, out, us), (&off, out, uk), (&on, Mode::Inbound, uk)] {
            assert_eq!(route(config, ChannelChoice::Auto, mode, phone), Ok(Route::WhatsApp { fallback: false }));
            let refused = route(config, ChannelChoice::Sms, mode, phone).unwrap_err();
            assert_eq!((refused.status(), refused.code.as_str()), (400, "invalid_request"));
            assert!(refused.body().to_string().contains("channel"), "{}", refused.body());
        }
    }

    #[test]
    fn words_are_the_contracts() {
        for (choice, word) in
            [(ChannelChoice::Auto, "auto"), (ChannelChoice::WhatsApp, "whatsapp"), (ChannelChoice::Sms, "sms")]
        {
            assert_eq!(ChannelChoice::parse(word), Some(choice));
            assert_eq!(serde_json::to_string(&choice).unwrap(), format!("\"{word}\""));
        }
        assert_eq!(ChannelChoice::parse("SMS"), None);
        assert_eq!(serde_json::to_string(&Leg::WhatsApp).unwrap(), "\"whatsapp\"");
        assert_eq!(FallbackReason::NotDeliveredInTime.as_str(), "not_delivered_in_time");
        assert_eq!(serde_json::to_string(&FallbackReason::WhatsappFailed).unwrap(), "\"whatsapp_failed\"");
        let refused = SendFailure {
            kind: FailureKind::NotOnWhatsApp,
            meta_code: Some(131026),
            http_status: Some(400),
            transient: false,
        };
        assert_eq!(reason_of_refusal(&refused), FallbackReason::NotOnWhatsapp);
        assert_eq!(reason_of_refusal(&SendFailure::timeout()), FallbackReason::WhatsappUnavailable);
    }
}
