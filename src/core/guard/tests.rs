use super::*;
use serde_json::json;

const POLICY: SendPolicy = SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };
const T0: u64 = 1_800_000_000_000;

fn reserve(state: &mut GuardState, id: &str, now: u64) -> GuardReply {
    state.apply(
        GuardCommand::Reserve { request_id: id.into(), mode: Mode::Outbound, policy: POLICY, idempotency_key: None },
        now,
    )
}

fn accept(state: &mut GuardState, id: &str, now: u64) {
    let reply = state.apply(
        GuardCommand::Settle {
            request_id: id.into(),
            result: SendResult::Accepted { message_id: Some(format!("wamid.{id}")), response: json!({}) },
            idempotency_key: None,
        },
        now,
    );
    assert_eq!(reply, GuardReply::Done { changed: true });
}

fn attempt(state: &mut GuardState, id: &str, correct: bool, now: u64) -> GuardReply {
    state.apply(GuardCommand::Attempt { request_id: id.into(), correct, channel: Channel::Api, message_id: None }, now)
}

fn status(state: &mut GuardState, id: &str, now: u64) -> RequestView {
    match state.apply(GuardCommand::Status { request_id: id.into() }, now) {
        GuardReply::View { request: Some(view) } => view,
        other => panic!("no view: {other:?}"),
    }
}

#[test]
fn a_reservation_reports_expiry_cooldown_and_attempts() {
    let mut s = GuardState::default();
    assert_eq!(
        reserve(&mut s, "a", T0),
        GuardReply::Reserved { expires_ms: T0 + 300_000, resend_after_s: 30, attempts_left: 5 }
    );
    assert_eq!(status(&mut s, "a", T0).status, "pending");
}

#[test]
fn cooldown_then_hourly_then_daily_limits() {
    let mut s = GuardState::default();
    assert!(matches!(reserve(&mut s, "r0", T0), GuardReply::Reserved { .. }));
    assert_eq!(reserve(&mut s, "x", T0 + 1_000), GuardReply::RateLimited { retry_after_s: 29 });
    // Five sends 31 s apart fill the hour.
    for i in 1..5 {
        assert!(matches!(reserve(&mut s, &format!("r{i}"), T0 + i * 31_000), GuardReply::Reserved { .. }));
    }
    let after_cooldown = T0 + 5 * 31_000;
    assert_eq!(
        reserve(&mut s, "x", after_cooldown),
        GuardReply::RateLimited { retry_after_s: (T0 + HOUR_MS - after_cooldown).div_ceil(1000) }
    );
    // The next hour gives five more; then the day is full.
    for i in 0..5 {
        assert!(matches!(reserve(&mut s, &format!("h{i}"), T0 + HOUR_MS + i * 31_000), GuardReply::Reserved { .. }));
    }
    let later = T0 + 3 * HOUR_MS;
    assert_eq!(reserve(&mut s, "x", later), GuardReply::RateLimited { retry_after_s: (T0 + DAY_MS - later) / 1000 });
    assert!(matches!(reserve(&mut s, "next-day", T0 + DAY_MS + 1), GuardReply::Reserved { .. }));
}

#[test]
fn of_many_reservations_at_once_only_one_passes() {
    let mut s = GuardState::default();
    let passed =
        (0..20).filter(|i| matches!(reserve(&mut s, &format!("c{i}"), T0), GuardReply::Reserved { .. })).count();
    assert_eq!(passed, 1);
}

#[test]
fn a_new_request_supersedes_the_live_one() {
    let mut s = GuardState::default();
    reserve(&mut s, "old", T0);
    accept(&mut s, "old", T0);
    reserve(&mut s, "new", T0 + 31_000);
    assert_eq!(attempt(&mut s, "old", true, T0 + 32_000), GuardReply::Superseded);
    assert_eq!(status(&mut s, "old", T0 + 32_000).status, "superseded");
    assert!(matches!(attempt(&mut s, "new", true, T0 + 32_000), GuardReply::Verified { via: VerifiedVia::Code, .. }));
}

