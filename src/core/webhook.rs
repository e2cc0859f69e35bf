//! Meta's webhook: the handshake, the signature, and a delivery
//! turned into plain events.

use hmac::Mac;
use serde::Deserialize;

use super::crypto::hmac_sha256;
use super::guard::protocol::Word;
use super::guard::{DeliveryStatus, MessageRef};
use super::phone::{canonical_phone, from_wa_id};

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

/// Who sent a message: a phone number when Meta gives one, and the business-scoped
/// user id (`user_id`) Meta adds since 2026. A user with a username may have no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The canonical form (`canonical_phone`): the guard every spelling shares.
    pub phone: Option<String>,
    /// The number as WhatsApp wrote it (`from`, E.164): where a chat answer goes.
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
}

/// What a message says, as far as verification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Typed text, or a quick-reply button's text.
    Text(String),
    /// Media, reactions, locations...: nothing to verify.
    Other(String),
}

/// What one delivery asks of us, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    Message {
        sender: Sender,
        message: MessageRef,
        /// The id of our message this one replies to (`context.id`).
        replying_to: Option<String>,
        content: Content,
    },
    /// A delivery status of one of our messages, matched by its id and the request id
    /// we attached (`biz_opaque_callback_data`), never by the recipient's number.
    Status {
        message_id: String,
        status: DeliveryStatus,
        request_id: Option<String>,
        error_code: Option<i64>,
        pricing_category: Option<String>,
    },
    /// Meta's system-level `errors[]` (logged).
    SystemError { code: i64, title: String },
    /// A system message in a chat (`type: "system"`: `user_changed_number`,
    /// `user_changed_user_id`, …): logged, never acted on. Numbers are canonical.
    System { kind: String, phone: Option<String>, new_phone: Option<String> },
    /// A change for another of the business's numbers (same app, same webhook): skipped.
    OtherNumber { phone_number_id: String },
    /// An item we cannot use (logged, never fatal to the rest of the delivery).
    Skipped { what: &'static str },
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

// Items are kept as raw JSON first, so one malformed item never fails the delivery.
#[derive(Deserialize, Default)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<serde_json::Value>,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    from: Option<String>,
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    button: Option<ButtonBody>,
    #[serde(default)]
    system: Option<SystemBody>,
}

/// `{"body","type","wa_id"|"new_wa_id"?,"user_id"?}`: Meta has named the new number
/// both ways over the API's versions.
#[derive(Deserialize)]
struct SystemBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    new_wa_id: Option<String>,
}

#[derive(Deserialize)]
struct Context {
    #[serde(default)]
    id: Option<String>,
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
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    errors: Vec<MetaError>,
    #[serde(default)]
    pricing: Option<Pricing>,
}

