//! Every setting, parsed and validated once into a typed `Config`, in named groups:
//! Meta's account, codes, limits, tokens, the web, and keys being rotated.

mod events;
mod reader;
pub mod sms;

pub use self::events::{EventsConfig, MIN_ADMIN_TOKEN_LEN};
pub use self::sms::SmsSettings;

use self::reader::{api_version, digits, http_url, language, Reader};
use super::guard::SendPolicy;
use super::secret::Secret;
use super::test_numbers::TestNumbers;
pub use super::token::TokenSettings;
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
    pub meta: MetaSettings,
    pub codes: CodeSettings,
    pub limits: Limits,
    pub tokens: TokenSettings,
    pub web: WebSettings,
    /// Rotation and ES256 tokens (see `docs/operations.md`).
    pub keys: Keys,
    /// The SMS fallback: `None` when `SMS_PROVIDER` is unset.
    pub sms: Option<SmsSettings>,
}

/// The WhatsApp Business account and what the worker sends through it.
#[derive(Debug, Clone)]
pub struct MetaSettings {
    pub access_token: Secret,
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub phone_number_id: String,
    /// Digits only: where inbound codes are sent (`wa.me` links).
    pub business_number: Option<String>,
    pub api_base: String,
    pub api_version: String,
    pub message_mode: MessageMode,
    pub template_name: String,
    pub template_language: String,
    /// Named in the inbound text and the chat confirmation, so a person being
    /// phished can see who they are signing in to.
    pub service_name: String,
    pub chat_replies: bool,
}

/// The codes themselves and the ways they may be proven.
#[derive(Debug, Clone)]
pub struct CodeSettings {
    pub otp_secret: Secret,
    pub length: usize,
    pub ttl_s: u64,
    pub max_attempts: u32,
    pub verify_via: VerifyVia,
    /// `TEST_NUMBERS`: numbers that get a fixed code and no message until a date.
    pub test_numbers: TestNumbers,
}

/// Sends and checks allowed per number, per address and per day.
#[derive(Debug, Clone)]
pub struct Limits {
    pub cooldown_s: u64,
    pub max_per_hour: u32,
    pub max_per_day: u32,
    pub ip_max_per_hour: u32,
    pub ip_max_checks_per_hour: u32,
    pub max_sends_per_day_global: Option<u32>,
    pub allowed_country_codes: Vec<String>,
}

/// What browsers see: origins, the reference page, the captcha.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub allowed_origins: AllowedOrigins,
    pub demo_page: bool,
    pub turnstile_secret: Option<Secret>,
    pub turnstile_verify_url: String,
}

/// Secrets being rotated out, and the ES256 signing key with the public keys it replaced.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// `OTP_SECRET_PREVIOUS`: codes hashed with it still verify until they expire.
    pub otp_secret_previous: Option<Secret>,
    /// `WHATSAPP_APP_SECRET_PREVIOUS`: webhooks signed with it are still accepted.
    pub app_secret_previous: Option<Secret>,
    /// `TOKEN_SIGNING_KEY`: when set, tokens are ES256 with its `kid`.
    pub token_signing_key: Option<SigningKey>,
    /// `TOKEN_PREVIOUS_PUBLIC_KEYS`: published beside the signing key's public half.
    pub token_previous_public_keys: Vec<serde_json::Value>,
}

/// A setting that is missing or invalid, by name only: never its value.
pub type Problems = Vec<&'static str>;

/// Shortest secret accepted for keys that sign or hash (HS256 wants ≥ 256 bits).
const MIN_KEY_LEN: usize = 32;

/// Shortest app secret and verify token accepted: Meta's app secrets are 32 hex
/// characters, so anything much shorter is a placeholder an attacker can guess and
/// then sign webhooks with (the verify token is ours to choose).
const MIN_SHARED_SECRET_LEN: usize = 16;

// Weaker settings are refused at start-up rather than quietly weakening every code.
/// Shorter codes are guessable within the attempt budget (10^-6 per try at 6 digits).
const MIN_OTP_LENGTH: usize = 6;
/// Codes live at most 10 minutes (OWASP ASVS 2.7.2).
const MAX_OTP_TTL_S: u64 = 600;
/// Wrong tries per code.
const MAX_OTP_ATTEMPTS: u32 = 10;
/// Tokens are a proof of a fresh verification, not a session: an hour at most.
const MAX_TOKEN_TTL_S: u64 = 3_600;

fn long_key(s: &str) -> bool {
    s.len() >= MIN_KEY_LEN
}

fn shared_secret(s: &str) -> bool {
    s.chars().count() >= MIN_SHARED_SECRET_LEN
}

