//! What an event is: its type, its id, and how a guard's changes become events.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::countries;
use crate::core::guard::{Change, DeliveryStatus};
use crate::core::phone::{mask_phone, wa_digits};
use crate::core::time::rfc3339_millis;

/// Every event type, serialized as its dotted name (`verification.verified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum EventType {
    Requested,
    Sent,
    Delivered,
    Read,
    Failed,
    Verified,
    Expired,
    Locked,
    Revoked,
    OptedOut,
    OptedIn,
    BudgetWarning,
    /// The code went by SMS after WhatsApp.
    Fallback,
    /// Code requests refused by a protection (a limit, the country list, the captcha),
    /// counted by reason: one event stands for `data.count` of them.
    Refused,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        Self::Requested,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Verified,
        Self::Expired,
        Self::Locked,
        Self::Revoked,
        Self::OptedOut,
        Self::OptedIn,
        Self::BudgetWarning,
        Self::Fallback,
        Self::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "verification.requested",
            Self::Sent => "verification.sent",
            Self::Delivered => "verification.delivered",
            Self::Read => "verification.read",
            Self::Failed => "verification.failed",
            Self::Verified => "verification.verified",
            Self::Expired => "verification.expired",
            Self::Locked => "verification.locked",
            Self::Revoked => "verification.revoked",
            Self::OptedOut => "number.opted_out",
            Self::OptedIn => "number.opted_in",
            Self::BudgetWarning => "budget.warning",
            Self::Fallback => "verification.fallback",
            Self::Refused => "verification.refused",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type {:?}", self.0)
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| UnknownEventType(s.to_string()))
    }
}

impl TryFrom<String> for EventType {
    type Error = UnknownEventType;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<EventType> for &'static str {
    fn from(kind: EventType) -> Self {
        kind.as_str()
    }
}

/// `{"id":"evt_…","type","at","request_id"?,"country_code"?,"data":{…}}`: never a
/// code, a secret or a full number (the masked form and the calling code only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// The calling code of an E.164 number (`+447700900123` → `44`), from the ITU
/// table (shared and satellite ranges included, as in the masked number). Fewer
/// than four digits, or anything but digits, is no phone number at all.
pub fn calling_code(e164: &str) -> Option<String> {
    let digits = wa_digits(e164);
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    countries::calling_code(digits).map(str::to_string)
}

/// The type and request of one change, its data added to `data`; `None` for a
/// change that is no event of its own.
fn describe<'a>(change: &'a Change, data: &mut Map<String, Value>) -> Option<(EventType, Option<&'a String>)> {
    Some(match change {
        Change::Requested { request_id, mode } => {
            data.insert("mode".into(), json!(mode));
            (EventType::Requested, Some(request_id))
        }
        Change::Sent { request_id, channel, .. } => {
            data.insert("channel".into(), channel.as_str().into());
            (EventType::Sent, Some(request_id))
        }
        Change::Fallback { request_id, from, to, reason } => {
            data.insert("from".into(), from.as_str().into());
            data.insert("to".into(), to.as_str().into());
            data.insert("reason".into(), reason.as_str().into());
            (EventType::Fallback, Some(request_id))
        }
        Change::Delivery { request_id, status, error_code, pricing_category, channel } => {
            data.insert("channel".into(), channel.as_str().into());
            let kind = match status {
                // The accept already said `sent`; Meta's own `sent` adds only pricing.
                DeliveryStatus::Accepted => return None,
                DeliveryStatus::Sent => EventType::Sent,
                DeliveryStatus::Delivered => EventType::Delivered,
                DeliveryStatus::Read => EventType::Read,
                DeliveryStatus::Failed => EventType::Failed,
            };
            if *status == DeliveryStatus::Failed {
                data.insert("error_code".into(), json!(error_code));
            }
            if let Some(category) = pricing_category {
                data.insert("pricing_category".into(), category.clone().into());
            }
            (kind, Some(request_id))
        }
        Change::Verified { request_id, via, seconds } => {
            data.insert("verified_via".into(), via.as_str().into());
            data.insert("seconds_to_verify".into(), (*seconds).into());
            (EventType::Verified, Some(request_id))
        }
        Change::Locked { request_id } => (EventType::Locked, Some(request_id)),
        Change::Expired { request_id } => (EventType::Expired, Some(request_id)),
        // The token's `jti` is its request id.
        Change::Revoked { request_id } => {
            data.insert("jti".into(), request_id.clone().into());
            (EventType::Revoked, Some(request_id))
        }
        Change::OptedOut => (EventType::OptedOut, None),
        Change::OptedIn => (EventType::OptedIn, None),
        Change::BudgetWarning { sends, max } => {
            data.insert("sent_today".into(), (*sends).into());
            data.insert("limit".into(), (*max).into());
            (EventType::BudgetWarning, None)
        }
    })
}

/// The events one batch of changes to `number`'s guard produces, at `now_ms`;
/// `new_id` gives each its `evt_…` id. `number` is empty for objects that are not
/// a phone number's (the day's send budget).
pub fn events_from_changes(
    number: &str,
    changes: &[Change],
    now_ms: u64,
    mut new_id: impl FnMut() -> String,
) -> Vec<Event> {
    let country_code = calling_code(number);
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    changes
        .iter()
        .filter_map(|change| {
            let mut data = Map::new();
            if let Some(masked) = &masked {
                data.insert("phone".into(), masked.clone().into());
            }
            let (kind, request_id) = describe(change, &mut data)?;
            // The day's budget belongs to no number, and so to no country.
            let country_code = if kind == EventType::BudgetWarning { None } else { country_code.clone() };
            Some(Event {
                id: new_id(),
                kind,
                at: rfc3339_millis(now_ms),
                request_id: request_id.cloned(),
                country_code,
                data,
            })
        })
        .collect()
}

