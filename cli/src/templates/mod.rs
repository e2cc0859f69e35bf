//! `otpctl templates`: creates the WhatsApp authentication template through the Graph
//! API, one call per language, and lists templates with each language's review status.

pub(crate) mod explain;
mod graph;
mod payload;
pub(crate) mod settings;

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::Value;

use payload::{App, OtpButton, Spec};
use settings::{Layers, Settings};

pub const USAGE: &str = "\
otpctl templates: the WhatsApp authentication template

Usage:
  otpctl templates [create] [options]   create the template, one Graph API call per language
  otpctl templates list [--name NAME] [--json]
                                        list templates with each language's review status
  otpctl templates help

Create options:
  --name NAME             template name (default WHATSAPP_TEMPLATE_NAME)
  --languages L1,L2       e.g. en_US,es,pt_BR (default WHATSAPP_TEMPLATE_LANGUAGE, else en_US)
  --otp-type TYPE         COPY_CODE (default), ONE_TAP or ZERO_TAP
  --package-name P        Android app id for ONE_TAP/ZERO_TAP (repeat with --signature-hash, up to 5 apps)
  --signature-hash H      that app's 11-character signing key hash
  --accept-zero-tap-terms you accept Meta's zero-tap terms (required for ZERO_TAP)
  --send-ttl SECONDS      message_send_ttl_seconds, 30-900, at most the code's life
                          (default: OTP_TTL_SECONDS, capped at 900)
  --button-text TEXT      label of the copy-code button (Meta's default otherwise)
  --body-text TEXT        replace Meta's preset body wording (Meta refuses URLs, media and emojis)
  --no-security-recommendation   leave out \"For your security, do not share this code.\"
  --dry-run               print the request bodies, call nothing (no token needed)

code_expiration_minutes comes from OTP_TTL_SECONDS, rounded up to whole minutes (1-90).

Settings are read like the worker reads them, first match wins:
  1. environment variables
  2. .dev.vars in the current directory
  3. wrangler.toml [vars] in the current directory
Empty values count as unset. Used: WHATSAPP_ACCESS_TOKEN, WHATSAPP_BUSINESS_ACCOUNT_ID,
WHATSAPP_API_BASE (https://graph.facebook.com), WHATSAPP_API_VERSION (v23.0),
WHATSAPP_TEMPLATE_NAME, WHATSAPP_TEMPLATE_LANGUAGE (en_US), OTP_TTL_SECONDS (300).
The token is sent to Meta only, never printed.

Exit status: 0 all done, 1 Meta refused or could not be reached, 2 bad usage or settings.";

/// Parsed command line.
#[derive(Debug, Default, PartialEq)]
struct Args {
    list: bool,
    json: bool,
    dry_run: bool,
    name: Option<String>,
    languages: Option<Vec<String>>,
    otp_type: Option<String>,
    package_names: Vec<String>,
    signature_hashes: Vec<String>,
    accept_zero_tap_terms: bool,
    send_ttl: Option<u64>,
    button_text: Option<String>,
    body_text: Option<String>,
    no_security_recommendation: bool,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(raw: &[String]) -> Result<Parsed, String> {
    let mut a = Args::default();
    let mut i = 0;
    match raw.first().map(String::as_str) {
        Some("help" | "--help" | "-h") => return Ok(Parsed::Help),
        Some("list") => {
            a.list = true;
            i = 1;
        }
        Some("create") => i = 1,
        _ => {}
    }
    while i < raw.len() {
        let arg = raw[i].as_str();
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        let switch = |set: &mut bool| -> Result<(), String> {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            *set = true;
            Ok(())
        };
        match flag {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--json" => switch(&mut a.json)?,
            "--dry-run" => switch(&mut a.dry_run)?,
            "--accept-zero-tap-terms" => switch(&mut a.accept_zero_tap_terms)?,
            "--no-security-recommendation" => switch(&mut a.no_security_recommendation)?,
            "--name" | "--languages" | "--otp-type" | "--package-name" | "--signature-hash" | "--send-ttl"
            | "--button-text" | "--body-text" => {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        raw.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))?
                    }
                };
                store_value(&mut a, flag, value)?;
            }
            _ => return Err(format!("unknown argument '{arg}'")),
        }
        i += 1;
    }
    check_flags_fit_command(&a)?;
    Ok(Parsed::Run(a))
}

