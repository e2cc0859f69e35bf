use serde_json::json;

use super::number::{AttemptOutcome as A, SendResult, KEYWORD_MEMORY_MS, MAX_CONSECUTIVE_FAILURES};
use super::protocol::*;
use super::stored::{load, save, GuardObject};
use super::test_calls::{delivery_call, reserve_call, NUMBER};
use super::*;

const POLICY: SendPolicy = SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };
const T0: u64 = 1_800_000_000_000;

fn run<C: GuardCall>(o: &mut GuardObject, call: C, now: u64) -> C::Reply {
    execute(o, call, now).expect("a number object")
}

fn reserve_as(o: &mut GuardObject, id: &str, mode: Mode, now: u64) -> ReserveReply {
    run(o, reserve_call(id, mode, POLICY), now)
}

fn reserve(o: &mut GuardObject, id: &str, now: u64) -> ReserveReply {
    reserve_as(o, id, Mode::Outbound, now)
}

fn settle(o: &mut GuardObject, id: &str, result: SendResult, now: u64) -> SettleReply {
    run(
        o,
        Settle {
            number: NUMBER.into(),
            request_id: id.into(),
            result,
            idempotency_slot: None,
            sms: None,
            fallback: None,
        },
        now,
    )
}

fn accept(o: &mut GuardObject, id: &str, now: u64) {
    let result = SendResult::Accepted { message_id: Some(format!("wamid.{id}")), response: json!({}), wa_id: None };
    assert_eq!(settle(o, id, result, now), SettleReply::Settled);
}

fn attempt_via(o: &mut GuardObject, id: &str, correct: bool, channel: Channel, msg: Option<MessageRef>, now: u64) -> A {
    let call = Attempt { number: NUMBER.into(), request_id: id.into(), correct, channel, message: msg, policy: POLICY };
    run(o, call, now).outcome
}

fn attempt(o: &mut GuardObject, id: &str, correct: bool, now: u64) -> A {
    attempt_via(o, id, correct, Channel::RequestId, None, now)
}

fn msg(id: &str, sent_ms: u64) -> MessageRef {
    MessageRef { id: id.into(), sent_ms }
}

fn status(o: &mut GuardObject, id: &str, now: u64) -> RequestView {
    match run(o, Status { number: NUMBER.into(), request_id: id.into(), policy: POLICY }, now) {
        StatusReply::Found { view } => view,
        StatusReply::Forgotten => panic!("no view of {id}"),
    }
}

fn limited(reply: ReserveReply) -> (u64, LimitReason) {
    match reply {
        ReserveReply::Limited { retry_after_s, reason } => (retry_after_s, reason),
        other => panic!("not limited: {other:?}"),
    }
}

fn is_reserved(reply: &ReserveReply) -> bool {
    matches!(reply, ReserveReply::Reserved(_))
}

fn number(o: &mut GuardObject) -> &mut NumberState {
    o.number(NUMBER).unwrap()
}

#[test]
fn a_reservation_reports_expiry_cooldown_and_attempts() {
    let mut o = GuardObject::default();
    let reply = reserve(&mut o, "a", T0);
    assert_eq!(
        reply,
        ReserveReply::Reserved(number::ReserveOk { expires_ms: T0 + 300_000, resend_after_s: 30, attempts_left: 5 })
    );
    let view = status(&mut o, "a", T0 + 10_000);
    assert_eq!((view.status, view.resend_after_s), (RequestStatus::Pending, 20));
    assert_eq!(number(&mut o).take_changes(), vec![Change::Requested { request_id: "a".into(), mode: Mode::Outbound }]);
}

#[test]
fn each_send_limit_names_its_reason() {
    let mut o = GuardObject::default();
    assert!(is_reserved(&reserve(&mut o, "r0", T0)));
    assert_eq!(limited(reserve(&mut o, "x", T0 + 1_000)), (29, LimitReason::ResendCooldown));
    for i in 1..5 {
        assert!(is_reserved(&reserve(&mut o, &format!("r{i}"), T0 + i * 31_000)));
    }
    let after_cooldown = T0 + 5 * 31_000;
    assert_eq!(
        limited(reserve(&mut o, "x", after_cooldown)),
        ((T0 + HOUR_MS - after_cooldown).div_ceil(1000), LimitReason::HourlyLimit)
    );
    for i in 0..5 {
        assert!(is_reserved(&reserve(&mut o, &format!("h{i}"), T0 + HOUR_MS + i * 31_000)));
    }
    let later = T0 + 3 * HOUR_MS;
    assert_eq!(limited(reserve(&mut o, "x", later)), ((T0 + DAY_MS - later) / 1000, LimitReason::DailyLimit));
    assert!(is_reserved(&reserve(&mut o, "next-day", T0 + DAY_MS + 1)));
}

