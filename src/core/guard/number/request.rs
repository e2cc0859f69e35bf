//! One request as a number's object stores it, and the facts derived from it.

use serde::{Deserialize, Serialize};

use super::{RequestStatus, CLOCK_SLACK_MS};
use crate::core::guard::leg::{FallbackArm, SmsLeg};
use crate::core::guard::{DeliveryStatus, Leg, MessageRef, Mode, VerifiedVia};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_category: Option<String>,
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", try_from = "OutcomeFields")]
pub enum Outcome {
    Live,
    Verified { at_ms: u64, via: VerifiedVia },
    Superseded,
    SendFailed,
    Expired,
    Revoked { at_ms: u64, via: VerifiedVia },
}

/// `Outcome` as it is stored, read as one flat struct: the same JSON as the tagged enum,
/// without serde's buffering of tagged enums (see `GuardObject`'s reader for why).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeKind {
    Live,
    Verified,
    Superseded,
    SendFailed,
    Expired,
    Revoked,
}

#[derive(Deserialize)]
struct OutcomeFields {
    state: OutcomeKind,
    at_ms: Option<u64>,
    via: Option<VerifiedVia>,
}

impl TryFrom<OutcomeFields> for Outcome {
    type Error = &'static str;

    fn try_from(f: OutcomeFields) -> Result<Self, Self::Error> {
        let stamped = || f.at_ms.zip(f.via).ok_or("a verified or revoked outcome needs at_ms and via");
        Ok(match f.state {
            OutcomeKind::Live => Outcome::Live,
            OutcomeKind::Superseded => Outcome::Superseded,
            OutcomeKind::SendFailed => Outcome::SendFailed,
            OutcomeKind::Expired => Outcome::Expired,
            OutcomeKind::Verified => stamped().map(|(at_ms, via)| Outcome::Verified { at_ms, via })?,
            OutcomeKind::Revoked => stamped().map(|(at_ms, via)| Outcome::Revoked { at_ms, via })?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    pub request_id: String,
    pub mode: Mode,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// Wrong codes by `request_id` and by WhatsApp.
    pub attempts_used: u32,
    /// Wrong codes by phone number: a separate budget.
    #[serde(default)]
    pub phone_attempts_used: u32,
    pub max_attempts: u32,
    pub outcome: Outcome,
    #[serde(default)]
    pub delivery: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Ids of the WhatsApp messages that counted for this request (dedupe of Meta's
    /// retries: at most one per attempt, so bounded by the attempt budget).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counted_messages: Vec<String>,
    /// The `wa_id` Meta answered the send with: WhatsApp's spelling of the number,
    /// which may differ from the one typed (see `phone::spelling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// A test number's request (`TEST_NUMBERS`): nothing is ever sent for it, by any
    /// channel; its code is the fixed one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// The SMS leg: at most one per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsLeg>,
    /// The sealed code, only while a fallback to SMS is still possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackArm>,
}

impl RequestState {
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts_used)
    }

    pub(super) fn locked(&self) -> bool {
        self.attempts_used >= self.max_attempts
    }

    /// Outbound codes count from the moment the Cloud API (or the SMS provider) took
    /// the message.
    pub(super) fn accepted(&self) -> bool {
        self.mode == Mode::Inbound || self.delivery.is_some() || self.sms.is_some()
    }

    /// The channel of the latest leg, and its status: the SMS once there is one.
    pub fn latest_leg(&self) -> Option<(Leg, DeliveryStatus)> {
        match (&self.sms, &self.delivery) {
            (Some(sms), _) => Some((Leg::Sms, sms.status)),
            (None, Some(delivery)) => Some((Leg::WhatsApp, delivery.status)),
            (None, None) => None,
        }
    }

    /// The contract's `status`, strongest fact first.
    pub fn status(&self, now_ms: u64) -> RequestStatus {
        match &self.outcome {
            Outcome::Verified { .. } => RequestStatus::Verified,
            Outcome::Revoked { .. } => RequestStatus::Revoked,
            Outcome::Superseded => RequestStatus::Superseded,
            Outcome::SendFailed => RequestStatus::Failed,
            Outcome::Expired => RequestStatus::Expired,
            Outcome::Live if self.locked() => RequestStatus::Locked,
            Outcome::Live if now_ms >= self.expires_ms => RequestStatus::Expired,
            Outcome::Live => match self.latest_leg().map(|(_, status)| status) {
                None | Some(DeliveryStatus::Accepted) => RequestStatus::Pending,
                Some(DeliveryStatus::Sent) => RequestStatus::Sent,
                Some(DeliveryStatus::Delivered) => RequestStatus::Delivered,
                Some(DeliveryStatus::Read) => RequestStatus::Read,
                Some(DeliveryStatus::Failed) => RequestStatus::Failed,
            },
        }
    }

    pub(super) fn is_live(&self, now_ms: u64) -> bool {
        self.outcome == Outcome::Live && !self.locked() && now_ms < self.expires_ms
    }

    /// A message counts for a request only if it was sent after the request began.
    pub(super) fn predates(&self, message: &MessageRef) -> bool {
        message.sent_ms + CLOCK_SLACK_MS < self.created_ms
    }
}
