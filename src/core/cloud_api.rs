//! Meta's WhatsApp Cloud API: the message bodies we send, and what
//! Meta's answers mean for the contract.

use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{Config, MessageMode};
use super::error::ApiError;
use super::phone::{from_wa_id, wa_digits};

/// Meta's own timeout is ours too: past this a send is abandoned (never retried,
/// because the message may still arrive).
pub const SEND_TIMEOUT_MS: u64 = 10_000;

/// The message that carries a code: an authentication template (body parameter
/// plus copy-code button) or, in text mode, a plain text.
pub fn otp_message(config: &Config, phone: &str, code: &str, request_id: &str, language: Option<&str>) -> Value {
    let mut message = match config.meta.message_mode {
        MessageMode::Template => json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_digits(phone),
            "type": "template",
            "template": {
                "name": config.meta.template_name,
                "language": { "code": language.unwrap_or(&config.meta.template_language) },
                "components": [
                    { "type": "body", "parameters": [{ "type": "text", "text": code }] },
                    { "type": "button", "sub_type": "url", "index": "0", "parameters": [{ "type": "text", "text": code }] }
                ]
            }
        }),
        MessageMode::Text => text_message(
            phone,
            &format!("{code} is your verification code. For your security, do not share this code."),
        ),
    };
    message["biz_opaque_callback_data"] = request_id.into();
    message
}

/// A plain text (confirmations in the chat, text mode).
pub fn text_message(phone: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_digits(phone),
        "type": "text",
        "text": { "preview_url": false, "body": body }
    })
}

/// Why a send did not go out, in the contract's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NotOnWhatsApp,
    Throttled { retry_after_s: u64 },
    Rejected,
    AuthFailed,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub kind: FailureKind,
    pub meta_code: Option<i64>,
    pub http_status: Option<u16>,
    /// Worth one more try (5xx, Meta's transient codes, a dropped connection).
    pub transient: bool,
}

impl SendFailure {
    pub fn timeout() -> Self {
        SendFailure { kind: FailureKind::Unavailable, meta_code: None, http_status: None, transient: false }
    }

    pub fn network() -> Self {
        SendFailure { kind: FailureKind::Unavailable, meta_code: None, http_status: None, transient: true }
    }

    /// Only failures that are about the recipient use up their send quota; our
    /// own account's or configuration's faults and Meta's outages do not.
    pub fn costs_the_user(&self) -> bool {
        match self.kind {
            FailureKind::NotOnWhatsApp => true,
            // Too many messages to this one user (pair rate, spam limits).
            FailureKind::Throttled { .. } => matches!(self.meta_code, Some(131056 | 131048)),
            FailureKind::AuthFailed | FailureKind::Rejected | FailureKind::Unavailable => false,
        }
    }

    /// Meta has no approved translation of the template in the language asked for.
    pub fn is_missing_translation(&self) -> bool {
        self.meta_code == Some(132001)
    }

    pub fn api_error(&self) -> ApiError {
        let code = self.meta_code;
        match self.kind {
            FailureKind::NotOnWhatsApp => ApiError::not_on_whatsapp(code),
            FailureKind::Throttled { retry_after_s } => ApiError::whatsapp_throttled(retry_after_s, code),
            FailureKind::Rejected => ApiError::whatsapp_rejected(code),
            FailureKind::AuthFailed => ApiError::whatsapp_auth_failed(code),
            FailureKind::Unavailable => ApiError::whatsapp_unavailable(code),
        }
    }
}

/// Meta's error codes, grouped the way the contract groups them.
fn kind_for_code(code: i64) -> (FailureKind, bool) {
    match code {
        131026 | 131045 | 131051 | 131053 => (FailureKind::NotOnWhatsApp, false),
        130429 => (FailureKind::Throttled { retry_after_s: 60 }, false),
        131056 => (FailureKind::Throttled { retry_after_s: 60 }, false),
        131048 => (FailureKind::Throttled { retry_after_s: 300 }, false),
        190 | 0 | 3 | 10 | 200..=299 | 131005 | 131031 => (FailureKind::AuthFailed, false),
        1 | 2 | 131000 | 131016 => (FailureKind::Unavailable, true),
        4 | 80007 => (FailureKind::Throttled { retry_after_s: 60 }, false),
        _ => (FailureKind::Rejected, false),
    }
}

#[derive(Deserialize)]
struct MetaErrorBody {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    code: i64,
    #[serde(default)]
    is_transient: Option<bool>,
}

#[derive(Deserialize)]
struct MetaSuccess {
    messages: Vec<MetaMessageId>,
    #[serde(default)]
    contacts: Vec<MetaContact>,
}

#[derive(Deserialize)]
struct MetaContact {
    #[serde(default)]
    wa_id: Option<String>,
}

/// A send Meta took: its message id, and the `wa_id` Meta resolved the recipient to
/// (`contacts[0].wa_id`), which may be another spelling than the number sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    /// As E.164 (`+` and digits); `None` when Meta gave none or not digits.
    pub wa_id: Option<String>,
}

#[derive(Deserialize)]
struct MetaMessageId {
    id: String,
}

