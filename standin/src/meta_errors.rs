//! Meta Graph API error catalog and the exact JSON shapes Meta answers with.
//!
//! Synchronous send errors:
//! `{"error":{"message","type":"OAuthException","code","error_subcode"?,"error_data":{"messaging_product":"whatsapp","details"},"is_transient"?,"fbtrace_id"}}`
//! Webhook (status/system) errors: `{"code","title","message","error_data":{"details"},"href"}`.

use serde_json::{json, Map, Value};

use crate::util::new_fbtrace_id;

pub const ERROR_CODES_HREF: &str = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";
pub const INVALID_TOKEN_MESSAGE: &str = "Invalid OAuth access token - Cannot parse access token";

/// What the catalog knows about one error code.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeInfo {
    pub code: i64,
    pub title: &'static str,
    pub details: &'static str,
    pub http_status: u16,
    pub subcode: Option<i64>,
    pub transient: bool,
}

/// Looks up an error code; unknown codes get a generic entry (HTTP 400).
pub fn lookup(code: i64) -> CodeInfo {
    let (title, details, http_status, subcode): (&'static str, &'static str, u16, Option<i64>) = match code {
        0 => ("AuthException", "We were unable to authenticate the app user. Typically, this means the included access token has expired, been invalidated, or the app user has changed a setting to prevent all apps from accessing their data.", 403, None),
        1 => ("An unknown error occurred", "Invalid request or possible server error.", 500, None),
        2 => ("Service temporarily unavailable", "Temporary due to downtime or due to being overloaded.", 503, None),
        3 => ("Application does not have the capability to make this API call.", "Capability or permissions issue.", 403, None),
        4 => ("Application request limit reached", "The app has reached its API call rate limit.", 400, None),
        10 => ("Application does not have permission for this action", "Permission is either not granted or has been removed.", 403, None),
        100 => ("Invalid parameter", "Invalid parameter", 400, None),
        190 => (INVALID_TOKEN_MESSAGE, "Your access token has expired or is invalid.", 401, None),
        200 => ("Permissions error", "Permission is either not granted or has been removed.", 403, None),
        368 => ("Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.", 400, None),
        80007 => ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit.", 400, None),
        130429 => ("Rate limit hit", "Message failed to send because there were too many messages sent from this phone number in a short period of time", 400, None),
        131000 => ("Something went wrong", "Message failed to send due to an unknown error.", 500, None),
        131008 => ("Required parameter is missing", "A required parameter is missing.", 400, None),
        131009 => ("Parameter value is not valid", "One or more parameter values are invalid.", 400, None),
        131016 => ("Service unavailable", "A service is temporarily unavailable.", 503, None),
        131026 => ("Message undeliverable", "Message Undeliverable.", 400, None),
        131047 => ("Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.", 400, None),
        131048 => ("Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.", 400, None),
        131056 => ("(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.", 400, None),
        132000 => ("Number of parameters does not match the expected number of params", "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template.", 400, None),
        132001 => ("Template name does not exist in the translation", "The template does not exist in the specified language or the template has not been approved.", 400, Some(2_494_073)),
        132012 => ("Parameter format does not match format in the created template", "Variable parameter values formatted incorrectly.", 400, None),
        132015 => ("Template is paused", "Template is paused due to low quality so it cannot be sent in a template message.", 400, None),
        132016 => ("Template is disabled", "Template has been paused too many times due to low quality and is now permanently disabled.", 400, None),
        _ => ("Unknown error", "An error occurred while processing the request.", 400, None),
    };
    CodeInfo { code, title, details, http_status, subcode, transient: matches!(code, 131000 | 131016 | 130429 | 2 | 4) }
}

/// `error.message` as Meta writes it: `(#131026) Message undeliverable`; the
/// OAuth and generic Graph codes (190, 1, 2) carry no `(#N)` prefix.
pub fn message_for(code: i64) -> String {
    let info = lookup(code);
    match code {
        1 | 2 | 190 => info.title.to_string(),
        _ => format!("(#{code}) {}", info.title),
    }
}

/// A send error in Meta's shape. `message`/`details` override the catalog text.
pub fn send_error(code: i64, message: Option<&str>, details: Option<&str>) -> Value {
    let info = lookup(code);
    let mut err = Map::new();
    err.insert("message".into(), json!(message.map(str::to_string).unwrap_or_else(|| message_for(code))));
    err.insert("type".into(), json!("OAuthException"));
    err.insert("code".into(), json!(code));
    if let Some(sub) = info.subcode {
        err.insert("error_subcode".into(), json!(sub));
    }
    err.insert(
        "error_data".into(),
        json!({"messaging_product": "whatsapp", "details": details.unwrap_or(info.details)}),
    );
    if info.transient {
        err.insert("is_transient".into(), json!(true));
    }
    err.insert("fbtrace_id".into(), json!(new_fbtrace_id()));
    json!({ "error": Value::Object(err) })
}

/// A Graph API error outside sends (template management): `message`, `type`, `code`,
/// then `error_subcode`, `is_transient: false`, `error_user_title`/`error_user_msg` and
/// `error_data.blame_field_specs` when given, and `fbtrace_id`.
pub fn new_graph_error(
    message: &str,
    code: i64,
    subcode: Option<i64>,
    user_title: Option<&str>,
    user_msg: Option<&str>,
    blame_field: Option<&str>,
) -> Value {
    let mut err = Map::new();
    err.insert("message".into(), json!(message));
    err.insert("type".into(), json!("OAuthException"));
    err.insert("code".into(), json!(code));
    if let Some(field) = blame_field {
        err.insert("error_data".into(), json!({"blame_field_specs": [[field]]}));
    }
    if let Some(sub) = subcode {
        err.insert("error_subcode".into(), json!(sub));
    }
    err.insert("is_transient".into(), json!(false));
    if let Some(t) = user_title {
        err.insert("error_user_title".into(), json!(t));
    }
    if let Some(m) = user_msg {
        err.insert("error_user_msg".into(), json!(m));
    }
    err.insert("fbtrace_id".into(), json!(new_fbtrace_id()));
    json!({ "error": Value::Object(err) })
}