#[test]
fn of_many_reservations_at_once_only_one_passes() {
    let mut o = GuardObject::default();
    let passed = (0..20).filter(|i| is_reserved(&reserve(&mut o, &format!("c{i}"), T0))).count();
    assert_eq!(passed, 1);
}

#[test]
fn a_new_code_supersedes_the_old_one_once_it_is_out() {
    let mut o = GuardObject::default();
    reserve(&mut o, "old", T0);
    accept(&mut o, "old", T0);
    reserve(&mut o, "new", T0 + 31_000);
    // While the new message is still being sent, the old code still works.
    assert_eq!(status(&mut o, "old", T0 + 31_500).status, RequestStatus::Pending);
    accept(&mut o, "new", T0 + 32_000);
    assert_eq!(attempt(&mut o, "old", true, T0 + 32_000), A::Superseded);
    assert!(matches!(attempt(&mut o, "new", true, T0 + 32_000), A::Verified { via: VerifiedVia::Code, .. }));
}

#[test]
fn a_failed_resend_leaves_the_previous_code_valid() {
    let mut o = GuardObject::default();
    reserve(&mut o, "old", T0);
    accept(&mut o, "old", T0);
    reserve(&mut o, "new", T0 + 31_000);
    settle(&mut o, "new", SendResult::Failed { refund: true, error_code: Some(131000) }, T0 + 32_000);
    assert_eq!(status(&mut o, "new", T0 + 32_000).status, RequestStatus::Failed);
    assert!(matches!(attempt(&mut o, "old", true, T0 + 33_000), A::Verified { .. }));
}

#[test]
fn a_late_failure_never_overwrites_a_verification() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0 + 10);
    assert!(matches!(attempt(&mut o, "a", true, T0 + 20), A::Verified { .. }));
    settle(&mut o, "a", SendResult::Failed { refund: false, error_code: None }, T0 + 30);
    assert_eq!(status(&mut o, "a", T0 + 40).status, RequestStatus::Verified);
}

#[test]
fn failures_on_meta_or_our_side_do_not_use_the_quota() {
    let mut o = GuardObject::default();
    for i in 0..20 {
        let id = format!("f{i}");
        assert!(is_reserved(&reserve(&mut o, &id, T0 + i)), "send {i}");
        settle(&mut o, &id, SendResult::Failed { refund: true, error_code: None }, T0 + i);
    }
    reserve(&mut o, "user", T0 + 100);
    settle(&mut o, "user", SendResult::Failed { refund: false, error_code: Some(131026) }, T0 + 100);
    assert_eq!(limited(reserve(&mut o, "x", T0 + 200)).1, LimitReason::ResendCooldown);
    let changes = number(&mut o).take_changes();
    assert!(changes.contains(&Change::Delivery {
        request_id: "user".into(),
        status: DeliveryStatus::Failed,
        error_code: Some(131026),
        pricing_category: None,
        channel: crate::core::guard::Leg::WhatsApp
    }));
}

#[test]
fn attempts_by_request_id_lock_after_the_limit() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    for left in (0..5).rev() {
        assert_eq!(attempt(&mut o, "a", false, T0 + 1), A::Wrong { attempts_left: left });
    }
    for _ in 0..25 {
        assert_eq!(attempt(&mut o, "a", false, T0 + 2), A::Locked);
    }
    assert_eq!(attempt(&mut o, "a", true, T0 + 3), A::Locked);
    let view = status(&mut o, "a", T0 + 3);
    assert_eq!((view.status, view.attempts_left), (RequestStatus::Locked, 0));
    assert!(number(&mut o).take_changes().contains(&Change::Locked { request_id: "a".into() }));
}

#[test]
fn wrong_codes_by_phone_never_lock_the_owner_out() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    for _ in 0..5 {
        assert!(matches!(attempt_via(&mut o, "a", false, Channel::Phone, None, T0 + 1), A::Wrong { .. }));
    }
    assert_eq!(attempt_via(&mut o, "a", true, Channel::Phone, None, T0 + 2), A::Locked);
    assert_eq!(run(&mut o, FindForPhone { number: NUMBER.into() }, T0 + 2), FindForPhoneReply::NoneUsable);
    assert_eq!(status(&mut o, "a", T0 + 2).attempts_left, 5, "the request_id budget is untouched");
    assert!(matches!(attempt(&mut o, "a", true, T0 + 3), A::Verified { via: VerifiedVia::Code, .. }));
}

