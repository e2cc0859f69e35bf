//! Sending a code: the send limits, reserving a send before the Cloud API is called,
//! settling it once the Cloud API answered, and the idempotency keys of the callers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Delivery, IdempotentReply, NumberState, Outcome, RequestState, ReserveOk, ReserveRefusal, MAX_IDEMPOTENCY_KEPT,
    MAX_LIVE_INBOUND, MAX_REQUESTS_KEPT,
};
use crate::core::guard::leg::{FallbackArm, SmsLeg, SmsSent};
use crate::core::guard::{Change, DeliveryStatus, Leg, LimitReason, Mode, SendPolicy, DAY_MS, HOUR_MS};

/// How a send ended, reported after the Cloud API answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendResult {
    /// `response` is the 202 body, replayed for a repeated `Idempotency-Key`.
    Accepted {
        message_id: Option<String>,
        #[serde(with = "crate::core::guard::wire::json_text")]
        response: Value,
        /// The `wa_id` Meta resolved the recipient to (E.164), kept with the request.
        wa_id: Option<String>,
    },
    /// `refund`: the failure was ours or Meta's, not the user's; the send does not
    /// count against their limits. `error_code`: Meta's, when it answered one.
    Failed { refund: bool, error_code: Option<i64> },
}

impl NumberState {
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

