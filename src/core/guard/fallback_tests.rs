//! The SMS fallback in a number's guard: armed only once WhatsApp took the message,
//! claimed at most once, never for a request that ended or a number that may not be
//! texted, and the sealed code gone as soon as it cannot be used.

use serde_json::json;

use super::leg::{FallbackArm, SmsJob, SmsResult, SmsSent};
use super::number::SendResult;
use super::protocol::*;
use super::stored::{load, save, GuardObject};
use super::test_calls::{delivery_call, reserve_call, NUMBER};
use super::*;

const POLICY: SendPolicy = SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 0, max_per_hour: 50, max_per_day: 50 };
const T0: u64 = 1_800_000_000_000;
const DUE: u64 = T0 + 45_000;

fn run<C: GuardCall>(o: &mut GuardObject, call: C, now: u64) -> C::Reply {
    execute(o, call, now).expect("a number object")
}

fn arm() -> FallbackArm {
    FallbackArm { sealed: "s1.sealed".into(), due_ms: DUE }
}

fn reserve(o: &mut GuardObject, id: &str, now: u64) {
    reserve_marked(o, id, now, false);
}

/// `test`: a test number's request (`TEST_NUMBERS`).
fn reserve_marked(o: &mut GuardObject, id: &str, now: u64, test: bool) {
    let call = Reserve { locale: Some("de".into()), test, ..reserve_call(id, Mode::Outbound, POLICY) };
    assert!(matches!(run(o, call, now), ReserveReply::Reserved(_)));
}

fn settle(o: &mut GuardObject, id: &str, sms: Option<SmsSent>, fallback: Option<FallbackArm>, now: u64) {
    let message_id = sms.is_none().then(|| format!("wamid.{id}"));
    let result = SendResult::Accepted { message_id, response: json!({}), wa_id: None };
    let call = Settle { number: NUMBER.into(), request_id: id.into(), result, idempotency_slot: None, sms, fallback };
    assert_eq!(run(o, call, now), SettleReply::Settled);
}

/// A request whose WhatsApp message went out with a fallback armed.
fn armed(o: &mut GuardObject, id: &str) {
    reserve(o, id, T0);
    settle(o, id, None, Some(arm()), T0 + 300);
}

fn status_webhook(o: &mut GuardObject, id: &str, status: DeliveryStatus, now: u64) -> DeliveryReply {
    let call = protocol::Delivery {
        error_code: (status == DeliveryStatus::Failed).then_some(131026),
        ..delivery_call(&format!("wamid.{id}"), None, status)
    };
    run(o, call, now)
}

fn view(o: &mut GuardObject, id: &str, now: u64) -> RequestView {
    match run(o, Status { number: NUMBER.into(), request_id: id.into(), policy: POLICY }, now) {
        StatusReply::Found { view } => view,
        StatusReply::Forgotten => panic!("no view of {id}"),
    }
}

fn request<'a>(o: &'a mut GuardObject, id: &str) -> &'a number::RequestState {
    match o {
        GuardObject::Number(n) => n.requests.iter().find(|r| r.request_id == id).unwrap(),
        _ => panic!("a number"),
    }
}

fn alarm(o: &mut GuardObject, now: u64) -> Vec<SmsJob> {
    o.prune(now);
    o.take_due_fallbacks(now)
}

#[test]
fn the_alarm_sends_one_sms_at_the_deadline_and_the_seal_goes_with_it() {
    let mut o = GuardObject::default();
    armed(&mut o, "a");
    assert_eq!(o.next_wakeup(), Some(DUE), "the alarm comes at the deadline, before the expiry");
    assert!(alarm(&mut o, DUE - 1).is_empty(), "not before");
    let jobs = alarm(&mut o, DUE);
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (job.request_id.as_str(), job.sealed.as_str(), job.reason),
        ("a", "s1.sealed", FallbackReason::NotDeliveredInTime)
    );
    assert_eq!((job.number.as_str(), job.locale.as_deref(), job.expires_ms), (NUMBER, Some("de"), T0 + 300_000));
    assert_eq!(request(&mut o, "a").fallback, None, "the sealed code left with the job");
    assert!(alarm(&mut o, DUE + 1).is_empty(), "at most one SMS per request");
    assert_eq!(o.next_wakeup(), Some(T0 + 300_000), "next: the expiry");
    let changes = o.take_changes().1;
    assert!(changes.contains(&Change::Fallback {
        request_id: "a".into(),
        from: Leg::WhatsApp,
        to: Leg::Sms,
        reason: FallbackReason::NotDeliveredInTime
    }));
    // The SMS went: the leg has its id; a status callback moves it on.
    let settled = SettleSms {
        number: NUMBER.into(),
        request_id: "a".into(),
        result: SmsResult::Sent { sid: Some("SM1".into()) },
    };
    assert_eq!(run(&mut o, settled, DUE + 10), SettleReply::Settled);
    let delivered =
        SmsStatus { number: NUMBER.into(), sid: "SM1".into(), status: DeliveryStatus::Delivered, error_code: None };
    assert_eq!(run(&mut o, delivered.clone(), DUE + 20), DeliveryReply::Applied);
    assert_eq!(run(&mut o, delivered, DUE + 21), DeliveryReply::Stale, "callbacks are idempotent");
    let late =
        SmsStatus { number: NUMBER.into(), sid: "SM1".into(), status: DeliveryStatus::Failed, error_code: Some(30003) };
    assert_eq!(run(&mut o, late, DUE + 22), DeliveryReply::Stale, "a delivered SMS never turns failed");
    let unknown =
        SmsStatus { number: NUMBER.into(), sid: "SM2".into(), status: DeliveryStatus::Sent, error_code: None };
    assert_eq!(run(&mut o, unknown, DUE + 23), DeliveryReply::UnknownMessage);
    let v = view(&mut o, "a", DUE + 30);
    assert_eq!(v.status, RequestStatus::Delivered);
    let legs: Vec<_> = v.deliveries.iter().map(|d| (d.channel, d.status, d.fallback_reason)).collect();
    assert_eq!(
        legs,
        [
            (Leg::WhatsApp, DeliveryStatus::Accepted, None),
            (Leg::Sms, DeliveryStatus::Delivered, Some(FallbackReason::NotDeliveredInTime))
        ]
    );
    assert_eq!(v.delivery.map(|d| d.channel), Some(Leg::Sms), "`delivery` is the latest leg");
}

