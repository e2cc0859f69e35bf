//! The SMS fallback's settings (`SMS_PROVIDER` and its kin): off unless
//! `SMS_PROVIDER` is set; once on, every setting the provider needs is required,
//! and `SMS_COUNTRY_CODES` must name where SMS may go (SMS pumping is the costliest
//! fraud in this field, so there is no "everywhere" default).

use super::reader::{http_url, Reader};
use crate::core::events::callback::CallbackSecret;
use crate::core::secret::Secret;

/// The default wait for a `delivered` or `read` status before the SMS goes.
pub const DEFAULT_FALLBACK_AFTER_S: u64 = 45;
/// The SMS must still leave the person time to type the code.
pub const MIN_TIME_LEFT_AFTER_FALLBACK_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// `TWILIO_FROM`: an E.164 sender.
    From(String),
    /// `TWILIO_MESSAGING_SERVICE_SID`.
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: Secret,
    pub sender: TwilioSender,
    pub api_base: String,
    /// The worker's public origin, for the status callback URL (and its signature).
    pub public_url: String,
}

impl TwilioSettings {
    pub fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, self.account_sid)
    }

    /// Where Twilio posts status callbacks: the exact URL its signature covers.
    pub fn status_callback_url(&self) -> String {
        format!("{}/webhook/twilio", self.public_url)
    }
}

#[derive(Debug, Clone)]
pub struct SmsWebhookSettings {
    pub url: String,
    pub secret: CallbackSecret,
}

#[derive(Debug, Clone)]
pub enum SmsProvider {
    Twilio(TwilioSettings),
    Webhook(SmsWebhookSettings),
}

#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub provider: SmsProvider,
    /// Calling codes (digits) SMS may go to; never empty once read.
    pub country_codes: Vec<String>,
    pub max_per_day_global: Option<u32>,
    pub fallback_after_s: u64,
    /// `SMS_WEBOTP_DOMAIN`: adds `@domain #code` as the text's last line.
    pub webotp_domain: Option<String>,
}

impl SmsSettings {
    /// Whether SMS may go to this number (E.164): its country is listed.
    pub fn allows_number(&self, e164: &str) -> bool {
        !self.country_codes.is_empty() && crate::core::phone::country_allowed(e164, &self.country_codes)
    }

    /// `None` when `SMS_PROVIDER` is unset (SMS off), or when the provider lacks a
    /// setting it cannot do without (then named in the reader's problems, so the
    /// configuration is refused). `ttl_s` is `OTP_TTL_SECONDS`.
    pub(super) fn read(r: &mut Reader, ttl_s: u64) -> Option<SmsSettings> {
        let provider = r.optional("SMS_PROVIDER", |v| v == "twilio" || v == "webhook");
        // Read even when off, so a wrong value is named rather than ignored.
        let fallback_after_s = r.number("FALLBACK_AFTER_SECONDS", DEFAULT_FALLBACK_AFTER_S, 1, 3_600);
        let provider = match provider?.as_str() {
            "twilio" => Some(SmsProvider::Twilio(read_twilio(r))),
            _ => read_webhook(r).map(SmsProvider::Webhook),
        };
        if fallback_after_s + MIN_TIME_LEFT_AFTER_FALLBACK_S > ttl_s {
            r.problems.push("FALLBACK_AFTER_SECONDS");
        }
        let country_codes: Vec<String> = r
            .required("SMS_COUNTRY_CODES", |v| {
                v.split(',').map(|c| c.trim().trim_start_matches('+')).all(crate::core::countries::is_calling_code)
            })
            .split(',')
            .map(|c| c.trim().trim_start_matches('+').to_string())
            .filter(|c| !c.is_empty())
            .collect();
        Some(SmsSettings {
            // Only now, so that every other setting above is read and named too.
            provider: provider?,
            country_codes,
            max_per_day_global: r
                .optional("MAX_SMS_PER_DAY_GLOBAL", |v| v.parse::<u32>().is_ok_and(|n| n >= 1))
                .and_then(|v| v.parse().ok()),
            fallback_after_s,
            webotp_domain: r.optional("SMS_WEBOTP_DOMAIN", webotp_domain),
        })
    }
}

/// `None` without a valid `SMS_WEBHOOK_SECRET` (named): no key may stand in for it.
fn read_webhook(r: &mut Reader) -> Option<SmsWebhookSettings> {
    let url = r.required("SMS_WEBHOOK_URL", http_url);
    let secret = r.get("SMS_WEBHOOK_SECRET").and_then(|s| CallbackSecret::parse(&s));
    if secret.is_none() {
        r.problems.push("SMS_WEBHOOK_SECRET");
    }
    Some(SmsWebhookSettings { url, secret: secret? })
}

fn read_twilio(r: &mut Reader) -> TwilioSettings {
    let account_sid = r.required("TWILIO_ACCOUNT_SID", |v| sid(v, "AC"));
    let auth_token = Secret::new(r.required("TWILIO_AUTH_TOKEN", |v| v.len() >= 16));
    let from = r.optional("TWILIO_FROM", |v| {
        // An E.164 number, or an alphanumeric sender id (at most 11 characters).
        (v.starts_with('+') && crate::core::phone::normalize_phone(v).is_some())
            || ((1..=11).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' '))
    });
    let service = r.optional("TWILIO_MESSAGING_SERVICE_SID", |v| sid(v, "MG"));
    let sender = match (from, service) {
        (_, Some(service)) => TwilioSender::MessagingService(service),
        (Some(from), None) => TwilioSender::From(from),
        (None, None) => {
            r.problems.push("TWILIO_FROM");
            TwilioSender::From(String::new())
        }
    };
    TwilioSettings {
        account_sid,
        auth_token,
        sender,
        api_base: r.or_default("TWILIO_API_BASE", "https://api.twilio.com", http_url).trim_end_matches('/').to_string(),
        public_url: r.required("PUBLIC_URL", http_url).trim_end_matches('/').to_string(),
    }
}

/// Twilio's ids: a two-letter prefix and 32 hex digits.
fn sid(v: &str, prefix: &str) -> bool {
    v.strip_prefix(prefix).is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A host name: what WebOTP's `@domain` line names (no scheme, no path).
fn webotp_domain(v: &str) -> bool {
    v.len() <= 253
        && v.contains('.')
        && v.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}
