//! Validation of `POST /{version}/{phone_number_id}/messages` bodies, close to what
//! Meta enforces for `text` and `template` messages (not Meta's OpenAPI file, which
//! rejects valid bodies).

use serde_json::{Map, Value};

use crate::util::phone_digits;

/// A rejected body: the Meta error code (100, 131008 or 131009) and `error_data.details`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub code: i64,
    pub details: String,
}

fn missing(what: &str) -> Invalid {
    Invalid { code: 131_008, details: format!("The parameter {what} is required.") }
}

fn invalid(details: impl Into<String>) -> Invalid {
    Invalid { code: 100, details: details.into() }
}

/// Absent or null is `Ok(None)`; a value `get` does not take is code 100.
fn optional<'a, T>(
    v: Option<&'a Value>,
    name: &str,
    what: &str,
    get: impl Fn(&'a Value) -> Option<T>,
) -> Result<Option<T>, Invalid> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => get(v).map(Some).ok_or_else(|| invalid(format!("Param {name} must be {what}"))),
    }
}

/// Like [`optional`], but absent or null is code 131008.
fn required<'a, T>(
    v: Option<&'a Value>,
    name: &str,
    what: &str,
    get: impl Fn(&'a Value) -> Option<T>,
) -> Result<T, Invalid> {
    optional(v, name, what, get)?.ok_or_else(|| missing(name))
}

fn required_str<'a>(v: Option<&'a Value>, name: &str) -> Result<&'a str, Invalid> {
    required(v, name, "a string", Value::as_str)
}

fn required_object<'a>(v: Option<&'a Value>, name: &str) -> Result<&'a Map<String, Value>, Invalid> {
    required(v, name, "an object", Value::as_object)
}

fn optional_array<'a>(v: Option<&'a Value>, name: &str) -> Result<Option<&'a Vec<Value>>, Invalid> {
    optional(v, name, "an array", Value::as_array)
}

/// A required string that is not blank.
fn non_empty_str<'a>(v: Option<&'a Value>, name: &str) -> Result<&'a str, Invalid> {
    let s = required_str(v, name)?;
    if s.trim().is_empty() {
        return Err(invalid(format!("Param {name} must not be empty")));
    }
    Ok(s)
}

/// An accepted message, with what the inbox shows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// `to` exactly as given (echoed as `contacts[].input`).
    pub to_input: String,
    /// `to` as digits only (`contacts[].wa_id`, inbox `to`).
    pub to_digits: String,
    /// `"text"` or `"template"`.
    pub kind: &'static str,
    /// Text body, or a template's first body text parameter.
    pub text: Option<String>,
    /// A template's first body text parameter.
    pub code: Option<String>,
    /// A template button's first parameter (text, coupon_code or payload).
    pub button_code: Option<String>,
    pub template_name: Option<String>,
    pub language: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    pub payload: Value,
}

pub const MAX_TEXT_BODY_CHARS: usize = 4096;
pub const MAX_BIZ_OPAQUE_CHARS: usize = 512;

pub fn validate(body: &[u8]) -> Result<Accepted, Invalid> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("Request body is not valid JSON: {e}")))?;
    let obj = payload.as_object().ok_or_else(|| invalid("Request body must be a JSON object"))?;

    match obj.get("messaging_product") {
        None | Some(Value::Null) => return Err(missing("messaging_product")),
        Some(Value::String(s)) if s == "whatsapp" => {}
        Some(_) => return Err(invalid("Param messaging_product must be 'whatsapp'")),
    }

    let to_input = required_str(obj.get("to"), "to")?.to_string();
    let to_digits = phone_digits(&to_input)
        .ok_or_else(|| invalid("Param to must be a phone number of 8 to 15 digits, optionally with a leading '+'"))?;

    match obj.get("recipient_type") {
        None => {}
        Some(Value::String(s)) if s == "individual" => {}
        Some(_) => return Err(invalid("Param recipient_type must be 'individual'")),
    }

    let kind = match obj.get("type") {
        None => "text",
        Some(Value::String(s)) if s == "text" => "text",
        Some(Value::String(s)) if s == "template" => "template",
        Some(Value::String(s)) => {
            return Err(invalid(format!(
                "Param type '{s}' is not supported by this stand-in (use 'text' or 'template')"
            )))
        }
        Some(_) => return Err(invalid("Param type must be a string")),
    };

    let biz_opaque_callback_data = match obj.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_BIZ_OPAQUE_CHARS => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(invalid(format!(
                "Param biz_opaque_callback_data must be at most {MAX_BIZ_OPAQUE_CHARS} characters long"
            )))
        }
        Some(_) => return Err(invalid("Param biz_opaque_callback_data must be a string")),
    };

    let mut acc = Accepted {
        to_input,
        to_digits,
        kind,
        text: None,
        code: None,
        button_code: None,
        template_name: None,
        language: None,
        biz_opaque_callback_data,
        payload: Value::Null,
    };
    if kind == "text" {
        validate_text(obj, &mut acc)?;
    } else {
        validate_template(obj, &mut acc)?;
    }
    acc.payload = payload;
    Ok(acc)
}