#[test]
fn no_sms_once_the_request_ended() {
    // Verified, superseded, locked, expired, revoked: each drops the seal at once.
    let mut o = GuardObject::default();
    armed(&mut o, "verified");
    let verify = |correct| Attempt {
        number: NUMBER.into(),
        request_id: "verified".into(),
        correct,
        channel: Channel::RequestId,
        message: None,
        policy: POLICY,
    };
    assert!(matches!(run(&mut o, verify(true), T0 + 1_000).outcome, number::AttemptOutcome::Verified { .. }));
    assert_eq!(request(&mut o, "verified").fallback, None, "dropped with the verification");
    assert!(alarm(&mut o, DUE).is_empty());

    let mut o = GuardObject::default();
    armed(&mut o, "old");
    reserve(&mut o, "new", T0 + 1_000);
    settle(&mut o, "new", None, None, T0 + 1_100);
    assert_eq!(request(&mut o, "old").fallback, None, "superseded");
    assert!(alarm(&mut o, DUE).is_empty());

    let mut o = GuardObject::default();
    armed(&mut o, "locked");
    for _ in 0..5 {
        let wrong = Attempt {
            number: NUMBER.into(),
            request_id: "locked".into(),
            correct: false,
            channel: Channel::RequestId,
            message: None,
            policy: POLICY,
        };
        run(&mut o, wrong, T0 + 1_000);
    }
    assert_eq!(request(&mut o, "locked").fallback, None, "locked");

    // Expired before the alarm ran (an alarm that comes late): no SMS.
    let mut o = GuardObject::default();
    armed(&mut o, "late");
    assert!(alarm(&mut o, T0 + 300_000).is_empty());
    assert_eq!(request(&mut o, "late").fallback, None);
}

#[test]
fn no_sms_for_an_opted_out_or_not_me_number() {
    for word in [Word::Stop, Word::NotMe] {
        let mut o = GuardObject::default();
        armed(&mut o, "a");
        let keyword = Keyword {
            number: NUMBER.into(),
            word,
            message: MessageRef { id: "wamid.kw".into(), sent_ms: T0 + 1_000 },
            other_spelling: None,
        };
        run(&mut o, keyword, T0 + 1_000);
        assert!(alarm(&mut o, DUE).is_empty(), "{word:?}");
        assert_eq!(request(&mut o, "a").fallback, None, "{word:?}: the seal is gone too");
        assert!(o.next_wakeup().is_some_and(|t| t > DUE), "{word:?}: the alarm does not spin");
    }
}

#[test]
fn delivered_or_read_in_time_means_no_sms() {
    for status in [DeliveryStatus::Delivered, DeliveryStatus::Read] {
        let mut o = GuardObject::default();
        armed(&mut o, "a");
        assert_eq!(status_webhook(&mut o, "a", DeliveryStatus::Sent, T0 + 500), DeliveryReply::Applied);
        assert!(request(&mut o, "a").fallback.is_some(), "`sent` is not delivery");
        assert_eq!(status_webhook(&mut o, "a", status, T0 + 1_000), DeliveryReply::Applied);
        assert_eq!(request(&mut o, "a").fallback, None);
        assert!(alarm(&mut o, DUE).is_empty());
        // A `failed` afterwards (stale after `read`) sends nothing either.
        let late = status_webhook(&mut o, "a", DeliveryStatus::Failed, T0 + 2_000);
        assert!(!matches!(late, DeliveryReply::FallBack(_)), "{status:?}: {late:?}");
    }
}

