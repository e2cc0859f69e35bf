//! Which events of one webhook delivery must be applied one after another.
//!
//! A delivery can hold hundreds of messages (Meta batches them, and an attacker can
//! sign nothing, but a busy business gets bursts). Applied one by one, each waiting for
//! its guard round trips, 500 code messages took 16 s: close to Meta's timeout, after
//! which the whole delivery comes again. Events for different people touch different
//! guards and may run side by side; events from one sender (a STOP then a START, two
//! tries at a code) or about one of our messages (sent, then delivered) keep their order.

use std::collections::BTreeMap;

use super::webhook::WebhookEvent;

/// How many lanes run at once: the Workers runtime keeps at most six connections
/// open per invocation and queues the rest, so more would only wait in line.
pub const CONCURRENT_LANES: usize = 6;

/// The delivery's events as lanes of indices: each lane in delivery order, the lanes
/// in the order of their first event. Events that touch no guard get a lane each.
pub fn lanes(events: &[WebhookEvent]) -> Vec<Vec<usize>> {
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let mut lane_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        let key = match event {
            WebhookEvent::Message { sender, replying_to, .. } => match (&sender.phone, replying_to) {
                (Some(phone), _) => Some(format!("from:{phone}")),
                // No number: it can only count through the message it quotes.
                (None, Some(quoted)) => Some(format!("about:{quoted}")),
                (None, None) => None,
            },
            WebhookEvent::Status { message_id, .. } => Some(format!("about:{message_id}")),
            WebhookEvent::SystemError { .. }
            | WebhookEvent::System { .. }
            | WebhookEvent::OtherNumber { .. }
            | WebhookEvent::Skipped { .. } => None,
        };
        match key {
            Some(key) => match lane_of.get(&key) {
                Some(&lane) => lanes[lane].push(i),
                None => {
                    lane_of.insert(key, lanes.len());
                    lanes.push(vec![i]);
                }
            },
            None => lanes.push(vec![i]),
        }
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::guard::{DeliveryStatus, MessageRef};
    use crate::core::webhook::{Content, Sender};

    fn text(from: Option<&str>, quoting: Option<&str>) -> WebhookEvent {
        WebhookEvent::Message {
            sender: Sender { phone: from.map(str::to_string), wa_id: from.map(str::to_string), user_id: None },
            message: MessageRef { id: "wamid.x".into(), sent_ms: 1 },
            replying_to: quoting.map(str::to_string),
            content: Content::Text("123456".into()),
        }
    }

    fn status(id: &str) -> WebhookEvent {
        WebhookEvent::Status {
            message_id: id.into(),
            status: DeliveryStatus::Read,
            request_id: None,
            error_code: None,
            pricing_category: None,
        }
    }

    #[test]
    fn one_sender_and_one_message_keep_their_order_others_run_apart() {
        let events = vec![
            text(Some("+14155550100"), None),
            status("wamid.a"),
            text(Some("+14155550101"), None),
            text(Some("+14155550100"), Some("wamid.a")),
            status("wamid.a"),
            text(None, Some("wamid.b")),
            WebhookEvent::Skipped { what: "image" },
            text(None, None),
            text(None, Some("wamid.b")),
        ];
        assert_eq!(lanes(&events), vec![vec![0, 3], vec![1, 4], vec![2], vec![5, 8], vec![6], vec![7]]);
    }

    #[test]
    fn every_event_is_in_exactly_one_lane() {
        let events: Vec<WebhookEvent> = (0..500)
            .map(|i| {
                if i % 3 == 0 {
                    status(&format!("wamid.{}", i % 7))
                } else {
                    text(Some(&format!("+1{}", i % 11)), None)
                }
            })
            .collect();
        let mut seen: Vec<usize> = lanes(&events).into_iter().flatten().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        assert!(lanes(&[]).is_empty());
    }
}