#[test]
fn verify_by_phone_finds_only_an_accepted_live_outbound_code() {
    let mut o = GuardObject::default();
    let find = |o: &mut GuardObject, now| run(o, FindForPhone { number: NUMBER.into() }, now);
    assert_eq!(find(&mut o, T0), FindForPhoneReply::NoneUsable);
    reserve_as(&mut o, "in", Mode::Inbound, T0);
    assert_eq!(find(&mut o, T0), FindForPhoneReply::NoneUsable, "inbound codes are not typed");
    reserve(&mut o, "out", T0);
    assert_eq!(find(&mut o, T0), FindForPhoneReply::NoneUsable, "not sent yet");
    accept(&mut o, "out", T0);
    assert_eq!(find(&mut o, T0 + 1), FindForPhoneReply::Live { request_id: "out".into() });
    assert_eq!(find(&mut o, T0 + 300_000), FindForPhoneReply::NoneUsable, "expired");
}

#[test]
fn inbound_requests_neither_supersede_nor_use_the_send_quota() {
    let mut o = GuardObject::default();
    reserve(&mut o, "out", T0);
    accept(&mut o, "out", T0);
    for i in 0..10 {
        assert!(is_reserved(&reserve_as(&mut o, &format!("in{i}"), Mode::Inbound, T0 + 1 + i)));
    }
    // Past the cap a new inbound request is refused, never an older one dropped.
    let refused = reserve_as(&mut o, "in10", Mode::Inbound, T0 + 100);
    assert_eq!(limited(refused), (300, LimitReason::HourlyLimit), "until in0 expires");
    assert_eq!(status(&mut o, "out", T0 + 100).status, RequestStatus::Pending);
    assert!(matches!(attempt(&mut o, "out", true, T0 + 100), A::Verified { .. }));
    assert_eq!(number(&mut o).sends.len(), 1);
    for i in 0..10 {
        assert_eq!(status(&mut o, &format!("in{i}"), T0 + 100).status, RequestStatus::Pending, "in{i} still live");
    }
    // Once the first one expires, there is room again.
    assert!(is_reserved(&reserve_as(&mut o, "in11", Mode::Inbound, T0 + 300_001)));
}

#[test]
fn an_outbound_send_ends_older_outbound_codes_but_no_inbound_one() {
    let mut o = GuardObject::default();
    reserve_as(&mut o, "owner", Mode::Inbound, T0);
    reserve(&mut o, "out", T0 + 1);
    accept(&mut o, "out", T0 + 1);
    assert_eq!(status(&mut o, "owner", T0 + 2).status, RequestStatus::Pending);
    reserve(&mut o, "out2", T0 + 31_000);
    accept(&mut o, "out2", T0 + 31_000);
    assert_eq!(status(&mut o, "out", T0 + 31_001).status, RequestStatus::Superseded);
    assert!(matches!(
        attempt_via(&mut o, "owner", true, Channel::WhatsApp, Some(msg("m", T0 + 31_002)), T0 + 31_002),
        A::Verified { via: VerifiedVia::Inbound, .. }
    ));
}

#[test]
fn the_chat_speaks_the_language_the_template_went_out_in() {
    let mut o = GuardObject::default();
    let call = |id: &str, mode, locale: &str| Reserve { locale: Some(locale.into()), ..reserve_call(id, mode, POLICY) };
    run(&mut o, call("a", Mode::Outbound, "hi"), T0);
    // Meta had no Hindi translation: the 202 body names the fallback.
    let result = SendResult::Accepted { message_id: None, response: json!({ "locale": "en_US" }), wa_id: None };
    settle(&mut o, "a", result, T0);
    assert_eq!(status(&mut o, "a", T0).locale.as_deref(), Some("en_US"));
    assert_eq!(number(&mut o).latest_locale().as_deref(), Some("en_US"), "what NOT ME and STOP are answered in");
}

#[test]
fn a_code_verifies_exactly_once() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    let wins = (0..10).filter(|_| matches!(attempt(&mut o, "a", true, T0 + 5), A::Verified { .. })).count();
    assert_eq!(wins, 1);
    assert_eq!(attempt(&mut o, "a", true, T0 + 6), A::AlreadyVerified);
    let view = status(&mut o, "a", T0 + 6);
    assert_eq!((view.status, view.verified), (RequestStatus::Verified, Some((T0 + 5, VerifiedVia::Code))));
}

#[test]
fn codes_expire_and_say_so_once() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    number(&mut o).take_changes();
    assert_eq!(attempt(&mut o, "a", true, T0 + 300_000), A::Expired);
    assert_eq!(status(&mut o, "a", T0 + 300_001).status, RequestStatus::Expired);
    assert_eq!(number(&mut o).take_changes(), vec![Change::Expired { request_id: "a".into() }]);
}

