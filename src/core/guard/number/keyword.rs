//! The chat keywords: `STOP` and `START` (opt-out) and `NOT ME`.

use super::{
    KeywordStamp, NotMeOutcome, NumberState, Outcome, RequestState, CLOCK_SLACK_MS, KEYWORD_ACK_INTERVAL_MS,
    NOT_ME_BLOCK_MS,
};
use crate::core::guard::{Change, LimitReason, MessageRef};

impl NumberState {
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

    /// Whether an applied keyword may be acknowledged in the chat now; if so, the
    /// acknowledgement is counted as sent.
    pub fn may_acknowledge(&mut self, now_ms: u64) -> bool {
        let may = self.keyword_acked_ms.is_none_or(|at| now_ms >= at + KEYWORD_ACK_INTERVAL_MS);
        if may {
            self.keyword_acked_ms = Some(now_ms);
        }
        may
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
