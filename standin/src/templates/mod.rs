//! Message templates as Graph keeps them: the rules Meta applies to creating
//! authentication templates, a review step (PENDING, then APPROVED after
//! `--review-ms`, or the verdict a control route scripted), seeded templates, and the
//! lookup a template send goes through (missing or not approved: 132001, as at Meta).

mod creation;
mod otp_button;
mod refusal;
#[cfg(test)]
mod tests;

use serde_json::{json, Map, Value};

use creation::valid_name;
pub use creation::validate_new;
pub use refusal::already_exists;

/// Languages Meta accepts for templates (its "supported languages" list).
pub const LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn", "bn_IN", "bg", "ca", "zh_CN",
    "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE", "en", "en_GB", "en_US", "en_AE", "en_AU", "en_CA",
    "en_GH", "en_IE", "en_IN", "en_JM", "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr",
    "fr_BE", "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu",
    "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr", "nb",
    "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK", "sk", "sl", "es", "es_AR", "es_CL",
    "es_CO", "es_CR", "es_DO", "es_EC", "es_HN", "es_MX", "es_PA", "es_PE", "es_ES", "es_UY", "sw", "sv", "ta", "te",
    "th", "tr", "uk", "ur", "uz", "vi", "zu",
];

pub const CATEGORIES: [&str; 3] = ["AUTHENTICATION", "MARKETING", "UTILITY"];
pub const OTP_TYPES: [&str; 3] = ["COPY_CODE", "ONE_TAP", "ZERO_TAP"];
/// Review outcomes a control route may script (PENDING puts a template back in review).
pub const STATUSES: [&str; 5] = ["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"];
/// `rejected_reason` values Meta reports.
pub const REJECTED_REASONS: [&str; 7] =
    ["ABUSIVE_CONTENT", "INCORRECT_CATEGORY", "INVALID_FORMAT", "PROMOTIONAL", "SCAM", "TAG_CONTENT_MISMATCH", "NONE"];

pub const MAX_NAME_CHARS: usize = 512;
pub const MAX_BUTTON_TEXT_CHARS: usize = 25;
pub const MAX_SUPPORTED_APPS: usize = 5;
/// `message_send_ttl_seconds` range for authentication templates, and Meta's default.
pub const SEND_TTL_RANGE: (u64, u64) = (30, 900);
pub const DEFAULT_SEND_TTL: u64 = 600;

/// One template in one language, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    /// Components as Meta lists them (with the preset texts filled in).
    pub components: Vec<Value>,
    pub message_send_ttl_seconds: u64,
    pub status: String,
    pub rejected_reason: Option<String>,
    /// While `PENDING`: when the review ends (ms since the epoch).
    pub review_ends_ms: Option<u64>,
    /// What the review ends with: `APPROVED` unless a control route scripted otherwise.
    pub verdict: (String, Option<String>),
}

impl Template {
    /// Ends the review once its time has come.
    pub fn settle(&mut self, now_ms: u64) {
        if self.status == "PENDING" && self.review_ends_ms.is_some_and(|t| now_ms >= t) {
            self.status = self.verdict.0.clone();
            self.rejected_reason = self.verdict.1.clone();
            self.review_ends_ms = None;
        }
    }

    /// The listing entry; `fields` (Graph's `fields=`) limits the keys, `id` always stays.
    pub fn to_json(&self, fields: Option<&[String]>) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("components".into(), Value::Array(self.components.clone()));
        m.insert("language".into(), json!(self.language));
        m.insert("status".into(), json!(self.status));
        m.insert("category".into(), json!(self.category));
        m.insert("message_send_ttl_seconds".into(), json!(self.message_send_ttl_seconds));
        m.insert("id".into(), json!(self.id));
        match fields {
            None => {
                // Meta's default fields; the reason comes along for rejected ones.
                m.remove("message_send_ttl_seconds");
                if self.status == "REJECTED" {
                    m.insert("rejected_reason".into(), json!(self.rejected_reason.as_deref().unwrap_or("NONE")));
                }
            }
            Some(fields) => {
                m.insert("rejected_reason".into(), json!(self.rejected_reason.as_deref().unwrap_or("NONE")));
                m.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
            }
        }
        Value::Object(m)
    }
}

/// `--seed-template name:lang,lang[;name:lang…]`: templates that exist APPROVED from the start.
pub fn parse_seed(spec: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, langs) =
            part.split_once(':').ok_or_else(|| format!("seed '{part}' must look like name:en_US,pt_BR"))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!("seed template name '{name}' must be lowercase letters, digits and underscores"));
        }
        let langs: Vec<String> =
            langs.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        if langs.is_empty() {
            return Err(format!("seed '{part}' names no language"));
        }
        if let Some(bad) = langs.iter().find(|l| !LANGUAGES.contains(&l.as_str())) {
            return Err(format!("seed language '{bad}' is not one Meta supports"));
        }
        out.push((name.to_string(), langs));
    }
    Ok(out)
}

/// A seeded template: approved copy-code authentication template, ten minutes.
pub fn seeded(id: String, name: &str, language: &str) -> Template {
    let body = br#"{"name":"x","language":"en_US","category":"AUTHENTICATION","components":[{"type":"BODY","add_security_recommendation":true},{"type":"FOOTER","code_expiration_minutes":10},{"type":"BUTTONS","buttons":[{"type":"OTP","otp_type":"COPY_CODE"}]}]}"#;
    let new = validate_new(body).unwrap_or_else(|_| unreachable!("the seed body is valid"));
    Template {
        id,
        name: name.to_string(),
        language: language.to_string(),
        category: new.category,
        components: new.components,
        message_send_ttl_seconds: new.message_send_ttl_seconds,
        status: "APPROVED".into(),
        rejected_reason: None,
        review_ends_ms: None,
        verdict: ("APPROVED".into(), None),
    }
}

/// How a template send fares: `None` when the template is APPROVED in that language,
/// else Meta's error code and `error_data.details`.
pub fn send_check(templates: &[Template], name: &str, language: &str) -> Option<(i64, String)> {
    match templates.iter().find(|t| t.name == name && t.language == language).map(|t| t.status.as_str()) {
        Some("APPROVED") => None,
        Some("PAUSED") => Some((132_015, format!("Template {name} ({language}) is paused due to low quality"))),
        Some("DISABLED") => Some((132_016, format!("Template {name} ({language}) is disabled"))),
        _ => Some((132_001, format!("template name ({name}) does not exist in {language}"))),
    }
}