#[test]
fn whatsapp_replies_and_inbound_codes_verify_with_their_own_via() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    assert!(matches!(
        attempt_via(&mut o, "a", true, Channel::WhatsApp, Some(msg("m1", T0 + 1)), T0 + 1),
        A::Verified { via: VerifiedVia::Reply, .. }
    ));
    let mut o = GuardObject::default();
    reserve_as(&mut o, "b", Mode::Inbound, T0);
    assert_eq!(attempt(&mut o, "b", true, T0 + 1), A::WrongChannel);
    assert_eq!(status(&mut o, "b", T0 + 1).attempts_left, 5, "the API may not spend an inbound request's attempts");
    assert!(matches!(
        attempt_via(&mut o, "b", true, Channel::WhatsApp, Some(msg("m2", T0 + 2)), T0 + 2),
        A::Verified { via: VerifiedVia::Inbound, .. }
    ));
}

#[test]
fn a_webhook_message_counts_once_and_never_for_a_later_request() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    let wrong = || Some(msg("m1", T0 + 1_000));
    assert_eq!(attempt_via(&mut o, "a", false, Channel::WhatsApp, wrong(), T0 + 1), A::Wrong { attempts_left: 4 });
    for _ in 0..4 {
        assert_eq!(attempt_via(&mut o, "a", false, Channel::WhatsApp, wrong(), T0 + 2), A::Duplicate);
    }
    assert_eq!(status(&mut o, "a", T0 + 2).attempts_left, 4);
    // Meta retries for days: the same message replayed after a new request is too old for it.
    reserve(&mut o, "b", T0 + DAY_MS);
    accept(&mut o, "b", T0 + DAY_MS);
    assert_eq!(attempt_via(&mut o, "b", false, Channel::WhatsApp, wrong(), T0 + DAY_MS), A::TooOld);
    assert_eq!(status(&mut o, "b", T0 + DAY_MS).attempts_left, 5);
    let candidates = run(&mut o, ChatCandidates { number: NUMBER.into(), message: msg("m1", T0 + 1_000) }, T0 + DAY_MS);
    assert!(candidates.candidates.is_empty(), "an old message is for no live request");
    // The message that verified, delivered again: a duplicate (no chat answer), not "already verified".
    let right = || Some(msg("m2", T0 + DAY_MS + 1));
    assert!(matches!(attempt_via(&mut o, "b", true, Channel::WhatsApp, right(), T0 + DAY_MS + 1), A::Verified { .. }));
    assert_eq!(attempt_via(&mut o, "b", true, Channel::WhatsApp, right(), T0 + DAY_MS + 2), A::Duplicate);
}

#[test]
fn chat_candidates_are_the_reply_code_and_every_live_inbound_code() {
    let mut o = GuardObject::default();
    reserve(&mut o, "out1", T0);
    accept(&mut o, "out1", T0);
    reserve(&mut o, "out2", T0 + 31_000);
    reserve_as(&mut o, "in1", Mode::Inbound, T0 + 31_001);
    let m = msg("m", T0 + 40_000);
    let ids = |o: &mut GuardObject| -> Vec<String> {
        let reply = run(o, ChatCandidates { number: NUMBER.into(), message: m.clone() }, T0 + 40_000);
        reply.candidates.into_iter().map(|c| c.request_id).collect()
    };
    assert_eq!(ids(&mut o), vec!["in1", "out1"], "the unsent code is not a candidate yet");
    accept(&mut o, "out2", T0 + 40_000);
    assert_eq!(ids(&mut o), vec!["in1", "out2"]);
}

#[test]
fn stop_start_and_their_retries() {
    let mut o = GuardObject::default();
    let keyword = |o: &mut GuardObject, word, m: MessageRef| {
        run(o, Keyword { number: NUMBER.into(), word, message: m, other_spelling: None }, T0)
    };
    assert_eq!(
        keyword(&mut o, Word::Stop, msg("m1", T0)),
        KeywordReply::Opted { changed: true, locale: None, acknowledge: true }
    );
    assert_eq!(reserve(&mut o, "a", T0), ReserveReply::OptedOut);
    assert!(is_reserved(&reserve_as(&mut o, "i", Mode::Inbound, T0)), "inbound sends nothing: still allowed");
    assert_eq!(keyword(&mut o, Word::Stop, msg("m1", T0)), KeywordReply::Duplicate);
    assert_eq!(
        keyword(&mut o, Word::Start, msg("m2", T0 + 1_000)),
        KeywordReply::Opted { changed: true, locale: None, acknowledge: false }
    );
    // The first STOP, delivered again, is older than the START: ignored.
    assert_eq!(keyword(&mut o, Word::Stop, msg("m1", T0)), KeywordReply::Duplicate);
    assert!(is_reserved(&reserve(&mut o, "a", T0 + 2)));
    assert_eq!(
        number(&mut o).take_changes()[..2],
        [Change::OptedOut, Change::Requested { request_id: "i".into(), mode: Mode::Inbound }]
    );
}