impl Keys {
    fn read(r: &mut Reader) -> Keys {
        let token_previous_public_keys = r
            .optional("TOKEN_PREVIOUS_PUBLIC_KEYS", |v| parse_public_keys(v).is_some())
            .and_then(|v| parse_public_keys(&v))
            .unwrap_or_default();
        Keys {
            otp_secret_previous: r.optional("OTP_SECRET_PREVIOUS", long_key).map(Secret::new),
            app_secret_previous: r.optional("WHATSAPP_APP_SECRET_PREVIOUS", shared_secret).map(Secret::new),
            token_signing_key: r
                .optional("TOKEN_SIGNING_KEY", |v| parse_signing_key(v).is_some())
                .and_then(|v| parse_signing_key(&v)),
            token_previous_public_keys,
        }
    }
}

impl TokenSettings {
    fn read(r: &mut Reader) -> TokenSettings {
        // With a signing key (even an invalid one, already named), tokens are ES256
        // and TOKEN_SECRET may be absent; one that is set is still checked.
        let secret = match r.get("TOKEN_SIGNING_KEY") {
            Some(_) => r.optional("TOKEN_SECRET", long_key).unwrap_or_default(),
            None => r.required("TOKEN_SECRET", long_key),
        };
        TokenSettings {
            secret: Secret::new(secret),
            ttl_s: r.number("TOKEN_TTL_SECONDS", 600u64, 30, MAX_TOKEN_TTL_S),
            issuer: r.or_default("TOKEN_ISSUER", "whatsapp-otp-worker", |_| true),
            audience: r.optional("TOKEN_AUDIENCE", |_| true),
        }
    }
}

impl MetaSettings {
    fn read(r: &mut Reader, token_issuer: &str) -> MetaSettings {
        let business_number = r
            .optional("WHATSAPP_BUSINESS_NUMBER", |v| {
                super::phone::normalize_phone(&format!("+{}", v.trim_start_matches('+'))).is_some()
            })
            .map(|v| v.trim_start_matches('+').chars().filter(char::is_ascii_digit).collect());
        let message_mode =
            match r.or_default("WHATSAPP_MESSAGE_MODE", "template", |v| v == "template" || v == "text").as_str() {
                "text" => MessageMode::Text,
                _ => MessageMode::Template,
            };
        let template_name = match message_mode {
            MessageMode::Template => r.required("WHATSAPP_TEMPLATE_NAME", |v| v.len() <= 512),
            MessageMode::Text => r.or_default("WHATSAPP_TEMPLATE_NAME", "", |_| true),
        };
        MetaSettings {
            access_token: Secret::new(r.required("WHATSAPP_ACCESS_TOKEN", |_| true)),
            app_secret: Secret::new(r.required("WHATSAPP_APP_SECRET", shared_secret)),
            verify_token: Secret::new(r.required("WHATSAPP_VERIFY_TOKEN", shared_secret)),
            phone_number_id: r.required("WHATSAPP_PHONE_NUMBER_ID", digits),
            business_number,
            api_base: r
                .or_default("WHATSAPP_API_BASE", "https://graph.facebook.com", http_url)
                .trim_end_matches('/')
                .to_string(),
            api_version: r.or_default("WHATSAPP_API_VERSION", "v23.0", api_version),
            message_mode,
            template_name,
            template_language: r.or_default("WHATSAPP_TEMPLATE_LANGUAGE", "en_US", language),
            service_name: r.or_default("SERVICE_NAME", token_issuer, |v| v.chars().count() <= 60),
            chat_replies: r.flag("CHAT_REPLIES", true),
        }
    }

    pub fn messages_url(&self) -> String {
        format!("{}/{}/{}/messages", self.api_base, self.api_version, self.phone_number_id)
    }
}

impl CodeSettings {
    fn read(r: &mut Reader) -> CodeSettings {
        let verify_via = r
            .optional("VERIFY_VIA", |v| v.split(',').all(|c| matches!(c.trim(), "code" | "reply" | "inbound")))
            .map_or(VerifyVia { code: true, reply: true, inbound: true }, |v| {
                let on = |name: &str| v.split(',').any(|c| c.trim() == name);
                VerifyVia { code: on("code"), reply: on("reply"), inbound: on("inbound") }
            });
        let length = r.number("OTP_LENGTH", 6usize, MIN_OTP_LENGTH, 10);
        // Checked against the length in force (the default when OTP_LENGTH is wrong).
        let test_numbers = r
            .optional("TEST_NUMBERS", |v| TestNumbers::parse(v, length).is_some())
            .and_then(|v| TestNumbers::parse(&v, length))
            .unwrap_or_default();
        CodeSettings {
            otp_secret: Secret::new(r.required("OTP_SECRET", long_key)),
            length,
            ttl_s: r.number("OTP_TTL_SECONDS", 300u64, 1, MAX_OTP_TTL_S),
            max_attempts: r.number("OTP_MAX_ATTEMPTS", 5u32, 1, MAX_OTP_ATTEMPTS),
            verify_via,
            test_numbers,
        }
    }
}