#[test]
fn attempts_are_counted_up_to_the_limit_then_even_the_right_code_is_refused() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    for left in (0..5).rev() {
        assert_eq!(attempt(&mut s, "a", false, T0 + 1), GuardReply::WrongCode { attempts_left: left });
    }
    for _ in 0..25 {
        assert_eq!(attempt(&mut s, "a", false, T0 + 2), GuardReply::TooManyAttempts);
    }
    assert_eq!(attempt(&mut s, "a", true, T0 + 3), GuardReply::TooManyAttempts);
    let view = status(&mut s, "a", T0 + 3);
    assert_eq!((view.status.as_str(), view.attempts_left), ("locked", 0));
}

#[test]
fn a_code_verifies_exactly_once() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    let wins = (0..10).filter(|_| matches!(attempt(&mut s, "a", true, T0 + 5), GuardReply::Verified { .. })).count();
    assert_eq!(wins, 1);
    assert_eq!(attempt(&mut s, "a", true, T0 + 6), GuardReply::AlreadyVerified);
    let view = status(&mut s, "a", T0 + 6);
    assert_eq!(view.status, "verified");
    assert_eq!(view.verified, Some((T0 + 5, VerifiedVia::Code)));
}

#[test]
fn codes_expire() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    assert_eq!(attempt(&mut s, "a", true, T0 + 300_000), GuardReply::Expired);
    assert_eq!(status(&mut s, "a", T0 + 300_000).status, "expired");
}

#[test]
fn whatsapp_replies_and_inbound_codes_verify_with_their_own_via() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    let reply = s.apply(
        GuardCommand::Attempt {
            request_id: "a".into(),
            correct: true,
            channel: Channel::WhatsApp,
            message_id: Some("m1".into()),
        },
        T0 + 1,
    );
    assert_eq!(reply, GuardReply::Verified { verified_at_ms: T0 + 1, via: VerifiedVia::Reply });

    let mut s = GuardState::default();
    s.apply(
        GuardCommand::Reserve { request_id: "b".into(), mode: Mode::Inbound, policy: POLICY, idempotency_key: None },
        T0,
    );
    assert_eq!(attempt(&mut s, "b", true, T0 + 1), GuardReply::WrongChannel);
    assert_eq!(status(&mut s, "b", T0 + 1).attempts_left, 5, "the API may not spend an inbound request's attempts");
    let reply = s.apply(
        GuardCommand::Attempt {
            request_id: "b".into(),
            correct: true,
            channel: Channel::WhatsApp,
            message_id: Some("m2".into()),
        },
        T0 + 2,
    );
    assert_eq!(reply, GuardReply::Verified { verified_at_ms: T0 + 2, via: VerifiedVia::Inbound });
}

#[test]
fn a_webhook_message_is_processed_once() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    let wrong = GuardCommand::Attempt {
        request_id: "a".into(),
        correct: false,
        channel: Channel::WhatsApp,
        message_id: Some("m1".into()),
    };
    assert_eq!(s.apply(wrong.clone(), T0 + 1), GuardReply::WrongCode { attempts_left: 4 });
    for _ in 0..4 {
        assert_eq!(s.apply(wrong.clone(), T0 + 2), GuardReply::Duplicate);
    }
    assert_eq!(status(&mut s, "a", T0 + 2).attempts_left, 4);
}

#[test]
fn opt_out_blocks_sends_until_opt_in() {
    let mut s = GuardState::default();
    assert_eq!(
        s.apply(GuardCommand::OptOut { message_id: "m1".into(), opted_out: true }, T0),
        GuardReply::Done { changed: true }
    );
    assert_eq!(reserve(&mut s, "a", T0), GuardReply::OptedOut);
    assert_eq!(s.apply(GuardCommand::OptOut { message_id: "m1".into(), opted_out: true }, T0), GuardReply::Duplicate);
    s.apply(GuardCommand::OptOut { message_id: "m2".into(), opted_out: false }, T0 + 1);
    assert!(matches!(reserve(&mut s, "a", T0 + 2), GuardReply::Reserved { .. }));
}