/// START on a number with nothing else stored used to leave the state empty, so the
/// object forgot the last keyword and a redelivered STOP opted the number out again.
#[test]
fn a_stop_replayed_after_start_stays_ignored_for_metas_redelivery_window() {
    let mut o = GuardObject::default();
    let keyword = |o: &mut GuardObject, word, m: MessageRef, now| {
        run(o, Keyword { number: NUMBER.into(), word, message: m, other_spelling: None }, now)
    };
    keyword(&mut o, Word::Stop, msg("m1", T0), T0);
    keyword(&mut o, Word::Start, msg("m2", T0 + 1_000), T0 + 1_000);
    assert!(!o.is_empty(), "the last keyword is worth keeping");
    let wakeup = number(&mut o).next_wakeup().expect("an alarm forgets it");
    assert_eq!(wakeup, T0 + 1_000 + KEYWORD_MEMORY_MS);
    // Six days on, the alarm has run and Meta redelivers the first STOP.
    o.prune(T0 + 6 * DAY_MS);
    let mut o = load(&save(&o)).unwrap();
    assert_eq!(keyword(&mut o, Word::Stop, msg("m1", T0), T0 + 6 * DAY_MS), KeywordReply::Duplicate);
    assert!(is_reserved(&reserve(&mut o, "a", T0 + 6 * DAY_MS)));
    // Once nothing older can arrive any more, the stamp goes with the rest.
    let mut o = GuardObject::default();
    keyword(&mut o, Word::Start, msg("m3", T0), T0);
    o.prune(T0 + KEYWORD_MEMORY_MS);
    assert!(o.is_empty());
}

/// Each acknowledgement is a message we pay for: a flood of keywords gets one a minute.
#[test]
fn keywords_are_acknowledged_at_most_once_a_minute() {
    let mut o = GuardObject::default();
    let mut acknowledged = Vec::new();
    for i in 0..100u64 {
        let now = T0 + i * 1_000;
        let word = if i % 2 == 0 { Word::Stop } else { Word::Start };
        let message = msg(&format!("m{i}"), now);
        match run(&mut o, Keyword { number: NUMBER.into(), word, message, other_spelling: None }, now) {
            KeywordReply::Opted { changed: true, acknowledge, .. } => acknowledged.push(acknowledge),
            other => panic!("keyword {i} not applied: {other:?}"),
        }
    }
    // Every keyword applied (100 s of them), two acknowledged: at 0 s and at 60 s.
    assert_eq!(acknowledged.iter().filter(|a| **a).count(), 2);
    assert!(acknowledged[0] && acknowledged[60]);
    assert!(!number(&mut o).opted_out, "the last one, a START, counts");
    // The stamp survives storage and ages out.
    let mut o = load(&save(&o)).unwrap();
    assert_eq!(number(&mut o).keyword_acked_ms, Some(T0 + 60_000));
    o.prune(T0 + 120_000);
    assert_eq!(number(&mut o).keyword_acked_ms, None);
}

#[test]
fn not_me_revokes_the_verification_and_blocks_new_codes() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    attempt_via(&mut o, "a", true, Channel::WhatsApp, Some(msg("m1", T0 + 5_000)), T0 + 5_000);
    let reply = run(
        &mut o,
        Keyword { number: NUMBER.into(), word: Word::NotMe, message: msg("m2", T0 + 9_000), other_spelling: None },
        T0 + 9_000,
    );
    assert_eq!(reply, KeywordReply::NotMe { revoked: Some("a".into()), locale: None, acknowledge: true });
    assert_eq!(status(&mut o, "a", T0 + 9_000).status, RequestStatus::Revoked);
    assert_eq!(attempt(&mut o, "a", true, T0 + 9_000), A::Revoked);
    assert_eq!(limited(reserve(&mut o, "b", T0 + 60_000)).1, LimitReason::NotMe);
    assert!(is_reserved(&reserve(&mut o, "b", T0 + 9_000 + DAY_MS)));
    assert!(number(&mut o).take_changes().contains(&Change::Revoked { request_id: "a".into() }));
}