/// HTTP 401 for a missing or wrong bearer token (no `error_data`, as Meta does).
pub fn invalid_token() -> Value {
    json!({"error": {
        "message": INVALID_TOKEN_MESSAGE,
        "type": "OAuthException",
        "code": 190,
        "fbtrace_id": new_fbtrace_id(),
    }})
}

/// HTTP 400 when the phone number id in the path is not the configured one.
pub fn unknown_object(id: &str) -> Value {
    unknown_object_for("post", id)
}

/// Like [`unknown_object`], for a `get` or `post` on another object (a business account).
pub fn unknown_object_for(method: &str, id: &str) -> Value {
    json!({"error": {
        "message": format!("Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": new_fbtrace_id(),
    }})
}

/// HTTP 400 for a path Graph does not know (bad version segment).
pub fn unknown_path(path: &str) -> Value {
    json!({"error": {
        "message": format!("Unknown path components: {path}"),
        "type": "OAuthException",
        "code": 2500,
        "fbtrace_id": new_fbtrace_id(),
    }})
}

/// The Meta code used for a scripted failure that only gives an HTTP status.
pub fn code_for_status(http_status: u16) -> i64 {
    match http_status {
        502..=504 => 2,
        _ => 1,
    }
}

/// One entry of `statuses[].errors[]` / `value.errors[]` in webhook deliveries.
pub fn webhook_error(code: i64, details: Option<&str>) -> Value {
    let info = lookup(code);
    json!({
        "code": code,
        "title": info.title,
        "message": info.title,
        "error_data": {"details": details.unwrap_or(info.details)},
        "href": ERROR_CODES_HREF,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn send_error_has_meta_shape() {
        let v = send_error(131026, None, None);
        let e = &v["error"];
        assert_eq!(keys(&v), ["error"]);
        assert_eq!(keys(e), ["code", "error_data", "fbtrace_id", "message", "type"]);
        assert_eq!(e["message"], "(#131026) Message undeliverable");
        assert_eq!(e["type"], "OAuthException");
        assert_eq!(e["code"], 131026);
        assert_eq!(e["error_data"]["messaging_product"], "whatsapp");
        assert_eq!(e["error_data"]["details"], "Message Undeliverable.");
        assert!(e["fbtrace_id"].as_str().unwrap().starts_with('A'));
    }

    #[test]
    fn template_missing_has_subcode_and_transients_are_flagged() {
        let v = send_error(132001, None, Some("template name (otp) does not exist in en_US"));
        assert_eq!(v["error"]["error_subcode"], 2_494_073);
        assert_eq!(v["error"]["error_data"]["details"], "template name (otp) does not exist in en_US");
        for code in [131000, 131016, 130429, 2, 4] {
            assert_eq!(send_error(code, None, None)["error"]["is_transient"], true, "{code}");
        }
        for code in [131026, 131047, 132001, 190, 100] {
            assert!(send_error(code, None, None)["error"].get("is_transient").is_none(), "{code}");
        }
    }

    #[test]
    fn http_status_per_code() {
        assert_eq!(lookup(190).http_status, 401);
        for c in [0, 3, 10, 200] {
            assert_eq!(lookup(c).http_status, 403);
        }
        assert_eq!(lookup(131000).http_status, 500);
        assert_eq!(lookup(1).http_status, 500);
        assert_eq!(lookup(131016).http_status, 503);
        assert_eq!(lookup(2).http_status, 503);
        for c in [130429, 131056, 131048, 80007, 4, 131026, 132001, 100, 368, 999_999] {
            assert_eq!(lookup(c).http_status, 400, "{c}");
        }
    }

    #[test]
    fn messages_and_overrides() {
        assert_eq!(message_for(190), INVALID_TOKEN_MESSAGE);
        assert_eq!(message_for(2), "Service temporarily unavailable");
        assert_eq!(message_for(130429), "(#130429) Rate limit hit");
        assert_eq!(send_error(100, Some("custom"), None)["error"]["message"], "custom");
        assert_eq!(message_for(424242), "(#424242) Unknown error");
        assert_eq!(code_for_status(500), 1);
        assert_eq!(code_for_status(503), 2);
    }

    #[test]
    fn auth_and_object_errors() {
        let v = invalid_token();
        assert_eq!(keys(&v["error"]), ["code", "fbtrace_id", "message", "type"]);
        assert_eq!(v["error"]["code"], 190);
        let v = unknown_object("999");
        assert_eq!(v["error"]["type"], "GraphMethodException");
        assert_eq!(v["error"]["error_subcode"], 33);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported post request. Object with ID '999' does not exist"));
    }

    #[test]
    fn webhook_error_matches_sample() {
        let sample = crate::samples::load("status-failed.json");
        let want = &sample["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0];
        assert_eq!(&webhook_error(131026, None), want);
        let sys = crate::samples::load("system-error.json");
        let want = &sys["entry"][0]["changes"][0]["value"]["errors"][0];
        let got = webhook_error(130429, None);
        assert_eq!(got["title"], want["title"]);
        assert_eq!(got["error_data"], want["error_data"]);
    }
}
