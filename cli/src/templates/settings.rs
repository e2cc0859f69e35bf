//! Settings, read the way the worker gets them: the process environment first, then
//! `.dev.vars`, then `wrangler.toml` `[vars]`, both in the current directory (what
//! `wrangler dev` run there would give the worker). Empty values count as unset.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Where a value came from (shown next to settings, never with the token's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    DevVars,
    WranglerToml,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Env => "environment",
            Source::DevVars => ".dev.vars",
            Source::WranglerToml => "wrangler.toml [vars]",
        })
    }
}

/// Every layer, highest priority first.
pub struct Layers {
    env: HashMap<String, String>,
    dev_vars: HashMap<String, String>,
    wrangler: HashMap<String, String>,
    /// Problems reading the files (a broken file is reported, not silently skipped).
    pub warnings: Vec<String>,
}

impl Layers {
    /// Reads `.dev.vars` and `wrangler.toml` from `dir`; `env` is the process environment.
    pub fn load(env: HashMap<String, String>, dir: &Path) -> Layers {
        let mut warnings = Vec::new();
        let dev_vars = match dotenvy::from_path_iter(dir.join(".dev.vars")) {
            Ok(iter) => {
                let mut m = HashMap::new();
                for item in iter {
                    match item {
                        Ok((k, v)) => {
                            m.insert(k, v);
                        }
                        Err(e) => {
                            warnings.push(format!(".dev.vars: {}", describe_dotenv_error(&e)));
                            break;
                        }
                    }
                }
                m
            }
            Err(_) => HashMap::new(), // no file
        };
        let wrangler = match std::fs::read_to_string(dir.join("wrangler.toml")) {
            Ok(text) => parse_wrangler_vars(&text).unwrap_or_else(|e| {
                warnings.push(format!("wrangler.toml: {e}"));
                HashMap::new()
            }),
            Err(_) => HashMap::new(),
        };
        Layers { env, dev_vars, wrangler, warnings }
    }

    #[cfg(test)]
    pub fn from_maps(
        env: HashMap<String, String>,
        dev_vars: HashMap<String, String>,
        wrangler: HashMap<String, String>,
    ) -> Layers {
        Layers { env, dev_vars, wrangler, warnings: Vec::new() }
    }

    /// The first non-empty value, with where it came from.
    pub fn get(&self, key: &str) -> Option<(String, Source)> {
        [(&self.env, Source::Env), (&self.dev_vars, Source::DevVars), (&self.wrangler, Source::WranglerToml)]
            .into_iter()
            .find_map(|(m, src)| m.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| (v.to_string(), src)))
    }
}

/// dotenvy's parse errors quote the offending line, which may hold a secret: keep only the position.
fn describe_dotenv_error(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("a line cannot be parsed (at character {index}); later lines are ignored")
        }
        dotenvy::Error::Io(_) => "cannot be read".into(),
        _ => "cannot be parsed".into(),
    }
}

/// The top-level `[vars]` table of a wrangler.toml, values as strings.
pub fn parse_wrangler_vars(text: &str) -> Result<HashMap<String, String>, String> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut out = HashMap::new();
    if let Some(toml::Value::Table(vars)) = doc.get("vars") {
        for (k, v) in vars {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => continue,
            };
            out.insert(k.clone(), s);
        }
    }
    Ok(out)
}

/// The worker accepts codes living at most this long.
pub const MAX_OTP_TTL_SECONDS: u64 = 600;

/// What the template commands need.
#[derive(Clone, PartialEq)]
pub struct Settings {
    pub api_base: String,
    pub api_version: String,
    pub business_account_id: Option<String>,
    pub access_token: Option<String>,
    pub template_name: Option<String>,
    pub template_language: String,
    pub otp_ttl_seconds: u64,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .field("business_account_id", &self.business_account_id)
            .field("access_token", &self.access_token.as_ref().map(|_| "<set>"))
            .field("template_name", &self.template_name)
            .field("template_language", &self.template_language)
            .field("otp_ttl_seconds", &self.otp_ttl_seconds)
            .finish()
    }
}

