//! `otpctl templates`' command line: its usage text, and the flags read into [`Args`],
//! refusing flags that mean nothing to the chosen command.

pub(super) const USAGE: &str = "\
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
pub(super) struct Args {
    pub(super) list: bool,
    pub(super) json: bool,
    pub(super) dry_run: bool,
    pub(super) name: Option<String>,
    pub(super) languages: Option<Vec<String>>,
    pub(super) otp_type: Option<String>,
    pub(super) package_names: Vec<String>,
    pub(super) signature_hashes: Vec<String>,
    pub(super) accept_zero_tap_terms: bool,
    pub(super) send_ttl: Option<u64>,
    pub(super) button_text: Option<String>,
    pub(super) body_text: Option<String>,
    pub(super) no_security_recommendation: bool,
}

pub(super) enum Parsed {
    Run(Args),
    Help,
}

pub(super) fn parse_args(raw: &[String]) -> Result<Parsed, String> {
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

/// A command line the tests know is valid, parsed.
#[cfg(test)]
pub(in crate::templates) fn args(list: &[&str]) -> Args {
    match parse_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap() {
        Parsed::Run(a) => a,
        Parsed::Help => panic!("help"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