#[test]
fn a_hundred_consecutive_failures_block_new_codes_for_a_day() {
    let mut o = GuardObject::default();
    let mut now = T0;
    let mut failures = 0;
    let mut i = 0;
    while failures < MAX_CONSECUTIVE_FAILURES {
        let id = format!("r{i}");
        i += 1;
        if !is_reserved(&reserve(&mut o, &id, now)) {
            now += HOUR_MS;
            continue;
        }
        accept(&mut o, &id, now);
        for channel in [Channel::RequestId, Channel::Phone] {
            while failures < MAX_CONSECUTIVE_FAILURES
                && matches!(attempt_via(&mut o, &id, false, channel, None, now), A::Wrong { .. })
            {
                failures += 1;
            }
        }
        now += 31_000;
    }
    assert_eq!(limited(reserve(&mut o, "blocked", now + HOUR_MS)).1, LimitReason::TooManyFailures);
    // A success before the hundredth resets the count.
    let mut o = GuardObject::default();
    let n = number(&mut o);
    n.consecutive_failures = MAX_CONSECUTIVE_FAILURES - 1;
    reserve(&mut o, "ok", T0);
    accept(&mut o, "ok", T0);
    assert!(matches!(attempt(&mut o, "ok", true, T0), A::Verified { .. }));
    assert_eq!(number(&mut o).consecutive_failures, 0);
}

#[test]
fn delivery_status_never_moves_backwards_and_keeps_the_billing_category() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    let update = |o: &mut GuardObject, status, category: Option<&str>| {
        let call = protocol::Delivery {
            pricing_category: category.map(str::to_string),
            ..delivery_call("wamid.a", None, status)
        };
        run(o, call, T0 + 1)
    };
    assert_eq!(update(&mut o, DeliveryStatus::Delivered, Some("authentication")), DeliveryReply::Applied);
    assert_eq!(update(&mut o, DeliveryStatus::Sent, None), DeliveryReply::Stale);
    assert_eq!(update(&mut o, DeliveryStatus::Read, None), DeliveryReply::Applied);
    assert_eq!(update(&mut o, DeliveryStatus::Failed, None), DeliveryReply::Stale);
    let view = status(&mut o, "a", T0 + 2);
    let delivery = view.delivery.unwrap();
    assert_eq!((view.status, delivery.pricing_category.as_deref()), (RequestStatus::Read, Some("authentication")));
    let unknown = delivery_call("wamid.other", None, DeliveryStatus::Sent);
    assert_eq!(run(&mut o, unknown, T0 + 3), DeliveryReply::UnknownMessage);
}

#[test]
fn a_status_that_beats_the_settle_is_kept() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    let early = delivery_call("wamid.a", Some("a"), DeliveryStatus::Sent);
    assert_eq!(run(&mut o, early, T0 + 1), DeliveryReply::Applied);
    accept(&mut o, "a", T0 + 2);
    assert_eq!(status(&mut o, "a", T0 + 3).status, RequestStatus::Sent);
}

#[test]
fn idempotency_keys_are_scoped_and_bound_to_the_body() {
    let mut o = GuardObject::default();
    let key =
        |slot: &str, fingerprint: &str| Some(IdempotencyKey { slot: slot.into(), fingerprint: fingerprint.into() });
    let call = |id: &str, idempotency| Reserve { idempotency, ..reserve_call(id, Mode::Outbound, POLICY) };
    assert!(is_reserved(&run(&mut o, call("a", key("s1", "f1")), T0)));
    assert_eq!(run(&mut o, call("b", key("s1", "f1")), T0 + 1), ReserveReply::InProgress);
    assert_eq!(run(&mut o, call("b", key("s1", "f2")), T0 + 1), ReserveReply::KeyReused);
    let response = json!({"request_id": "a"});
    run(
        &mut o,
        Settle {
            number: NUMBER.into(),
            request_id: "a".into(),
            result: SendResult::Accepted { message_id: None, response: response.clone(), wa_id: None },
            idempotency_slot: Some("s1".into()),
            sms: None,
            fallback: None,
        },
        T0 + 2,
    );
    assert_eq!(run(&mut o, call("b", key("s1", "f1")), T0 + 3), ReserveReply::Replay { response });
    // Another address (another slot) gets nothing of the first request.
    assert_eq!(limited(run(&mut o, call("c", key("s2", "f1")), T0 + 3)).1, LimitReason::ResendCooldown);
    // The replay lives no longer than the code.
    assert!(is_reserved(&run(&mut o, call("d", key("s1", "f1")), T0 + 300_000)));
}

