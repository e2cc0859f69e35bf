//! Message templates: `POST/GET /{version}/{waba_id}/message_templates` with the rules
//! Meta applies to authentication templates, a review step (PENDING, then APPROVED
//! after `--review-ms`, or the verdict a control route scripted), and the lookup a
//! template send goes through (missing or not approved: 132001, as at Meta).

use serde_json::{json, Map, Value};

use crate::meta_errors::new_graph_error;

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

/// A refused creation: the HTTP status and Meta's error body.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    pub blame_field: Option<String>,
}

impl Refusal {
    /// Graph's plain parameter error: `(#100) …`, no user-facing title.
    fn param(message: impl Into<String>) -> Refusal {
        Refusal {
            code: 100,
            subcode: None,
            message: format!("(#100) {}", message.into()),
            user_title: None,
            user_msg: None,
            blame_field: None,
        }
    }

    /// Meta's template refusal: "Invalid parameter" with a title and a sentence for people.
    fn user(subcode: Option<i64>, title: &str, msg: impl Into<String>) -> Refusal {
        Refusal {
            code: 100,
            subcode,
            message: "Invalid parameter".into(),
            user_title: Some(title.into()),
            user_msg: Some(msg.into()),
            blame_field: None,
        }
    }

    fn blame(mut self, field: &str) -> Refusal {
        self.blame_field = Some(field.into());
        self
    }

    pub fn to_json(&self) -> Value {
        new_graph_error(
            &self.message,
            self.code,
            self.subcode,
            self.user_title.as_deref(),
            self.user_msg.as_deref(),
            self.blame_field.as_deref(),
        )
    }
}

/// A template body that passed the rules, before it gets an id and a review.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Vec<Value>,
    pub message_send_ttl_seconds: u64,
}

/// True when `s` holds something that reads as a web address.
pub fn contains_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    lower.split_whitespace().any(|token| {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric());
        let host = token.split('/').next().unwrap_or("");
        let Some((before, tld)) = host.rsplit_once('.') else {
            return false;
        };
        (2..=24).contains(&tld.len())
            && tld.bytes().all(|b| b.is_ascii_lowercase())
            && before.chars().any(|c| c.is_alphabetic())
            && before.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
    })
}

/// True when `s` holds an emoji (pictographs and flags, symbols, dingbats, the emoji presentation selector).
pub fn contains_emoji(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(u32::from(c),
            0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0xFE0F)
    })
}

/// Template names: lowercase letters, digits and underscores.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The text checks every free text of an authentication template goes through.
fn check_text(text: &str, field: &str) -> Result<(), Refusal> {
    if contains_url(text) {
        return Err(Refusal::user(
            None,
            "URLs Aren't Allowed in Authentication Templates",
            format!(
                "Authentication templates can't contain URLs. Remove the link from the {field} and use Meta's preset text, \
                 which the one-time password button completes."
            ),
        )
        .blame(field));
    }
    if contains_emoji(text) {
        return Err(Refusal::user(
            None,
            "Emojis Aren't Allowed in Authentication Templates",
            format!("Authentication templates can't contain emojis. Remove them from the {field}."),
        )
        .blame(field));
    }
    Ok(())
}

fn get_str<'a>(m: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a str>, Refusal> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::param(format!("Param {at}[{key}] must be a string."))),
    }
}