    /// Seconds until a new code may be requested (for `too_many_attempts`).
    pub fn retry_after_s(&self, policy: &SendPolicy, now_ms: u64) -> u64 {
        self.send_wait(policy, now_ms).map_or(1, |(wait, _)| wait.div_ceil(1000).max(1))
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
        } else if let Some(refusal) = self.inbound_full(now_ms) {
            return Err(refusal);
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
            wa_id: None,
            test: false,
            sms: None,
            fallback: None,
        });
        if self.requests.len() > MAX_REQUESTS_KEPT {
            // Finished requests go first, then a live outbound one (superseded by the
            // newest anyway); a live inbound request is never dropped: it belongs to
            // whoever holds its code. The inbound cap keeps room for this.
            let index = self
                .requests
                .iter()
                .position(|r| !r.is_live(now_ms))
                .or_else(|| self.requests.iter().position(|r| r.mode == Mode::Outbound))
                .unwrap_or(0);
            self.requests.remove(index);
        }
        self.changes.push(Change::Requested { request_id, mode });
        let resend_after_s = match mode {
            Mode::Outbound => self.send_wait(policy, now_ms).map_or(0, |(wait, _)| wait.div_ceil(1000)),
            Mode::Inbound => 0,
        };
        Ok(ReserveOk { expires_ms, resend_after_s, attempts_left: policy.max_attempts })
    }

    /// Marks a request as a test number's (see `RequestState::test`).
    pub fn mark_test(&mut self, request_id: &str) {
        if let Some(index) = self.position(request_id) {
            self.requests[index].test = true;
        }
    }

    /// Inbound requests send nothing and never push each other out (a stranger's must
    /// not cancel the owner's): past the cap a new one is refused until the oldest
    /// live one expires. Each address is bounded by its own allowance.
    fn inbound_full(&self, now_ms: u64) -> Option<ReserveRefusal> {
        let live = self.requests.iter().filter(|r| r.mode == Mode::Inbound && r.is_live(now_ms));
        let (count, first_end) = live.fold((0, u64::MAX), |(n, end), r| (n + 1, end.min(r.expires_ms)));
        (count >= MAX_LIVE_INBOUND).then(|| ReserveRefusal::Limited {
            retry_after_s: first_end.saturating_sub(now_ms).div_ceil(1000).max(1),
            // Within the hour by construction: the oldest live request ends within its TTL.
            reason: LimitReason::HourlyLimit,
        })
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

    /// The Cloud API (or the SMS provider) answered. Returns false when the request
    /// is unknown. `sms`: the code went by SMS instead; `fallback`: the WhatsApp
    /// message may still fall back to SMS (the sealed code and its deadline).
    pub fn settle(
        &mut self,
        request_id: &str,
        result: SendResult,
        slot: Option<&str>,
        sms: Option<SmsSent>,
        fallback: Option<FallbackArm>,
    ) -> bool {
        let Some(index) = self.position(request_id) else {
            return false;
        };
        match result {
            SendResult::Accepted { message_id, response, wa_id } => {
                self.requests[index].wa_id = wa_id;
                let leg = if sms.is_some() { Leg::Sms } else { Leg::WhatsApp };
                self.send_accepted(index, message_id, response, slot, leg);
                match sms {
                    Some(sms) => self.sent_by_sms(index, sms),
                    // Armed only once WhatsApp took the message, only while live, and
                    // never for a test number's request (nothing is ever sent for it).
                    None if self.requests[index].outcome == Outcome::Live && !self.requests[index].test => {
                        let request = &mut self.requests[index];
                        // A `failed` status that overtook this answer found nothing armed:
                        // the alarm sends the SMS at once instead.
                        let failed_already =
                            request.delivery.as_ref().is_some_and(|d| d.status == DeliveryStatus::Failed);
                        request.fallback = fallback.map(|mut arm| {
                            if failed_already {
                                arm.due_ms = request.created_ms;
                            }
                            arm
                        });
                    }
                    None => {}
                }
            }
            SendResult::Failed { refund, error_code } => self.send_failed(index, refund, error_code, slot),
        }
        true
    }

    /// The Cloud API took the message: its code counts from now, the codes before it
    /// end, and the key's caller gets this answer again.
    fn send_accepted(
        &mut self,
        index: usize,
        message_id: Option<String>,
        response: Value,
        slot: Option<&str>,
        leg: Leg,
    ) {
        let request = &mut self.requests[index];
        if request.mode == Mode::Outbound {
            // The 202 body names the language the template went out in (after a
            // fallback, not the one asked for): the chat speaks that language.
            if let Some(sent) = response.get("locale").and_then(Value::as_str) {
                request.locale = Some(sent.to_string());
            }
            let created_ms = request.created_ms;
            match &mut request.delivery {
                // The code went by SMS: the WhatsApp leg, if any, is `sent_by_sms`'s.
                _ if leg == Leg::Sms => {}
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
            let request_id = request.request_id.clone();
            let test = request.test;
            // The new code is out: older live codes end now, not before (a failed
            // resend leaves the previous code valid).
            // Inbound requests are not ours to end: each stays valid until its expiry.
            for older in self.requests.iter_mut().filter(|r| r.created_ms <= created_ms && r.mode == Mode::Outbound) {
                if older.request_id != request_id && older.outcome == Outcome::Live {
                    older.outcome = Outcome::Superseded;
                }
            }
            // A test number's code went nowhere: no `sent` to report.
            if !test {
                self.changes.push(Change::Sent { request_id, message_id, channel: leg });
            }
        }
        if let Some(entry) = slot.and_then(|s| self.idempotency.iter_mut().find(|i| i.slot == s)) {
            entry.response = Some(response);
        }
    }

    /// The code went out by SMS with the request's own send: an explicit `sms` request,
    /// or Meta refused the WhatsApp message (its failed leg is kept, with Meta's code).
    fn sent_by_sms(&mut self, index: usize, sms: SmsSent) {
        let request = &mut self.requests[index];
        let at = request.created_ms;
        let request_id = request.request_id.clone();
        request.sms = Some(SmsLeg {
            status: DeliveryStatus::Accepted,
            error_code: None,
            reason: sms.reason,
            sid: sms.sid,
            updated_ms: at,
        });
        if let Some(reason) = sms.reason {
            request.delivery = Some(Delivery {
                status: DeliveryStatus::Failed,
                error_code: sms.whatsapp_error,
                pricing_category: None,
                updated_ms: at,
                message_id: None,
            });
            self.changes.push(Change::Delivery {
                request_id: request_id.clone(),
                status: DeliveryStatus::Failed,
                error_code: sms.whatsapp_error,
                pricing_category: None,
                channel: Leg::WhatsApp,
            });
            self.changes.push(Change::Fallback { request_id, from: Leg::WhatsApp, to: Leg::Sms, reason });
        }
    }

    /// The message did not go out: the request fails, and its send is given back when
    /// the user is not to blame.
    fn send_failed(&mut self, index: usize, refund: bool, error_code: Option<i64>, slot: Option<&str>) {
        let request = &mut self.requests[index];
        // A verification that already succeeded is never overwritten, and a request
        // settles once: only a live request fails (and is refunded).
        if request.outcome != Outcome::Live {
            return;
        }
        request.outcome = Outcome::SendFailed;
        self.changes.push(Change::Delivery {
            request_id: request.request_id.clone(),
            status: DeliveryStatus::Failed,
            error_code,
            pricing_category: None,
            channel: if request.sms.is_some() { Leg::Sms } else { Leg::WhatsApp },
        });
        let sent_at = request.created_ms;
        // Only outbound requests took a send from the quota (an inbound one made at the
        // same millisecond must not give back someone else's).
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