/// Language codes as Meta writes them: `en`, `en_US`, `fil`, `rw_RW`.
pub fn valid_language(s: &str) -> bool {
    let (lang, region) = match s.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

/// Template names Meta accepts: lowercase letters, digits and underscores, at most 512.
pub fn valid_template_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Settings {
    /// Validated settings; errors name the setting and where its value came from, never a secret.
    pub fn from_layers(layers: &Layers) -> Result<Settings, Vec<String>> {
        let mut errors = Vec::new();
        let api_base = match layers.get("WHATSAPP_API_BASE") {
            None => "https://graph.facebook.com".to_string(),
            Some((v, src)) => {
                if !(v.starts_with("https://") || v.starts_with("http://")) {
                    errors.push(format!("WHATSAPP_API_BASE (from {src}) must start with https:// (got '{v}')"));
                }
                v.trim_end_matches('/').to_string()
            }
        };
        let api_version = match layers.get("WHATSAPP_API_VERSION") {
            None => "v23.0".to_string(),
            Some((v, src)) => {
                let ok = v.strip_prefix('v').and_then(|r| r.split_once('.')).is_some_and(|(a, b)| {
                    !a.is_empty() && !b.is_empty() && (a.to_string() + b).bytes().all(|c| c.is_ascii_digit())
                });
                if !ok {
                    errors.push(format!("WHATSAPP_API_VERSION (from {src}) must look like v23.0 (got '{v}')"));
                }
                v
            }
        };
        let business_account_id = layers.get("WHATSAPP_BUSINESS_ACCOUNT_ID").map(|(v, src)| {
            if !v.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(format!("WHATSAPP_BUSINESS_ACCOUNT_ID (from {src}) must be digits (got '{v}')"));
            }
            v
        });
        let access_token = layers.get("WHATSAPP_ACCESS_TOKEN").map(|(v, _)| v);
        let template_name = layers.get("WHATSAPP_TEMPLATE_NAME").map(|(v, src)| {
            if !valid_template_name(&v) {
                errors.push(format!(
                    "WHATSAPP_TEMPLATE_NAME (from {src}) must be lowercase letters, digits and underscores (got '{v}')"
                ));
            }
            v
        });
        let template_language = match layers.get("WHATSAPP_TEMPLATE_LANGUAGE") {
            None => "en_US".to_string(),
            Some((v, src)) => {
                if !valid_language(&v) {
                    errors.push(format!(
                        "WHATSAPP_TEMPLATE_LANGUAGE (from {src}) must look like en_US or es (got '{v}')"
                    ));
                }
                v
            }
        };
        let otp_ttl_seconds = match layers.get("OTP_TTL_SECONDS") {
            None => 300,
            Some((v, src)) => match v.parse::<u64>() {
                Ok(n @ 1..=MAX_OTP_TTL_SECONDS) => n,
                _ => {
                    errors.push(format!(
                        "OTP_TTL_SECONDS (from {src}) must be a whole number from 1 to {MAX_OTP_TTL_SECONDS}, as for the worker (got '{v}')"
                    ));
                    300
                }
            },
        };
        if errors.is_empty() {
            Ok(Settings {
                api_base,
                api_version,
                business_account_id,
                access_token,
                template_name,
                template_language,
                otp_ttl_seconds,
            })
        } else {
            Err(errors)
        }
    }

    /// `{base}/{version}/{waba}/message_templates`, or why it cannot be built.
    pub fn templates_url(&self) -> Result<String, String> {
        let waba = self.business_account_id.as_deref().ok_or(
            "WHATSAPP_BUSINESS_ACCOUNT_ID is not set: it is your WhatsApp Business Account id \
             (WhatsApp Manager > Account tools, or the App Dashboard's API setup page), not the phone number id",
        )?;
        Ok(format!("{}/{}/{waba}/message_templates", self.api_base, self.api_version))
    }

    pub fn token(&self) -> Result<&str, String> {
        self.access_token.as_deref().ok_or_else(|| {
            "WHATSAPP_ACCESS_TOKEN is not set: a system user token with the whatsapp_business_management \
             permission (export it, or put it in .dev.vars)"
                .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_then_dev_vars_then_wrangler_toml() {
        let layers = Layers::from_maps(
            map(&[("WHATSAPP_TEMPLATE_NAME", "from_env"), ("OTP_TTL_SECONDS", "")]),
            map(&[
                ("WHATSAPP_TEMPLATE_NAME", "from_dev_vars"),
                ("OTP_TTL_SECONDS", "120"),
                ("WHATSAPP_ACCESS_TOKEN", "t"),
            ]),
            map(&[
                ("WHATSAPP_TEMPLATE_NAME", "from_toml"),
                ("OTP_TTL_SECONDS", "600"),
                ("WHATSAPP_API_VERSION", "v24.0"),
            ]),
        );
        assert_eq!(layers.get("WHATSAPP_TEMPLATE_NAME"), Some(("from_env".into(), Source::Env)));
        // An empty environment variable does not hide the file's value.
        assert_eq!(layers.get("OTP_TTL_SECONDS"), Some(("120".into(), Source::DevVars)));
        assert_eq!(layers.get("WHATSAPP_API_VERSION"), Some(("v24.0".into(), Source::WranglerToml)));
        assert_eq!(layers.get("NOPE"), None);
        let s = Settings::from_layers(&layers).unwrap();
        assert_eq!(s.template_name.as_deref(), Some("from_env"));
        assert_eq!(s.otp_ttl_seconds, 120);
        assert_eq!(s.api_version, "v24.0");
        assert_eq!(s.api_base, "https://graph.facebook.com");
        assert_eq!(s.template_language, "en_US");
    }

    #[test]
    fn reads_the_files_in_a_directory() {
        let dir = std::env::temp_dir().join(format!("otpctl-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("wrangler.toml"),
            "name = \"w\"\n[vars]\nWHATSAPP_TEMPLATE_NAME = \"\"\nOTP_TTL_SECONDS = \"300\"\nWHATSAPP_BUSINESS_ACCOUNT_ID = \"102290129340398\"\n[[kv_namespaces]]\nbinding = \"X\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".dev.vars"),
            "# secrets\nWHATSAPP_ACCESS_TOKEN=\"tok en\"\nWHATSAPP_TEMPLATE_NAME=otp_code\n",
        )
        .unwrap();
        let layers = Layers::load(HashMap::new(), &dir);
        assert!(layers.warnings.is_empty(), "{:?}", layers.warnings);
        let s = Settings::from_layers(&layers).unwrap();
        assert_eq!(s.template_name.as_deref(), Some("otp_code"));
        assert_eq!(s.access_token.as_deref(), Some("tok en"));
        assert_eq!(s.templates_url().unwrap(), "https://graph.facebook.com/v23.0/102290129340398/message_templates");

        std::fs::write(dir.join("wrangler.toml"), "[vars\n").unwrap();
        std::fs::write(dir.join(".dev.vars"), "WHATSAPP_ACCESS_TOKEN=secret-value\nthis line is broken secret2\n")
            .unwrap();
        let layers = Layers::load(HashMap::new(), &dir);
        assert_eq!(layers.warnings.len(), 2, "{:?}", layers.warnings);
        assert!(layers.warnings.iter().all(|w| !w.contains("secret")), "{:?}", layers.warnings);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_values_are_named_with_their_source_and_the_token_never_shows() {
        let layers = Layers::from_maps(
            map(&[("WHATSAPP_API_BASE", "graph.facebook.com"), ("WHATSAPP_ACCESS_TOKEN", "EAAG-secret")]),
            map(&[("OTP_TTL_SECONDS", "0"), ("WHATSAPP_TEMPLATE_NAME", "OTP Code")]),
            map(&[
                ("WHATSAPP_API_VERSION", "23"),
                ("WHATSAPP_BUSINESS_ACCOUNT_ID", "abc"),
                ("WHATSAPP_TEMPLATE_LANGUAGE", "english"),
            ]),
        );
        let errors = Settings::from_layers(&layers).unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(errors[0].starts_with("WHATSAPP_API_BASE (from environment)"));
        assert!(errors.iter().any(|e| e.starts_with("OTP_TTL_SECONDS (from .dev.vars)")));
        assert!(errors.iter().any(|e| e.starts_with("WHATSAPP_API_VERSION (from wrangler.toml [vars])")));
        assert!(errors.iter().all(|e| !e.contains("EAAG")));

        let ok = Settings::from_layers(&Layers::from_maps(
            map(&[("WHATSAPP_ACCESS_TOKEN", "EAAG-secret")]),
            map(&[]),
            map(&[]),
        ))
        .unwrap();
        assert!(!format!("{ok:?}").contains("EAAG"));
        assert!(ok.templates_url().unwrap_err().contains("WHATSAPP_BUSINESS_ACCOUNT_ID"));
    }

    #[test]
    fn languages_and_names() {
        for ok in ["en", "en_US", "pt_BR", "fil", "rw_RW"] {
            assert!(valid_language(ok), "{ok}");
        }
        for bad in ["EN", "en-US", "en_us", "e", "engl", "en_USA", ""] {
            assert!(!valid_language(bad), "{bad}");
        }
        assert!(valid_template_name("otp_code_2"));
        assert!(!valid_template_name("otp-code") && !valid_template_name(""));
    }
}