/// Stores the value of one value-taking flag; parse_args has already matched `flag`
/// against that list, so anything else here is a bug.
fn store_value(a: &mut Args, flag: &str, value: String) -> Result<(), String> {
    match flag {
        "--name" => a.name = Some(value),
        "--languages" => {
            a.languages = Some(value.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
        }
        "--otp-type" => a.otp_type = Some(value.to_ascii_uppercase()),
        "--package-name" => a.package_names.push(value),
        "--signature-hash" => a.signature_hashes.push(value),
        "--send-ttl" => {
            a.send_ttl =
                Some(value.parse().map_err(|_| format!("--send-ttl must be a number of seconds (got '{value}')"))?)
        }
        "--button-text" => a.button_text = Some(value),
        "--body-text" => a.body_text = Some(value),
        other => unreachable!("{other} is not a value flag"),
    }
    Ok(())
}

/// Refuses flags that mean nothing to the chosen command, rather than ignoring them silently.
fn check_flags_fit_command(a: &Args) -> Result<(), String> {
    if a.list {
        let create_only = a.languages.is_some()
            || a.otp_type.is_some()
            || !a.package_names.is_empty()
            || !a.signature_hashes.is_empty()
            || a.send_ttl.is_some()
            || a.button_text.is_some()
            || a.body_text.is_some()
            || a.dry_run
            || a.accept_zero_tap_terms
            || a.no_security_recommendation;
        if create_only {
            return Err("list takes only --name and --json".into());
        }
    } else if a.json {
        return Err("--json goes with list".into());
    }
    Ok(())
}

/// What a creation run will do: the spec and the languages, plus warnings to show.
/// Keep the check order (name, languages, button, send TTL): it decides which error a
/// command line with several mistakes reports.
fn plan(args: &Args, s: &Settings) -> Result<(Spec, Vec<String>, Vec<String>), String> {
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

fn create(args: &Args, s: &Settings) -> ExitCode {
    let (spec, languages, warnings) = match plan(args, s) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    for w in &warnings {
        eprintln!("otpctl: note: {w}");
    }
    if args.dry_run {
        for lang in &languages {
            println!("{}", payload::build(&spec, lang));
        }
        return ExitCode::SUCCESS;
    }
    let (url, token) = match (s.templates_url(), s.token()) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    println!(
        "Creating authentication template '{}' ({}, code expires in {} min, message TTL {} s) in {}",
        spec.name,
        spec.button.otp_type(),
        spec.code_expiration_minutes,
        spec.message_send_ttl_seconds,
        languages.join(", ")
    );
    let mut failed = 0;
    for lang in &languages {
        match graph::post_json(&url, token, &payload::build(&spec, lang)) {
            Ok(a) if (200..300).contains(&a.status) => {
                let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                let status = v["status"].as_str().unwrap_or("unknown");
                let id = v["id"].as_str().unwrap_or("?");
                println!("{lang}: created (id {id}), status {status}");
            }
            Ok(a) => {
                failed += 1;
                println!("{lang}: {}", explain::explain(a.status, &a.body));
            }
            Err(e) => {
                failed += 1;
                println!("{lang}: {e}");
            }
        }
    }
    if failed == 0 {
        println!("Meta reviews new templates (usually minutes); `otpctl templates list` shows each language's status.");
        ExitCode::SUCCESS
    } else {
        println!("{failed} of {} language(s) failed.", languages.len());
        ExitCode::from(1)
    }
}

/// One row of the listing.
#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    language: String,
    category: String,
    status: String,
    reason: Option<String>,
    id: String,
}

fn rows(data: &[Value]) -> Vec<Row> {
    let s = |t: &Value, k: &str| t[k].as_str().unwrap_or("").to_string();
    let mut rows: Vec<Row> = data
        .iter()
        .map(|t| Row {
            name: s(t, "name"),
            language: s(t, "language"),
            category: s(t, "category"),
            status: s(t, "status"),
            reason: t["rejected_reason"].as_str().filter(|r| *r != "NONE").map(str::to_string),
            id: s(t, "id"),
        })
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    rows
}

fn render(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "No templates.".into();
    }
    let status_text = |r: &Row| match (&r.status[..], &r.reason) {
        ("REJECTED", Some(reason)) => format!("REJECTED: {reason} ({})", explain::rejected_reason(reason)),
        ("REJECTED", None) => "REJECTED (no reason given)".to_string(),
        (st, _) => st.to_string(),
    };
    let wn = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
    let wl = rows.iter().map(|r| r.language.len()).max().unwrap_or(0).max(8);
    let wc = rows.iter().map(|r| r.category.len()).max().unwrap_or(0).max(8);
    let mut out = format!("{:wn$}  {:wl$}  {:wc$}  {:16}  STATUS\n", "NAME", "LANGUAGE", "CATEGORY", "ID");
    for r in rows {
        out.push_str(&format!(
            "{:wn$}  {:wl$}  {:wc$}  {:16}  {}\n",
            r.name,
            r.language,
            r.category,
            r.id,
            status_text(r)
        ));
    }
    out.trim_end().to_string()
}