fn validate_text(obj: &Map<String, Value>, acc: &mut Accepted) -> Result<(), Invalid> {
    let text = required_object(obj.get("text"), "text")?;
    let body = non_empty_str(text.get("body"), "text['body']")?;
    if body.chars().count() > MAX_TEXT_BODY_CHARS {
        return Err(invalid(format!("Param text['body'] must be at most {MAX_TEXT_BODY_CHARS} characters long")));
    }
    if let Some(p) = text.get("preview_url") {
        if !p.is_boolean() {
            return Err(invalid("Param text['preview_url'] must be a boolean"));
        }
    }
    acc.text = Some(body.to_string());
    Ok(())
}

fn validate_template(obj: &Map<String, Value>, acc: &mut Accepted) -> Result<(), Invalid> {
    let t = required_object(obj.get("template"), "template")?;
    let name = non_empty_str(t.get("name"), "template['name']")?;
    let lang = required_object(t.get("language"), "template['language']")?;
    let code = non_empty_str(lang.get("code"), "template['language']['code']")?;
    if let Some(policy) = lang.get("policy") {
        if policy.as_str() != Some("deterministic") {
            return Err(invalid("Param template['language']['policy'] must be 'deterministic'"));
        }
    }
    acc.template_name = Some(name.to_string());
    acc.language = Some(code.to_string());

    let Some(components) = optional_array(t.get("components"), "template['components']")? else {
        return Ok(());
    };
    for (i, comp) in components.iter().enumerate() {
        let at = format!("template['components'][{i}]");
        let c = comp.as_object().ok_or_else(|| invalid(format!("Param {at} must be an object")))?;
        let ctype = non_empty_str(c.get("type"), &format!("{at}['type']"))?;
        match ctype {
            "body" | "header" => {}
            "button" => {
                let sub = non_empty_str(c.get("sub_type"), &format!("{at}['sub_type']"))?;
                const SUB_TYPES: [&str; 7] =
                    ["url", "quick_reply", "copy_code", "catalog", "flow", "mpm", "voice_call"];
                if !SUB_TYPES.contains(&sub) {
                    return Err(invalid(format!("Param {at}['sub_type'] must be one of {SUB_TYPES:?}")));
                }
                match c.get("index") {
                    None | Some(Value::Null) => return Err(missing(&format!("{at}['index']"))),
                    Some(Value::String(s))
                        if !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()) => {}
                    Some(_) => {
                        return Err(invalid(format!("Param {at}['index'] must be a string of digits, e.g. \"0\"")))
                    }
                }
            }
            other => return Err(invalid(format!("Param {at}['type'] '{other}' must be one of body, header, button"))),
        }
        let Some(params) = optional_array(c.get("parameters"), &format!("{at}['parameters']"))? else {
            continue;
        };
        for (j, p) in params.iter().enumerate() {
            let pat = format!("{at}['parameters'][{j}]");
            let po = p.as_object().ok_or_else(|| invalid(format!("Param {pat} must be an object")))?;
            let ptype = non_empty_str(po.get("type"), &format!("{pat}['type']"))?;
            let value = match ptype {
                "text" => {
                    let text = required_str(po.get("text"), &format!("{pat}['text']"))?;
                    if text.is_empty() {
                        return Err(Invalid {
                            code: 131_009,
                            details: format!("Param {pat}['text'] must not be empty"),
                        });
                    }
                    Some(text.to_string())
                }
                "coupon_code" | "payload" => match po.get(ptype) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    None | Some(Value::Null) => return Err(missing(&format!("{pat}['{ptype}']"))),
                    Some(_) => return Err(invalid(format!("Param {pat}['{ptype}'] must be a non-empty string"))),
                },
                _ => None,
            };
            match ctype {
                "body" if ptype == "text" && acc.code.is_none() => acc.code = value,
                "button" if acc.button_code.is_none() => acc.button_code = value,
                _ => {}
            }
        }
    }
    acc.text = acc.code.clone();
    Ok(())
}