#[derive(Deserialize)]
struct Pricing {
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
struct MetaError {
    code: i64,
    #[serde(default)]
    title: String,
}

/// Meta's `timestamp` (Unix seconds as a string) in milliseconds; a message without
/// one is taken as sent when it arrived.
fn sent_ms(timestamp: Option<&str>, received_ms: u64) -> u64 {
    timestamp.and_then(|t| t.trim().parse::<u64>().ok()).map_or(received_ms, |s| s.saturating_mul(1000))
}

fn message_event(raw: serde_json::Value, contacts: &[Contact], received_ms: u64) -> WebhookEvent {
    let Ok(m) = serde_json::from_value::<Message>(raw) else {
        return WebhookEvent::Skipped { what: "message without an id" };
    };
    let wa_id = m.from.as_deref().and_then(from_wa_id);
    if m.from.is_some() && wa_id.is_none() {
        return WebhookEvent::Skipped { what: "message from a number that is not E.164" };
    }
    let phone = wa_id.as_deref().map(canonical_phone);
    if m.kind == "system" {
        let system = m.system.unwrap_or(SystemBody { kind: String::new(), wa_id: None, new_wa_id: None });
        let new_phone = system.new_wa_id.or(system.wa_id).as_deref().and_then(from_wa_id).map(|p| canonical_phone(&p));
        let kind = if system.kind.is_empty() { "unknown".into() } else { system.kind.chars().take(40).collect() };
        return WebhookEvent::System { kind, phone, new_phone };
    }
    let contact = match &m.from {
        Some(from) => contacts.iter().find(|c| c.wa_id.as_deref() == Some(from.as_str())),
        None if contacts.len() == 1 => contacts.first(),
        None => None,
    };
    let user_id = contact.and_then(|c| c.user_id.clone()).filter(|u| u.len() <= 160);
    let content = match (m.kind.as_str(), m.text, m.button) {
        ("text", Some(t), _) => Content::Text(t.body),
        ("button", _, Some(b)) => Content::Text(b.text),
        (kind, _, _) => Content::Other(kind.chars().take(40).collect()),
    };
    WebhookEvent::Message {
        sender: Sender { phone, wa_id, user_id },
        message: MessageRef { sent_ms: sent_ms(m.timestamp.as_deref(), received_ms), id: m.id },
        replying_to: m.context.and_then(|c| c.id),
        content,
    }
}

fn status_event(raw: serde_json::Value) -> WebhookEvent {
    let Ok(s) = serde_json::from_value::<Status>(raw) else {
        return WebhookEvent::Skipped { what: "status without an id" };
    };
    let Some(status) = DeliveryStatus::parse(&s.status) else {
        return WebhookEvent::Skipped { what: "status we do not track" };
    };
    WebhookEvent::Status {
        message_id: s.id,
        status,
        request_id: s.biz_opaque_callback_data.filter(|d| super::code::is_request_id(d)),
        error_code: s.errors.first().map(|e| e.code),
        pricing_category: s.pricing.and_then(|p| p.category).filter(|c| c.len() <= 64),
    }
}

/// A signed body that is not a webhook delivery (not UTF-8, not JSON, not the shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotADelivery(pub String);

impl std::fmt::Display for NotADelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every event in a delivery (all entries, changes, messages, statuses). `Err` only
/// when the body is not a delivery at all; an item we cannot use becomes `Skipped`.
/// Changes addressed to another phone number id than ours become `OtherNumber`.
pub fn parse_delivery(
    body: &[u8],
    our_phone_number_id: &str,
    received_ms: u64,
) -> Result<Vec<WebhookEvent>, NotADelivery> {
    // `from_str`, like every other reader: one parser in the wasm, not one per input type.
    let text = std::str::from_utf8(body).map_err(|e| NotADelivery(e.to_string()))?;
    let delivery: Delivery = serde_json::from_str(text).map_err(|e| NotADelivery(e.to_string()))?;
    let mut events = Vec::new();
    for change in delivery.entry.into_iter().flat_map(|e| e.changes) {
        let value = change.value;
        let number_id = value.metadata.and_then(|m| m.phone_number_id);
        if let Some(other) = number_id.filter(|id| id != our_phone_number_id) {
            events.push(WebhookEvent::OtherNumber { phone_number_id: other });
            continue;
        }
        let contacts: Vec<Contact> =
            value.contacts.into_iter().filter_map(|c| serde_json::from_value(c).ok()).collect();
        events.extend(value.messages.into_iter().map(|m| message_event(m, &contacts, received_ms)));
        events.extend(value.statuses.into_iter().map(status_event));
        for e in value.errors {
            events.push(match serde_json::from_value::<MetaError>(e) {
                Ok(e) => WebhookEvent::SystemError { code: e.code, title: e.title },
                Err(_) => WebhookEvent::Skipped { what: "system error without a code" },
            });
        }
    }
    Ok(events)
}

/// `STOP`/`UNSUBSCRIBE`, `START`, and `NOT ME`, ignoring case and spacing.
pub fn keyword(text: &str) -> Option<Word> {
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '!' | '.'))
        .collect::<String>()
        .to_ascii_uppercase();
    match squeezed.as_str() {
        "STOP" | "UNSUBSCRIBE" => Some(Word::Stop),
        "START" => Some(Word::Start),
        "NOTME" => Some(Word::NotMe),
        _ => None,
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

    const NO_PHONE: &str = include_str!("../../tests/fixtures/incoming-text-username-no-phone.json");
    const WITH_CONTEXT: &str = include_str!("../../tests/fixtures/incoming-reply-with-context.json");
    const PRICING: &str = include_str!("../../tests/fixtures/status-delivered-pricing.json");
    const NOW: u64 = 1_800_000_000_000;

    fn parse(body: &str) -> Vec<WebhookEvent> {
        parse_delivery(body.as_bytes(), SAMPLE_NUMBER_ID, NOW).unwrap()
    }

    #[test]
    fn samples_parse_into_events() {
        assert_eq!(
            parse(INCOMING),
            vec![WebhookEvent::Message {
                sender: Sender {
                    phone: Some("+16505551234".into()),
                    wa_id: Some("+16505551234".into()),
                    user_id: None
                },
                message: MessageRef {
                    id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into(),
                    sent_ms: 1_749_416_383_000
                },
                replying_to: None,
                content: Content::Text("Does it come in another color?".into()),
            }]
        );
        assert_eq!(
            parse(FAILED),
            vec![WebhookEvent::Status {
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
                status: DeliveryStatus::Failed,
                request_id: Some("otp_AAAAAAAAAAAAAAAAAAAAAA".into()),
                error_code: Some(131026),
                pricing_category: None,
            }]
        );
        assert_eq!(parse(SYSTEM), vec![WebhookEvent::SystemError { code: 130429, title: "Rate limit hit".into() }]);
    }

    #[test]
    fn messages_of_2026_without_a_phone_number() {
        let events = parse(NO_PHONE);
        let WebhookEvent::Message { sender, replying_to, content, message } = &events[0] else { panic!("{events:?}") };
        assert_eq!(sender, &Sender { phone: None, wa_id: None, user_id: Some("US.13491208655302741918".into()) });
        assert_eq!((replying_to, content), (&None, &Content::Text("my code is 482 913".into())));
        assert_eq!(message.sent_ms, 1_764_150_000_000);
        let events = parse(WITH_CONTEXT);
        let WebhookEvent::Message { sender, replying_to, .. } = &events[0] else { panic!("{events:?}") };
        assert_eq!(sender.phone.as_deref(), Some("+16505551234"));
        assert_eq!(sender.user_id.as_deref(), Some("US.13491208655302741918"));
        assert_eq!(replying_to.as_deref(), Some("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"));
        assert!(matches!(
            &parse(PRICING)[0],
            WebhookEvent::Status { pricing_category: Some(c), status: DeliveryStatus::Delivered, .. } if c == "authentication"
        ));
    }

    #[test]
    fn every_item_of_a_crowded_delivery_counts() {
        let body = r#"{"object":"whatsapp_business_account","entry":[
            {"id":"1","changes":[{"field":"messages","value":{"messages":[
                {"from":"14155550001","id":"m1","type":"text","text":{"body":"111111"}},
                {"from":"14155550002","id":"m2","type":"image","image":{"id":"x"}},
                {"id":"m5","type":"text","text":{"body":"STOP"}},
                {"type":"text","text":{"body":"no id"}},
                {"from":42,"id":"m6"}]}},
              {"field":"messages","value":{"statuses":[
                {"id":"w1","status":"read","recipient_id":"14155550003"},
                {"id":"w2","status":"deleted","recipient_id":"14155550003"},
                {"id":"w3","status":"sent"},
                {"status":"sent"}]}}]},
            {"id":"2","changes":[{"field":"messages","value":{"messages":[
                {"from":"14155550004","id":"m3","type":"button","button":{"text":"STOP","payload":"p"}},
                {"from":"0bad","id":"m4","type":"text","text":{"body":"x"}}]}}]}]}"#;
        let events = parse(body);
        assert_eq!(events.len(), 11);
        assert!(matches!(&events[1], WebhookEvent::Message { content: Content::Other(kind), .. } if kind == "image"));
        assert!(matches!(&events[2], WebhookEvent::Message { sender: Sender { phone: None, .. }, .. }));
        assert!(matches!(events[3], WebhookEvent::Skipped { .. }));
        assert!(matches!(events[4], WebhookEvent::Skipped { .. }));
        assert!(matches!(&events[5], WebhookEvent::Status { status: DeliveryStatus::Read, request_id: None, .. }));
        assert!(matches!(events[6], WebhookEvent::Skipped { .. }));
        assert!(matches!(&events[7], WebhookEvent::Status { message_id, .. } if message_id == "w3"));
        assert!(matches!(events[8], WebhookEvent::Skipped { .. }));
        assert!(matches!(&events[9], WebhookEvent::Message { content: Content::Text(t), .. } if t == "STOP"));
        assert!(matches!(events[10], WebhookEvent::Skipped { .. }));
    }

    #[test]
    fn senders_are_canonical_and_keep_whatsapps_spelling() {
        let body = r#"{"entry":[{"changes":[{"value":{"contacts":[{"wa_id":"551187654321","user_id":"BR.1"}],"messages":[
            {"from":"551187654321","id":"b1","type":"text","text":{"body":"123456"}},
            {"from":"5215512345678","id":"m1","type":"text","text":{"body":"STOP"}},
            {"from":"5491123456789","id":"a1","type":"text","text":{"body":"NOT ME"}},
            {"from":"551132104321","id":"l1","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        let senders: Vec<(Option<String>, Option<String>)> = parse(body)
            .into_iter()
            .map(|e| match e {
                WebhookEvent::Message { sender, .. } => (sender.phone, sender.wa_id),
                other => panic!("{other:?}"),
            })
            .collect();
        let pair = |canonical: &str, wa_id: &str| (Some(canonical.to_string()), Some(wa_id.to_string()));
        assert_eq!(
            senders,
            vec![
                pair("+5511987654321", "+551187654321"),
                pair("+525512345678", "+5215512345678"),
                pair("+541123456789", "+5491123456789"),
                pair("+551132104321", "+551132104321"),
            ]
        );
    }

    #[test]
    fn system_messages_and_types_we_do_not_use_are_events_not_failures() {
        let body = r#"{"entry":[{"changes":[{"value":{"messages":[
            {"from":"5215512345678","id":"s1","timestamp":"1800000000","type":"system","system":{"body":"User A changed from 5215512345678 to 5215587654321","new_wa_id":"5215587654321","type":"user_changed_number"}},
            {"from":"16505551234","id":"s2","type":"system","system":{"body":"User A changed their user id","type":"user_changed_user_id","user_id":"US.1"}},
            {"from":"16505551234","id":"s3","type":"system","system":{"type":"customer_changed_number","wa_id":"16505559999"}},
            {"from":"16505551234","id":"s4","type":"system"},
            {"from":"16505551234","id":"i1","type":"image","image":{"id":"x"}},
            {"from":"16505551234","id":"r1","type":"reaction","reaction":{"message_id":"w","emoji":"👍"}},
            {"from":"16505551234","id":"u1","type":"unsupported","errors":[{"code":131051}]}]}}]}]}"#;
        let events = parse(body);
        assert_eq!(
            events[0],
            WebhookEvent::System {
                kind: "user_changed_number".into(),
                phone: Some("+525512345678".into()),
                new_phone: Some("+525587654321".into())
            }
        );
        assert!(
            matches!(&events[1], WebhookEvent::System { kind, new_phone: None, .. } if kind == "user_changed_user_id")
        );
        assert!(
            matches!(&events[2], WebhookEvent::System { new_phone: Some(p), .. } if p == "+16505559999"),
            "{:?}",
            events[2]
        );
        assert!(matches!(&events[3], WebhookEvent::System { kind, .. } if kind == "unknown"));
        for (event, kind) in events[4..].iter().zip(["image", "reaction", "unsupported"]) {
            assert!(
                matches!(event, WebhookEvent::Message { content: Content::Other(k), .. } if k == kind),
                "{event:?}"
            );
        }
    }

    #[test]
    fn changes_for_other_numbers_are_skipped() {
        assert_eq!(
            parse_delivery(INCOMING.as_bytes(), "999", NOW).unwrap(),
            vec![WebhookEvent::OtherNumber { phone_number_id: SAMPLE_NUMBER_ID.into() }]
        );
    }

    #[test]
    fn not_a_delivery() {
        assert!(parse_delivery(b"{", SAMPLE_NUMBER_ID, NOW).is_err());
        assert!(parse_delivery(b"[1,2]", SAMPLE_NUMBER_ID, NOW).is_err());
        assert_eq!(parse(r"{}"), vec![]);
    }

    #[test]
    fn keywords() {
        assert_eq!(keyword("STOP"), Some(Word::Stop));
        assert_eq!(keyword("  s t o p \n"), Some(Word::Stop));
        assert_eq!(keyword("Unsubscribe"), Some(Word::Stop));
        assert_eq!(keyword("start"), Some(Word::Start));
        assert_eq!(keyword("NOT ME"), Some(Word::NotMe));
        assert_eq!(keyword("not me!"), Some(Word::NotMe));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("123456"), None);
    }
}
