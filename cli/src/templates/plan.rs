//! What a creation run will do, decided from the flags and the settings before
//! anything is sent: the template's spec, its languages, and warnings to show.

use super::args::Args;
use super::payload::{self, App, OtpButton, Spec};
use super::settings::{self, Settings};

/// What a creation run will do: the spec and the languages, plus warnings to show.
/// Keep the check order (name, languages, button, send TTL): it decides which error a
/// command line with several mistakes reports.
pub(super) fn plan(args: &Args, s: &Settings) -> Result<(Spec, Vec<String>, Vec<String>), String> {
    let mut warnings = Vec::new();
    let name = template_name(args, s)?;
    let languages = template_languages(args, s)?;
    let button = otp_button(args)?;

    let (minutes, longer) = payload::expiration_minutes(s.otp_ttl_seconds);
    if longer {
        warnings.push(format!(
            "OTP_TTL_SECONDS={} is longer than the 90 minutes a template footer can state; it will say 90",
            s.otp_ttl_seconds
        ));
    }
    let (send_ttl, warning) = payload::send_ttl(s.otp_ttl_seconds, args.send_ttl)?;
    warnings.extend(warning);
    let spec = Spec {
        name,
        button,
        security_recommendation: !args.no_security_recommendation,
        code_expiration_minutes: minutes,
        message_send_ttl_seconds: send_ttl,
        button_text: args.button_text.clone(),
        body_text: args.body_text.clone(),
    };
    Ok((spec, languages, warnings))
}

/// The template name from --name, else the one the worker sends; Meta's charset only.
fn template_name(args: &Args, s: &Settings) -> Result<String, String> {
    let name = args.name.clone().or_else(|| s.template_name.clone()).ok_or(
        "no template name: pass --name or set WHATSAPP_TEMPLATE_NAME (the worker sends the template of that name)",
    )?;
    if !settings::valid_template_name(&name) {
        return Err(format!("--name '{name}': Meta takes lowercase letters, digits and underscores only"));
    }
    Ok(name)
}

/// The languages to create, one Graph API call each: at least one, well-formed, no repeats.
fn template_languages(args: &Args, s: &Settings) -> Result<Vec<String>, String> {
    let languages = args.languages.clone().unwrap_or_else(|| vec![s.template_language.clone()]);
    if languages.is_empty() {
        return Err("--languages names no language".into());
    }
    if let Some(bad) = languages.iter().find(|l| !settings::valid_language(l)) {
        return Err(format!("language '{bad}' does not look like Meta's codes (en_US, es, pt_BR)"));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = languages.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(format!("language '{dup}' is given twice"));
    }
    Ok(languages)
}

/// The Android apps from paired --package-name/--signature-hash flags.
fn android_apps(args: &Args) -> Result<Vec<App>, String> {
    if args.package_names.len() != args.signature_hashes.len() {
        return Err("give one --signature-hash for each --package-name".into());
    }
    let apps: Vec<App> = args
        .package_names
        .iter()
        .zip(&args.signature_hashes)
        .map(|(p, h)| App { package_name: p.clone(), signature_hash: h.clone() })
        .collect();
    if apps.len() > payload::MAX_APPS {
        return Err(format!("at most {} apps", payload::MAX_APPS));
    }
    Ok(apps)
}

