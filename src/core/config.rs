//! Every setting, parsed and validated once into a typed `Config`.

use super::guard::SendPolicy;
use super::token::{parse_public_keys, parse_signing_key, SigningKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageMode {
    Template,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// Which ways of proving the number are on (`VERIFY_VIA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyVia {
    pub code: bool,
    pub reply: bool,
    pub inbound: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    pub otp_secret: String,
    pub token_secret: String,
    pub turnstile_secret: Option<String>,
    pub phone_number_id: String,
    pub business_number: Option<String>,
    pub api_base: String,
    pub api_version: String,
    pub message_mode: MessageMode,
    pub template_name: String,
    pub template_language: String,
    pub otp_length: usize,
    pub ttl_s: u64,
    pub max_attempts: u32,
    pub cooldown_s: u64,
    pub max_per_hour: u32,
    pub max_per_day: u32,
    pub ip_max_per_hour: u32,
    pub allowed_country_codes: Vec<String>,
    pub allowed_origins: AllowedOrigins,
    pub token_ttl_s: u64,
    pub token_issuer: String,
    pub token_audience: Option<String>,
    pub demo_page: bool,
    pub turnstile_verify_url: String,
    pub ip_max_checks_per_hour: u32,
    pub max_sends_per_day_global: Option<u32>,
    pub verify_via: VerifyVia,
    /// Named in the inbound text and the chat confirmation, so a person being
    /// phished can see who they are signing in to.
    pub service_name: String,
    pub chat_replies: bool,
    /// Rotation and ES256 tokens (see `docs/operations.md`).
    pub keys: Keys,
}

/// Secrets being rotated out, and the ES256 signing key with the public keys it replaced.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// `OTP_SECRET_PREVIOUS`: codes hashed with it still verify until they expire.
    pub otp_secret_previous: Option<String>,
    /// `WHATSAPP_APP_SECRET_PREVIOUS`: webhooks signed with it are still accepted.
    pub app_secret_previous: Option<String>,
    /// `TOKEN_SIGNING_KEY`: when set, tokens are ES256 with its `kid`.
    pub token_signing_key: Option<SigningKey>,
    /// `TOKEN_PREVIOUS_PUBLIC_KEYS`: published beside the signing key's public half.
    pub token_previous_public_keys: Vec<serde_json::Value>,
}

/// A setting that is missing or invalid, by name only: never its value.
pub type Problems = Vec<&'static str>;

/// Shortest secret accepted for keys that sign or hash (HS256 wants ≥ 256 bits).
const MIN_KEY_LEN: usize = 32;

// Weaker settings are refused at start-up rather than quietly weakening every code.
/// Shorter codes are guessable within the attempt budget (10^-6 per try at 6 digits).
const MIN_OTP_LENGTH: usize = 6;
/// Codes live at most 10 minutes (OWASP ASVS 2.7.2).
const MAX_OTP_TTL_S: u64 = 600;
/// Wrong tries per code.
const MAX_OTP_ATTEMPTS: u32 = 10;
/// Tokens are a proof of a fresh verification, not a session: an hour at most.
const MAX_TOKEN_TTL_S: u64 = 3_600;

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Problems,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &'static str, valid: impl Fn(&str) -> bool) -> String {
        match self.get(name) {
            Some(v) if valid(&v) => v,
            _ => {
                self.problems.push(name);
                String::new()
            }
        }
    }

    fn optional(&mut self, name: &'static str, valid: impl Fn(&str) -> bool) -> Option<String> {
        let value = self.get(name)?;
        if valid(&value) {
            Some(value)
        } else {
            self.problems.push(name);
            None
        }
    }

    fn or_default(&mut self, name: &'static str, default: &str, valid: impl Fn(&str) -> bool) -> String {
        self.optional(name, valid).unwrap_or_else(|| default.to_string())
    }

    fn number<T: std::str::FromStr + PartialOrd + Copy>(
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

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > 8 && !s.contains(char::is_whitespace)
}

fn api_version(s: &str) -> bool {
    s.strip_prefix('v').and_then(|r| r.split_once('.')).is_some_and(|(a, b)| digits(a) && digits(b))
}

