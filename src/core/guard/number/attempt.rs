//! Code attempts: which request a code may be for, and what a right or wrong code does.

use super::{AttemptOutcome, NumberState, Outcome, RequestState, FAILURE_BLOCK_MS, MAX_CONSECUTIVE_FAILURES};
use crate::core::guard::{Change, Channel, LimitReason, MessageRef, Mode, VerifiedVia};

impl NumberState {
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
        let Some(index) = self.position(request_id) else {
            return AttemptOutcome::NotFound;
        };
        let via = match self.requests[index].admit_attempt(channel, message, now_ms) {
            Ok(via) => via,
            Err(refused) => return refused,
        };
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
}

impl RequestState {
    /// Whether an attempt on `channel` may count for this request: how a right code
    /// would verify it, or why the attempt is refused before the code is looked at.
    fn admit_attempt(
        &self,
        channel: Channel,
        message: Option<&MessageRef>,
        now_ms: u64,
    ) -> Result<VerifiedVia, AttemptOutcome> {
        // A redelivered message that already counted is answered by nothing, even once
        // it verified the request (Meta may deliver it again while the first is applied).
        if message.is_some_and(|m| self.counted_messages.iter().any(|id| id == &m.id)) {
            return Err(AttemptOutcome::Duplicate);
        }
        match self.outcome {
            Outcome::Verified { .. } => return Err(AttemptOutcome::AlreadyVerified),
            Outcome::Revoked { .. } => return Err(AttemptOutcome::Revoked),
            Outcome::Superseded => return Err(AttemptOutcome::Superseded),
            Outcome::SendFailed => return Err(AttemptOutcome::NotFound),
            Outcome::Expired => return Err(AttemptOutcome::Expired),
            Outcome::Live => {}
        }
        if message.is_some_and(|m| self.predates(m)) {
            return Err(AttemptOutcome::TooOld);
        }
        let via = match (channel, self.mode) {
            (Channel::RequestId | Channel::Phone, Mode::Outbound) => VerifiedVia::Code,
            (Channel::RequestId | Channel::Phone, Mode::Inbound) => return Err(AttemptOutcome::WrongChannel),
            (Channel::WhatsApp, Mode::Outbound) => VerifiedVia::Reply,
            (Channel::WhatsApp, Mode::Inbound) => VerifiedVia::Inbound,
        };
        let budget_used = match channel {
            Channel::Phone => self.phone_attempts_used,
            _ => self.attempts_used,
        };
        if budget_used >= self.max_attempts {
            return Err(AttemptOutcome::Locked);
        }
        if now_ms >= self.expires_ms {
            return Err(AttemptOutcome::Expired);
        }
        Ok(via)
    }
}