/// Checks a creation body against Meta's rules for authentication templates.
pub fn validate_new(body: &[u8]) -> Result<NewTemplate, Refusal> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::param("Invalid parameter: the body must be a JSON object"))?;
    let obj = v.as_object().ok_or_else(|| Refusal::param("Invalid parameter: the body must be a JSON object"))?;

    let name = match obj.get("name") {
        None | Some(Value::Null) => return Err(Refusal::param("The parameter name is required.")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(Refusal::param("Param name must be a string.")),
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Refusal::user(
            Some(2_388_040),
            "Character Limit Hit",
            format!("The message template name can't be longer than {MAX_NAME_CHARS} characters."),
        )
        .blame("name"));
    }
    if !valid_name(name) {
        return Err(Refusal::user(
            Some(2_388_046),
            "Name Format is Incorrect",
            "The message template name can only have lowercase letters and underscores.",
        )
        .blame("name"));
    }

    let language = match obj.get("language") {
        None | Some(Value::Null) => return Err(Refusal::param("The parameter language is required.")),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(Refusal::param("Param language must be a string.")),
    };
    if !LANGUAGES.contains(&language) {
        return Err(Refusal::param(format!(
            "Param language must be one of Meta's supported language codes, got \"{language}\"."
        )));
    }

    let category = match obj.get("category") {
        None | Some(Value::Null) => return Err(Refusal::param("The parameter category is required.")),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(Refusal::param("Param category must be a string.")),
    };
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(Refusal::param(format!(
            "Param category must be one of {{{}}} - got \"{category}\".",
            CATEGORIES.join(", ")
        )));
    }
    if category != "AUTHENTICATION" {
        return Err(Refusal::user(
            None,
            "Category Not Supported Here",
            format!("This stand-in reviews AUTHENTICATION templates only; {category} templates are not simulated."),
        )
        .blame("category"));
    }

    let send_ttl = match obj.get("message_send_ttl_seconds") {
        None | Some(Value::Null) => DEFAULT_SEND_TTL,
        Some(v) => match v.as_u64() {
            Some(n) if (SEND_TTL_RANGE.0..=SEND_TTL_RANGE.1).contains(&n) => n,
            _ => {
                return Err(Refusal::user(
                    None,
                    "Invalid Message Time-To-Live",
                    format!(
                        "message_send_ttl_seconds for authentication templates must be a whole number of seconds from {} to {}.",
                        SEND_TTL_RANGE.0, SEND_TTL_RANGE.1
                    ),
                )
                .blame("message_send_ttl_seconds"))
            }
        },
    };

    let components = match obj.get("components") {
        None | Some(Value::Null) => return Err(Refusal::param("The parameter components is required.")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Refusal::param("Param components must be an array.")),
    };

    let mut body: Option<(bool, Option<String>)> = None;
    let mut footer: Option<Option<u64>> = None;
    let mut button: Option<Value> = None;
    for (i, c) in components.iter().enumerate() {
        let at = format!("components[{i}]");
        let c = c.as_object().ok_or_else(|| Refusal::param(format!("Param {at} must be an object.")))?;
        let ctype =
            get_str(c, "type", &at)?.ok_or_else(|| Refusal::param(format!("The parameter {at}[type] is required.")))?;
        match ctype.to_ascii_uppercase().as_str() {
            "HEADER" => {
                let format = get_str(c, "format", &at)?.unwrap_or("TEXT").to_ascii_uppercase();
                let media = matches!(format.as_str(), "IMAGE" | "VIDEO" | "DOCUMENT" | "LOCATION")
                    || c.get("example").and_then(|e| e.get("header_handle")).is_some();
                let (title, msg) = if media {
                    (
                        "Media Isn't Allowed in Authentication Templates",
                        "Authentication templates can't include media: remove the image, video or document header.",
                    )
                } else {
                    (
                        "Message Header Format Is Incorrect",
                        "Authentication templates can't have a header: Meta adds the preset text and the code itself.",
                    )
                };
                return Err(Refusal::user(Some(2_388_047), title, msg).blame(&format!("{at}[format]")));
            }
            "BODY" => {
                if body.is_some() {
                    return Err(Refusal::param("Param components can hold only one BODY."));
                }
                let add = match c.get("add_security_recommendation") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(Refusal::param(format!(
                            "Param {at}[add_security_recommendation] must be a boolean."
                        )))
                    }
                };
                let text = get_str(c, "text", &at)?;
                if let Some(t) = text {
                    check_text(t, "body")?;
                }
                if c.get("example").and_then(|e| e.get("header_handle")).is_some() {
                    return Err(Refusal::user(
                        None,
                        "Media Isn't Allowed in Authentication Templates",
                        "Authentication templates can't include media.",
                    ));
                }
                body = Some((add, text.map(str::to_string)));
            }
            "FOOTER" => {
                if footer.is_some() {
                    return Err(Refusal::param("Param components can hold only one FOOTER."));
                }
                if let Some(t) = get_str(c, "text", &at)? {
                    check_text(t, "footer")?;
                }
                let minutes = match c.get("code_expiration_minutes") {
                    None | Some(Value::Null) => None,
                    Some(v) => match v.as_u64() {
                        Some(n @ 1..=90) => Some(n),
                        _ => {
                            return Err(Refusal::user(
                                None,
                                "Invalid Code Expiration Time",
                                "code_expiration_minutes must be a whole number of minutes from 1 to 90.",
                            )
                            .blame(&format!("{at}[code_expiration_minutes]")))
                        }
                    },
                };
                footer = Some(minutes);
            }
            "BUTTONS" => {
                if button.is_some() {
                    return Err(Refusal::param("Param components can hold only one BUTTONS."));
                }
                button = Some(validate_buttons(c, &at)?);
            }
            other => {
                return Err(Refusal::param(format!(
                    "Param {at}[type] must be one of {{HEADER, BODY, FOOTER, BUTTONS}} - got \"{other}\"."
                )))
            }
        }
    }
    let Some((add_security, custom_text)) = body else {
        return Err(Refusal::user(
            None,
            "Body Is Required",
            "Authentication templates need a BODY component (with add_security_recommendation if you want the security line).",
        ));
    };
    let Some(button) = button else {
        return Err(Refusal::user(
            None,
            "One-Time Password Button Required",
            "Authentication templates need a BUTTONS component with one OTP button (COPY_CODE, ONE_TAP or ZERO_TAP).",
        ));
    };

    let mut body_text = custom_text.unwrap_or_else(|| "*{{1}}* is your verification code.".into());
    if add_security {
        body_text.push_str(" For your security, do not share this code.");
    }
    let mut listed = vec![json!({"type": "BODY", "text": body_text, "add_security_recommendation": add_security})];
    if let Some(Some(minutes)) = footer {
        listed.push(json!({"type": "FOOTER", "text": format!("This code expires in {minutes} minutes."), "code_expiration_minutes": minutes}));
    }
    listed.push(json!({"type": "BUTTONS", "buttons": [button]}));
    Ok(NewTemplate {
        name: name.to_string(),
        language: language.to_string(),
        category,
        components: listed,
        message_send_ttl_seconds: send_ttl,
    })
}