/// Marks the events of test numbers' requests (`TEST_NUMBERS`) with `"test": true`
/// in `data`: callbacks see it, and the stats count them apart (`analytics`).
pub fn mark_test_events(events: &mut [Event], test_ids: &[String]) {
    for event in events.iter_mut() {
        if event.request_id.as_ref().is_some_and(|id| test_ids.contains(id)) {
            event.data.insert("test".into(), true.into());
        }
    }
}

/// Whether an event is a test number's.
pub fn is_test(event: &Event) -> bool {
    event.data.get("test").and_then(Value::as_bool) == Some(true)
}

/// `evt_` and 22 url-safe characters from 16 random bytes.
pub fn event_id(random: [u8; 16]) -> String {
    format!("evt_{}", URL_SAFE_NO_PAD.encode(random))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::core::events::tests::{ids, NOW};
    use crate::core::guard::{Mode, VerifiedVia};

    #[test]
    fn calling_codes_by_zone() {
        assert_eq!(calling_code("+14155550123").as_deref(), Some("1"));
        assert_eq!(calling_code("+79161234567").as_deref(), Some("7"));
        assert_eq!(calling_code("+447700900123").as_deref(), Some("44"));
        assert_eq!(calling_code("+4915123456789").as_deref(), Some("49"));
        assert_eq!(calling_code("+5511987654321").as_deref(), Some("55"));
        assert_eq!(calling_code("+353861234567").as_deref(), Some("353"));
        assert_eq!(calling_code("+2348031234567").as_deref(), Some("234"));
        assert_eq!(calling_code("+9715012345678").as_deref(), Some("971"));
        assert_eq!(calling_code("+12"), None);
        assert_eq!(calling_code("+0123456789"), None);
    }

    #[test]
    fn event_types_keep_their_names() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "verification.requested",
                "verification.sent",
                "verification.delivered",
                "verification.read",
                "verification.failed",
                "verification.verified",
                "verification.expired",
                "verification.locked",
                "verification.revoked",
                "number.opted_out",
                "number.opted_in",
                "budget.warning",
                "verification.fallback",
                "verification.refused"
            ]
        );
        for kind in EventType::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
        }
        assert!(serde_json::from_str::<EventType>("\"verification.bogus\"").is_err());
    }

    #[test]
    fn changes_become_events_without_the_full_number() {
        let changes = vec![
            Change::Requested { request_id: "otp_a".into(), mode: Mode::Outbound },
            Change::Sent {
                request_id: "otp_a".into(),
                message_id: Some("wamid.1".into()),
                channel: crate::core::guard::Leg::WhatsApp,
            },
            Change::Delivery {
                request_id: "otp_a".into(),
                status: DeliveryStatus::Delivered,
                error_code: None,
                pricing_category: Some("authentication".into()),
                channel: crate::core::guard::Leg::WhatsApp,
            },
            Change::Delivery {
                request_id: "otp_a".into(),
                status: DeliveryStatus::Failed,
                error_code: Some(131026),
                pricing_category: None,
                channel: crate::core::guard::Leg::WhatsApp,
            },
            Change::Delivery {
                request_id: "otp_a".into(),
                status: DeliveryStatus::Accepted,
                error_code: None,
                pricing_category: None,
                channel: crate::core::guard::Leg::WhatsApp,
            },
            Change::Verified { request_id: "otp_a".into(), via: VerifiedVia::Reply, seconds: 42 },
            Change::Revoked { request_id: "otp_a".into() },
            Change::OptedOut,
        ];
        let events = events_from_changes("+447700900123", &changes, NOW, ids());
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "verification.requested",
                "verification.sent",
                "verification.delivered",
                "verification.failed",
                "verification.verified",
                "verification.revoked",
                "number.opted_out"
            ]
        );
        let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "every event has its own id");
        for event in &events {
            assert!(event.id.starts_with("evt_") && event.id.len() == 26, "{}", event.id);
            assert_eq!(event.at, "2025-11-26T10:00:00.000Z");
            assert_eq!(event.country_code.as_deref(), Some("44"));
            let text = serde_json::to_string(event).unwrap();
            assert!(!text.contains("447700900123"), "full number in {text}");
            let masked = mask_phone("+447700900123");
            assert!(masked.contains('*') && text.contains(&masked), "masked number missing in {text}");
        }
        assert_eq!(events[0].data["mode"], "outbound");
        assert_eq!(events[2].data["pricing_category"], "authentication");
        assert_eq!(events[3].data["error_code"], 131026);
        assert_eq!(events[4].data["verified_via"], "reply");
        assert_eq!(events[4].data["seconds_to_verify"], 42);
        assert_eq!(events[5].data["jti"], "otp_a");
        assert_eq!(events[6].request_id, None);
        let json: Value = serde_json::to_value(&events[4]).unwrap();
        assert_eq!(json["type"], "verification.verified");
        assert_eq!(json["request_id"], "otp_a");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, events[4]);
    }

    #[test]
    fn budget_warning_has_no_number() {
        let events = events_from_changes("", &[Change::BudgetWarning { sends: 80, max: 100 }], NOW, ids());
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(json["type"], "budget.warning");
        assert_eq!(json["data"], json!({ "sent_today": 80, "limit": 100 }));
        assert!(json.get("request_id").is_none() && json.get("country_code").is_none());
    }
}
