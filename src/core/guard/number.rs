//! One phone number's state and the rules that change it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, Channel, DeliveryStatus, LimitReason, MessageRef, Mode, SendPolicy, VerifiedVia, DAY_MS, HOUR_MS};

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
const MAX_REQUESTS_KEPT: usize = 20;
/// Inbound requests send nothing and do not supersede each other (so nobody can
/// push out the owner's): at most this many live at once, oldest dropped first.
const MAX_LIVE_INBOUND: usize = 5;
const MAX_IDEMPOTENCY_KEPT: usize = 20;

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
}

impl RequestState {
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts_used)
    }

    fn locked(&self) -> bool {
        self.attempts_used >= self.max_attempts
    }

    /// Outbound codes count from the moment the Cloud API took the message.
    fn accepted(&self) -> bool {
        self.mode == Mode::Inbound || self.delivery.is_some()
    }

    /// The contract's `status`, strongest fact first.
    pub fn status(&self, now_ms: u64) -> &'static str {
        match &self.outcome {
            Outcome::Verified { .. } => "verified",
            Outcome::Revoked { .. } => "revoked",
            Outcome::Superseded => "superseded",
            Outcome::SendFailed => "failed",
            Outcome::Expired => "expired",
            Outcome::Live if self.locked() => "locked",
            Outcome::Live if now_ms >= self.expires_ms => "expired",
            Outcome::Live => match self.delivery.as_ref().map(|d| d.status) {
                None | Some(DeliveryStatus::Accepted) => "pending",
                Some(status) => status.as_str(),
            },
        }
    }

    fn is_live(&self, now_ms: u64) -> bool {
        self.outcome == Outcome::Live && !self.locked() && now_ms < self.expires_ms
    }

    /// A message counts for a request only if it was sent after the request began.
    fn predates(&self, message: &MessageRef) -> bool {
        message.sent_ms + CLOCK_SLACK_MS < self.created_ms
    }
}

/// What the status routes show of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub request_id: String,
    pub mode: Mode,
    pub status: String,
    pub live: bool,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub attempts_left: u32,
    pub resend_after_s: u64,
    pub delivery: Option<DeliveryView>,
    pub verified: Option<(u64, VerifiedVia)>,
    pub locale: Option<String>,
}

/// A request's delivery as the status routes show it. Its own type because the
/// stored `Delivery` omits empty fields, which the guard's wire format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    pub pricing_category: Option<String>,
    pub updated_ms: u64,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            status: d.status,
            error_code: d.error_code,
            pricing_category: d.pricing_category.clone(),
            updated_ms: d.updated_ms,
        }
    }
}

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
    /// What the last command changed; taken by the Durable Object, never stored.
    #[serde(skip)]
    pub changes: Vec<Change>,
}

