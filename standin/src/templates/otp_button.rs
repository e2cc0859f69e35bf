//! The one button of an authentication template: an OTP button (copy code, one-tap
//! or zero-tap), with the Android apps one-tap and zero-tap need.

use serde_json::{json, Map, Value};

use super::creation::{check_text, get_str};
use super::refusal::Refusal;
use super::{MAX_BUTTON_TEXT_CHARS, MAX_SUPPORTED_APPS, OTP_TYPES};

/// The one OTP button of an authentication template, as Meta lists it.
pub(super) fn validate_buttons(c: &Map<String, Value>, at: &str) -> Result<Value, Refusal> {
    let buttons = match c.get("buttons") {
        None | Some(Value::Null) => return Err(Refusal::param(format!("The parameter {at}[buttons] is required."))),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Refusal::param(format!("Param {at}[buttons] must be an array."))),
    };
    if buttons.len() != 1 {
        return Err(Refusal::user(
            None,
            "One-Time Password Button Required",
            "Authentication templates take exactly one button, of type OTP.",
        ));
    }
    let at = format!("{at}[buttons][0]");
    let b = buttons[0].as_object().ok_or_else(|| Refusal::param(format!("Param {at} must be an object.")))?;
    let otp_type = otp_type(b, &at)?;
    let mut out = Map::new();
    out.insert("type".into(), json!("OTP"));
    out.insert("otp_type".into(), json!(otp_type));
    add_labels(b, &at, &mut out)?;
    if otp_type != "COPY_CODE" {
        out.insert("supported_apps".into(), Value::Array(supported_apps(b, &at, &otp_type)?));
        if otp_type == "ZERO_TAP" {
            if b.get("zero_tap_terms_accepted") != Some(&Value::Bool(true)) {
                return Err(Refusal::user(
                    None,
                    "Zero-Tap Terms Not Accepted",
                    "ZERO_TAP buttons need zero_tap_terms_accepted: true (you accept Meta's zero-tap terms of service).",
                )
                .blame(&format!("{at}[zero_tap_terms_accepted]")));
            }
            out.insert("zero_tap_terms_accepted".into(), json!(true));
        }
    } else if b.contains_key("supported_apps") {
        return Err(Refusal::param(format!("Param {at}[supported_apps] is only for ONE_TAP and ZERO_TAP buttons.")));
    }
    Ok(Value::Object(out))
}

/// The button must be of type OTP; its `otp_type`, upper-cased.
fn otp_type(b: &Map<String, Value>, at: &str) -> Result<String, Refusal> {
    let btype = get_str(b, "type", at)?.unwrap_or("").to_ascii_uppercase();
    if btype != "OTP" {
        return Err(Refusal::user(
            None,
            "One-Time Password Button Required",
            format!(
                "Authentication templates take an OTP button, not a {} button.",
                if btype.is_empty() { "typeless" } else { &btype }
            ),
        )
        .blame(&format!("{at}[type]")));
    }
    let otp_type = get_str(b, "otp_type", at)?
        .ok_or_else(|| Refusal::param(format!("The parameter {at}[otp_type] is required.")))?
        .to_ascii_uppercase();
    if !OTP_TYPES.contains(&otp_type.as_str()) {
        return Err(Refusal::param(format!(
            "Param {at}[otp_type] must be one of {{{}}} - got \"{otp_type}\".",
            OTP_TYPES.join(", ")
        )));
    }
    Ok(otp_type)
}

/// `text` and `autofill_text` as given; `text` is Meta's "Copy code" unless given.
fn add_labels(b: &Map<String, Value>, at: &str, out: &mut Map<String, Value>) -> Result<(), Refusal> {
    for key in ["text", "autofill_text"] {
        if let Some(t) = get_str(b, key, at)? {
            if t.chars().count() > MAX_BUTTON_TEXT_CHARS {
                return Err(Refusal::user(
                    Some(2_388_040),
                    "Character Limit Hit",
                    format!("Button text can't be longer than {MAX_BUTTON_TEXT_CHARS} characters."),
                )
                .blame(&format!("{at}[{key}]")));
            }
            check_text(t, "button text")?;
            out.insert(key.into(), json!(t));
        }
    }
    if !out.contains_key("text") {
        out.insert("text".into(), json!("Copy code"));
    }
    Ok(())
}

/// One-tap and zero-tap buttons name the Android apps that may take the code.
fn supported_apps(b: &Map<String, Value>, at: &str, otp_type: &str) -> Result<Vec<Value>, Refusal> {
    let apps = match b.get("supported_apps") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(Refusal::user(
                None,
                "Supported Apps Required",
                format!("{otp_type} buttons need supported_apps: your Android app's package_name and signature_hash."),
            )
            .blame(&format!("{at}[supported_apps]")))
        }
        Some(_) => return Err(Refusal::param(format!("Param {at}[supported_apps] must be an array."))),
    };
    if apps.len() > MAX_SUPPORTED_APPS {
        return Err(Refusal::param(format!("Param {at}[supported_apps] takes at most {MAX_SUPPORTED_APPS} apps.")));
    }
    apps.iter().enumerate().map(|(j, app)| supported_app(app, &format!("{at}[supported_apps][{j}]"))).collect()
}

fn supported_app(app: &Value, at: &str) -> Result<Value, Refusal> {
    let a = app.as_object().ok_or_else(|| Refusal::param(format!("Param {at} must be an object.")))?;
    let package = get_str(a, "package_name", at)?
        .ok_or_else(|| Refusal::param(format!("The parameter {at}[package_name] is required.")))?;
    let hash = get_str(a, "signature_hash", at)?
        .ok_or_else(|| Refusal::param(format!("The parameter {at}[signature_hash] is required.")))?;
    if !valid_package_name(package) {
        return Err(Refusal::user(
            None,
            "Invalid Package Name",
            "package_name must be an Android application id like com.example.app (letters, digits and underscores, dot-separated, at most 224 characters).",
        )
        .blame(&format!("{at}[package_name]")));
    }
    if hash.chars().count() != 11 || !hash.chars().all(|c| c.is_ascii_alphanumeric() || "+/=%".contains(c)) {
        return Err(Refusal::user(
            None,
            "Invalid Signature Hash",
            "signature_hash must be your app's 11-character signing key hash (the one Android's SMS Retriever API uses).",
        )
        .blame(&format!("{at}[signature_hash]")));
    }
    Ok(json!({"package_name": package, "signature_hash": hash}))
}

/// An Android application id: at least two dot-separated segments of letters, digits
/// and underscores, each starting with a letter.
pub fn valid_package_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    s.len() <= 224
        && parts.len() >= 2
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
