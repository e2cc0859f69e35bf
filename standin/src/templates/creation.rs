//! The rules a template creation goes through: Meta's rules for authentication
//! templates, checked in the order Meta reports them, and the components as Meta
//! lists them afterwards (with its preset texts filled in).

use serde_json::{json, Map, Value};

use super::otp_button::validate_buttons;
use super::refusal::Refusal;
use super::{CATEGORIES, DEFAULT_SEND_TTL, LANGUAGES, MAX_NAME_CHARS, SEND_TTL_RANGE};

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
pub(super) fn check_text(text: &str, field: &str) -> Result<(), Refusal> {
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

pub(super) fn get_str<'a>(m: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a str>, Refusal> {
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
    let name = template_name(obj)?;
    let language = template_language(obj)?;
    let category = template_category(obj)?;
    let message_send_ttl_seconds = send_ttl(obj)?;
    let components = match obj.get("components") {
        None | Some(Value::Null) => return Err(Refusal::param("The parameter components is required.")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Refusal::param("Param components must be an array.")),
    };
    let components = read_components(components)?.listed()?;
    Ok(NewTemplate {
        name: name.to_string(),
        language: language.to_string(),
        category,
        components,
        message_send_ttl_seconds,
    })
}

/// `name`, `language` and `category`: required strings.
fn required_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, Refusal> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(Refusal::param(format!("The parameter {key} is required."))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Refusal::param(format!("Param {key} must be a string."))),
    }
}

fn template_name(obj: &Map<String, Value>) -> Result<&str, Refusal> {
    let name = required_str(obj, "name")?;
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
    Ok(name)
}

fn template_language(obj: &Map<String, Value>) -> Result<&str, Refusal> {
    let language = required_str(obj, "language")?;
    if !LANGUAGES.contains(&language) {
        return Err(Refusal::param(format!(
            "Param language must be one of Meta's supported language codes, got \"{language}\"."
        )));
    }
    Ok(language)
}

/// The category, upper-cased; only AUTHENTICATION is simulated.
fn template_category(obj: &Map<String, Value>) -> Result<String, Refusal> {
    let category = required_str(obj, "category")?.to_ascii_uppercase();
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
    Ok(category)
}

fn send_ttl(obj: &Map<String, Value>) -> Result<u64, Refusal> {
    match obj.get("message_send_ttl_seconds") {
        None | Some(Value::Null) => Ok(DEFAULT_SEND_TTL),
        Some(v) => match v.as_u64() {
            Some(n) if (SEND_TTL_RANGE.0..=SEND_TTL_RANGE.1).contains(&n) => Ok(n),
            _ => Err(Refusal::user(
                None,
                "Invalid Message Time-To-Live",
                format!(
                    "message_send_ttl_seconds for authentication templates must be a whole number of seconds from {} to {}.",
                    SEND_TTL_RANGE.0, SEND_TTL_RANGE.1
                ),
            )
            .blame("message_send_ttl_seconds")),
        },
    }
}

/// The components of an authentication template, as read from a creation body.
#[derive(Default)]
struct AuthComponents {
    /// `add_security_recommendation`, and the text if one was given.
    body: Option<(bool, Option<String>)>,
    /// `code_expiration_minutes`, if the footer has one.
    footer: Option<Option<u64>>,
    /// The OTP button, as Meta lists it.
    button: Option<Value>,
}

fn read_components(components: &[Value]) -> Result<AuthComponents, Refusal> {
    let mut read = AuthComponents::default();
    for (i, c) in components.iter().enumerate() {
        let at = format!("components[{i}]");
        let c = c.as_object().ok_or_else(|| Refusal::param(format!("Param {at} must be an object.")))?;
        let ctype =
            get_str(c, "type", &at)?.ok_or_else(|| Refusal::param(format!("The parameter {at}[type] is required.")))?;
        match ctype.to_ascii_uppercase().as_str() {
            "HEADER" => return Err(header_refusal(c, &at)),
            "BODY" => {
                if read.body.is_some() {
                    return Err(Refusal::param("Param components can hold only one BODY."));
                }
                read.body = Some(read_body(c, &at)?);
            }
            "FOOTER" => {
                if read.footer.is_some() {
                    return Err(Refusal::param("Param components can hold only one FOOTER."));
                }
                read.footer = Some(read_footer(c, &at)?);
            }
            "BUTTONS" => {
                if read.button.is_some() {
                    return Err(Refusal::param("Param components can hold only one BUTTONS."));
                }
                read.button = Some(validate_buttons(c, &at)?);
            }
            other => {
                return Err(Refusal::param(format!(
                    "Param {at}[type] must be one of {{HEADER, BODY, FOOTER, BUTTONS}} - got \"{other}\"."
                )))
            }
        }
    }
    Ok(read)
}

/// Authentication templates take no header; the refusal says whether it was media.
fn header_refusal(c: &Map<String, Value>, at: &str) -> Refusal {
    let format = match get_str(c, "format", at) {
        Ok(format) => format.unwrap_or("TEXT").to_ascii_uppercase(),
        Err(refusal) => return refusal,
    };
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
    Refusal::user(Some(2_388_047), title, msg).blame(&format!("{at}[format]"))
}

fn read_body(c: &Map<String, Value>, at: &str) -> Result<(bool, Option<String>), Refusal> {
    let add = match c.get("add_security_recommendation") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Refusal::param(format!("Param {at}[add_security_recommendation] must be a boolean."))),
    };
    let text = get_str(c, "text", at)?;
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
    Ok((add, text.map(str::to_string)))
}

fn read_footer(c: &Map<String, Value>, at: &str) -> Result<Option<u64>, Refusal> {
    if let Some(t) = get_str(c, "text", at)? {
        check_text(t, "footer")?;
    }
    match c.get("code_expiration_minutes") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n @ 1..=90) => Ok(Some(n)),
            _ => Err(Refusal::user(
                None,
                "Invalid Code Expiration Time",
                "code_expiration_minutes must be a whole number of minutes from 1 to 90.",
            )
            .blame(&format!("{at}[code_expiration_minutes]"))),
        },
    }
}

impl AuthComponents {
    /// The components as Meta lists them; a body and the OTP button are required.
    fn listed(self) -> Result<Vec<Value>, Refusal> {
        let Some((add_security, custom_text)) = self.body else {
            return Err(Refusal::user(
                None,
                "Body Is Required",
                "Authentication templates need a BODY component (with add_security_recommendation if you want the security line).",
            ));
        };
        let Some(button) = self.button else {
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
        if let Some(Some(minutes)) = self.footer {
            listed.push(json!({"type": "FOOTER", "text": format!("This code expires in {minutes} minutes."), "code_expiration_minutes": minutes}));
        }
        listed.push(json!({"type": "BUTTONS", "buttons": [button]}));
        Ok(listed)
    }
}
