//! A delivery's body into [`WebhookEvent`]s: every entry, change, message and status,
//! in order; an item that cannot be used becomes `Skipped` instead of failing the rest.

use super::delivery_body::{Contact, Delivery, Message, MetaError, Status, SystemBody};
use super::event::{Content, Sender, WebhookEvent};
use crate::core::guard::{DeliveryStatus, MessageRef};
use crate::core::phone::{canonical_phone, from_wa_id};

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
        request_id: s.biz_opaque_callback_data.filter(|d| crate::core::code::is_request_id(d)),
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

#[cfg(test)]
mod tests {
    use super::*;

    const INCOMING: &str = include_str!("../../../tests/fixtures/incoming-text.json");
    const FAILED: &str = include_str!("../../../tests/fixtures/status-failed.json");
    const SYSTEM: &str = include_str!("../../../tests/fixtures/system-error.json");
    const SAMPLE_NUMBER_ID: &str = "106540352242922";
    const NO_PHONE: &str = include_str!("../../../tests/fixtures/incoming-text-username-no-phone.json");
    const WITH_CONTEXT: &str = include_str!("../../../tests/fixtures/incoming-reply-with-context.json");
    const PRICING: &str = include_str!("../../../tests/fixtures/status-delivered-pricing.json");
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
}