/// Best-effort `(template name, language code)` of a body, for error details.
pub fn template_context(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let t = v.get("template")?;
    Some((t.get("name")?.as_str()?.to_string(), t.get("language")?.get("code")?.as_str()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth_template() -> Value {
        crate::fixtures::auth_template("123456")
    }

    fn check(v: &Value) -> Result<Accepted, Invalid> {
        validate(serde_json::to_vec(v).unwrap().as_slice())
    }

    fn err(v: &Value) -> Invalid {
        check(v).expect_err("should be rejected")
    }

    #[test]
    fn accepts_authentication_template() {
        let a = check(&auth_template()).unwrap();
        assert_eq!(a.to_input, "+16505551234");
        assert_eq!(a.to_digits, "16505551234");
        assert_eq!(a.kind, "template");
        assert_eq!(a.code.as_deref(), Some("123456"));
        assert_eq!(a.text.as_deref(), Some("123456"));
        assert_eq!(a.button_code.as_deref(), Some("123456"));
        assert_eq!(a.template_name.as_deref(), Some("otp_auth"));
        assert_eq!(a.language.as_deref(), Some("en_US"));
        assert_eq!(a.biz_opaque_callback_data.as_deref(), Some(crate::fixtures::OPAQUE));
        assert_eq!(a.payload, auth_template());
    }

    #[test]
    fn accepts_template_without_components_and_copy_code_button() {
        let mut v = auth_template();
        v["template"].as_object_mut().unwrap().remove("components");
        let a = check(&v).unwrap();
        assert_eq!(a.code, None);
        let mut v = auth_template();
        v["template"]["components"][1] = json!({"type":"button","sub_type":"copy_code","index":"0","parameters":[{"type":"coupon_code","coupon_code":"987654"}]});
        assert_eq!(check(&v).unwrap().button_code.as_deref(), Some("987654"));
    }

    #[test]
    fn accepts_text_and_defaults_type_to_text() {
        let v = json!({"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":"Your code is 123456"}});
        let a = check(&v).unwrap();
        assert_eq!(a.kind, "text");
        assert_eq!(a.text.as_deref(), Some("Your code is 123456"));
        assert_eq!(a.code, None);
        assert_eq!(a.template_name, None);
        let v = json!({"messaging_product":"whatsapp","to":"16505551234","text":{"body":"hi","preview_url":false}});
        assert_eq!(check(&v).unwrap().kind, "text");
    }

    #[test]
    fn rejects_non_json_and_wrong_product() {
        assert_eq!(validate(b"not json").unwrap_err().code, 100);
        assert_eq!(validate(b"[1]").unwrap_err().code, 100);
        let mut v = auth_template();
        v.as_object_mut().unwrap().remove("messaging_product");
        assert_eq!(err(&v).code, 131_008);
        v["messaging_product"] = json!("sms");
        assert_eq!(err(&v).code, 100);
    }

    #[test]
    fn rejects_bad_recipients() {
        for to in [
            json!("123"),
            json!("1650555123412345"),
            json!("+1 650 555 1234"),
            json!(16505551234u64),
            json!("++16505551234"),
        ] {
            let mut v = auth_template();
            v["to"] = to.clone();
            let e = err(&v);
            assert_eq!(e.code, 100, "{to}");
            assert!(e.details.contains("to"), "{}", e.details);
        }
        let mut v = auth_template();
        v.as_object_mut().unwrap().remove("to");
        assert_eq!(err(&v), missing("to"));
        let mut v = auth_template();
        v["recipient_type"] = json!("group");
        assert_eq!(err(&v).code, 100);
    }

    #[test]
    fn rejects_bad_types_and_templates() {
        let mut v = auth_template();
        v["type"] = json!("image");
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v["template"]["name"] = json!("");
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v["template"]["language"].as_object_mut().unwrap().remove("code");
        let e = err(&v);
        assert_eq!(e.code, 131_008);
        assert!(e.details.contains("template['language']['code']"));

        let mut v = auth_template();
        v["template"]["components"][1]["index"] = json!(0);
        assert!(err(&v).details.contains("index"));

        let mut v = auth_template();
        v["template"]["components"][1]["index"] = json!("a");
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v["template"]["components"][1].as_object_mut().unwrap().remove("sub_type");
        assert_eq!(err(&v).code, 131_008);

        let mut v = auth_template();
        v["template"]["components"][0]["type"] = json!("footer");
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v["template"]["components"][0]["parameters"][0] = json!({"type":"text","text":123456});
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v["template"]["components"][0]["parameters"][0] = json!({"type":"text"});
        assert_eq!(err(&v).code, 131_008);

        let mut v = auth_template();
        v["template"]["components"][0]["parameters"][0] = json!({"type":"text","text":""});
        assert_eq!(err(&v).code, 131_009);

        let mut v = auth_template();
        v["template"]["components"][0]["parameters"] = json!({"type":"text","text":"1"});
        assert_eq!(err(&v).code, 100);

        let mut v = auth_template();
        v.as_object_mut().unwrap().remove("template");
        assert_eq!(err(&v), missing("template"));
    }

    #[test]
    fn rejects_bad_text_and_opaque_data() {
        let base = json!({"messaging_product":"whatsapp","to":"16505551234","type":"text","text":{"body":"x"}});
        let mut v = base.clone();
        v["text"]["body"] = json!("");
        assert_eq!(err(&v).code, 100);
        v["text"]["body"] = json!("é".repeat(4096));
        assert!(check(&v).is_ok());
        v["text"]["body"] = json!("a".repeat(4097));
        assert!(err(&v).details.contains("4096"));
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove("text");
        assert_eq!(err(&v).code, 131_008);
        let mut v = base.clone();
        v["biz_opaque_callback_data"] = json!("x".repeat(513));
        assert_eq!(err(&v).code, 100);
        v["biz_opaque_callback_data"] = json!(42);
        assert_eq!(err(&v).code, 100);
    }

    #[test]
    fn template_context_for_error_details() {
        let body = serde_json::to_vec(&auth_template()).unwrap();
        assert_eq!(template_context(&body), Some(("otp_auth".into(), "en_US".into())));
        assert_eq!(template_context(b"{}"), None);
    }
}