impl Limits {
    fn read(r: &mut Reader) -> Limits {
        let allowed_country_codes = r
            .optional("ALLOWED_COUNTRY_CODES", |v| {
                v.split(',').map(|c| c.trim().trim_start_matches('+')).all(super::countries::is_calling_code)
            })
            .map(|v| v.split(',').map(|c| c.trim().trim_start_matches('+').to_string()).collect())
            .unwrap_or_default();
        let limits = Limits {
            cooldown_s: r.number("RESEND_COOLDOWN_SECONDS", 30u64, 0, 86_400),
            max_per_hour: r.number("MAX_SENDS_PER_HOUR", 5u32, 1, 1_000),
            max_per_day: r.number("MAX_SENDS_PER_DAY", 10u32, 1, 1_000),
            ip_max_per_hour: r.number("IP_MAX_REQUESTS_PER_HOUR", 30u32, 1, 1_000_000),
            ip_max_checks_per_hour: r.number("IP_MAX_CHECKS_PER_HOUR", 1_000u32, 1, 1_000_000),
            max_sends_per_day_global: r
                .optional("MAX_SENDS_PER_DAY_GLOBAL", |v| v.parse::<u32>().is_ok_and(|n| n >= 1))
                .and_then(|v| v.parse().ok()),
            allowed_country_codes,
        };
        if limits.max_per_day < limits.max_per_hour {
            r.problems.push("MAX_SENDS_PER_DAY");
        }
        limits
    }
}

impl WebSettings {
    fn read(r: &mut Reader) -> WebSettings {
        let allowed_origins = match r
            .optional("ALLOWED_ORIGINS", |v| v == "*" || v.split(',').all(|o| http_url(o.trim())))
        {
            Some(v) if v == "*" => AllowedOrigins::Any,
            Some(v) => AllowedOrigins::List(v.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).collect()),
            None => AllowedOrigins::List(Vec::new()),
        };
        WebSettings {
            allowed_origins,
            demo_page: r.flag("DEMO_PAGE", false),
            turnstile_secret: r.optional("TURNSTILE_SECRET_KEY", |_| true).map(Secret::new),
            turnstile_verify_url: r.or_default(
                "TURNSTILE_VERIFY_URL",
                "https://challenges.cloudflare.com/turnstile/v0/siteverify",
                http_url,
            ),
        }
    }
}

impl Config {
    /// Reads every setting through `lookup` (secrets and vars alike). On failure,
    /// the names of all problems at once, so one deploy fixes them all.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Problems> {
        let mut r = Reader::new(&lookup);
        let keys = Keys::read(&mut r);
        let tokens = TokenSettings::read(&mut r);
        let meta = MetaSettings::read(&mut r, &tokens.issuer);
        let codes = CodeSettings::read(&mut r);
        let limits = Limits::read(&mut r);
        let web = WebSettings::read(&mut r);
        let sms = SmsSettings::read(&mut r, codes.ttl_s);
        let problems = r.finish();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config { meta, codes, limits, tokens, web, keys, sms })
    }

    /// Only what an operator's tool needs of Meta's account (`otpctl doctor` and
    /// `smoke`): Meta's settings and the code's life, read with the worker's very rules,
    /// so a value the worker would refuse is refused there too, by the same name.
    pub fn meta_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<(MetaSettings, u64), Problems> {
        let mut r = Reader::new(&lookup);
        let meta = MetaSettings::read(&mut r, "");
        let ttl_s = r.number("OTP_TTL_SECONDS", 300u64, 1, MAX_OTP_TTL_S);
        let problems = r.finish();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok((meta, ttl_s))
    }

    pub fn send_policy(&self) -> SendPolicy {
        SendPolicy {
            ttl_s: self.codes.ttl_s,
            max_attempts: self.codes.max_attempts,
            cooldown_s: self.limits.cooldown_s,
            max_per_hour: self.limits.max_per_hour,
            max_per_day: self.limits.max_per_day,
        }
    }

    pub fn otp_secrets(&self) -> Vec<&str> {
        std::iter::once(self.codes.otp_secret.expose())
            .chain(self.keys.otp_secret_previous.as_ref().map(Secret::expose))
            .collect()
    }

    pub fn app_secrets(&self) -> Vec<&str> {
        std::iter::once(self.meta.app_secret.expose())
            .chain(self.keys.app_secret_previous.as_ref().map(Secret::expose))
            .collect()
    }
}

#[cfg(test)]
pub mod tests;

#[cfg(test)]
mod docs_tests;