#[test]
fn delivery_status_never_moves_backwards() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    accept(&mut s, "a", T0);
    let update = |s: &mut GuardState, status, code, by_id: bool| {
        s.apply(
            GuardCommand::Delivery {
                message_id: "wamid.a".into(),
                request_id: by_id.then(|| "a".to_string()),
                status,
                error_code: code,
            },
            T0 + 10,
        )
    };
    assert_eq!(update(&mut s, DeliveryStatus::Sent, None, true), GuardReply::Done { changed: true });
    assert_eq!(update(&mut s, DeliveryStatus::Read, None, false), GuardReply::Done { changed: true });
    assert_eq!(update(&mut s, DeliveryStatus::Delivered, None, true), GuardReply::Done { changed: false });
    assert_eq!(update(&mut s, DeliveryStatus::Sent, None, true), GuardReply::Done { changed: false });
    assert_eq!(update(&mut s, DeliveryStatus::Failed, Some(131026), true), GuardReply::Done { changed: false });
    assert_eq!(status(&mut s, "a", T0 + 10).status, "read");

    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    accept(&mut s, "a", T0);
    update(&mut s, DeliveryStatus::Failed, Some(131026), true);
    assert_eq!(update(&mut s, DeliveryStatus::Delivered, None, true), GuardReply::Done { changed: false });
    let view = status(&mut s, "a", T0 + 10);
    assert_eq!(view.status, "failed");
    assert_eq!(view.delivery.unwrap().error_code, Some(131026));
}

#[test]
fn unknown_statuses_are_reported_not_applied() {
    let mut s = GuardState::default();
    let reply = s.apply(
        GuardCommand::Delivery {
            message_id: "wamid.x".into(),
            request_id: Some("nope".into()),
            status: DeliveryStatus::Sent,
            error_code: None,
        },
        T0,
    );
    assert_eq!(reply, GuardReply::NotFound);
}

#[test]
fn a_failed_send_leaves_nothing_live_and_refunds_only_our_faults() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    s.apply(
        GuardCommand::Settle {
            request_id: "a".into(),
            result: SendResult::Failed { refund: true },
            idempotency_key: None,
        },
        T0,
    );
    assert_eq!(attempt(&mut s, "a", true, T0 + 1), GuardReply::NotFound);
    assert!(matches!(reserve(&mut s, "b", T0 + 1), GuardReply::Reserved { .. }), "refunded: no cooldown");
    s.apply(
        GuardCommand::Settle {
            request_id: "b".into(),
            result: SendResult::Failed { refund: false },
            idempotency_key: None,
        },
        T0 + 1,
    );
    assert!(matches!(reserve(&mut s, "c", T0 + 2), GuardReply::RateLimited { .. }), "not refunded: cooldown holds");
}

#[test]
fn idempotency_keys_replay_the_first_answer() {
    let mut s = GuardState::default();
    let cmd = |id: &str| GuardCommand::Reserve {
        request_id: id.into(),
        mode: Mode::Outbound,
        policy: POLICY,
        idempotency_key: Some("key-1".into()),
    };
    assert!(matches!(s.apply(cmd("a"), T0), GuardReply::Reserved { .. }));
    assert_eq!(s.apply(cmd("b"), T0), GuardReply::InFlight);
    s.apply(
        GuardCommand::Settle {
            request_id: "a".into(),
            result: SendResult::Accepted { message_id: None, response: json!({"request_id": "a"}) },
            idempotency_key: Some("key-1".into()),
        },
        T0,
    );
    assert_eq!(s.apply(cmd("c"), T0 + 1), GuardReply::Replay { response: json!({"request_id": "a"}) });
    // A failed send frees the key for a retry.
    let mut s = GuardState::default();
    s.apply(cmd("a"), T0);
    s.apply(
        GuardCommand::Settle {
            request_id: "a".into(),
            result: SendResult::Failed { refund: true },
            idempotency_key: Some("key-1".into()),
        },
        T0,
    );
    assert!(matches!(s.apply(cmd("b"), T0 + 1), GuardReply::Reserved { .. }));
}