/// Reads Meta's answer: the new message (id and `wa_id`), or why it failed.
pub fn read_send_response(http_status: u16, body: &str) -> Result<SentMessage, SendFailure> {
    if (200..300).contains(&http_status) {
        return serde_json::from_str::<MetaSuccess>(body)
            .ok()
            .and_then(|s| {
                let wa_id = s.contacts.into_iter().next().and_then(|c| c.wa_id).and_then(|w| from_wa_id(&w));
                s.messages.into_iter().next().map(|m| SentMessage { id: m.id, wa_id })
            })
            .ok_or(SendFailure {
                kind: FailureKind::Unavailable,
                meta_code: None,
                http_status: Some(http_status),
                transient: false,
            });
    }
    let meta = serde_json::from_str::<MetaErrorBody>(body).ok().map(|b| b.error);
    let (kind, transient) = match &meta {
        Some(error) => {
            let (kind, transient) = kind_for_code(error.code);
            (kind, transient || error.is_transient == Some(true) && kind == FailureKind::Unavailable)
        }
        None if http_status >= 500 => (FailureKind::Unavailable, true),
        None if http_status == 401 || http_status == 403 => (FailureKind::AuthFailed, false),
        None if http_status == 429 => (FailureKind::Throttled { retry_after_s: 60 }, false),
        None => (FailureKind::Rejected, false),
    };
    // Any 5xx is worth one retry, whatever its body says.
    let transient = transient || (http_status >= 500 && kind == FailureKind::Unavailable);
    Err(SendFailure { kind, meta_code: meta.map(|m| m.code), http_status: Some(http_status), transient })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::tests::full;

    fn config(mode: &str) -> Config {
        let mut map = full();
        map.insert("WHATSAPP_MESSAGE_MODE", mode.to_string());
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    fn meta_error(code: i64) -> String {
        json!({"error": {"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "A"}}).to_string()
    }

    #[test]
    fn template_payload_matches_the_design() {
        let m = otp_message(&config("template"), "+14155550123", "123456", "otp_X", None);
        assert_eq!(
            m,
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "14155550123",
                "type": "template",
                "template": {"name": "otp_code", "language": {"code": "en_US"}, "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]}
                ]},
                "biz_opaque_callback_data": "otp_X"
            })
        );
        let localized = otp_message(&config("template"), "+14155550123", "1", "otp_X", Some("pt_BR"));
        assert_eq!(localized["template"]["language"]["code"], "pt_BR");
    }

    #[test]
    fn text_payload() {
        let m = otp_message(&config("text"), "+14155550123", "123456", "otp_X", None);
        assert_eq!(m["type"], "text");
        assert!(m["text"]["body"].as_str().unwrap().starts_with("123456 "));
        assert_eq!(m["biz_opaque_callback_data"], "otp_X");
    }

    #[test]
    fn success_yields_the_message_id() {
        let body = r#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.ABC","message_status":"accepted"}]}"#;
        assert_eq!(read_send_response(200, body), Ok(SentMessage { id: "wamid.ABC".into(), wa_id: None }));
        // Meta resolves a Brazilian mobile typed with the ninth digit to the account's
        // older spelling; the answer says which.
        let body = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+5511987654321","wa_id":"551187654321"}],"messages":[{"id":"wamid.BR"}]}"#;
        assert_eq!(
            read_send_response(200, body),
            Ok(SentMessage { id: "wamid.BR".into(), wa_id: Some("+551187654321".into()) })
        );
        let no_contacts = r#"{"messages":[{"id":"wamid.X"}]}"#;
        assert_eq!(read_send_response(200, no_contacts).unwrap().wa_id, None);
        assert_eq!(read_send_response(200, "{}").unwrap_err().kind, FailureKind::Unavailable);
    }

    #[test]
    fn meta_codes_map_to_the_contract() {
        let cases = [
            (400, 131026, 422, "not_on_whatsapp", false, true),
            (400, 130429, 503, "whatsapp_throttled", false, false),
            (400, 131056, 503, "whatsapp_throttled", false, true),
            (400, 132001, 502, "whatsapp_rejected", false, false),
            (400, 132000, 502, "whatsapp_rejected", false, false),
            (400, 131008, 502, "whatsapp_rejected", false, false),
            (400, 368, 502, "whatsapp_rejected", false, false),
            (401, 190, 503, "whatsapp_auth_failed", false, false),
            (403, 10, 503, "whatsapp_auth_failed", false, false),
            (500, 131000, 502, "whatsapp_unavailable", true, false),
            (503, 131016, 502, "whatsapp_unavailable", true, false),
        ];
        for (http, code, status, contract, transient, users) in cases {
            let f = read_send_response(http, &meta_error(code)).unwrap_err();
            let e = f.api_error();
            assert_eq!(
                (e.status(), e.code.as_str(), f.transient, f.costs_the_user()),
                (status, contract, transient, users),
                "{code}"
            );
            assert_eq!(e.extra["whatsapp_code"], code);
        }
        assert!(read_send_response(400, &meta_error(130429)).unwrap_err().api_error().retry_after.is_some());
    }

    #[test]
    fn bodies_that_are_not_meta_errors() {
        let bad_gateway = read_send_response(502, "<html>Bad Gateway</html>").unwrap_err();
        assert_eq!((bad_gateway.kind, bad_gateway.transient), (FailureKind::Unavailable, true));
        assert_eq!(read_send_response(401, "").unwrap_err().kind, FailureKind::AuthFailed);
        assert_eq!(read_send_response(400, "nope").unwrap_err().kind, FailureKind::Rejected);
        assert!(!SendFailure::timeout().transient);
        assert!(SendFailure::network().transient);
        assert!(!SendFailure::timeout().costs_the_user(), "an outage never costs the user");
        assert_eq!(SendFailure::timeout().api_error().code.as_str(), "whatsapp_unavailable");
    }
}