/// The OTP button: apps only for ONE_TAP/ZERO_TAP, and the zero-tap terms only with ZERO_TAP,
/// so a flag that would be ignored is refused instead.
fn otp_button(args: &Args) -> Result<OtpButton, String> {
    let otp_type = args.otp_type.as_deref().unwrap_or("COPY_CODE");
    let apps = android_apps(args)?;
    let button = match otp_type {
        "COPY_CODE" => {
            if !apps.is_empty() {
                return Err("--package-name/--signature-hash are for ONE_TAP and ZERO_TAP buttons".into());
            }
            OtpButton::CopyCode
        }
        "ONE_TAP" | "ZERO_TAP" => {
            if apps.is_empty() {
                return Err(format!(
                    "{otp_type} needs your Android app: --package-name com.example.app --signature-hash <11-character hash>"
                ));
            }
            if otp_type == "ZERO_TAP" {
                if !args.accept_zero_tap_terms {
                    return Err("ZERO_TAP needs --accept-zero-tap-terms (Meta's zero-tap terms of service)".into());
                }
                OtpButton::ZeroTap(apps)
            } else {
                OtpButton::OneTap(apps)
            }
        }
        other => return Err(format!("--otp-type must be COPY_CODE, ONE_TAP or ZERO_TAP (got '{other}')")),
    };
    if args.accept_zero_tap_terms && !matches!(button, OtpButton::ZeroTap(_)) {
        return Err("--accept-zero-tap-terms goes with --otp-type ZERO_TAP".into());
    }
    Ok(button)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::args::args;

    fn settings() -> Settings {
        Settings {
            api_base: "http://127.0.0.1:1".into(),
            api_version: "v23.0".into(),
            business_account_id: Some("1".into()),
            access_token: Some("t".into()),
            template_name: Some("otp_code".into()),
            template_language: "en_US".into(),
            otp_ttl_seconds: 300,
        }
    }

    #[test]
    fn plans_from_settings_and_flags() {
        let (spec, langs, warnings) = plan(&args(&[]), &settings()).unwrap();
        assert_eq!((spec.name.as_str(), langs, warnings.len()), ("otp_code", vec!["en_US".to_string()], 0));
        assert_eq!((spec.code_expiration_minutes, spec.message_send_ttl_seconds), (5, 300));
        assert_eq!(spec.button, OtpButton::CopyCode);
        let mut s = settings();
        s.otp_ttl_seconds = 600;
        let (spec, _, warnings) = plan(&args(&["--name", "other", "--send-ttl", "120"]), &s).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.code_expiration_minutes, spec.message_send_ttl_seconds),
            ("other", 10, 120)
        );
        assert!(warnings.is_empty());
        s.otp_ttl_seconds = 10;
        let (spec, _, warnings) = plan(&args(&[]), &s).unwrap();
        assert_eq!((spec.code_expiration_minutes, spec.message_send_ttl_seconds), (1, 30));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn refuses_one_tap_and_zero_tap_without_the_app() {
        for t in ["ONE_TAP", "ZERO_TAP"] {
            let e = plan(&args(&["--otp-type", t]), &settings()).unwrap_err();
            assert!(e.contains("--package-name"), "{e}");
        }
        let e = plan(
            &args(&["--otp-type", "ZERO_TAP", "--package-name", "com.a.b", "--signature-hash", "K8a/AINcGX7"]),
            &settings(),
        )
        .unwrap_err();
        assert!(e.contains("--accept-zero-tap-terms"));
        let ok = plan(
            &args(&[
                "--otp-type",
                "ZERO_TAP",
                "--package-name",
                "com.a.b",
                "--signature-hash",
                "K8a/AINcGX7",
                "--accept-zero-tap-terms",
            ]),
            &settings(),
        )
        .unwrap();
        assert!(matches!(ok.0.button, OtpButton::ZeroTap(ref apps) if apps.len() == 1));
        assert!(plan(&args(&["--package-name", "com.a.b"]), &settings()).is_err());
        assert!(plan(&args(&["--package-name", "com.a.b", "--signature-hash", "x"]), &settings()).is_err());
        assert!(plan(&args(&["--otp-type", "SMS"]), &settings()).is_err());
    }

    #[test]
    fn refuses_bad_names_languages_and_missing_name() {
        assert!(plan(&args(&["--name", "OTP"]), &settings()).is_err());
        assert!(plan(&args(&["--languages", "en_US,en_US"]), &settings()).unwrap_err().contains("twice"));
        assert!(plan(&args(&["--languages", "english"]), &settings()).is_err());
        let mut s = settings();
        s.template_name = None;
        assert!(plan(&args(&[]), &s).unwrap_err().contains("WHATSAPP_TEMPLATE_NAME"));
    }
}
