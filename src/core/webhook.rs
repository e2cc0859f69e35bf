//! Meta's webhook (DESIGN §4.7, §5): the handshake, the signature, and a delivery
//! turned into plain events.

use hmac::Mac;
use serde::Deserialize;

use super::crypto::hmac_sha256;
use super::guard::{DeliveryStatus, GuardReply};
use super::phone::from_wa_id;

/// Constant-time equality for short secrets such as the verify token.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /webhook`: the challenge to echo back, or `None` (403).
pub fn handshake<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_token: &str,
) -> Option<&'a str> {
    let token_ok = token.is_some_and(|t| same_bytes(t.as_bytes(), verify_token.as_bytes()));
    (mode == Some("subscribe") && token_ok).then_some(challenge?).filter(|c| c.len() <= 1024)
}

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, app secret)>`, checked
/// in constant time over the exact bytes received.
pub fn verify_signature(app_secrets: &[&str], header: Option<&str>, body: &[u8]) -> bool {
    let Some(expected) = header.and_then(|h| h.trim().strip_prefix("sha256=")).and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    // The current secret and, during a rotation, the previous one; both always checked.
    app_secrets.iter().fold(false, |valid, secret| {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(body);
        mac.verify_slice(&expected).is_ok() | valid
    })
}

/// What one delivery asks of us, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// A message with text from the user (typed, or a quick-reply button).
    Text { from: String, message_id: String, body: String },
    /// Media, reactions, locations...: nothing to verify, just recorded.
    Other { from: String, message_id: String, kind: String },
    Status {
        message_id: String,
        recipient: String,
        status: DeliveryStatus,
        request_id: Option<String>,
        error_code: Option<i64>,
    },
    /// Meta's system-level `errors[]` (logged).
    SystemError { code: i64, title: String },
    /// A change for another of the business's numbers (same app, same webhook): skipped.
    OtherNumber { phone_number_id: String },
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    value: ChangeValue,
}

#[derive(Deserialize, Default)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
    #[serde(default)]
    errors: Vec<MetaError>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    from: String,
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    button: Option<ButtonBody>,
}

#[derive(Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Deserialize)]
struct ButtonBody {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    recipient_id: String,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    errors: Vec<MetaError>,
}

#[derive(Deserialize)]
struct MetaError {
    code: i64,
    #[serde(default)]
    title: String,
}

/// Every event in a delivery (all entries, changes, messages, statuses). `Err`
/// when the body is not a delivery at all. Changes addressed to another phone
/// number id than ours become `OtherNumber`. Items we cannot use (a status we do
/// not track, a number that is not E.164) are skipped, not fatal.
pub fn parse_delivery(body: &[u8], our_phone_number_id: &str) -> Result<Vec<WebhookEvent>, String> {
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    for change in delivery.entry.into_iter().flat_map(|e| e.changes) {
        let value = change.value;
        let number_id = value.metadata.and_then(|m| m.phone_number_id);
        if let Some(other) = number_id.filter(|id| id != our_phone_number_id) {
            events.push(WebhookEvent::OtherNumber { phone_number_id: other });
            continue;
        }
        for m in value.messages {
            let Some(from) = from_wa_id(&m.from) else {
                continue;
            };
            let text = match (m.kind.as_str(), m.text, m.button) {
                ("text", Some(t), _) => Some(t.body),
                ("button", _, Some(b)) => Some(b.text),
                _ => None,
            };
            events.push(match text {
                Some(body) => WebhookEvent::Text { from, message_id: m.id, body },
                None => WebhookEvent::Other { from, message_id: m.id, kind: m.kind },
            });
        }
        for s in value.statuses {
            let (Some(recipient), Some(status)) = (from_wa_id(&s.recipient_id), DeliveryStatus::parse(&s.status))
            else {
                continue;
            };
            events.push(WebhookEvent::Status {
                message_id: s.id,
                recipient,
                status,
                request_id: s.biz_opaque_callback_data.filter(|d| super::code::is_request_id(d)),
                error_code: s.errors.first().map(|e| e.code),
            });
        }
        for e in value.errors {
            events.push(WebhookEvent::SystemError { code: e.code, title: e.title });
        }
    }
    Ok(events)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
}

/// `STOP`/`UNSUBSCRIBE` and `START`, ignoring case and spacing.
pub fn keyword(text: &str) -> Option<Keyword> {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    match squeezed.as_str() {
        "STOP" | "UNSUBSCRIBE" => Some(Keyword::Stop),
        "START" => Some(Keyword::Start),
        _ => None,
    }
}

/// What we say in the chat after a code arrives there (`None`: say nothing).
pub fn chat_reply(reply: &GuardReply) -> Option<String> {
    match reply {
        GuardReply::Verified { .. } => Some("\u{2705} Your number is verified. You can go back to the app.".into()),
        GuardReply::WrongCode { attempts_left: 0 } => {
            Some("That code is not correct, and no attempts are left. Please request a new code in the app.".into())
        }
        GuardReply::WrongCode { attempts_left } => Some(format!(
            "That code is not correct. {attempts_left} attempt{} left.",
            if *attempts_left == 1 { "" } else { "s" }
        )),
        GuardReply::TooManyAttempts => Some("Too many wrong codes. Please request a new code in the app.".into()),
        GuardReply::Expired => Some("That code has expired. Please request a new code in the app.".into()),
        GuardReply::AlreadyVerified => Some("This number is already verified.".into()),
        _ => None,
    }
}

pub fn keyword_reply(keyword: Keyword) -> &'static str {
    match keyword {
        Keyword::Stop => "You will no longer receive verification codes here. Reply START to receive them again.",
        Keyword::Start => "You can receive verification codes here again. Reply STOP to opt out.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCOMING: &str = include_str!("../../tests/fixtures/incoming-text.json");
    const FAILED: &str = include_str!("../../tests/fixtures/status-failed.json");
    const SYSTEM: &str = include_str!("../../tests/fixtures/system-error.json");
    const SAMPLE_NUMBER_ID: &str = "106540352242922";

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signature_test_vector() {
        let header = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(verify_signature(&["secret"], Some(header), b"test"));
        assert!(!verify_signature(&["secret"], Some(header), b"test "));
        assert!(!verify_signature(&["other"], Some(header), b"test"));
        assert!(!verify_signature(&["secret"], None, b"test"));
        assert!(!verify_signature(&["secret"], Some("sha1=0329a0"), b"test"));
        assert!(!verify_signature(&["secret"], Some("sha256=zz"), b"test"));
        assert!(!verify_signature(&["secret"], Some(&header[..40]), b"test"));
        assert!(verify_signature(&["s"], Some(&sign("s", INCOMING.as_bytes())), INCOMING.as_bytes()));
    }

    #[test]
    fn either_app_secret_is_accepted_during_a_rotation() {
        let body = INCOMING.as_bytes();
        let both = ["new-app-secret", "old-app-secret"];
        assert!(verify_signature(&both, Some(&sign("old-app-secret", body)), body));
        assert!(verify_signature(&both, Some(&sign("new-app-secret", body)), body));
        assert!(!verify_signature(&both, Some(&sign("another-secret", body)), body));
        assert!(!verify_signature(&["new-app-secret"], Some(&sign("old-app-secret", body)), body));
    }

    #[test]
    fn handshake_needs_mode_and_token() {
        assert_eq!(handshake(Some("subscribe"), Some("tok"), Some("c123"), "tok"), Some("c123"));
        assert_eq!(handshake(Some("subscribe"), Some("bad"), Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("unsubscribe"), Some("tok"), Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("subscribe"), None, Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("subscribe"), Some("tok"), None, "tok"), None);
    }

    #[test]
    fn samples_parse_into_events() {
        assert_eq!(
            parse_delivery(INCOMING.as_bytes(), SAMPLE_NUMBER_ID).unwrap(),
            vec![WebhookEvent::Text {
                from: "+16505551234".into(),
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into(),
                body: "Does it come in another color?".into()
            }]
        );
        assert_eq!(
            parse_delivery(FAILED.as_bytes(), SAMPLE_NUMBER_ID).unwrap(),
            vec![WebhookEvent::Status {
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
                recipient: "+16505551234".into(),
                status: DeliveryStatus::Failed,
                request_id: Some("otp_AAAAAAAAAAAAAAAAAAAAAA".into()),
                error_code: Some(131026),
            }]
        );
        assert_eq!(
            parse_delivery(SYSTEM.as_bytes(), SAMPLE_NUMBER_ID).unwrap(),
            vec![WebhookEvent::SystemError { code: 130429, title: "Rate limit hit".into() }]
        );
    }

    #[test]
    fn every_item_of_a_crowded_delivery_counts() {
        let body = r#"{"object":"whatsapp_business_account","entry":[
            {"id":"1","changes":[{"field":"messages","value":{"messages":[
                {"from":"14155550001","id":"m1","type":"text","text":{"body":"111111"}},
                {"from":"14155550002","id":"m2","type":"image","image":{"id":"x"}}]}},
              {"field":"messages","value":{"statuses":[
                {"id":"w1","status":"read","recipient_id":"14155550003"},
                {"id":"w2","status":"deleted","recipient_id":"14155550003"}]}}]},
            {"id":"2","changes":[{"field":"messages","value":{"messages":[
                {"from":"14155550004","id":"m3","type":"button","button":{"text":"STOP","payload":"p"}},
                {"from":"0bad","id":"m4","type":"text","text":{"body":"x"}}]}}]}]}"#;
        let events = parse_delivery(body.as_bytes(), SAMPLE_NUMBER_ID).unwrap();
        assert_eq!(events.len(), 4);
        assert!(matches!(&events[1], WebhookEvent::Other { kind, .. } if kind == "image"));
        assert!(matches!(&events[2], WebhookEvent::Status { status: DeliveryStatus::Read, request_id: None, .. }));
        assert!(matches!(&events[3], WebhookEvent::Text { body, .. } if body == "STOP"));
    }

    #[test]
    fn changes_for_other_numbers_are_skipped() {
        assert_eq!(
            parse_delivery(INCOMING.as_bytes(), "999").unwrap(),
            vec![WebhookEvent::OtherNumber { phone_number_id: SAMPLE_NUMBER_ID.into() }]
        );
    }

    #[test]
    fn not_a_delivery() {
        assert!(parse_delivery(b"{", SAMPLE_NUMBER_ID).is_err());
        assert!(parse_delivery(b"[1,2]", SAMPLE_NUMBER_ID).is_err());
        assert_eq!(parse_delivery(b"{}", SAMPLE_NUMBER_ID).unwrap(), vec![]);
    }

    #[test]
    fn chat_replies_never_carry_a_code() {
        assert!(chat_reply(&GuardReply::Verified { verified_at_ms: 0, via: crate::core::guard::VerifiedVia::Reply })
            .is_some());
        assert_eq!(
            chat_reply(&GuardReply::WrongCode { attempts_left: 1 }).unwrap(),
            "That code is not correct. 1 attempt left."
        );
        assert!(chat_reply(&GuardReply::WrongCode { attempts_left: 0 }).unwrap().contains("no attempts"));
        assert_eq!(chat_reply(&GuardReply::Duplicate), None);
        assert!(keyword_reply(Keyword::Stop).contains("START"));
    }

    #[test]
    fn keywords() {
        assert_eq!(keyword("STOP"), Some(Keyword::Stop));
        assert_eq!(keyword("  s t o p \n"), Some(Keyword::Stop));
        assert_eq!(keyword("Unsubscribe"), Some(Keyword::Stop));
        assert_eq!(keyword("start"), Some(Keyword::Start));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("123456"), None);
    }
}