fn list(args: &Args, s: &Settings) -> ExitCode {
    let (base, token) = match (s.templates_url(), s.token()) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    let mut url = format!("{base}?fields=name,language,status,category,rejected_reason,id&limit=100");
    if let Some(name) = &args.name {
        if !settings::valid_template_name(name) {
            return usage_error(&format!(
                "--name '{name}': template names are lowercase letters, digits and underscores"
            ));
        }
        url.push_str(&format!("&name={name}"));
    }
    let mut data = Vec::new();
    for _ in 0..50 {
        let a = match graph::get(&url, token) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("otpctl: {e}");
                return ExitCode::from(1);
            }
        };
        if !(200..300).contains(&a.status) {
            println!("{}", explain::explain(a.status, &a.body));
            return ExitCode::from(1);
        }
        let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        data.extend(v["data"].as_array().cloned().unwrap_or_default());
        // Follow paging only on the same API base: the token goes nowhere else.
        match v["paging"]["next"].as_str() {
            Some(next) if next.starts_with(&s.api_base) => url = next.to_string(),
            _ => break,
        }
    }
    if let Some(name) = &args.name {
        data.retain(|t| t["name"].as_str() == Some(name));
    }
    if args.json {
        println!("{}", Value::Array(data));
    } else {
        println!("{}", render(&rows(&data)));
    }
    ExitCode::SUCCESS
}

fn usage_error(e: &str) -> ExitCode {
    eprintln!("otpctl templates: {e}");
    ExitCode::from(2)
}

pub fn run(args: &[String]) -> ExitCode {
    let args = match parse_args(args) {
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(a)) => a,
        Err(e) => return usage_error(&format!("{e}\n\n{USAGE}")),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let layers = Layers::load(env, &dir);
    for w in &layers.warnings {
        eprintln!("otpctl: warning: {w}");
    }
    let settings = match Settings::from_layers(&layers) {
        Ok(s) => s,
        Err(errors) => return usage_error(&format!("invalid settings:\n  {}", errors.join("\n  "))),
    };
    if args.list {
        list(&args, &settings)
    } else {
        create(&args, &settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        match parse_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap() {
            Parsed::Run(a) => a,
            Parsed::Help => panic!("help"),
        }
    }

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
    fn parses_create_and_list() {
        let a = args(&[
            "--languages",
            "en_US, es,pt_BR",
            "--otp-type=one_tap",
            "--package-name",
            "com.a.b",
            "--signature-hash",
            "K8a/AINcGX7",
        ]);
        assert_eq!(a.languages, Some(vec!["en_US".into(), "es".into(), "pt_BR".into()]));
        assert_eq!(a.otp_type.as_deref(), Some("ONE_TAP"));
        assert!(!a.list);
        let a = args(&["list", "--name", "otp_code", "--json"]);
        assert!(a.list && a.json);
        assert!(args(&["create", "--dry-run"]).dry_run);
        let bad = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).is_err();
        assert!(bad(&["--nope"]));
        assert!(bad(&["--name"]));
        assert!(bad(&["--dry-run=1"]));
        assert!(bad(&["list", "--languages", "es"]));
        assert!(bad(&["--json"]));
        assert!(bad(&["--send-ttl", "soon"]));
        assert!(matches!(parse_args(&["help".to_string()]), Ok(Parsed::Help)));
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

    #[test]
    fn renders_statuses_with_rejection_reasons() {
        let data: Vec<Value> = serde_json::from_str(
            r#"[{"name":"otp_code","language":"es","category":"AUTHENTICATION","status":"REJECTED","rejected_reason":"PROMOTIONAL","id":"2"},
                {"name":"otp_code","language":"en_US","category":"AUTHENTICATION","status":"APPROVED","rejected_reason":"NONE","id":"1"}]"#,
        )
        .unwrap();
        let r = rows(&data);
        assert_eq!(r[0].language, "en_US");
        assert_eq!(r[0].reason, None);
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"));
        assert!(lines[1].contains("en_US") && lines[1].ends_with("APPROVED"));
        assert!(lines[2].ends_with("REJECTED: PROMOTIONAL (promotional content in an authentication template)"));
        assert_eq!(render(&[]), "No templates.");
    }
}