fn language(s: &str) -> bool {
    (2..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
}

fn long_key(s: &str) -> bool {
    s.len() >= MIN_KEY_LEN
}

fn flag(s: &str) -> bool {
    matches!(s, "true" | "false" | "1" | "0")
}

impl Config {
    /// Reads every setting through `lookup` (secrets and vars alike). On failure,
    /// the names of all problems at once, so one deploy fixes them all.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Problems> {
        let mut r = Reader { lookup: &lookup, problems: Vec::new() };
        let access_token = r.required("WHATSAPP_ACCESS_TOKEN", |_| true);
        let app_secret = r.required("WHATSAPP_APP_SECRET", |_| true);
        let verify_token = r.required("WHATSAPP_VERIFY_TOKEN", |_| true);
        let otp_secret = r.required("OTP_SECRET", long_key);
        let token_signing_key = r.optional("TOKEN_SIGNING_KEY", |v| parse_signing_key(v).is_some());
        // With a signing key, tokens are ES256 and TOKEN_SECRET may be absent.
        let token_secret = match token_signing_key {
            Some(_) => r.optional("TOKEN_SECRET", long_key).unwrap_or_default(),
            None if r.get("TOKEN_SIGNING_KEY").is_some() => r.optional("TOKEN_SECRET", long_key).unwrap_or_default(),
            None => r.required("TOKEN_SECRET", long_key),
        };
        let token_previous_public_keys = r
            .optional("TOKEN_PREVIOUS_PUBLIC_KEYS", |v| parse_public_keys(v).is_some())
            .and_then(|v| parse_public_keys(&v))
            .unwrap_or_default();
        let keys = Keys {
            otp_secret_previous: r.optional("OTP_SECRET_PREVIOUS", long_key),
            app_secret_previous: r.optional("WHATSAPP_APP_SECRET_PREVIOUS", |_| true),
            token_signing_key: token_signing_key.and_then(|v| parse_signing_key(&v)),
            token_previous_public_keys,
        };
        let turnstile_secret = r.optional("TURNSTILE_SECRET_KEY", |_| true);
        let phone_number_id = r.required("WHATSAPP_PHONE_NUMBER_ID", digits);
        let business_number = r
            .optional("WHATSAPP_BUSINESS_NUMBER", |v| {
                super::phone::normalize_phone(&format!("+{}", v.trim_start_matches('+'))).is_some()
            })
            .map(|v| v.trim_start_matches('+').chars().filter(char::is_ascii_digit).collect());
        let api_base = r.or_default("WHATSAPP_API_BASE", "https://graph.facebook.com", http_url);
        let api_version = r.or_default("WHATSAPP_API_VERSION", "v23.0", api_version);
        let message_mode =
            match r.or_default("WHATSAPP_MESSAGE_MODE", "template", |v| v == "template" || v == "text").as_str() {
                "text" => MessageMode::Text,
                _ => MessageMode::Template,
            };
        let template_name = match message_mode {
            MessageMode::Template => r.required("WHATSAPP_TEMPLATE_NAME", |v| v.len() <= 512),
            MessageMode::Text => r.or_default("WHATSAPP_TEMPLATE_NAME", "", |_| true),
        };
        let template_language = r.or_default("WHATSAPP_TEMPLATE_LANGUAGE", "en_US", language);
        let otp_length = r.number("OTP_LENGTH", 6usize, MIN_OTP_LENGTH, 10);
        let ttl_s = r.number("OTP_TTL_SECONDS", 300u64, 1, MAX_OTP_TTL_S);
        let max_attempts = r.number("OTP_MAX_ATTEMPTS", 5u32, 1, MAX_OTP_ATTEMPTS);
        let cooldown_s = r.number("RESEND_COOLDOWN_SECONDS", 30u64, 0, 86_400);
        let max_per_hour = r.number("MAX_SENDS_PER_HOUR", 5u32, 1, 1_000);
        let max_per_day = r.number("MAX_SENDS_PER_DAY", 10u32, 1, 1_000);
        let ip_max_per_hour = r.number("IP_MAX_REQUESTS_PER_HOUR", 30u32, 1, 1_000_000);
        let allowed_country_codes = r
            .optional("ALLOWED_COUNTRY_CODES", |v| {
                v.split(',').map(|c| c.trim().trim_start_matches('+')).all(super::countries::is_calling_code)
            })
            .map(|v| v.split(',').map(|c| c.trim().trim_start_matches('+').to_string()).collect())
            .unwrap_or_default();
        let allowed_origins = match r
            .optional("ALLOWED_ORIGINS", |v| v == "*" || v.split(',').all(|o| http_url(o.trim())))
        {
            Some(v) if v == "*" => AllowedOrigins::Any,
            Some(v) => AllowedOrigins::List(v.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).collect()),
            None => AllowedOrigins::List(Vec::new()),
        };
        let token_ttl_s = r.number("TOKEN_TTL_SECONDS", 600u64, 30, MAX_TOKEN_TTL_S);
        let token_issuer = r.or_default("TOKEN_ISSUER", "whatsapp-otp-worker", |_| true);
        let token_audience = r.optional("TOKEN_AUDIENCE", |_| true);
        let demo_page = matches!(r.or_default("DEMO_PAGE", "false", flag).as_str(), "true" | "1");
        let turnstile_verify_url =
            r.or_default("TURNSTILE_VERIFY_URL", "https://challenges.cloudflare.com/turnstile/v0/siteverify", http_url);
        let ip_max_checks_per_hour = r.number("IP_MAX_CHECKS_PER_HOUR", 1_000u32, 1, 1_000_000);
        let max_sends_per_day_global = r
            .optional("MAX_SENDS_PER_DAY_GLOBAL", |v| v.parse::<u32>().is_ok_and(|n| n >= 1))
            .and_then(|v| v.parse().ok());
        let verify_via = r
            .optional("VERIFY_VIA", |v| v.split(',').all(|c| matches!(c.trim(), "code" | "reply" | "inbound")))
            .map_or(VerifyVia { code: true, reply: true, inbound: true }, |v| {
                let on = |name: &str| v.split(',').any(|c| c.trim() == name);
                VerifyVia { code: on("code"), reply: on("reply"), inbound: on("inbound") }
            });
        let service_name = r.or_default("SERVICE_NAME", &token_issuer, |v| v.chars().count() <= 60);
        let chat_replies = matches!(r.or_default("CHAT_REPLIES", "true", flag).as_str(), "true" | "1");
        if max_per_day < max_per_hour {
            r.problems.push("MAX_SENDS_PER_DAY");
        }
        if !r.problems.is_empty() {
            return Err(r.problems);
        }
        Ok(Config {
            access_token,
            app_secret,
            verify_token,
            otp_secret,
            token_secret,
            turnstile_secret,
            phone_number_id,
            business_number,
            api_base: api_base.trim_end_matches('/').to_string(),
            api_version,
            message_mode,
            template_name,
            template_language,
            otp_length,
            ttl_s,
            max_attempts,
            cooldown_s,
            max_per_hour,
            max_per_day,
            ip_max_per_hour,
            allowed_country_codes,
            allowed_origins,
            token_ttl_s,
            token_issuer,
            token_audience,
            demo_page,
            turnstile_verify_url,
            ip_max_checks_per_hour,
            max_sends_per_day_global,
            verify_via,
            service_name,
            chat_replies,
            keys,
        })
    }

    pub fn send_policy(&self) -> SendPolicy {
        SendPolicy {
            ttl_s: self.ttl_s,
            max_attempts: self.max_attempts,
            cooldown_s: self.cooldown_s,
            max_per_hour: self.max_per_hour,
            max_per_day: self.max_per_day,
        }
    }

    /// Secrets a stored code's hash may have been made with, current first.
    pub fn otp_secrets(&self) -> Vec<&str> {
        std::iter::once(self.otp_secret.as_str()).chain(self.keys.otp_secret_previous.as_deref()).collect()
    }

    /// Secrets a webhook's signature may have been made with, current first.
    pub fn app_secrets(&self) -> Vec<&str> {
        std::iter::once(self.app_secret.as_str()).chain(self.keys.app_secret_previous.as_deref()).collect()
    }

    pub fn messages_url(&self) -> String {
        format!("{}/{}/{}/messages", self.api_base, self.api_version, self.phone_number_id)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::HashMap;

    pub fn full() -> HashMap<&'static str, String> {
        HashMap::from([
            ("WHATSAPP_ACCESS_TOKEN", "EAAG-token".to_string()),
            ("WHATSAPP_APP_SECRET", "app-secret".to_string()),
            ("WHATSAPP_VERIFY_TOKEN", "verify-me".to_string()),
            ("OTP_SECRET", "o".repeat(32)),
            ("TOKEN_SECRET", "t".repeat(32)),
            ("WHATSAPP_PHONE_NUMBER_ID", "106540352242922".to_string()),
            ("WHATSAPP_TEMPLATE_NAME", "otp_code".to_string()),
        ])
    }

    fn parse(map: &HashMap<&'static str, String>) -> Result<Config, Problems> {
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = parse(&full()).unwrap();
        assert_eq!(c.api_base, "https://graph.facebook.com");
        assert_eq!(c.api_version, "v23.0");
        assert_eq!(c.message_mode, MessageMode::Template);
        assert_eq!(c.template_language, "en_US");
        assert_eq!((c.otp_length, c.ttl_s, c.max_attempts), (6, 300, 5));
        assert_eq!((c.cooldown_s, c.max_per_hour, c.max_per_day, c.ip_max_per_hour), (30, 5, 10, 30));
        assert_eq!(c.token_ttl_s, 600);
        assert!(c.allowed_country_codes.is_empty());
        assert!(!c.demo_page);
        assert_eq!((c.ip_max_checks_per_hour, c.max_sends_per_day_global), (1_000, None));
        assert_eq!(c.verify_via, VerifyVia { code: true, reply: true, inbound: true });
        assert!(c.chat_replies);
        assert_eq!(c.service_name, "whatsapp-otp-worker");
        assert_eq!(c.messages_url(), "https://graph.facebook.com/v23.0/106540352242922/messages");
    }

    #[test]
    fn every_problem_is_named_never_valued() {
        let mut m = full();
        m.remove("WHATSAPP_APP_SECRET");
        m.insert("OTP_SECRET", "short".into());
        m.insert("OTP_LENGTH", "12".into());
        m.insert("WHATSAPP_API_BASE", "ftp://x".into());
        m.insert("ALLOWED_COUNTRY_CODES", "1,abc".into());
        let problems = parse(&m).unwrap_err();
        assert_eq!(
            problems,
            vec!["WHATSAPP_APP_SECRET", "OTP_SECRET", "WHATSAPP_API_BASE", "OTP_LENGTH", "ALLOWED_COUNTRY_CODES"]
        );
    }

    #[test]
    fn text_mode_needs_no_template() {
        let mut m = full();
        m.remove("WHATSAPP_TEMPLATE_NAME");
        assert_eq!(parse(&m).unwrap_err(), vec!["WHATSAPP_TEMPLATE_NAME"]);
        m.insert("WHATSAPP_MESSAGE_MODE", "text".into());
        assert_eq!(parse(&m).unwrap().message_mode, MessageMode::Text);
    }

    #[test]
    fn lists_and_flags() {
        let mut m = full();
        m.insert("ALLOWED_COUNTRY_CODES", "+1, 44".into());
        m.insert("ALLOWED_ORIGINS", "https://a.example, http://localhost:5173/".into());
        m.insert("DEMO_PAGE", "true".into());
        m.insert("WHATSAPP_BUSINESS_NUMBER", "+1 555 078 3881".into());
        let c = parse(&m).unwrap();
        assert_eq!(c.allowed_country_codes, vec!["1", "44"]);
        m.insert("ALLOWED_COUNTRY_CODES", "1,882".into());
        assert_eq!(parse(&m).unwrap().allowed_country_codes, vec!["1", "882"], "a shared range, named");
        for not_a_code in ["4", "441", "210", "1,"] {
            m.insert("ALLOWED_COUNTRY_CODES", not_a_code.into());
            assert_eq!(parse(&m).unwrap_err(), vec!["ALLOWED_COUNTRY_CODES"], "{not_a_code}");
        }
        m.remove("ALLOWED_COUNTRY_CODES");
        assert!(c.allowed_origins.allows("http://localhost:5173"));
        assert!(!c.allowed_origins.allows("https://evil.example"));
        assert!(c.demo_page);
        assert_eq!(c.business_number.as_deref(), Some("15550783881"));
        m.insert("ALLOWED_ORIGINS", "*".into());
        assert!(parse(&m).unwrap().allowed_origins.allows("https://anything"));
    }

    const SIGNING_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

    #[test]
    fn a_signing_key_makes_the_token_secret_optional() {
        let mut m = full();
        m.remove("TOKEN_SECRET");
        assert_eq!(parse(&m).unwrap_err(), vec!["TOKEN_SECRET"]);
        m.insert("TOKEN_SIGNING_KEY", SIGNING_KEY.into());
        let c = parse(&m).unwrap();
        assert_eq!(c.keys.token_signing_key.as_ref().map(|k| k.kid.as_str()), Some("k1"));
        assert!(c.keys.token_previous_public_keys.is_empty());
        m.insert("TOKEN_SECRET", "short".into());
        assert_eq!(parse(&m).unwrap_err(), vec!["TOKEN_SECRET"], "a TOKEN_SECRET that is set is still checked");
    }

    #[test]
    fn invalid_key_settings_are_named() {
        let mut m = full();
        m.remove("TOKEN_SECRET");
        m.insert("TOKEN_SIGNING_KEY", SIGNING_KEY.replace("\"kid\":\"k1\",", ""));
        m.insert("TOKEN_PREVIOUS_PUBLIC_KEYS", format!("[{SIGNING_KEY}]"));
        m.insert("OTP_SECRET_PREVIOUS", "short".into());
        let problems = parse(&m).unwrap_err();
        assert_eq!(problems, vec!["TOKEN_SIGNING_KEY", "TOKEN_PREVIOUS_PUBLIC_KEYS", "OTP_SECRET_PREVIOUS"]);
        let text = format!("{problems:?}");
        assert!(!text.contains("jpsQnn"));
    }

    #[test]
    fn previous_secrets_follow_the_current_ones() {
        let mut m = full();
        assert_eq!(parse(&m).unwrap().otp_secrets(), vec!["o".repeat(32).as_str()]);
        m.insert("OTP_SECRET_PREVIOUS", "p".repeat(32));
        m.insert("WHATSAPP_APP_SECRET_PREVIOUS", "old-app-secret".into());
        let c = parse(&m).unwrap();
        assert_eq!(c.otp_secrets(), vec!["o".repeat(32), "p".repeat(32)]);
        assert_eq!(c.app_secrets(), vec!["app-secret", "old-app-secret"]);
    }

    #[test]
    fn weak_settings_are_refused_by_name() {
        let mut m = full();
        m.insert("OTP_LENGTH", "4".into());
        m.insert("OTP_TTL_SECONDS", "86400".into());
        m.insert("OTP_MAX_ATTEMPTS", "100".into());
        m.insert("TOKEN_TTL_SECONDS", (31 * 86_400).to_string());
        assert_eq!(
            parse(&m).unwrap_err(),
            vec!["OTP_LENGTH", "OTP_TTL_SECONDS", "OTP_MAX_ATTEMPTS", "TOKEN_TTL_SECONDS"]
        );
        for (name, weak, limit) in [
            ("OTP_LENGTH", "5", "6"),
            ("OTP_TTL_SECONDS", "601", "600"),
            ("OTP_MAX_ATTEMPTS", "11", "10"),
            ("TOKEN_TTL_SECONDS", "3601", "3600"),
        ] {
            let mut m = full();
            m.insert(name, weak.into());
            assert_eq!(parse(&m).unwrap_err(), vec![name], "{name}={weak}");
            m.insert(name, limit.into());
            assert!(parse(&m).is_ok(), "{name}={limit} is the limit and allowed");
        }
    }

    #[test]
    fn channels_budget_and_chat_replies() {
        let mut m = full();
        m.insert("VERIFY_VIA", "code, inbound".into());
        m.insert("MAX_SENDS_PER_DAY_GLOBAL", "500".into());
        m.insert("CHAT_REPLIES", "false".into());
        m.insert("SERVICE_NAME", "Acme Bank".into());
        let c = parse(&m).unwrap();
        assert_eq!(c.verify_via, VerifyVia { code: true, reply: false, inbound: true });
        assert_eq!(c.max_sends_per_day_global, Some(500));
        assert!(!c.chat_replies);
        assert_eq!(c.service_name, "Acme Bank");
        m.insert("VERIFY_VIA", "code,sms".into());
        m.insert("MAX_SENDS_PER_DAY_GLOBAL", "0".into());
        assert_eq!(parse(&m).unwrap_err(), vec!["MAX_SENDS_PER_DAY_GLOBAL", "VERIFY_VIA"]);
    }

    #[test]
    fn daily_limit_must_cover_the_hourly_one() {
        let mut m = full();
        m.insert("MAX_SENDS_PER_HOUR", "20".into());
        assert_eq!(parse(&m).unwrap_err(), vec!["MAX_SENDS_PER_DAY"]);
    }
}
