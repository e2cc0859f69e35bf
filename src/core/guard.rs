//! The policy of one phone number's `PhoneGuard`: send limits, the live request,
//! attempts, single use, delivery status, opt-out, webhook dedupe, idempotency.
//!
//! Plain data plus `GuardState::apply(command, now_ms)`: the Durable Object only
//! loads the state, calls `apply`, stores the state and returns the reply. Every
//! check-and-update happens inside one synchronous `apply`, which is what makes
//! concurrent requests safe once the object serialises them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// How long a finished request stays visible to `/v1/otp/status` after it expires.
pub const RETENTION_MS: u64 = HOUR_MS;
/// Meta retries deliveries for a while; ids are remembered this long.
const SEEN_MESSAGE_MS: u64 = DAY_MS;
const MAX_REQUESTS_KEPT: usize = 20;
const MAX_SEEN_KEPT: usize = 500;
const MAX_IDEMPOTENCY_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifiedVia {
    Code,
    Reply,
    Inbound,
}

/// Where a code attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `POST /v1/otp/verify`.
    Api,
    /// A WhatsApp message from the number itself (webhook).
    WhatsApp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPolicy {
    pub ttl_s: u64,
    pub max_attempts: u32,
    pub cooldown_s: u64,
    pub max_per_hour: u32,
    pub max_per_day: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The Cloud API took the message; no status webhook yet.
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Statuses arrive late and twice: never move backwards; `failed` is final,
    /// and a message already read cannot have failed.
    fn may_become(self, next: Self) -> bool {
        match (self, next) {
            (Self::Failed, _) => false,
            (Self::Read, Self::Failed) => false,
            (_, Self::Failed) => true,
            (current, next) => next > current,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    pub updated_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    Live,
    Verified { at_ms: u64, via: VerifiedVia },
    Superseded,
    SendFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestState {
    pub request_id: String,
    pub mode: Mode,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub attempts_used: u32,
    pub max_attempts: u32,
    pub outcome: Outcome,
    #[serde(default)]
    pub delivery: Option<Delivery>,
}

impl RequestState {
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts_used)
    }

    fn locked(&self) -> bool {
        self.attempts_used >= self.max_attempts
    }

    /// The contract's `status`, strongest fact first.
    pub fn status(&self, now_ms: u64) -> &'static str {
        match &self.outcome {
            Outcome::Verified { .. } => "verified",
            Outcome::Superseded => "superseded",
            Outcome::SendFailed => "failed",
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SeenMessage {
    id: String,
    at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IdempotentReply {
    key: String,
    request_id: String,
    /// `None` while the first request with this key is still sending.
    response: Option<Value>,
    expires_ms: u64,
}

/// Everything one Durable Object remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardState {
    #[serde(default)]
    sends: Vec<u64>,
    #[serde(default)]
    requests: Vec<RequestState>,
    #[serde(default)]
    opted_out: bool,
    #[serde(default)]
    seen_messages: Vec<SeenMessage>,
    #[serde(default)]
    idempotency: Vec<IdempotentReply>,
    /// Per-minute request counts for `ip:<address>` objects: a sliding hour in at
    /// most 60 entries, however high the limit.
    #[serde(default)]
    ip_minutes: Vec<MinuteCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct MinuteCount {
    minute: u64,
    count: u32,
}

/// How a send ended, reported back after the Cloud API answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SendResult {
    /// `response` is the 202 body, replayed for a repeated `Idempotency-Key`.
    Accepted { message_id: Option<String>, response: Value },
    /// `refund`: the failure was ours (configuration), not the user's; the send
    /// does not count against their limits.
    Failed { refund: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GuardCommand {
    Reserve {
        request_id: String,
        mode: Mode,
        policy: SendPolicy,
        idempotency_key: Option<String>,
    },
    Settle {
        request_id: String,
        result: SendResult,
        idempotency_key: Option<String>,
    },
    Attempt {
        request_id: String,
        correct: bool,
        channel: Channel,
        message_id: Option<String>,
    },
    /// The newest request, live or not.
    Latest,
    Status {
        request_id: String,
    },
    Delivery {
        message_id: String,
        request_id: Option<String>,
        status: DeliveryStatus,
        error_code: Option<i64>,
    },
    OptOut {
        message_id: String,
        opted_out: bool,
    },
    IpHit {
        max_per_hour: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    pub request_id: String,
    pub mode: Mode,
    pub status: String,
    pub live: bool,
    pub expires_ms: u64,
    pub attempts_left: u32,
    pub delivery: Option<Delivery>,
    pub verified: Option<(u64, VerifiedVia)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum GuardReply {
    Reserved {
        expires_ms: u64,
        resend_after_s: u64,
        attempts_left: u32,
    },
    Replay {
        response: Value,
    },
    InFlight,
    RateLimited {
        retry_after_s: u64,
    },
    OptedOut,
    Verified {
        verified_at_ms: u64,
        via: VerifiedVia,
    },
    WrongCode {
        attempts_left: u32,
    },
    TooManyAttempts,
    AlreadyVerified,
    Expired,
    Superseded,
    NotFound,
    /// An inbound-mode code typed into the API: only a message from the number counts.
    WrongChannel,
    Duplicate,
    View {
        request: Option<RequestView>,
    },
    Done {
        changed: bool,
    },
    Allowed,
}

impl GuardState {
    pub fn apply(&mut self, command: GuardCommand, now_ms: u64) -> GuardReply {
        self.prune(now_ms);
        match command {
            GuardCommand::Reserve { request_id, mode, policy, idempotency_key } => {
                self.reserve(request_id, mode, policy, idempotency_key, now_ms)
            }
            GuardCommand::Settle { request_id, result, idempotency_key } => {
                self.settle(&request_id, result, idempotency_key)
            }
            GuardCommand::Attempt { request_id, correct, channel, message_id } => {
                if let Some(id) = message_id {
                    if !self.mark_seen(id, now_ms) {
                        return GuardReply::Duplicate;
                    }
                }
                self.attempt(&request_id, correct, channel, now_ms)
            }
            GuardCommand::Latest => GuardReply::View { request: self.requests.last().map(|r| view(r, now_ms)) },
            GuardCommand::Status { request_id } => {
                GuardReply::View { request: self.find(&request_id).map(|r| view(r, now_ms)) }
            }
            GuardCommand::Delivery { message_id, request_id, status, error_code } => {
                self.delivery(&message_id, request_id.as_deref(), status, error_code, now_ms)
            }
            GuardCommand::OptOut { message_id, opted_out } => {
                if !self.mark_seen(message_id, now_ms) {
                    return GuardReply::Duplicate;
                }
                let changed = self.opted_out != opted_out;
                self.opted_out = opted_out;
                GuardReply::Done { changed }
            }
            GuardCommand::IpHit { max_per_hour } => self.ip_hit(max_per_hour, now_ms),
        }
    }

    /// Nothing worth keeping: the object may delete its storage.
    pub fn is_empty(&self) -> bool {
        *self == GuardState::default()
    }

    /// When `prune` will next have something to drop (for the alarm).
    pub fn next_wakeup(&self) -> Option<u64> {
        let sends = self.sends.iter().map(|t| t + DAY_MS);
        let ips = self.ip_minutes.iter().map(|m| (m.minute + 1) * MINUTE_MS + HOUR_MS);
        let seen = self.seen_messages.iter().map(|s| s.at_ms + SEEN_MESSAGE_MS);
        let idem = self.idempotency.iter().map(|i| i.expires_ms);
        let requests = self.requests.iter().map(|r| r.expires_ms + RETENTION_MS);
        sends.chain(ips).chain(seen).chain(idem).chain(requests).min()
    }

    /// Drops whatever has aged out.
    pub fn prune(&mut self, now_ms: u64) {
        self.sends.retain(|t| t + DAY_MS > now_ms);
        self.ip_minutes.retain(|m| (m.minute + 1) * MINUTE_MS + HOUR_MS > now_ms);
        self.seen_messages.retain(|s| s.at_ms + SEEN_MESSAGE_MS > now_ms);
        self.idempotency.retain(|i| i.expires_ms > now_ms);
        self.requests.retain(|r| r.expires_ms + RETENTION_MS > now_ms);
    }

    fn find(&self, request_id: &str) -> Option<&RequestState> {
        self.requests.iter().find(|r| r.request_id == request_id)
    }

    fn find_mut(&mut self, request_id: &str) -> Option<&mut RequestState> {
        self.requests.iter_mut().find(|r| r.request_id == request_id)
    }

    /// Returns false when the message id was already processed.
    fn mark_seen(&mut self, id: String, now_ms: u64) -> bool {
        if self.seen_messages.iter().any(|s| s.id == id) {
            return false;
        }
        self.seen_messages.push(SeenMessage { id, at_ms: now_ms });
        if self.seen_messages.len() > MAX_SEEN_KEPT {
            self.seen_messages.remove(0);
        }
        true
    }

    /// Milliseconds until the next send is allowed (0: now).
    fn send_wait_ms(&self, policy: &SendPolicy, now_ms: u64) -> u64 {
        let mut until = 0;
        if let Some(&last) = self.sends.last() {
            until = until.max(last + policy.cooldown_s * 1000);
        }
        for (window, max) in [(HOUR_MS, policy.max_per_hour), (DAY_MS, policy.max_per_day)] {
            let in_window: Vec<u64> = self.sends.iter().copied().filter(|t| t + window > now_ms).collect();
            if max == 0 {
                until = until.max(now_ms + window);
            } else if in_window.len() >= max as usize {
                // The send that must age out before another fits.
                until = until.max(in_window[in_window.len() - max as usize] + window);
            }
        }
        until.saturating_sub(now_ms)
    }

    /// Counts one API request from an address, unless the last hour is full.
    fn ip_hit(&mut self, max_per_hour: u32, now_ms: u64) -> GuardReply {
        let total: u64 = self.ip_minutes.iter().map(|m| u64::from(m.count)).sum();
        if total >= u64::from(max_per_hour) {
            // Free once enough of the oldest minutes have aged out of the hour.
            let mut excess = total + 1 - u64::from(max_per_hour);
            let mut free_at = now_ms + HOUR_MS;
            for m in &self.ip_minutes {
                excess = excess.saturating_sub(u64::from(m.count));
                if excess == 0 {
                    free_at = (m.minute + 1) * MINUTE_MS + HOUR_MS;
                    break;
                }
            }
            return GuardReply::RateLimited { retry_after_s: free_at.saturating_sub(now_ms).div_ceil(1000).max(1) };
        }
        let minute = now_ms / MINUTE_MS;
        match self.ip_minutes.last_mut() {
            Some(last) if last.minute == minute => last.count += 1,
            _ => self.ip_minutes.push(MinuteCount { minute, count: 1 }),
        }
        GuardReply::Allowed
    }

    fn reserve(
        &mut self,
        request_id: String,
        mode: Mode,
        policy: SendPolicy,
        idempotency_key: Option<String>,
        now_ms: u64,
    ) -> GuardReply {
        if let Some(key) = &idempotency_key {
            if let Some(entry) = self.idempotency.iter().find(|i| &i.key == key) {
                return match &entry.response {
                    Some(response) => GuardReply::Replay { response: response.clone() },
                    None => GuardReply::InFlight,
                };
            }
        }
        if self.opted_out {
            return GuardReply::OptedOut;
        }
        let wait = self.send_wait_ms(&policy, now_ms);
        if wait > 0 {
            return GuardReply::RateLimited { retry_after_s: wait.div_ceil(1000) };
        }
        self.sends.push(now_ms);
        for request in self.requests.iter_mut().filter(|r| r.outcome == Outcome::Live) {
            request.outcome = Outcome::Superseded;
        }
        let expires_ms = now_ms + policy.ttl_s * 1000;
        self.requests.push(RequestState {
            request_id: request_id.clone(),
            mode,
            created_ms: now_ms,
            expires_ms,
            attempts_used: 0,
            max_attempts: policy.max_attempts,
            outcome: Outcome::Live,
            delivery: None,
        });
        if self.requests.len() > MAX_REQUESTS_KEPT {
            self.requests.remove(0);
        }
        if let Some(key) = idempotency_key {
            self.idempotency.push(IdempotentReply { key, request_id, response: None, expires_ms });
            if self.idempotency.len() > MAX_IDEMPOTENCY_KEPT {
                self.idempotency.remove(0);
            }
        }
        GuardReply::Reserved {
            expires_ms,
            resend_after_s: self.send_wait_ms(&policy, now_ms).div_ceil(1000),
            attempts_left: policy.max_attempts,
        }
    }

    fn settle(&mut self, request_id: &str, result: SendResult, idempotency_key: Option<String>) -> GuardReply {
        let Some(request) = self.find_mut(request_id) else {
            return GuardReply::NotFound;
        };
        match result {
            SendResult::Accepted { message_id, response } => {
                match (&mut request.delivery, request.mode) {
                    (_, Mode::Inbound) => {}
                    // A status webhook may have come first: keep it, add the id.
                    (Some(delivery), _) => delivery.message_id = delivery.message_id.take().or(message_id),
                    (None, Mode::Outbound) => {
                        request.delivery = Some(Delivery {
                            status: DeliveryStatus::Accepted,
                            error_code: None,
                            updated_ms: request.created_ms,
                            message_id,
                        })
                    }
                }
                if let Some(entry) = self.idempotency.iter_mut().find(|i| Some(&i.key) == idempotency_key.as_ref()) {
                    entry.response = Some(response);
                }
            }
            SendResult::Failed { refund } => {
                request.outcome = Outcome::SendFailed;
                let sent_at = request.created_ms;
                if refund {
                    if let Some(pos) = self.sends.iter().rposition(|&t| t == sent_at) {
                        self.sends.remove(pos);
                    }
                }
                // The same key may try again.
                self.idempotency.retain(|i| Some(&i.key) != idempotency_key.as_ref());
            }
        }
        GuardReply::Done { changed: true }
    }

    fn attempt(&mut self, request_id: &str, correct: bool, channel: Channel, now_ms: u64) -> GuardReply {
        let Some(request) = self.find_mut(request_id) else {
            return GuardReply::NotFound;
        };
        match request.outcome {
            Outcome::Verified { .. } => return GuardReply::AlreadyVerified,
            Outcome::Superseded => return GuardReply::Superseded,
            Outcome::SendFailed => return GuardReply::NotFound,
            Outcome::Live => {}
        }
        if request.locked() {
            return GuardReply::TooManyAttempts;
        }
        if now_ms >= request.expires_ms {
            return GuardReply::Expired;
        }
        let via = match (channel, request.mode) {
            (Channel::Api, Mode::Outbound) => VerifiedVia::Code,
            (Channel::Api, Mode::Inbound) => return GuardReply::WrongChannel,
            (Channel::WhatsApp, Mode::Outbound) => VerifiedVia::Reply,
            (Channel::WhatsApp, Mode::Inbound) => VerifiedVia::Inbound,
        };
        if correct {
            request.outcome = Outcome::Verified { at_ms: now_ms, via };
            GuardReply::Verified { verified_at_ms: now_ms, via }
        } else {
            request.attempts_used += 1;
            GuardReply::WrongCode { attempts_left: request.attempts_left() }
        }
    }

    fn delivery(
        &mut self,
        message_id: &str,
        request_id: Option<&str>,
        status: DeliveryStatus,
        error_code: Option<i64>,
        now_ms: u64,
    ) -> GuardReply {
        let by_id = request_id.and_then(|id| self.requests.iter().position(|r| r.request_id == id));
        let by_message = || {
            self.requests
                .iter()
                .position(|r| r.delivery.as_ref().and_then(|d| d.message_id.as_deref()) == Some(message_id))
        };
        let Some(index) = by_id.or_else(by_message) else {
            return GuardReply::NotFound;
        };
        let request = &mut self.requests[index];
        let may_change = match &request.delivery {
            None => true,
            Some(current) => current.status.may_become(status),
        };
        if may_change {
            request.delivery = Some(Delivery {
                status,
                error_code: if status == DeliveryStatus::Failed { error_code } else { None },
                updated_ms: now_ms,
                message_id: Some(message_id.to_string()),
            });
        }
        GuardReply::Done { changed: may_change }
    }
}

fn view(request: &RequestState, now_ms: u64) -> RequestView {
    RequestView {
        request_id: request.request_id.clone(),
        mode: request.mode,
        status: request.status(now_ms).to_string(),
        live: request.is_live(now_ms),
        expires_ms: request.expires_ms,
        attempts_left: request.attempts_left(),
        delivery: request.delivery.clone(),
        verified: match request.outcome {
            Outcome::Verified { at_ms, via } => Some((at_ms, via)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests;