/// How a send ended, reported after the Cloud API answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendResult {
    /// `response` is the 202 body, replayed for a repeated `Idempotency-Key`.
    Accepted {
        message_id: Option<String>,
        #[serde(with = "super::wire::json_text")]
        response: Value,
    },
    /// `refund`: the failure was ours or Meta's, not the user's; the send does not
    /// count against their limits. `error_code`: Meta's, when it answered one.
    Failed { refund: bool, error_code: Option<i64> },
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
        sends.chain(idem).chain(requests).chain(block).min()
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
        if self.blocked.is_some_and(|b| b.until_ms <= now_ms) {
            self.blocked = None;
        }
        if self.requests.is_empty() && self.sends.is_empty() && !self.opted_out && self.blocked.is_none() {
            // Nothing left that an old keyword could be replayed against.
            self.last_keyword = None;
        }
    }

    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn find(&self, request_id: &str) -> Option<&RequestState> {
        self.requests.iter().find(|r| r.request_id == request_id)
    }

    pub fn view(&self, request: &RequestState, policy: &SendPolicy, now_ms: u64) -> RequestView {
        RequestView {
            request_id: request.request_id.clone(),
            mode: request.mode,
            status: request.status(now_ms).to_string(),
            live: request.is_live(now_ms),
            created_ms: request.created_ms,
            expires_ms: request.expires_ms,
            attempts_left: request.attempts_left(),
            resend_after_s: self.send_wait(policy, now_ms).map_or(0, |(wait, _)| wait.div_ceil(1000)),
            delivery: request.delivery.as_ref().map(DeliveryView::from),
            verified: match request.outcome {
                Outcome::Verified { at_ms, via } => Some((at_ms, via)),
                _ => None,
            },
            locale: request.locale.clone(),
        }
    }

    pub fn status_of(&self, request_id: &str, policy: &SendPolicy, now_ms: u64) -> Option<RequestView> {
        self.find(request_id).map(|r| self.view(r, policy, now_ms))
    }

    /// How long until the next send is allowed, and which limit holds it back.
    pub fn send_wait(&self, policy: &SendPolicy, now_ms: u64) -> Option<(u64, LimitReason)> {
        let mut wait: Option<(u64, LimitReason)> = None;
        let mut consider = |until: u64, reason: LimitReason| {
            let ms = until.saturating_sub(now_ms);
            if ms > 0 && wait.is_none_or(|(w, _)| ms > w) {
                wait = Some((ms, reason));
            }
        };
        if let Some(block) = self.blocked {
            consider(block.until_ms, block.reason);
        }
        if let Some(&last) = self.sends.last() {
            consider(last + policy.cooldown_s * 1000, LimitReason::ResendCooldown);
        }
        for (window, max, reason) in [
            (HOUR_MS, policy.max_per_hour, LimitReason::HourlyLimit),
            (DAY_MS, policy.max_per_day, LimitReason::DailyLimit),
        ] {
            let in_window: Vec<u64> = self.sends.iter().copied().filter(|t| t + window > now_ms).collect();
            if max == 0 {
                consider(now_ms + window, reason);
            } else if in_window.len() >= max as usize {
                // The send that must age out before another fits.
                consider(in_window[in_window.len() - max as usize] + window, reason);
            }
        }
        wait
    }

    pub fn reserve(
        &mut self,
        request_id: String,
        mode: Mode,
        locale: Option<String>,
        policy: &SendPolicy,
        now_ms: u64,
    ) -> Result<ReserveOk, ReserveRefusal> {
        if self.opted_out && mode == Mode::Outbound {
            return Err(ReserveRefusal::OptedOut);
        }
        if let Some(block) = self.blocked.filter(|b| b.until_ms > now_ms) {
            return Err(ReserveRefusal::Limited {
                retry_after_s: (block.until_ms - now_ms).div_ceil(1000),
                reason: block.reason,
            });
        }
        if mode == Mode::Outbound {
            // Inbound requests send nothing: they use no send quota.
            if let Some((wait, reason)) = self.send_wait(policy, now_ms) {
                return Err(ReserveRefusal::Limited { retry_after_s: wait.div_ceil(1000), reason });
            }
            self.sends.push(now_ms);
        } else {
            let live_inbound: Vec<usize> = (0..self.requests.len())
                .filter(|&i| self.requests[i].mode == Mode::Inbound && self.requests[i].is_live(now_ms))
                .collect();
            if live_inbound.len() >= MAX_LIVE_INBOUND {
                self.requests[live_inbound[0]].outcome = Outcome::Superseded;
            }
        }
        let expires_ms = now_ms + policy.ttl_s * 1000;
        self.requests.push(RequestState {
            request_id: request_id.clone(),
            mode,
            created_ms: now_ms,
            expires_ms,
            attempts_used: 0,
            phone_attempts_used: 0,
            max_attempts: policy.max_attempts,
            outcome: Outcome::Live,
            delivery: None,
            locale,
            counted_messages: Vec::new(),
        });
        if self.requests.len() > MAX_REQUESTS_KEPT {
            // Finished requests go first; a live one only when all are live.
            let index = self.requests.iter().position(|r| !r.is_live(now_ms)).unwrap_or(0);
            self.requests.remove(index);
        }
        self.changes.push(Change::Requested { request_id, mode });
        let resend_after_s = match mode {
            Mode::Outbound => self.send_wait(policy, now_ms).map_or(0, |(wait, _)| wait.div_ceil(1000)),
            Mode::Inbound => 0,
        };
        Ok(ReserveOk { expires_ms, resend_after_s, attempts_left: policy.max_attempts })
    }

    pub fn remember_key(&mut self, slot: String, fingerprint: String, request_id: String, expires_ms: u64) {
        self.idempotency.push(IdempotentReply { slot, fingerprint, request_id, response: None, expires_ms });
        if self.idempotency.len() > MAX_IDEMPOTENCY_KEPT {
            self.idempotency.remove(0);
        }
    }

    pub fn find_key(&self, slot: &str) -> Option<&IdempotentReply> {
        self.idempotency.iter().find(|i| i.slot == slot)
    }

    /// The Cloud API answered. Returns false when the request is unknown.
    pub fn settle(&mut self, request_id: &str, result: SendResult, slot: Option<&str>) -> bool {
        let Some(index) = self.requests.iter().position(|r| r.request_id == request_id) else {
            return false;
        };
        match result {
            SendResult::Accepted { message_id, response } => {
                let request = &mut self.requests[index];
                let (mode, created_ms) = (request.mode, request.created_ms);
                if mode == Mode::Outbound {
                    match &mut request.delivery {
                        // A status webhook may have come first: keep it, add the id.
                        Some(delivery) => delivery.message_id = delivery.message_id.take().or(message_id.clone()),
                        None => {
                            request.delivery = Some(Delivery {
                                status: DeliveryStatus::Accepted,
                                error_code: None,
                                pricing_category: None,
                                updated_ms: created_ms,
                                message_id: message_id.clone(),
                            })
                        }
                    }
                    // The new code is out: older live codes end now, not before (a
                    // failed resend leaves the previous code valid).
                    for older in self.requests.iter_mut().filter(|r| r.created_ms <= created_ms) {
                        if older.request_id != request_id && older.outcome == Outcome::Live {
                            older.outcome = Outcome::Superseded;
                        }
                    }
                    self.changes.push(Change::Sent { request_id: request_id.to_string(), message_id });
                }
                if let Some(entry) = slot.and_then(|s| self.idempotency.iter_mut().find(|i| i.slot == s)) {
                    entry.response = Some(response);
                }
            }
            SendResult::Failed { refund, error_code } => {
                let request = &mut self.requests[index];
                // A verification that already succeeded is never overwritten, and a
                // request settles once: only a live request fails (and is refunded).
                if request.outcome != Outcome::Live {
                    return true;
                }
                request.outcome = Outcome::SendFailed;
                self.changes.push(Change::Delivery {
                    request_id: request_id.to_string(),
                    status: DeliveryStatus::Failed,
                    error_code,
                    pricing_category: None,
                });
                let sent_at = request.created_ms;
                // Only outbound requests took a send from the quota (an inbound one
                // made at the same millisecond must not give back someone else's).
                if refund && request.mode == Mode::Outbound {
                    if let Some(pos) = self.sends.iter().rposition(|&t| t == sent_at) {
                        self.sends.remove(pos);
                    }
                }
                // The same key may try again.
                if let Some(slot) = slot {
                    self.idempotency.retain(|i| i.slot != slot);
                }
            }
        }
        true
    }

    /// The newest accepted live outbound request that still has by-phone attempts.
    pub fn live_for_phone(&self, now_ms: u64) -> Option<&RequestState> {
        self.requests.iter().rev().find(|r| {
            r.mode == Mode::Outbound && r.accepted() && r.is_live(now_ms) && r.phone_attempts_used < r.max_attempts
        })
    }

    /// Live requests a WhatsApp message with a code may be for, newest first: the
    /// accepted outbound one (a reply) and every live inbound one.
    pub fn chat_candidates(&self, message: &MessageRef, now_ms: u64) -> Vec<&RequestState> {
        let mut outbound_seen = false;
        self.requests
            .iter()
            .rev()
            .filter(|r| r.is_live(now_ms) && r.accepted() && !r.predates(message))
            .filter(|r| match r.mode {
                Mode::Inbound => true,
                Mode::Outbound => !std::mem::replace(&mut outbound_seen, true),
            })
            .collect()
    }

    pub fn attempt(
        &mut self,
        request_id: &str,
        correct: bool,
        channel: Channel,
        message: Option<&MessageRef>,
        now_ms: u64,
    ) -> AttemptOutcome {
        let Some(index) = self.requests.iter().position(|r| r.request_id == request_id) else {
            return AttemptOutcome::NotFound;
        };
        let request = &self.requests[index];
        match request.outcome {
            Outcome::Verified { .. } => return AttemptOutcome::AlreadyVerified,
            Outcome::Revoked { .. } => return AttemptOutcome::Revoked,
            Outcome::Superseded => return AttemptOutcome::Superseded,
            Outcome::SendFailed => return AttemptOutcome::NotFound,
            Outcome::Expired => return AttemptOutcome::Expired,
            Outcome::Live => {}
        }
        if let Some(message) = message {
            if request.counted_messages.iter().any(|id| id == &message.id) {
                return AttemptOutcome::Duplicate;
            }
            if request.predates(message) {
                return AttemptOutcome::TooOld;
            }
        }
        let via = match (channel, request.mode) {
            (Channel::RequestId | Channel::Phone, Mode::Outbound) => VerifiedVia::Code,
            (Channel::RequestId | Channel::Phone, Mode::Inbound) => return AttemptOutcome::WrongChannel,
            (Channel::WhatsApp, Mode::Outbound) => VerifiedVia::Reply,
            (Channel::WhatsApp, Mode::Inbound) => VerifiedVia::Inbound,
        };
        let budget_used = match channel {
            Channel::Phone => request.phone_attempts_used,
            _ => request.attempts_used,
        };
        if budget_used >= request.max_attempts {
            return AttemptOutcome::Locked;
        }
        if now_ms >= request.expires_ms {
            return AttemptOutcome::Expired;
        }
        let request = &mut self.requests[index];
        if let Some(message) = message {
            request.counted_messages.push(message.id.clone());
        }
        if correct {
            request.outcome = Outcome::Verified { at_ms: now_ms, via };
            let seconds = now_ms.saturating_sub(request.created_ms) / 1000;
            self.changes.push(Change::Verified { request_id: request_id.to_string(), via, seconds });
            self.consecutive_failures = 0;
            return AttemptOutcome::Verified { at_ms: now_ms, via };
        }
        let attempts_left = match channel {
            Channel::Phone => {
                request.phone_attempts_used += 1;
                request.max_attempts - request.phone_attempts_used
            }
            _ => {
                request.attempts_used += 1;
                if request.locked() {
                    self.changes.push(Change::Locked { request_id: request_id.to_string() });
                }
                request.attempts_left()
            }
        };
        self.consecutive_failures += 1;
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
            self.consecutive_failures = 0;
            self.block(now_ms + FAILURE_BLOCK_MS, LimitReason::TooManyFailures);
        }
        AttemptOutcome::Wrong { attempts_left }
    }

    fn block(&mut self, until_ms: u64, reason: LimitReason) {
        if self.blocked.is_none_or(|b| b.until_ms < until_ms) {
            self.blocked = Some(Block { until_ms, reason });
        }
    }

    /// Seconds until a new code may be requested (for `too_many_attempts`).
    pub fn retry_after_s(&self, policy: &SendPolicy, now_ms: u64) -> u64 {
        self.send_wait(policy, now_ms).map_or(1, |(wait, _)| wait.div_ceil(1000).max(1))
    }

    /// A status webhook for one of our messages.
    pub fn delivery(
        &mut self,
        message_id: &str,
        request_id: Option<&str>,
        status: DeliveryStatus,
        error_code: Option<i64>,
        pricing_category: Option<String>,
        now_ms: u64,
    ) -> Option<bool> {
        let by_message =
            |r: &RequestState| r.delivery.as_ref().and_then(|d| d.message_id.as_deref()) == Some(message_id);
        let index = request_id
            .and_then(|id| self.requests.iter().position(|r| r.request_id == id))
            .or_else(|| self.requests.iter().position(by_message))?;
        let request = &mut self.requests[index];
        if request.mode == Mode::Inbound {
            return Some(false);
        }
        let may_change = request.delivery.as_ref().is_none_or(|current| current.status.may_become(status));
        let pricing_category =
            pricing_category.or_else(|| request.delivery.as_ref().and_then(|d| d.pricing_category.clone()));
        if may_change {
            request.delivery = Some(Delivery {
                status,
                error_code: if status == DeliveryStatus::Failed { error_code } else { None },
                pricing_category: pricing_category.clone(),
                updated_ms: now_ms,
                message_id: Some(message_id.to_string()),
            });
            self.changes.push(Change::Delivery {
                request_id: request.request_id.clone(),
                status,
                error_code: if status == DeliveryStatus::Failed { error_code } else { None },
                pricing_category,
            });
        } else if let (Some(delivery), Some(category)) = (&mut request.delivery, pricing_category) {
            // A late status still tells what was billed.
            delivery.pricing_category = Some(category);
        }
        Some(may_change)
    }

    /// Whether a keyword message is newer than the last one applied (and records it).
    fn fresh_keyword(&mut self, message: &MessageRef) -> bool {
        let fresh = match &self.last_keyword {
            None => true,
            Some(last) => message.sent_ms > last.sent_ms || (message.sent_ms == last.sent_ms && message.id != last.id),
        };
        if fresh {
            self.last_keyword = Some(KeywordStamp { sent_ms: message.sent_ms, id: message.id.clone() });
        }
        fresh
    }

    /// `STOP` / `START`. `None`: a retried or out-of-order message, ignored.
    pub fn opt(&mut self, opted_out: bool, message: &MessageRef) -> Option<bool> {
        if !self.fresh_keyword(message) {
            return None;
        }
        let changed = self.opted_out != opted_out;
        self.opted_out = opted_out;
        if changed {
            self.changes.push(if opted_out { Change::OptedOut } else { Change::OptedIn });
        }
        Some(changed)
    }

    /// `NOT ME`: the owner says a verification was not theirs. Revokes the newest
    /// verified request still kept (the token's `jti`) and blocks new codes.
    pub fn not_me(&mut self, message: &MessageRef, now_ms: u64) -> NotMeOutcome {
        if !self.fresh_keyword(message) {
            return NotMeOutcome::Duplicate;
        }
        self.block(now_ms + NOT_ME_BLOCK_MS, LimitReason::NotMe);
        let newest_verified = self
            .requests
            .iter_mut()
            .rev()
            .find(|r| matches!(r.outcome, Outcome::Verified { .. }) && !r.predates_verification(message));
        let Some(request) = newest_verified else {
            return NotMeOutcome::Blocked { revoked: None };
        };
        if let Outcome::Verified { at_ms, via } = request.outcome {
            request.outcome = Outcome::Revoked { at_ms, via };
        }
        let request_id = request.request_id.clone();
        self.changes.push(Change::Revoked { request_id: request_id.clone() });
        NotMeOutcome::Blocked { revoked: Some(request_id) }
    }

    /// The locale of the newest request, for replies in the chat.
    pub fn latest_locale(&self) -> Option<String> {
        self.requests.last().and_then(|r| r.locale.clone())
    }
}

impl RequestState {
    /// `NOT ME` sent before the verification happened is not about it.
    fn predates_verification(&self, message: &MessageRef) -> bool {
        match self.outcome {
            Outcome::Verified { at_ms, .. } => message.sent_ms + CLOCK_SLACK_MS < at_ms,
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveOk {
    pub expires_ms: u64,
    pub resend_after_s: u64,
    pub attempts_left: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReserveRefusal {
    OptedOut,
    Limited { retry_after_s: u64, reason: LimitReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Verified {
        at_ms: u64,
        via: VerifiedVia,
    },
    Wrong {
        attempts_left: u32,
    },
    /// This channel's attempt budget is used up.
    Locked,
    AlreadyVerified,
    Revoked,
    Expired,
    Superseded,
    NotFound,
    /// An inbound-mode code typed into the API: only a message from the number counts.
    WrongChannel,
    /// A WhatsApp message already counted (Meta delivered it again).
    Duplicate,
    /// A WhatsApp message sent before the request began.
    TooOld,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotMeOutcome {
    Blocked { revoked: Option<String> },
    Duplicate,
}
