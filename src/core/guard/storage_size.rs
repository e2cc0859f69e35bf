//! How many bytes one number's stored state holds (what `PhoneGuard` writes on every
//! change), after a day of typical use and after an hour of abuse, driven through the
//! guard's protocol with an injected clock. The state is bounded by the guard's own
//! caps (requests kept, idempotency keys kept, attempts per request), not by traffic.

use serde_json::json;

use super::number::SendResult;
use super::protocol::*;
use super::stored::{load, save, GuardObject};
use super::test_calls::{delivery_call, reserve_call, NUMBER};
use super::*;
use crate::core::api::accepted_body;

const T0: u64 = 1_800_000_000_000;
const DEFAULTS: SendPolicy =
    SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };
/// The loosest policy the settings allow (OTP_MAX_ATTEMPTS=100, MAX_SENDS_PER_*=1000,
/// no cooldown, a day-long TTL).
const LOOSEST: SendPolicy =
    SendPolicy { ttl_s: 86_400, max_attempts: 100, cooldown_s: 0, max_per_hour: 1000, max_per_day: 1000 };

/// Runs commands on one number and tracks the stored size after each.
struct Number {
    object: GuardObject,
    policy: SendPolicy,
    peak: usize,
    seq: u64,
}

impl Number {
    fn new(policy: SendPolicy) -> Self {
        Number { object: GuardObject::Empty, policy, peak: 0, seq: 0 }
    }

    fn run<C: GuardCall>(&mut self, call: C, now: u64) -> C::Reply {
        let reply = execute(&mut self.object, call, now).expect("a number object");
        self.object.take_changes();
        let text = save(&self.object);
        assert_eq!(load(&text).expect("reloads"), self.object);
        self.peak = self.peak.max(text.len());
        reply
    }

    fn size(&self) -> usize {
        save(&self.object).len()
    }

    fn id(&mut self) -> String {
        self.seq += 1;
        format!("{:032x}", 0x00ab_cdef_0000_0000_u64 + self.seq)
    }

    /// Meta's message ids are about this long.
    fn wamid(&mut self) -> String {
        self.seq += 1;
        format!("wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI{:030X}", self.seq)
    }

    /// A code request as `POST /v1/otp/request` makes it: reserve, then settle with the
    /// message id and the 202 body (kept for the idempotency key). `None` when refused.
    fn send(&mut self, mode: Mode, with_key: bool, now: u64) -> Option<(String, String)> {
        let request_id = self.id();
        let idempotency =
            with_key.then(|| IdempotencyKey { slot: format!("{:064x}", self.seq), fingerprint: "f".repeat(64) });
        let reserve = Reserve {
            locale: Some("pt_BR".into()),
            idempotency: idempotency.clone(),
            ..reserve_call(&request_id, mode, self.policy)
        };
        let ReserveReply::Reserved(ok) = self.run(reserve, now) else { return None };
        let message_id = self.wamid();
        let mut response = accepted_body(&request_id, ok.expires_ms, ok.resend_after_s, ok.attempts_left, now);
        response["locale"] = json!("pt_BR");
        let result = SendResult::Accepted {
            message_id: (mode == Mode::Outbound).then(|| message_id.clone()),
            response,
            wa_id: None,
        };
        let settle = Settle {
            number: NUMBER.into(),
            request_id: request_id.clone(),
            result,
            idempotency_slot: idempotency.map(|k| k.slot),
            sms: None,
            fallback: None,
        };
        self.run(settle, now + 400);
        Some((request_id, message_id))
    }

    fn statuses(&mut self, request_id: &str, message_id: &str, now: u64) {
        for (i, status) in
            [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read].into_iter().enumerate()
        {
            let delivery = Delivery {
                pricing_category: Some("authentication".into()),
                ..delivery_call(message_id, Some(request_id), status)
            };
            self.run(delivery, now + 1_000 * i as u64);
        }
    }

