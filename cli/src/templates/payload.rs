//! The creation body Meta documents for authentication templates.

use serde_json::{json, Value};

/// Meta's bounds for authentication templates.
pub const EXPIRATION_MINUTES: (u64, u64) = (1, 90);
pub const SEND_TTL_SECONDS: (u64, u64) = (30, 900);
pub const MAX_APPS: usize = 5;

/// An Android app allowed to receive the code (one-tap and zero-tap buttons).
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub package_name: String,
    pub signature_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OtpButton {
    CopyCode,
    OneTap(Vec<App>),
    /// Zero-tap: the apps, and Meta's zero-tap terms accepted by the operator.
    ZeroTap(Vec<App>),
}

impl OtpButton {
    pub fn otp_type(&self) -> &'static str {
        match self {
            OtpButton::CopyCode => "COPY_CODE",
            OtpButton::OneTap(_) => "ONE_TAP",
            OtpButton::ZeroTap(_) => "ZERO_TAP",
        }
    }
}

/// Everything one creation call needs besides the language.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub button: OtpButton,
    pub security_recommendation: bool,
    pub code_expiration_minutes: u64,
    pub message_send_ttl_seconds: u64,
    /// The copy-code button's label (Meta's default when `None`).
    pub button_text: Option<String>,
    /// A custom body text instead of Meta's preset wording.
    pub body_text: Option<String>,
}

/// `code_expiration_minutes` for a code living `ttl_seconds`: rounded up, within 1–90.
/// The second value is true when the code lives longer than the footer can say.
pub fn expiration_minutes(ttl_seconds: u64) -> (u64, bool) {
    let minutes = ttl_seconds.div_ceil(60);
    (minutes.clamp(EXPIRATION_MINUTES.0, EXPIRATION_MINUTES.1), minutes > EXPIRATION_MINUTES.1)
}

/// `message_send_ttl_seconds`: no longer than the code's life (an undelivered code is useless
/// after that), within Meta's 30–900; `requested` overrides within the same limits.
pub fn send_ttl(ttl_seconds: u64, requested: Option<u64>) -> Result<(u64, Option<String>), String> {
    let (lo, hi) = SEND_TTL_SECONDS;
    match requested {
        Some(r) if !(lo..=hi).contains(&r) => Err(format!("--send-ttl must be from {lo} to {hi} seconds (got {r})")),
        Some(r) if r > ttl_seconds && ttl_seconds >= lo => Err(format!(
            "--send-ttl {r} is longer than the code's life (OTP_TTL_SECONDS={ttl_seconds}): a message delivered after the code expired is useless"
        )),
        Some(r) => Ok((r, None)),
        None if ttl_seconds < lo => Ok((
            lo,
            Some(format!(
                "OTP_TTL_SECONDS={ttl_seconds} is below Meta's shortest message time-to-live; using {lo} seconds"
            )),
        )),
        None => Ok((ttl_seconds.min(hi), None)),
    }
}

/// The JSON body of `POST /{waba}/message_templates` for one language.
pub fn build(spec: &Spec, language: &str) -> Value {
    let mut body = json!({"type": "BODY", "add_security_recommendation": spec.security_recommendation});
    if let Some(text) = &spec.body_text {
        body["text"] = json!(text);
    }
    let mut button = json!({"type": "OTP", "otp_type": spec.button.otp_type()});
    if let Some(text) = &spec.button_text {
        button["text"] = json!(text);
    }
    if let OtpButton::OneTap(apps) | OtpButton::ZeroTap(apps) = &spec.button {
        button["supported_apps"] =
            apps.iter().map(|a| json!({"package_name": a.package_name, "signature_hash": a.signature_hash})).collect();
    }
    if let OtpButton::ZeroTap(_) = spec.button {
        button["zero_tap_terms_accepted"] = json!(true);
    }
    json!({
        "name": spec.name,
        "language": language,
        "category": "AUTHENTICATION",
        "message_send_ttl_seconds": spec.message_send_ttl_seconds,
        "components": [
            body,
            {"type": "FOOTER", "code_expiration_minutes": spec.code_expiration_minutes},
            {"type": "BUTTONS", "buttons": [button]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(button: OtpButton) -> Spec {
        Spec {
            name: "otp_code".into(),
            button,
            security_recommendation: true,
            code_expiration_minutes: 5,
            message_send_ttl_seconds: 300,
            button_text: None,
            body_text: None,
        }
    }

    #[test]
    fn copy_code_body_is_metas_documented_shape() {
        assert_eq!(
            build(&spec(OtpButton::CopyCode), "en_US"),
            json!({
                "name": "otp_code",
                "language": "en_US",
                "category": "AUTHENTICATION",
                "message_send_ttl_seconds": 300,
                "components": [
                    {"type": "BODY", "add_security_recommendation": true},
                    {"type": "FOOTER", "code_expiration_minutes": 5},
                    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}
                ]
            })
        );
    }

    #[test]
    fn one_tap_and_zero_tap_carry_supported_apps() {
        let apps = vec![App { package_name: "com.example.app".into(), signature_hash: "K8a/AINcGX7".into() }];
        let v = build(&spec(OtpButton::OneTap(apps.clone())), "es");
        let button = &v["components"][2]["buttons"][0];
        assert_eq!(button["otp_type"], "ONE_TAP");
        assert_eq!(
            button["supported_apps"],
            json!([{"package_name": "com.example.app", "signature_hash": "K8a/AINcGX7"}])
        );
        assert!(button.get("zero_tap_terms_accepted").is_none());
        assert_eq!(v["language"], "es");
        let v = build(&spec(OtpButton::ZeroTap(apps)), "de");
        assert_eq!(v["components"][2]["buttons"][0]["otp_type"], "ZERO_TAP");
        assert_eq!(v["components"][2]["buttons"][0]["zero_tap_terms_accepted"], true);
    }

    #[test]
    fn optional_texts() {
        let mut s = spec(OtpButton::CopyCode);
        s.button_text = Some("Copy".into());
        s.body_text = Some("Your code".into());
        s.security_recommendation = false;
        let v = build(&s, "en_US");
        assert_eq!(
            v["components"][0],
            json!({"type": "BODY", "add_security_recommendation": false, "text": "Your code"})
        );
        assert_eq!(v["components"][2]["buttons"][0]["text"], "Copy");
    }

    #[test]
    fn expiration_is_rounded_up_within_1_to_90_minutes() {
        assert_eq!(expiration_minutes(300), (5, false));
        assert_eq!(expiration_minutes(301), (6, false));
        assert_eq!(expiration_minutes(2), (1, false));
        assert_eq!(expiration_minutes(5400), (90, false));
        assert_eq!(expiration_minutes(5401), (90, true));
    }

    #[test]
    fn send_ttl_never_outlives_the_code() {
        assert_eq!(send_ttl(300, None), Ok((300, None)));
        assert_eq!(send_ttl(3600, None), Ok((900, None)));
        let (ttl, warning) = send_ttl(2, None).unwrap();
        assert_eq!(ttl, 30);
        assert!(warning.unwrap().contains("below"));
        assert_eq!(send_ttl(300, Some(120)), Ok((120, None)));
        assert!(send_ttl(300, Some(600)).unwrap_err().contains("longer than the code's life"));
        assert!(send_ttl(300, Some(10)).is_err());
        assert!(send_ttl(3600, Some(901)).is_err());
    }
}