#[test]
fn a_failed_status_claims_the_sms_at_once_and_only_once() {
    let mut o = GuardObject::default();
    armed(&mut o, "a");
    let DeliveryReply::FallBack(job) = status_webhook(&mut o, "a", DeliveryStatus::Failed, T0 + 1_000) else {
        panic!("a fallback")
    };
    assert_eq!((job.reason, job.sealed.as_str()), (FallbackReason::WhatsappFailed, "s1.sealed"));
    // Meta repeats the status; the alarm comes: nothing more.
    assert_eq!(status_webhook(&mut o, "a", DeliveryStatus::Failed, T0 + 1_100), DeliveryReply::Stale);
    assert!(alarm(&mut o, DUE).is_empty());
    // The provider failed: the WhatsApp code stays as it was (live until it expires).
    let failed = SettleSms {
        number: NUMBER.into(),
        request_id: "a".into(),
        result: SmsResult::Failed { error_code: Some(21610) },
    };
    assert_eq!(run(&mut o, failed, T0 + 1_200), SettleReply::Settled);
    let v = view(&mut o, "a", T0 + 1_300);
    assert!(v.live, "the code still verifies");
    assert_eq!(v.deliveries[1].error_code, Some(21610));
}

#[test]
fn a_failed_status_before_the_settle_still_falls_back_at_once() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    let early =
        protocol::Delivery { error_code: Some(131026), ..delivery_call("wamid.a", Some("a"), DeliveryStatus::Failed) };
    assert_eq!(run(&mut o, early, T0 + 100), DeliveryReply::Applied, "nothing armed yet");
    settle(&mut o, "a", None, Some(arm()), T0 + 300);
    assert_eq!(o.next_wakeup(), Some(T0), "due at once: the alarm sends it");
    assert_eq!(alarm(&mut o, T0 + 1_000).len(), 1);
}

#[test]
fn nothing_is_armed_unless_whatsapp_took_the_message() {
    // The settle carries no arm for an inbound request, a failed send or an SMS.
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    let failed = Settle {
        number: NUMBER.into(),
        request_id: "a".into(),
        result: SendResult::Failed { refund: true, error_code: Some(131000) },
        idempotency_slot: None,
        sms: None,
        fallback: Some(arm()),
    };
    run(&mut o, failed, T0 + 100);
    assert_eq!(request(&mut o, "a").fallback, None);
    assert!(alarm(&mut o, DUE).is_empty());
}

#[test]
fn meta_refused_and_the_code_went_by_sms() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    let sms =
        SmsSent { sid: Some("SM1".into()), reason: Some(FallbackReason::NotOnWhatsapp), whatsapp_error: Some(131026) };
    settle(&mut o, "a", Some(sms), Some(arm()), T0 + 300);
    let v = view(&mut o, "a", T0 + 400);
    assert!(v.live);
    let legs: Vec<_> = v.deliveries.iter().map(|d| (d.channel, d.status, d.error_code)).collect();
    assert_eq!(
        legs,
        [(Leg::WhatsApp, DeliveryStatus::Failed, Some(131026)), (Leg::Sms, DeliveryStatus::Accepted, None)]
    );
    assert_eq!(request(&mut o, "a").fallback, None, "an SMS leg is never armed again");
    let changes = o.take_changes().1;
    assert!(changes.iter().any(|c| matches!(c, Change::Sent { channel: Leg::Sms, .. })));
    assert!(changes.iter().any(|c| matches!(c, Change::Fallback { reason: FallbackReason::NotOnWhatsapp, .. })));
    // An explicit SMS request: one leg, no WhatsApp.
    let mut o = GuardObject::default();
    reserve(&mut o, "b", T0);
    settle(&mut o, "b", Some(SmsSent { sid: None, reason: None, whatsapp_error: None }), None, T0 + 300);
    let v = view(&mut o, "b", T0 + 400);
    assert_eq!(v.deliveries.len(), 1);
    assert_eq!((v.deliveries[0].channel, v.status), (Leg::Sms, RequestStatus::Pending));
}

#[test]
fn the_legs_and_the_seal_survive_a_round_trip_through_storage() {
    let mut o = GuardObject::default();
    armed(&mut o, "a");
    armed(&mut o, "b");
    alarm(&mut o, DUE);
    o.take_changes();
    let text = save(&o);
    assert!(text.starts_with("{\"v\":3,"));
    assert_eq!(load(&text).unwrap(), o);
    // A version 3 state is refused by a reader of version 2 (it would drop the legs):
    // here, a state of version 4 is refused the same way.
    assert!(load(&text.replacen("{\"v\":3,", "{\"v\":4,", 1)).is_err());
}

#[test]
fn a_test_numbers_request_never_arms_a_fallback() {
    // Even if the edge handed an arm over (a list changed mid-request), the guard keeps
    // none: nothing is ever sent for a test number, by any channel.
    let mut o = GuardObject::default();
    reserve_marked(&mut o, "t", T0, true);
    settle(&mut o, "t", None, Some(arm()), T0 + 300);
    assert_eq!(request(&mut o, "t").fallback, None);
    assert!(alarm(&mut o, DUE + 1).is_empty(), "no SMS at the deadline");
    assert_eq!(status_webhook(&mut o, "t", DeliveryStatus::Failed, DUE + 2), DeliveryReply::Applied);
    assert!(alarm(&mut o, DUE + 3).is_empty(), "nor after a failed status");
}