    fn attempt(&mut self, request_id: &str, correct: bool, channel: Channel, now: u64) {
        let message = (channel == Channel::WhatsApp).then(|| MessageRef { id: self.wamid(), sent_ms: now });
        let call = Attempt {
            number: NUMBER.into(),
            request_id: request_id.into(),
            correct,
            channel,
            message,
            policy: self.policy,
        };
        self.run(call, now);
    }

    fn poll(&mut self, request_id: &str, now: u64) {
        self.run(Status { number: NUMBER.into(), request_id: request_id.into(), policy: self.policy }, now);
    }
}

/// Five codes over a day, each delivered and read, polled, and verified (typed, or
/// replied in the chat); one wrong code on the way.
fn typical_day(policy: SendPolicy) -> Number {
    let mut n = Number::new(policy);
    for i in 0..5u64 {
        let t = T0 + i * 3 * HOUR_MS;
        let (id, wamid) = n.send(Mode::Outbound, i % 2 == 0, t).expect("within the limits");
        n.statuses(&id, &wamid, t + 2_000);
        for s in 0..3 {
            n.poll(&id, t + 5_000 + s * 2_000);
        }
        if i == 2 {
            n.attempt(&id, false, Channel::RequestId, t + 20_000);
        }
        let channel = if i % 2 == 0 { Channel::RequestId } else { Channel::WhatsApp };
        n.attempt(&id, true, channel, t + 30_000);
    }
    n
}

/// An hour of abuse on one number: a send whenever the limits allow (with fresh
/// idempotency keys), inbound requests (they use no send quota), thousands of wrong
/// codes by request id, by phone and through WhatsApp, delivery statuses for every
/// message, polls and STOP/START/NOT ME.
fn abusive_hour(policy: SendPolicy) -> Number {
    let mut n = Number::new(policy);
    let mut live: Vec<(String, String)> = Vec::new();
    for second in 0..3_600u64 {
        let now = T0 + second * 1_000;
        if let Some(sent) = n.send(Mode::Outbound, true, now) {
            n.statuses(&sent.0, &sent.1, now + 500);
            live.push(sent);
        }
        if second % 10 == 0 {
            if let Some(sent) = n.send(Mode::Inbound, false, now) {
                live.push(sent);
            }
        }
        if let Some((id, _)) = live.last().cloned() {
            n.attempt(&id, false, Channel::RequestId, now + 100);
            n.attempt(&id, false, Channel::Phone, now + 200);
            n.attempt(&id, false, Channel::WhatsApp, now + 300);
            n.poll(&id, now + 400);
        }
        if second % 60 == 0 {
            for (i, word) in [Word::Stop, Word::Start, Word::NotMe].into_iter().enumerate() {
                let message = MessageRef { id: n.wamid(), sent_ms: now + i as u64 };
                n.run(Keyword { number: NUMBER.into(), word, message, other_spelling: None }, now + 600 + i as u64);
            }
        }
        if live.len() > 50 {
            live.drain(..25);
        }
    }
    n
}

#[test]
fn a_numbers_stored_state_stays_small_and_bounded() {
    let day = typical_day(DEFAULTS);
    let abuse = abusive_hour(DEFAULTS);
    let abuse_loosest = abusive_hour(LOOSEST);
    println!(
        "stored state of one number, bytes (peak / at the end): typical day {} / {}; an hour of abuse {} / {}; \
         the same with the loosest settings {} / {}",
        day.peak,
        day.size(),
        abuse.peak,
        abuse.size(),
        abuse_loosest.peak,
        abuse_loosest.size()
    );
    // A day of use: a few KB, written on every change.
    assert!(day.peak <= 4_000, "typical day: {} bytes", day.peak);
    // Abuse is bounded by the caps (20 requests, 20 idempotency keys, the attempt budget
    // per request), not by how hard the number is hammered.
    assert!(abuse.peak <= 8_000, "an hour of abuse: {} bytes", abuse.peak);
    assert!(abuse_loosest.peak <= 64_000, "an hour of abuse, loosest settings: {} bytes", abuse_loosest.peak);
}
