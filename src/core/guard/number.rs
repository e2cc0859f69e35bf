//! One phone number's state and the rules that change it.
//!
//! This file holds what a number's object stores ([`NumberState`]) and the limits it
//! keeps to; each group of commands on it has its own file: sending (`send`: reserve,
//! settle, the send limits, idempotency keys), code attempts (`attempt`), delivery
//! statuses (`delivery`) and the chat keywords STOP, START and NOT ME (`keyword`).
//! One request as stored is in `request`, what the status routes show of it in `view`
//! and `status`, and what the commands answer in `outcomes`. Everything is re-exported
//! here, so callers name it all `number::…`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, LimitReason, DAY_MS, HOUR_MS};

mod attempt;
mod delivery;
mod fallback;
mod keyword;
mod outcomes;
mod request;
mod send;
mod spelling;
mod status;
mod view;

pub use outcomes::{AttemptOutcome, NotMeOutcome, ReserveOk, ReserveRefusal};
pub use request::{Delivery, Outcome, RequestState};
pub use send::SendResult;
pub use spelling::OtherSpellingState;
pub use status::RequestStatus;
pub use view::{DeliveryView, RequestView};

/// How long a finished request stays visible to the status routes after it expires.
pub const RETENTION_MS: u64 = HOUR_MS;
/// NIST SP 800-63B: at most this many consecutive wrong codes per number...
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;
/// ...then no new code for this long.
pub const FAILURE_BLOCK_MS: u64 = DAY_MS;
/// After `NOT ME`, no new code for this long.
pub const NOT_ME_BLOCK_MS: u64 = DAY_MS;
/// Meta's timestamps have whole seconds and clocks drift: a message may seem to
/// predate the request it answers by this much.
pub const CLOCK_SLACK_MS: u64 = 5_000;
/// How long the last keyword is remembered: Meta retries a webhook delivery for up to
/// seven days, so an older STOP can arrive again until then. Forgetting the stamp
/// sooner (say once a START leaves nothing else stored) would let a replayed STOP opt
/// the number out again.
pub const KEYWORD_MEMORY_MS: u64 = 7 * DAY_MS + HOUR_MS;
/// Keywords are acknowledged in the chat at most once per number in this long: every
/// acknowledgement is a message we pay for, and a flood of STOPs must not become one.
pub const KEYWORD_ACK_INTERVAL_MS: u64 = 60_000;
const MAX_REQUESTS_KEPT: usize = 20;
/// Inbound requests send nothing and never end each other (so nobody can push out the
/// owner's): at most this many live at once, further ones refused (429) until one
/// expires. Half of `MAX_REQUESTS_KEPT`, so trimming never drops a live inbound one.
const MAX_LIVE_INBOUND: usize = 10;
const MAX_IDEMPOTENCY_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub until_ms: u64,
    pub reason: LimitReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordStamp {
    pub sent_ms: u64,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotentReply {
    /// A hash of the caller's address key and the `Idempotency-Key`.
    pub slot: String,
    /// A hash of the normalised request: the same key with another body is refused.
    pub fingerprint: String,
    pub request_id: String,
    /// `None` while the first request with this key is still sending.
    pub response: Option<Value>,
    pub expires_ms: u64,
}

/// Everything one number's object remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumberState {
    /// The number itself (E.164), for events raised by the alarm.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub number: String,
    /// When each send that counts against the limits was reserved.
    #[serde(default)]
    pub sends: Vec<u64>,
    #[serde(default)]
    pub requests: Vec<RequestState>,
    #[serde(default)]
    pub opted_out: bool,
    /// The newest STOP/START/NOT ME applied: older or repeated ones are ignored.
    #[serde(default)]
    pub last_keyword: Option<KeywordStamp>,
    #[serde(default)]
    pub idempotency: Vec<IdempotentReply>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub blocked: Option<Block>,
    /// When the chat last acknowledged a keyword (see `KEYWORD_ACK_INTERVAL_MS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_acked_ms: Option<u64>,
    /// The guard of the number's other spelling has been merged in (kept for good, so
    /// it is never merged twice: see `spelling`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub other_spelling_merged: bool,
    /// What the last command changed; taken by the Durable Object, never stored.
    #[serde(skip)]
    pub changes: Vec<Change>,
}

impl NumberState {
    /// Nothing worth keeping: the object may delete its storage.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
            && self.requests.is_empty()
            && !self.opted_out
            && self.idempotency.is_empty()
            && self.consecutive_failures == 0
            && self.blocked.is_none()
            && self.last_keyword.is_none()
            && !self.other_spelling_merged
    }

    /// When `prune` will next have something to do (for the alarm): a live request
    /// expiring (its event), or anything aging out.
    pub fn next_wakeup(&self) -> Option<u64> {
        let sends = self.sends.iter().map(|t| t + DAY_MS);
        let idem = self.idempotency.iter().map(|i| i.expires_ms);
        let requests = self.requests.iter().map(|r| match r.outcome {
            Outcome::Live => r.expires_ms,
            _ => r.expires_ms + RETENTION_MS,
        });
        let block = self.blocked.map(|b| b.until_ms);
        let keyword = self.last_keyword.as_ref().map(|k| k.sent_ms + KEYWORD_MEMORY_MS);
        sends.chain(idem).chain(requests).chain(block).chain(keyword).chain(self.next_fallback()).min()
    }

    /// Drops whatever has aged out; live requests past their expiry become expired.
    pub fn prune(&mut self, now_ms: u64) {
        self.sends.retain(|t| t + DAY_MS > now_ms);
        self.idempotency.retain(|i| i.expires_ms > now_ms);
        for request in &mut self.requests {
            if request.outcome == Outcome::Live && now_ms >= request.expires_ms {
                request.outcome = Outcome::Expired;
                self.changes.push(Change::Expired { request_id: request.request_id.clone() });
            }
        }
        self.requests.retain(|r| r.expires_ms + RETENTION_MS > now_ms);
        self.drop_spent_seals(now_ms);
        if self.blocked.is_some_and(|b| b.until_ms <= now_ms) {
            self.blocked = None;
        }
        if self.keyword_acked_ms.is_some_and(|t| t + KEYWORD_ACK_INTERVAL_MS <= now_ms) {
            self.keyword_acked_ms = None;
        }
        if self.last_keyword.as_ref().is_some_and(|k| k.sent_ms + KEYWORD_MEMORY_MS <= now_ms) {
            // Meta no longer redelivers anything older than it.
            self.last_keyword = None;
        }
    }

    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn find(&self, request_id: &str) -> Option<&RequestState> {
        self.requests.iter().find(|r| r.request_id == request_id)
    }

    fn position(&self, request_id: &str) -> Option<usize> {
        self.requests.iter().position(|r| r.request_id == request_id)
    }

    /// Holds back new codes until `until_ms`; a longer block already in force stays.
    fn block(&mut self, until_ms: u64, reason: LimitReason) {
        if self.blocked.is_none_or(|b| b.until_ms < until_ms) {
            self.blocked = Some(Block { until_ms, reason });
        }
    }

    /// The locale of the newest request, for replies in the chat.
    pub fn latest_locale(&self) -> Option<String> {
        self.requests.last().and_then(|r| r.locale.clone())
    }
}