#[test]
fn ip_limits_use_a_sliding_hour_of_minutes() {
    let mut s = GuardState::default();
    let minute_start = T0 - T0 % 60_000;
    for _ in 0..3 {
        assert_eq!(s.apply(GuardCommand::IpHit { max_per_hour: 3 }, minute_start + 5_000), GuardReply::Allowed);
    }
    // Free again when that minute leaves the hour: 3600 s after its end, less the 5 s already gone.
    assert_eq!(
        s.apply(GuardCommand::IpHit { max_per_hour: 3 }, minute_start + 5_000),
        GuardReply::RateLimited { retry_after_s: 3_655 }
    );
    assert_eq!(s.apply(GuardCommand::IpHit { max_per_hour: 3 }, minute_start + 60_000 + HOUR_MS), GuardReply::Allowed);
    assert!(matches!(s.apply(GuardCommand::IpHit { max_per_hour: 0 }, T0), GuardReply::RateLimited { .. }));
}

#[test]
fn ip_state_stays_small_under_a_high_limit() {
    let mut s = GuardState::default();
    for i in 0..10_000u64 {
        assert_eq!(s.apply(GuardCommand::IpHit { max_per_hour: 1_000_000 }, T0 + i * 300), GuardReply::Allowed);
    }
    assert!(serde_json::to_string(&s).unwrap().len() < 4_000);
}

#[test]
fn the_state_empties_itself_once_everything_ages_out() {
    let mut s = GuardState::default();
    assert!(s.is_empty());
    assert_eq!(s.next_wakeup(), None);
    reserve(&mut s, "a", T0);
    accept(&mut s, "a", T0);
    assert!(!s.is_empty());
    let wake = s.next_wakeup().unwrap();
    assert_eq!(wake, T0 + 300_000 + RETENTION_MS);
    s.prune(wake);
    assert!(!s.is_empty(), "the day's send window is still remembered");
    s.prune(T0 + DAY_MS);
    assert!(s.is_empty());
}

#[test]
fn opt_out_survives_pruning() {
    let mut s = GuardState::default();
    s.apply(GuardCommand::OptOut { message_id: "m".into(), opted_out: true }, T0);
    s.prune(T0 + 30 * DAY_MS);
    assert!(!s.is_empty());
    assert_eq!(reserve(&mut s, "a", T0 + 30 * DAY_MS), GuardReply::OptedOut);
}

#[test]
fn state_and_commands_survive_json() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    accept(&mut s, "a", T0);
    let restored: GuardState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(restored, s);
    let cmd = GuardCommand::Attempt { request_id: "a".into(), correct: true, channel: Channel::Api, message_id: None };
    let back: GuardCommand = serde_json::from_str(&serde_json::to_string(&cmd).unwrap()).unwrap();
    assert_eq!(back, cmd);
}

#[test]
fn a_status_that_beats_the_settle_is_kept() {
    let mut s = GuardState::default();
    reserve(&mut s, "a", T0);
    let sent = GuardCommand::Delivery {
        message_id: "wamid.a".into(),
        request_id: Some("a".into()),
        status: DeliveryStatus::Sent,
        error_code: None,
    };
    s.apply(sent, T0 + 1);
    accept(&mut s, "a", T0 + 2);
    let view = status(&mut s, "a", T0 + 2);
    assert_eq!(view.status, "sent");
    assert_eq!(view.delivery.unwrap().message_id.as_deref(), Some("wamid.a"));
}