#[test]
fn address_allowances_are_separate_sliding_hours() {
    let mut o = GuardObject::default();
    let hit = |o: &mut GuardObject, allowance, now| run(o, AddressHit { allowance, max_per_hour: 3 }, now);
    for _ in 0..3 {
        assert_eq!(hit(&mut o, address::Allowance::Requests, T0), AddressReply::Allowed);
    }
    assert!(matches!(hit(&mut o, address::Allowance::Requests, T0), AddressReply::Limited { .. }));
    assert_eq!(hit(&mut o, address::Allowance::Checks, T0), AddressReply::Allowed);
    assert_eq!(hit(&mut o, address::Allowance::Requests, T0 + HOUR_MS + MINUTE_MS), AddressReply::Allowed);
    let mut big = GuardObject::default();
    for minute in 0..600 {
        run(
            &mut big,
            AddressHit { allowance: address::Allowance::Checks, max_per_hour: 1_000_000 },
            T0 + minute * 6_000,
        );
    }
    assert!(save(&big).len() < 3_000, "at most 60 buckets per allowance");
}

#[test]
fn links_and_budgets() {
    let mut link = GuardObject::default();
    let state = LinkState { number: NUMBER.into(), request_id: "a".into(), until_ms: T0 + 1_000, wa_id: None };
    run(&mut link, LinkMessage { link: state.clone() }, T0);
    assert_eq!(run(&mut link, ResolveMessage {}, T0 + 1), Some(state));
    assert_eq!(run(&mut link, ResolveMessage {}, T0 + 1_000), None);
    assert!(link.is_empty());

    let mut budget = GuardObject::default();
    let spend = |o: &mut GuardObject, now| run(o, SpendBudget { max: 5 }, now);
    let outcomes: Vec<_> = (0..6).map(|i| spend(&mut budget, T0 + i)).collect();
    assert_eq!(outcomes[3], budget::BudgetOutcome::Allowed { sends: 4, warn: true });
    assert_eq!(outcomes[4], budget::BudgetOutcome::Allowed { sends: 5, warn: false });
    assert!(matches!(outcomes[5], budget::BudgetOutcome::Exhausted { .. }));
    run(&mut budget, RefundBudget {}, T0 + 7);
    assert!(matches!(spend(&mut budget, T0 + 8), budget::BudgetOutcome::Allowed { .. }));
    let next_day = (T0 / DAY_MS + 1) * DAY_MS;
    assert_eq!(spend(&mut budget, next_day), budget::BudgetOutcome::Allowed { sends: 1, warn: false });
}

#[test]
fn a_command_for_another_kind_of_object_is_refused() {
    let mut o = GuardObject::default();
    run(&mut o, AddressHit { allowance: address::Allowance::Requests, max_per_hour: 3 }, T0);
    assert!(execute(&mut o, FindForPhone { number: NUMBER.into() }, T0).is_err());
}

#[test]
fn the_state_empties_itself_once_everything_ages_out() {
    let mut o = GuardObject::default();
    reserve(&mut o, "a", T0);
    accept(&mut o, "a", T0);
    assert!(!o.is_empty());
    assert_eq!(o.next_wakeup(), Some(T0 + 300_000), "the alarm comes at expiry, for its event");
    o.prune(T0 + 300_000);
    assert_eq!(o.next_wakeup(), Some(T0 + DAY_MS.min(300_000 + RETENTION_MS)));
    o.prune(T0 + DAY_MS);
    assert!(o.is_empty());
}

#[test]
fn opt_out_survives_pruning_and_a_round_trip() {
    let mut o = GuardObject::default();
    run(&mut o, Keyword { number: NUMBER.into(), word: Word::Stop, message: msg("m", T0), other_spelling: None }, T0);
    o.prune(T0 + 30 * DAY_MS);
    assert_eq!(o.take_changes().1, vec![Change::OptedOut]);
    let reloaded = load(&save(&o)).unwrap();
    assert_eq!(reloaded, o);
    assert!(matches!(&reloaded, GuardObject::Number(n) if n.opted_out));
}

#[test]
fn state_written_before_versions_loads_with_its_limits_and_opt_out() {
    let fixture = include_str!("../../../tests/fixtures/guard-state-v1.json");
    let mut o = load(fixture).expect("the old state migrates");
    let n = number(&mut o);
    assert!(n.opted_out);
    assert_eq!(n.sends, vec![1_800_000_000_000, 1_800_000_060_000]);
    assert_eq!(n.requests.len(), 2);
    assert_eq!(n.requests[0].attempts_used, 1);
    assert!(n.idempotency.is_empty(), "unscoped keys are dropped");
    assert_eq!(n.last_keyword.as_ref().map(|k| k.sent_ms), Some(1_800_000_120_000));
    // Its limits still hold: the cooldown after the last send, and the opt-out.
    let now = 1_800_000_061_000;
    assert_eq!(reserve(&mut o, "new", now), ReserveReply::OptedOut);
    number(&mut o).opted_out = false;
    assert_eq!(limited(reserve(&mut o, "new", now)).1, LimitReason::ResendCooldown);
    // And it is written back in the new, versioned form.
    assert!(save(&o).starts_with("{\"v\":3,"));
    let old_address = r#"{"sends":[],"requests":[],"opted_out":false,"seen_messages":[],"idempotency":[],"ip_minutes":[{"minute":30000002,"count":7}]}"#;
    assert!(matches!(load(old_address).unwrap(), GuardObject::Address(a) if a.requests.minutes[0].count == 7));
}

