//! Reading settings by name: trimmed, empty treated as unset, every problem named
//! (never valued), in one fixed order whichever group read it first.

use super::Problems;

/// Every setting, in the order problems are reported (`/healthz`, `503 misconfigured`):
/// credentials first, then Meta's ids, codes, limits, tokens and the web.
const ORDER: &[&str] = &[
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "OTP_SECRET",
    "TOKEN_SIGNING_KEY",
    "TOKEN_SECRET",
    "TOKEN_PREVIOUS_PUBLIC_KEYS",
    "OTP_SECRET_PREVIOUS",
    "WHATSAPP_APP_SECRET_PREVIOUS",
    "TURNSTILE_SECRET_KEY",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_BUSINESS_NUMBER",
    "WHATSAPP_API_BASE",
    "WHATSAPP_API_VERSION",
    "WHATSAPP_MESSAGE_MODE",
    "WHATSAPP_TEMPLATE_NAME",
    "WHATSAPP_TEMPLATE_LANGUAGE",
    "OTP_LENGTH",
    "OTP_TTL_SECONDS",
    "OTP_MAX_ATTEMPTS",
    "RESEND_COOLDOWN_SECONDS",
    "MAX_SENDS_PER_HOUR",
    "MAX_SENDS_PER_DAY",
    "IP_MAX_REQUESTS_PER_HOUR",
    "ALLOWED_COUNTRY_CODES",
    "ALLOWED_ORIGINS",
    "TOKEN_TTL_SECONDS",
    "TOKEN_ISSUER",
    "TOKEN_AUDIENCE",
    "DEMO_PAGE",
    "TURNSTILE_VERIFY_URL",
    "IP_MAX_CHECKS_PER_HOUR",
    "MAX_SENDS_PER_DAY_GLOBAL",
    "VERIFY_VIA",
    "SERVICE_NAME",
    "CHAT_REPLIES",
    "ADMIN_TOKEN",
    "CALLBACK_EVENTS",
    "CALLBACK_RETRY_DELAYS",
    "CALLBACK_URL",
    "CALLBACK_SECRET",
    "ANALYTICS_RETENTION_DAYS",
    "TEST_NUMBERS",
    "SMS_PROVIDER",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE",
    "PUBLIC_URL",
    "SMS_WEBHOOK_URL",
    "SMS_WEBHOOK_SECRET",
    "SMS_COUNTRY_CODES",
    "MAX_SMS_PER_DAY_GLOBAL",
    "FALLBACK_AFTER_SECONDS",
    "SMS_WEBOTP_DOMAIN",
];

pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(super) problems: Problems,
}

impl<'a> Reader<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader { lookup, problems: Vec::new() }
    }

    /// The problems in `ORDER` (the order a person reads the settings table in), each
    /// once. Picked out of `ORDER` rather than sorted: a sort would ship ~4 KB of
    /// generic sorting code to the edge for a list read once per isolate.
    pub(super) fn finish(self) -> Problems {
        let listed = ORDER.iter().copied().filter(|name| self.problems.contains(name));
        let unlisted = self.problems.iter().copied().filter(|name| !ORDER.contains(name));
        listed.chain(unlisted).collect()
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    pub(super) fn required(&mut self, name: &'static str, valid: impl Fn(&str) -> bool) -> String {
        match self.get(name) {
            Some(v) if valid(&v) => v,
            _ => {
                self.problems.push(name);
                String::new()
            }
        }
    }

    pub(super) fn optional(&mut self, name: &'static str, valid: impl Fn(&str) -> bool) -> Option<String> {
        let value = self.get(name)?;
        if valid(&value) {
            Some(value)
        } else {
            self.problems.push(name);
            None
        }
    }

    pub(super) fn or_default(&mut self, name: &'static str, default: &str, valid: impl Fn(&str) -> bool) -> String {
        self.optional(name, valid).unwrap_or_else(|| default.to_string())
    }

    pub(super) fn flag(&mut self, name: &'static str, default: bool) -> bool {
        let default = if default { "true" } else { "false" };
        matches!(self.or_default(name, default, flag).as_str(), "true" | "1")
    }

    pub(super) fn number<T: std::str::FromStr + PartialOrd + Copy>(
        &mut self,
        name: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        match self.get(name) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(n) if n >= min && n <= max => n,
                _ => {
                    self.problems.push(name);
                    default
                }
            },
        }
    }
}

pub(super) fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > 8 && !s.contains(char::is_whitespace)
}

pub(super) fn api_version(s: &str) -> bool {
    s.strip_prefix('v').and_then(|r| r.split_once('.')).is_some_and(|(a, b)| digits(a) && digits(b))
}

pub(super) fn language(s: &str) -> bool {
    (2..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
}

fn flag(s: &str) -> bool {
    matches!(s, "true" | "false" | "1" | "0")
}
