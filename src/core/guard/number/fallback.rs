//! The SMS fallback in a number's guard: arming it when WhatsApp took the message,
//! claiming the one SMS a request may get (on a `failed` status or when the alarm
//! finds no `delivered`/`read` in time), recording how the SMS went, and dropping the
//! sealed code as soon as the request can no longer fall back.

use super::{NumberState, Outcome, RequestState};
use crate::core::guard::leg::{FallbackReason, SmsJob, SmsLeg, SmsResult};
use crate::core::guard::{Change, DeliveryStatus, Leg, LimitReason};

impl NumberState {
    /// No SMS for a number that opted out or answered NOT ME (or is blocked after too
    /// many wrong codes): the same rules as a new code.
    fn may_text(&self, now_ms: u64) -> bool {
        !self.opted_out
            && self.blocked.is_none_or(|b| {
                b.until_ms <= now_ms || !matches!(b.reason, LimitReason::NotMe | LimitReason::TooManyFailures)
            })
    }

    /// Claims the request's one SMS: its sealed code leaves the guard with the job,
    /// and the SMS leg exists from now on, so nothing can claim it twice. `None` when
    /// the request cannot fall back (no sealed code: never armed, already claimed,
    /// delivered; or no longer live; or the number may not be texted).
    fn claim(&mut self, index: usize, reason: FallbackReason, now_ms: u64) -> Option<SmsJob> {
        let may_text = self.may_text(now_ms);
        let number = self.number.clone();
        let request = &mut self.requests[index];
        // Taken whether or not it is used: a fallback that cannot happen now never will.
        let arm = request.fallback.take()?;
        if !may_text || !request.is_live(now_ms) || request.sms.is_some() {
            return None;
        }
        request.sms = Some(SmsLeg {
            status: DeliveryStatus::Accepted,
            error_code: None,
            reason: Some(reason),
            sid: None,
            updated_ms: now_ms,
        });
        let job = SmsJob {
            number,
            request_id: request.request_id.clone(),
            sealed: arm.sealed,
            locale: request.locale.clone(),
            expires_ms: request.expires_ms,
            reason,
        };
        self.changes.push(Change::Fallback {
            request_id: job.request_id.clone(),
            from: Leg::WhatsApp,
            to: Leg::Sms,
            reason,
        });
        Some(job)
    }

    /// A status webhook said the WhatsApp message of `request_id` failed: its SMS, if
    /// it may fall back.
    pub fn fall_back_after_failure(&mut self, request_id: &str, now_ms: u64) -> Option<SmsJob> {
        let index = self.position(request_id)?;
        self.claim(index, FallbackReason::WhatsappFailed, now_ms)
    }

    /// The alarm: every request whose WhatsApp message saw no `delivered` or `read`
    /// by its deadline gets its SMS.
    pub fn take_due_fallbacks(&mut self, now_ms: u64) -> Vec<SmsJob> {
        let due: Vec<usize> = (0..self.requests.len())
            .filter(|&i| self.requests[i].fallback.as_ref().is_some_and(|arm| arm.due_ms <= now_ms))
            .collect();
        due.into_iter().filter_map(|i| self.claim(i, FallbackReason::NotDeliveredInTime, now_ms)).collect()
    }

    /// How a claimed SMS went. A failed SMS leaves the WhatsApp code as it was (still
    /// valid until it expires): the provider's outage costs the person nothing.
    pub fn settle_sms(&mut self, request_id: &str, result: SmsResult, now_ms: u64) -> bool {
        let Some(index) = self.position(request_id) else { return false };
        let request = &mut self.requests[index];
        let Some(leg) = request.sms.as_mut() else { return false };
        match result {
            SmsResult::Sent { sid } => {
                leg.sid = sid.clone();
                leg.updated_ms = now_ms;
                self.changes.push(Change::Sent {
                    request_id: request_id.to_string(),
                    message_id: sid,
                    channel: Leg::Sms,
                });
            }
            SmsResult::Failed { error_code } => {
                leg.status = DeliveryStatus::Failed;
                leg.error_code = error_code;
                leg.updated_ms = now_ms;
                self.changes.push(sms_failed(request_id, error_code));
            }
        }
        true
    }

    /// A status callback of the SMS provider for the leg sent as `sid`: `Some(applied)`,
    /// or `None` when no request here has that SMS.
    pub fn sms_status(
        &mut self,
        sid: &str,
        status: DeliveryStatus,
        error_code: Option<i64>,
        now_ms: u64,
    ) -> Option<bool> {
        let request = self.requests.iter_mut().find(|r| r.sms.as_ref().and_then(|s| s.sid.as_deref()) == Some(sid))?;
        let leg = request.sms.as_mut()?;
        // An SMS the carrier delivered stays delivered (a late `undelivered` is stale).
        if !leg.status.may_become(status) || leg.status == DeliveryStatus::Delivered {
            return Some(false);
        }
        leg.status = status;
        leg.error_code = if status == DeliveryStatus::Failed { error_code } else { None };
        leg.updated_ms = now_ms;
        let request_id = request.request_id.clone();
        self.changes.push(match status {
            DeliveryStatus::Failed => sms_failed(&request_id, error_code),
            _ => Change::Delivery { request_id, status, error_code: None, pricing_category: None, channel: Leg::Sms },
        });
        Some(true)
    }

    /// The sealed code goes as soon as a request can no longer fall back: it ended
    /// (verified, expired, superseded, revoked, locked) or its message was delivered.
    pub fn drop_spent_seals(&mut self, now_ms: u64) {
        for request in &mut self.requests {
            if request.fallback.is_some() && !can_still_fall_back(request, now_ms) {
                request.fallback = None;
            }
        }
    }

    /// When the alarm must send a fallback SMS next.
    pub(super) fn next_fallback(&self) -> Option<u64> {
        self.requests
            .iter()
            .filter(|r| r.outcome == Outcome::Live)
            .filter_map(|r| r.fallback.as_ref())
            .map(|a| a.due_ms)
            .min()
    }
}

fn can_still_fall_back(request: &RequestState, now_ms: u64) -> bool {
    request.is_live(now_ms)
        && request.sms.is_none()
        && !request
            .delivery
            .as_ref()
            .is_some_and(|d| matches!(d.status, DeliveryStatus::Delivered | DeliveryStatus::Read))
}

fn sms_failed(request_id: &str, error_code: Option<i64>) -> Change {
    Change::Delivery {
        request_id: request_id.to_string(),
        status: DeliveryStatus::Failed,
        error_code,
        pricing_category: None,
        channel: Leg::Sms,
    }
}
