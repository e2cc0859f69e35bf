//! Sending a dead letter's event again (`POST /v1/admin/dead-letters/{message_id}/resend`):
//! once the receiver is fixed, the operator puts the event back on the events queue,
//! where it is counted once (its id) and called back with the same `webhook-id`.
//!
//! Idempotent: the first call claims the letter in `dead_letter_resends` (its primary
//! key, in the same D1 transaction that reads it back), and only the call whose claim
//! is stored queues the event; any later call answers the same, without queuing.

use serde::Deserialize;
use serde_json::{json, Value};

use super::analytics::{shape_dead_letters, DeadLetter, Param};
use crate::core::time::rfc3339;

/// Claims the letter `?1` for the call with claim `?3`, at `?2`; a second claim is ignored.
pub const CLAIM: &str = "INSERT OR IGNORE INTO dead_letter_resends (message_id, resent_at_ms, claim) \
    SELECT message_id, ?2, ?3 FROM dead_letters WHERE message_id = ?1";

/// The letter and its claim, read back in the same batch.
pub const FIND: &str = "SELECT d.message_id AS message_id, d.event_id AS event_id, d.body AS body, \
    r.resent_at_ms AS resent_at_ms, r.claim AS claim \
    FROM dead_letters d LEFT JOIN dead_letter_resends r ON r.message_id = d.message_id WHERE d.message_id = ?1";

/// Undoes this call's claim when the queue refused the event (so a retry can send it).
pub const RELEASE: &str = "DELETE FROM dead_letter_resends WHERE message_id = ?1 AND claim = ?2";

/// The resends of the listed letters.
pub const LIST_RESENDS: &str = "SELECT message_id, resent_at_ms FROM dead_letter_resends \
    WHERE message_id IN (SELECT message_id FROM dead_letters ORDER BY dead_at_ms DESC LIMIT 100)";

#[derive(Debug, Clone, Deserialize)]
pub struct LetterRow {
    pub message_id: String,
    pub event_id: Option<String>,
    pub body: String,
    pub resent_at_ms: Option<u64>,
    pub claim: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResendRow {
    pub message_id: String,
    pub resent_at_ms: u64,
}

/// Whether a path segment can be a queue message id (hex, or what another producer
/// used): bounded, URL-safe.
pub fn is_message_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn claim_params(message_id: &str, now_ms: u64, claim: &str) -> Vec<Param> {
    vec![Param::Text(message_id.to_string()), Param::Int(now_ms as i64), Param::Text(claim.to_string())]
}

/// What a resend call does, given the row read back after its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// No such dead letter.
    Unknown,
    /// This call holds the claim: queue `body`.
    Queue { body: String },
    /// Resent already (by an earlier call, or one running beside this one).
    Done,
}

pub fn decide(row: Option<&LetterRow>, claim: &str) -> Resend {
    match row {
        None => Resend::Unknown,
        Some(row) if row.claim.as_deref() == Some(claim) => Resend::Queue { body: row.body.clone() },
        Some(_) => Resend::Done,
    }
}

/// The answer, the same for every call about one letter.
pub fn answer(row: &LetterRow) -> Value {
    json!({
        "message_id": row.message_id,
        "event_id": row.event_id,
        "resent_at": row.resent_at_ms.map(rfc3339),
    })
}

/// `GET /v1/admin/dead-letters` with each letter's `message_id` (what the resend
/// route takes) and, once resent, `resent_at`.
pub fn shape_with_resends(letters: &[DeadLetter], resends: &[ResendRow]) -> Value {
    let mut body = shape_dead_letters(letters);
    if let Some(items) = body["dead_letters"].as_array_mut() {
        for (item, letter) in items.iter_mut().zip(letters) {
            item["message_id"] = letter.message_id.clone().into();
            if let Some(r) = resends.iter().find(|r| r.message_id == letter.message_id) {
                item["resent_at"] = rfc3339(r.resent_at_ms).into();
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(claim: Option<&str>) -> LetterRow {
        LetterRow {
            message_id: "m1".into(),
            event_id: Some("evt_1".into()),
            body: "{}".into(),
            resent_at_ms: claim.map(|_| 1_000),
            claim: claim.map(str::to_string),
        }
    }

    #[test]
    fn only_the_claiming_call_queues() {
        assert_eq!(decide(None, "a"), Resend::Unknown);
        assert_eq!(decide(Some(&row(Some("a"))), "a"), Resend::Queue { body: "{}".into() });
        assert_eq!(decide(Some(&row(Some("a"))), "b"), Resend::Done, "a second call queues nothing");
        assert_eq!(decide(Some(&row(None)), "b"), Resend::Done, "a claim that was not stored queues nothing");
        assert_eq!(
            answer(&row(Some("a"))),
            json!({"message_id": "m1", "event_id": "evt_1", "resent_at": rfc3339(1_000)})
        );
    }

    #[test]
    fn message_ids() {
        assert!(is_message_id("0f1e2d3c4b5a69788796a5b4c3d2e1f0"));
        assert!(!is_message_id(""));
        assert!(!is_message_id("a/b"));
        assert!(!is_message_id(&"a".repeat(129)));
    }

    #[test]
    fn listed_letters_carry_their_id_and_resend() {
        let letters = [DeadLetter::new("m1", "{}", 5_000), DeadLetter::new("m2", "{}", 4_000)];
        let body = shape_with_resends(&letters, &[ResendRow { message_id: "m2".into(), resent_at_ms: 6_000 }]);
        let items = body["dead_letters"].as_array().unwrap();
        assert_eq!((&items[0]["message_id"], items[0].get("resent_at")), (&json!("m1"), None));
        assert_eq!((&items[1]["message_id"], &items[1]["resent_at"]), (&json!("m2"), &json!(rfc3339(6_000))));
    }
}