/// States written by the released version 2 (a typical day, an hour of abuse) read
/// back and are written out byte for byte the same: a change to the guard's own
/// wire format must never touch what is stored.
#[test]
fn state_written_by_version_2_reads_and_writes_back_unchanged() {
    for fixture in [
        include_str!("../../../tests/fixtures/guard-state-v2-typical.json"),
        include_str!("../../../tests/fixtures/guard-state-v2-abusive.json"),
    ] {
        let object = load(fixture).expect("a version 2 state loads");
        assert!(matches!(&object, GuardObject::Number(n) if !n.requests.is_empty() || !n.sends.is_empty()));
        // Version 3 only adds the test mark: the same bytes under the new version.
        assert_eq!(save(&object), fixture.trim_end().replacen("{\"v\":2,", "{\"v\":3,", 1));
    }
}

#[test]
fn state_that_cannot_be_read_is_refused_not_reset() {
    assert!(matches!(load(r#"{"v":4,"object":{"kind":"empty"}}"#), Err(stored::LoadError::NewerVersion(4))));
    assert!(load("not json").is_err());
    assert!(load(r#"{"v":2,"object":{"kind":"number","requests":"garbage"}}"#).is_err());
    assert!(load(r#"{"requests":[{"request_id":5}]}"#).is_err());
    // The reader takes `kind` first, as it is always written; anything else is refused.
    assert!(load(r#"{"v":2,"object":{"requests":[],"kind":"number"}}"#).is_err());
    assert!(load(r#"{"v":2,"object":{"kind":"mystery"}}"#).is_err());
    assert_eq!(load(r#"{"object":{"kind":"empty"},"v":2}"#), Ok(GuardObject::Empty));
    // A verified outcome without its stamp is not a verification.
    let unstamped = r#"{"v":2,"object":{"kind":"number","requests":[{"request_id":"r","mode":"outbound",
        "created_ms":1,"expires_ms":2,"attempts_used":0,"max_attempts":5,"outcome":{"state":"verified"}}]}}"#;
    assert!(load(unstamped).is_err());
    assert!(load(&unstamped.replace(r#"{"state":"verified"}"#, r#"{"state":"live"}"#)).is_ok());
    let stamped = r#"{"state":"verified","at_ms":2,"via":"code"}"#;
    assert!(load(&unstamped.replace(r#"{"state":"verified"}"#, stamped)).is_ok());
}

/// A test number's request is marked in the stored state (version 3), for good: the
/// mark survives settling, attempts and a save and load, and it reports no `sent`.
/// The pinned fixture is rewritten with `UPDATE_STATE_FIXTURE=1`.
#[test]
fn a_test_numbers_request_is_marked_and_sends_nothing_to_report() {
    let mut o = GuardObject::default();
    let call = Reserve { test: true, ..reserve_call("otp_test", Mode::Outbound, POLICY) };
    assert!(matches!(run(&mut o, call, T0), ReserveReply::Reserved(_)));
    // Limits still apply: the send counts against the number's quota.
    assert_eq!(limited(reserve(&mut o, "otp_next", T0 + 1_000)).1, LimitReason::ResendCooldown);
    let result = SendResult::Accepted { message_id: None, response: json!({}), wa_id: None };
    assert_eq!(settle(&mut o, "otp_test", result, T0 + 10), SettleReply::Settled);
    let changes = o.take_changes().1;
    assert!(changes.iter().all(|c| !matches!(c, Change::Sent { .. })), "{changes:?}");
    assert_eq!(attempt(&mut o, "otp_test", false, T0 + 20), A::Wrong { attempts_left: 4 });
    assert!(number(&mut o).requests[0].test);

    let text = save(&o);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guard-state-v3-test.json");
    if std::env::var_os("UPDATE_STATE_FIXTURE").is_some() {
        std::fs::write(&path, format!("{text}\n")).unwrap();
    }
    let pinned = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, pinned.trim_end(), "the stored state changed: bump STATE_VERSION and rewrite the fixture");
    let mut back = load(&pinned).unwrap();
    assert!(number(&mut back).requests[0].test);
    // Ordinary requests carry no mark at all: version 2 states stay byte for byte.
    assert!(!save(&GuardObject::default()).contains("test"));
}
