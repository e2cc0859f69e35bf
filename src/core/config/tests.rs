use super::*;
use std::collections::HashMap;

pub fn full() -> HashMap<&'static str, String> {
    HashMap::from([
        ("WHATSAPP_ACCESS_TOKEN", "EAAG-token".to_string()),
        ("WHATSAPP_APP_SECRET", "app-secret-0123456789".to_string()),
        ("WHATSAPP_VERIFY_TOKEN", "verify-me-0123456789".to_string()),
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
    assert_eq!(c.meta.api_base, "https://graph.facebook.com");
    assert_eq!(c.meta.api_version, "v23.0");
    assert_eq!(c.meta.message_mode, MessageMode::Template);
    assert_eq!(c.meta.template_language, "en_US");
    assert_eq!((c.codes.length, c.codes.ttl_s, c.codes.max_attempts), (6, 300, 5));
    assert_eq!(
        (c.limits.cooldown_s, c.limits.max_per_hour, c.limits.max_per_day, c.limits.ip_max_per_hour),
        (30, 5, 10, 30)
    );
    assert_eq!(c.tokens.ttl_s, 600);
    assert!(c.limits.allowed_country_codes.is_empty());
    assert!(!c.web.demo_page);
    assert_eq!((c.limits.ip_max_checks_per_hour, c.limits.max_sends_per_day_global), (1_000, None));
    assert_eq!(c.codes.verify_via, VerifyVia { code: true, reply: true, inbound: true });
    assert!(c.meta.chat_replies);
    assert_eq!(c.meta.service_name, "whatsapp-otp-worker");
    assert_eq!(c.meta.messages_url(), "https://graph.facebook.com/v23.0/106540352242922/messages");
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
    assert_eq!(parse(&m).unwrap().meta.message_mode, MessageMode::Text);
}

#[test]
fn lists_and_flags() {
    let mut m = full();
    m.insert("ALLOWED_COUNTRY_CODES", "+1, 44".into());
    m.insert("ALLOWED_ORIGINS", "https://a.example, http://localhost:5173/".into());
    m.insert("DEMO_PAGE", "true".into());
    m.insert("WHATSAPP_BUSINESS_NUMBER", "+1 555 078 3881".into());
    let c = parse(&m).unwrap();
    assert_eq!(c.limits.allowed_country_codes, vec!["1", "44"]);
    m.insert("ALLOWED_COUNTRY_CODES", "1,882".into());
    assert_eq!(parse(&m).unwrap().limits.allowed_country_codes, vec!["1", "882"], "a shared range, named");
    for not_a_code in ["4", "441", "210", "1,"] {
        m.insert("ALLOWED_COUNTRY_CODES", not_a_code.into());
        assert_eq!(parse(&m).unwrap_err(), vec!["ALLOWED_COUNTRY_CODES"], "{not_a_code}");
    }
    m.remove("ALLOWED_COUNTRY_CODES");
    assert!(c.web.allowed_origins.allows("http://localhost:5173"));
    assert!(!c.web.allowed_origins.allows("https://evil.example"));
    assert!(c.web.demo_page);
    assert_eq!(c.meta.business_number.as_deref(), Some("15550783881"));
    m.insert("ALLOWED_ORIGINS", "*".into());
    assert!(parse(&m).unwrap().web.allowed_origins.allows("https://anything"));
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
    m.insert("WHATSAPP_APP_SECRET_PREVIOUS", "old-app-secret-0123".into());
    let c = parse(&m).unwrap();
    assert_eq!(c.otp_secrets(), vec!["o".repeat(32), "p".repeat(32)]);
    assert_eq!(c.app_secrets(), vec!["app-secret-0123456789", "old-app-secret-0123"]);
}

#[test]
fn weak_settings_are_refused_by_name() {
    let mut m = full();
    m.insert("OTP_LENGTH", "4".into());
    m.insert("OTP_TTL_SECONDS", "86400".into());
    m.insert("OTP_MAX_ATTEMPTS", "100".into());
    m.insert("TOKEN_TTL_SECONDS", (31 * 86_400).to_string());
    assert_eq!(parse(&m).unwrap_err(), vec!["OTP_LENGTH", "OTP_TTL_SECONDS", "OTP_MAX_ATTEMPTS", "TOKEN_TTL_SECONDS"]);
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
fn short_app_secrets_and_verify_tokens_are_refused_by_name() {
    // Characters are counted, not bytes: eight `é` are 16 bytes but 8 characters.
    for name in ["WHATSAPP_APP_SECRET", "WHATSAPP_APP_SECRET_PREVIOUS", "WHATSAPP_VERIFY_TOKEN"] {
        for weak in ["x", "fifteen-chars-x", "éééééééé"] {
            let mut m = full();
            m.insert(name, weak.into());
            let problems = parse(&m).unwrap_err();
            assert_eq!(problems, vec![name], "{name} of {} characters", weak.chars().count());
            assert!(!format!("{problems:?}").contains(weak));
        }
        let mut m = full();
        m.insert(name, "sixteen-chars-xy".into());
        assert!(parse(&m).is_ok(), "{name} of 16 characters is the floor and allowed");
    }
    // Cloudflare issues Turnstile secrets: their length is not ours to police.
    let mut m = full();
    m.insert("TURNSTILE_SECRET_KEY", "x".into());
    assert!(parse(&m).is_ok());
}

#[test]
fn channels_budget_and_chat_replies() {
    let mut m = full();
    m.insert("VERIFY_VIA", "code, inbound".into());
    m.insert("MAX_SENDS_PER_DAY_GLOBAL", "500".into());
    m.insert("CHAT_REPLIES", "false".into());
    m.insert("SERVICE_NAME", "Acme Bank".into());
    let c = parse(&m).unwrap();
    assert_eq!(c.codes.verify_via, VerifyVia { code: true, reply: false, inbound: true });
    assert_eq!(c.limits.max_sends_per_day_global, Some(500));
    assert!(!c.meta.chat_replies);
    assert_eq!(c.meta.service_name, "Acme Bank");
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

#[test]
fn debug_shows_no_secret() {
    let mut m = full();
    m.insert("TURNSTILE_SECRET_KEY", "turnstile-secret-value".into());
    m.insert("OTP_SECRET_PREVIOUS", "p".repeat(32));
    let text = format!("{:?}", parse(&m).unwrap());
    for secret in
        ["EAAG-token", "app-secret", "verify-me", "oooooooo", "tttttttt", "turnstile-secret-value", "pppppppp"]
    {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("106540352242922"), "plain settings still show");
}

#[test]
fn test_numbers_are_checked_against_the_code_length_without_echoing_codes() {
    let mut m = full();
    m.insert("TEST_NUMBERS", "+14155550100:123456:2026-12-01,+447700900123:654321:2027-01-01".into());
    let c = parse(&m).unwrap();
    assert_eq!(c.codes.test_numbers.0.len(), 2);
    assert_eq!(c.codes.test_numbers.0[1].phone, "+447700900123");
    for bad in ["+14155550100:12345:2026-12-01", "+14155550100:123456:2026-12-32", "+14155550100:123456"] {
        m.insert("TEST_NUMBERS", bad.into());
        assert_eq!(parse(&m).unwrap_err(), vec!["TEST_NUMBERS"], "{bad}");
    }
    // Eight-digit codes when OTP_LENGTH says 8.
    m.insert("OTP_LENGTH", "8".into());
    m.insert("TEST_NUMBERS", "+14155550100:12345678:2026-12-01".into());
    assert_eq!(parse(&m).unwrap().codes.test_numbers.0[0].code, "12345678");
    assert!(!format!("{:?}", parse(&m).unwrap().codes).contains("12345678"));
}

#[test]
fn an_operators_tool_reads_metas_settings_with_the_same_rules() {
    let mut m = full();
    m.remove("OTP_SECRET");
    m.remove("TOKEN_SECRET");
    let read = |m: &HashMap<&'static str, String>| Config::meta_from_lookup(|k| m.get(k).cloned());
    let (meta, ttl) = read(&m).unwrap();
    assert_eq!(
        (meta.phone_number_id.as_str(), meta.template_language.as_str(), ttl),
        ("106540352242922", "en_US", 300)
    );
    m.insert("WHATSAPP_APP_SECRET", "short".into());
    m.insert("OTP_TTL_SECONDS", "900".into());
    assert_eq!(read(&m).unwrap_err(), vec!["WHATSAPP_APP_SECRET", "OTP_TTL_SECONDS"]);
}

fn with_sms(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
    let mut m = full();
    m.insert("SMS_PROVIDER", "twilio".into());
    m.insert("TWILIO_ACCOUNT_SID", format!("AC{}", "a".repeat(32)));
    m.insert("TWILIO_AUTH_TOKEN", "twilio-auth-token-0123456789".into());
    m.insert("TWILIO_FROM", "+15005550006".into());
    m.insert("PUBLIC_URL", "https://otp.example.com/".into());
    m.insert("SMS_COUNTRY_CODES", "1, +44".into());
    for (k, v) in pairs {
        m.insert(k, v.to_string());
    }
    m
}

#[test]
fn sms_is_off_unless_a_provider_is_named() {
    let c = parse(&full()).unwrap();
    assert!(c.sms.is_none());
    // A wrong fallback delay is named even while SMS is off.
    let mut m = full();
    m.insert("FALLBACK_AFTER_SECONDS", "soon".into());
    assert_eq!(parse(&m).unwrap_err(), vec!["FALLBACK_AFTER_SECONDS"]);
}

#[test]
fn twilio_settings_default_and_validate() {
    let c = parse(&with_sms(&[])).unwrap();
    let sms = c.sms.expect("sms on");
    assert_eq!(sms.country_codes, ["1", "44"]);
    assert!(sms.allows_number("+447700900123") && !sms.allows_number("+4915112345678"));
    assert_eq!((sms.fallback_after_s, sms.max_per_day_global, sms.webotp_domain), (45, None, None));
    let sms::SmsProvider::Twilio(t) = sms.provider else { panic!("twilio") };
    assert_eq!(
        t.messages_url(),
        format!("https://api.twilio.com/2010-04-01/Accounts/AC{}/Messages.json", "a".repeat(32))
    );
    assert_eq!(t.status_callback_url(), "https://otp.example.com/webhook/twilio");
    assert_eq!(t.sender, sms::TwilioSender::From("+15005550006".into()));
    assert_eq!(format!("{:?}", t.auth_token), "Secret(..)");
    let service = format!("MG{}", "b".repeat(32));
    let c = parse(&with_sms(&[("TWILIO_MESSAGING_SERVICE_SID", &service)])).unwrap();
    let Some(sms::SmsProvider::Twilio(t)) = c.sms.map(|s| s.provider) else { panic!("twilio") };
    assert_eq!(t.sender, sms::TwilioSender::MessagingService(service));
}

#[test]
fn sms_settings_problems_are_named() {
    let mut m = with_sms(&[("TWILIO_ACCOUNT_SID", "nope"), ("PUBLIC_URL", "otp.example.com")]);
    m.remove("TWILIO_FROM");
    m.remove("SMS_COUNTRY_CODES");
    m.remove("TWILIO_AUTH_TOKEN");
    assert_eq!(
        parse(&m).unwrap_err(),
        vec!["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "PUBLIC_URL", "SMS_COUNTRY_CODES"]
    );
    let webhook = with_sms(&[("SMS_PROVIDER", "webhook"), ("SMS_WEBHOOK_URL", "https://sms.example.com/send")]);
    assert_eq!(parse(&webhook).unwrap_err(), vec!["SMS_WEBHOOK_SECRET"]);
    let webhook = with_sms(&[
        ("SMS_PROVIDER", "webhook"),
        ("SMS_WEBHOOK_URL", "https://sms.example.com/send"),
        ("SMS_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ]);
    assert!(matches!(parse(&webhook).unwrap().sms.unwrap().provider, sms::SmsProvider::Webhook(_)));
    assert_eq!(parse(&with_sms(&[("SMS_PROVIDER", "carrier-pigeon")])).unwrap_err(), vec!["SMS_PROVIDER"]);
    assert_eq!(parse(&with_sms(&[("SMS_COUNTRY_CODES", "1,999")])).unwrap_err(), vec!["SMS_COUNTRY_CODES"]);
    assert_eq!(parse(&with_sms(&[("MAX_SMS_PER_DAY_GLOBAL", "0")])).unwrap_err(), vec!["MAX_SMS_PER_DAY_GLOBAL"]);
    assert_eq!(parse(&with_sms(&[("SMS_WEBOTP_DOMAIN", "https://x.com/")])).unwrap_err(), vec!["SMS_WEBOTP_DOMAIN"]);
    assert_eq!(
        parse(&with_sms(&[("SMS_WEBOTP_DOMAIN", "app.example.com")])).unwrap().sms.unwrap().webotp_domain.as_deref(),
        Some("app.example.com")
    );
}

/// A webhook provider with no usable key refuses the configuration without a
/// placeholder key, and still names every other problem.
#[test]
fn a_webhook_provider_without_a_valid_key_names_it_and_the_rest() {
    for secret in [None, Some("whsec_c2hvcnQ="), Some("not-a-key")] {
        let mut m = with_sms(&[
            ("SMS_PROVIDER", "webhook"),
            ("SMS_WEBHOOK_URL", "sms.example.com/send"),
            ("FALLBACK_AFTER_SECONDS", "241"),
        ]);
        m.remove("SMS_COUNTRY_CODES");
        if let Some(secret) = secret {
            m.insert("SMS_WEBHOOK_SECRET", secret.into());
        }
        assert_eq!(
            parse(&m).unwrap_err(),
            vec!["SMS_WEBHOOK_URL", "SMS_WEBHOOK_SECRET", "SMS_COUNTRY_CODES", "FALLBACK_AFTER_SECONDS"],
            "{secret:?}"
        );
    }
}

#[test]
fn the_fallback_leaves_a_minute_to_type_the_code() {
    // 300 s codes: up to 240 s of waiting.
    assert_eq!(parse(&with_sms(&[("FALLBACK_AFTER_SECONDS", "240")])).unwrap().sms.unwrap().fallback_after_s, 240);
    assert_eq!(parse(&with_sms(&[("FALLBACK_AFTER_SECONDS", "241")])).unwrap_err(), vec!["FALLBACK_AFTER_SECONDS"]);
    // The default 45 s needs codes of at least 105 s.
    assert_eq!(parse(&with_sms(&[("OTP_TTL_SECONDS", "100")])).unwrap_err(), vec!["FALLBACK_AFTER_SECONDS"]);
    let quick = with_sms(&[("OTP_TTL_SECONDS", "61"), ("FALLBACK_AFTER_SECONDS", "1")]);
    assert_eq!(parse(&quick).unwrap().sms.unwrap().fallback_after_s, 1);
}