/// The one OTP button of an authentication template, as Meta lists it.
fn validate_buttons(c: &Map<String, Value>, at: &str) -> Result<Value, Refusal> {
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
    let btype = get_str(b, "type", &at)?.unwrap_or("").to_ascii_uppercase();
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
    let otp_type = get_str(b, "otp_type", &at)?
        .ok_or_else(|| Refusal::param(format!("The parameter {at}[otp_type] is required.")))?
        .to_ascii_uppercase();
    if !OTP_TYPES.contains(&otp_type.as_str()) {
        return Err(Refusal::param(format!(
            "Param {at}[otp_type] must be one of {{{}}} - got \"{otp_type}\".",
            OTP_TYPES.join(", ")
        )));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("OTP"));
    out.insert("otp_type".into(), json!(otp_type));
    for key in ["text", "autofill_text"] {
        if let Some(t) = get_str(b, key, &at)? {
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
    if otp_type != "COPY_CODE" {
        let apps = match b.get("supported_apps") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) | None | Some(Value::Null) => {
                return Err(Refusal::user(
                    None,
                    "Supported Apps Required",
                    format!(
                        "{otp_type} buttons need supported_apps: your Android app's package_name and signature_hash."
                    ),
                )
                .blame(&format!("{at}[supported_apps]")))
            }
            Some(_) => return Err(Refusal::param(format!("Param {at}[supported_apps] must be an array."))),
        };
        if apps.len() > MAX_SUPPORTED_APPS {
            return Err(Refusal::param(format!("Param {at}[supported_apps] takes at most {MAX_SUPPORTED_APPS} apps.")));
        }
        let mut listed = Vec::new();
        for (j, app) in apps.iter().enumerate() {
            let aat = format!("{at}[supported_apps][{j}]");
            let a = app.as_object().ok_or_else(|| Refusal::param(format!("Param {aat} must be an object.")))?;
            let package = get_str(a, "package_name", &aat)?
                .ok_or_else(|| Refusal::param(format!("The parameter {aat}[package_name] is required.")))?;
            let hash = get_str(a, "signature_hash", &aat)?
                .ok_or_else(|| Refusal::param(format!("The parameter {aat}[signature_hash] is required.")))?;
            if !valid_package_name(package) {
                return Err(Refusal::user(
                    None,
                    "Invalid Package Name",
                    "package_name must be an Android application id like com.example.app (letters, digits and underscores, dot-separated, at most 224 characters).",
                )
                .blame(&format!("{aat}[package_name]")));
            }
            if hash.chars().count() != 11 || !hash.chars().all(|c| c.is_ascii_alphanumeric() || "+/=%".contains(c)) {
                return Err(Refusal::user(
                    None,
                    "Invalid Signature Hash",
                    "signature_hash must be your app's 11-character signing key hash (the one Android's SMS Retriever API uses).",
                )
                .blame(&format!("{aat}[signature_hash]")));
            }
            listed.push(json!({"package_name": package, "signature_hash": hash}));
        }
        out.insert("supported_apps".into(), Value::Array(listed));
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

/// The error a creation gets when the name already has content in that language.
pub fn already_exists(language: &str) -> Refusal {
    Refusal::user(
        Some(2_388_024),
        "Content in This Language Already Exists",
        format!(
            "There is already {} content for this template. You can create a new template and try again.",
            language_name(language)
        ),
    )
}

/// English names for the languages the messages mention most; the code otherwise.
pub fn language_name(code: &str) -> String {
    let name = match code {
        "en" => "English",
        "en_US" => "English (US)",
        "en_GB" => "English (UK)",
        "es" => "Spanish",
        "es_ES" => "Spanish (SPA)",
        "es_MX" => "Spanish (MEX)",
        "pt_BR" => "Portuguese (BR)",
        "pt_PT" => "Portuguese (POR)",
        "de" => "German",
        "fr" => "French",
        "it" => "Italian",
        "nl" => "Dutch",
        _ => return code.to_string(),
    };
    name.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn copy_code() -> Value {
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
    }

    fn refused(v: Value) -> Refusal {
        validate_new(&body(v)).expect_err("should be refused")
    }

    #[test]
    fn accepts_copy_code_and_fills_in_meta_texts() {
        let t = validate_new(&body(copy_code())).unwrap();
        assert_eq!(
            (t.name.as_str(), t.language.as_str(), t.category.as_str()),
            ("otp_code", "en_US", "AUTHENTICATION")
        );
        assert_eq!(t.message_send_ttl_seconds, 300);
        assert_eq!(
            t.components[0]["text"],
            "*{{1}}* is your verification code. For your security, do not share this code."
        );
        assert_eq!(t.components[1]["text"], "This code expires in 5 minutes.");
        assert_eq!(t.components[2]["buttons"][0], json!({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}));
    }

    #[test]
    fn one_tap_and_zero_tap_need_supported_apps() {
        let app = json!([{"package_name": "com.example.app", "signature_hash": "K8a/AINcGX7"}]);
        for otp in ["ONE_TAP", "ZERO_TAP"] {
            let mut v = copy_code();
            v["components"][2]["buttons"][0]["otp_type"] = json!(otp);
            let r = refused(v.clone());
            assert_eq!(r.user_title.as_deref(), Some("Supported Apps Required"), "{otp}");
            v["components"][2]["buttons"][0]["supported_apps"] = app.clone();
            if otp == "ZERO_TAP" {
                assert_eq!(refused(v.clone()).user_title.as_deref(), Some("Zero-Tap Terms Not Accepted"));
                v["components"][2]["buttons"][0]["zero_tap_terms_accepted"] = json!(true);
            }
            let t = validate_new(&body(v)).unwrap();
            assert_eq!(t.components[2]["buttons"][0]["supported_apps"], app, "{otp}");
        }
        let mut v = copy_code();
        v["components"][2]["buttons"][0] = json!({"type": "OTP", "otp_type": "ONE_TAP",
            "supported_apps": [{"package_name": "nodots", "signature_hash": "K8a/AINcGX7"}]});
        assert_eq!(refused(v.clone()).user_title.as_deref(), Some("Invalid Package Name"));
        v["components"][2]["buttons"][0]["supported_apps"][0] =
            json!({"package_name": "com.x", "signature_hash": "short"});
        assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Signature Hash"));
    }

    #[test]
    fn refuses_urls_emojis_and_media() {
        let mut v = copy_code();
        v["components"][0]["text"] = json!("Your code: see https://example.com/otp");
        let r = refused(v);
        assert_eq!((r.code, r.message.as_str()), (100, "Invalid parameter"));
        assert!(r.user_msg.unwrap().contains("can't contain URLs"));
        let json = refused({
            let mut v = copy_code();
            v["components"][0]["text"] = json!("Go to example.com now");
            v
        })
        .to_json();
        assert_eq!(json["error"]["error_user_title"], "URLs Aren't Allowed in Authentication Templates");
        assert_eq!(json["error"]["error_data"]["blame_field_specs"], json!([["body"]]));

        let mut v = copy_code();
        v["components"][0]["text"] = json!("Your code \u{1F510}");
        assert!(refused(v).user_msg.unwrap().contains("emojis"));

        let mut v = copy_code();
        v["components"].as_array_mut().unwrap().insert(0, json!({"type": "HEADER", "format": "IMAGE"}));
        let r = refused(v);
        assert_eq!(r.subcode, Some(2_388_047));
        assert!(r.user_msg.unwrap().contains("media"));
    }

    #[test]
    fn needs_an_otp_button_and_a_body() {
        let mut v = copy_code();
        v["components"].as_array_mut().unwrap().pop();
        assert_eq!(refused(v).user_title.as_deref(), Some("One-Time Password Button Required"));
        let mut v = copy_code();
        v["components"][2]["buttons"][0] = json!({"type": "URL", "text": "Open", "url": "https://x.example"});
        assert_eq!(refused(v).user_title.as_deref(), Some("One-Time Password Button Required"));
        let mut v = copy_code();
        v["components"].as_array_mut().unwrap().remove(0);
        assert_eq!(refused(v).user_title.as_deref(), Some("Body Is Required"));
        let mut v = copy_code();
        v["components"][2]["buttons"][0]["otp_type"] = json!("MAGIC");
        assert!(refused(v).message.starts_with("(#100) Param components[2][buttons][0][otp_type] must be one of"));
    }

    #[test]
    fn expiration_ttl_name_language_and_category_rules() {
        for minutes in [json!(0), json!(91), json!("5"), json!(2.5)] {
            let mut v = copy_code();
            v["components"][1]["code_expiration_minutes"] = minutes.clone();
            assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Code Expiration Time"), "{minutes}");
        }
        for ttl in [json!(29), json!(901), json!("300")] {
            let mut v = copy_code();
            v["message_send_ttl_seconds"] = ttl;
            assert_eq!(refused(v).user_title.as_deref(), Some("Invalid Message Time-To-Live"));
        }
        let mut v = copy_code();
        v["name"] = json!("OTP Code");
        let r = refused(v);
        assert_eq!((r.subcode, r.user_title.as_deref()), (Some(2_388_046), Some("Name Format is Incorrect")));
        let mut v = copy_code();
        v.as_object_mut().unwrap().remove("name");
        assert_eq!(refused(v).message, "(#100) The parameter name is required.");
        let mut v = copy_code();
        v["language"] = json!("fr_FR");
        assert!(refused(v).message.contains("fr_FR"));
        let mut v = copy_code();
        v["category"] = json!("OTP");
        assert_eq!(
            refused(v).message,
            "(#100) Param category must be one of {AUTHENTICATION, MARKETING, UTILITY} - got \"OTP\"."
        );
        let mut v = copy_code();
        v["category"] = json!("MARKETING");
        assert_eq!(refused(v).user_title.as_deref(), Some("Category Not Supported Here"));
        assert!(validate_new(b"[]").is_err() && validate_new(b"nope").is_err());
    }

    #[test]
    fn url_and_emoji_detection() {
        for s in ["http://a.b", "visit www.example.org", "example.com/x", "go to my-site.io.", "HTTPS://X.Y"] {
            assert!(contains_url(s), "{s}");
        }
        for s in ["1.5 minutes", "e.g. this", "Your code is 123456.", "end. Next"] {
            assert!(!contains_url(s), "{s}");
        }
        assert!(contains_emoji("ok \u{2705}") && contains_emoji("\u{1F600}") && !contains_emoji("plain é ü"));
    }

    #[test]
    fn review_settles_to_the_verdict() {
        let mut t = seeded("1".into(), "otp", "en_US");
        t.status = "PENDING".into();
        t.review_ends_ms = Some(1_000);
        t.settle(999);
        assert_eq!(t.status, "PENDING");
        t.settle(1_000);
        assert_eq!(t.status, "APPROVED");
        let mut t = seeded("2".into(), "otp", "es");
        t.status = "PENDING".into();
        t.review_ends_ms = Some(5);
        t.verdict = ("REJECTED".into(), Some("INVALID_FORMAT".into()));
        t.settle(10);
        assert_eq!((t.status.as_str(), t.rejected_reason.as_deref()), ("REJECTED", Some("INVALID_FORMAT")));
        let listed = t.to_json(None);
        assert_eq!(listed["rejected_reason"], "INVALID_FORMAT");
        let fields = vec!["name".to_string(), "status".to_string()];
        let limited = t.to_json(Some(&fields));
        assert_eq!(limited, json!({"name": "otp", "status": "REJECTED", "id": "2"}));
    }

    #[test]
    fn sends_need_an_approved_translation() {
        let mut ts = vec![seeded("1".into(), "otp_code", "en_US"), seeded("2".into(), "otp_code", "es")];
        ts[1].status = "PENDING".into();
        assert_eq!(send_check(&ts, "otp_code", "en_US"), None);
        assert_eq!(send_check(&ts, "otp_code", "es").unwrap().0, 132_001);
        let (code, details) = send_check(&ts, "otp_code", "fr_FR").unwrap();
        assert_eq!((code, details.as_str()), (132_001, "template name (otp_code) does not exist in fr_FR"));
        assert_eq!(send_check(&ts, "other", "en_US").unwrap().0, 132_001);
        ts[0].status = "PAUSED".into();
        assert_eq!(send_check(&ts, "otp_code", "en_US").unwrap().0, 132_015);
    }

    #[test]
    fn seeds_parse() {
        let s = parse_seed("otp_code:en_US,pt_BR,es,de; other:en").unwrap();
        assert_eq!(s[0], ("otp_code".to_string(), vec!["en_US".into(), "pt_BR".into(), "es".into(), "de".into()]));
        assert_eq!(s[1].0, "other");
        assert!(parse_seed("otp_code").is_err());
        assert!(parse_seed("Bad:en").is_err());
        assert!(parse_seed("otp:xx_YY").is_err());
        assert!(parse_seed("otp:").is_err());
        assert_eq!(parse_seed("").unwrap(), vec![]);
    }

    #[test]
    fn already_exists_names_the_language() {
        let j = already_exists("en_US").to_json();
        assert_eq!(j["error"]["code"], 100);
        assert_eq!(j["error"]["error_subcode"], 2_388_024);
        assert_eq!(j["error"]["error_user_title"], "Content in This Language Already Exists");
        assert_eq!(
            j["error"]["error_user_msg"],
            "There is already English (US) content for this template. You can create a new template and try again."
        );
    }
}
