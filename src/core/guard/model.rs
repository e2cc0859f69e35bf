//! Model-based tests of the guard's policy: random command sequences over an injected
//! clock, checked against the invariants the service promises, with a small reference
//! model of what must never happen.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;

use proptest::prelude::*;
use serde_json::json;

use super::number::{AttemptOutcome, SendResult};
use super::protocol::*;
use super::stored::{load, save, GuardObject, WrongObject};
use super::test_calls::{delivery_call, reserve_call, NUMBER};
use super::*;

const POLICY: SendPolicy = SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };
const T0: u64 = 1_800_000_000_000;
/// A number's stored state never grows past this, whatever is thrown at it.
const MAX_STATE_BYTES: usize = 24 * 1024;

/// Runs a command as the Durable Object does, with the command and its reply taken
/// through the wire format (each must come back equal).
fn execute<C>(object: &mut GuardObject, call: C, now: u64) -> Result<C::Reply, WrongObject>
where
    C: GuardCall + PartialEq + Debug,
    C::Reply: PartialEq + Debug,
{
    let sent: C = wire::decode(&wire::encode(&call).unwrap()).unwrap();
    assert_eq!(sent, call);
    let reply = protocol::execute(object, sent, now)?;
    let back: C::Reply = wire::decode(&wire::encode(&reply).unwrap()).unwrap();
    assert_eq!(back, reply);
    Ok(back)
}

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Reserve(Mode),
    Accept(usize),
    Fail(usize, bool),
    Attempt(usize, bool, Channel),
    Reply(usize, bool, u8),
    Status(usize, DeliveryStatus),
    Keyword(Word, u8),
}

fn step() -> impl Strategy<Value = Step> {
    let channel = prop_oneof![Just(Channel::RequestId), Just(Channel::Phone)];
    let status = prop_oneof![
        Just(DeliveryStatus::Sent),
        Just(DeliveryStatus::Delivered),
        Just(DeliveryStatus::Read),
        Just(DeliveryStatus::Failed)
    ];
    let word = prop_oneof![Just(Word::Stop), Just(Word::Start), Just(Word::NotMe)];
    prop_oneof![
        3 => prop_oneof![1u64..5_000, 20_000u64..120_000, Just(HOUR_MS / 2), Just(DAY_MS / 3)].prop_map(Step::Wait),
        3 => prop_oneof![4 => Just(Mode::Outbound), 1 => Just(Mode::Inbound)].prop_map(Step::Reserve),
        3 => (0usize..8).prop_map(Step::Accept),
        1 => (0usize..8, any::<bool>()).prop_map(|(i, refund)| Step::Fail(i, refund)),
        6 => (0usize..8, prop::bool::weighted(0.2), channel).prop_map(|(i, c, ch)| Step::Attempt(i, c, ch)),
        2 => (0usize..8, prop::bool::weighted(0.3), 0u8..6).prop_map(|(i, c, m)| Step::Reply(i, c, m)),
        2 => (0usize..8, status).prop_map(|(i, s)| Step::Status(i, s)),
        1 => (word, 0u8..4).prop_map(|(w, m)| Step::Keyword(w, m)),
    ]
}

/// What the invariants need to remember about the run so far.
#[derive(Default)]
struct Model {
    ids: Vec<String>,
    successes: HashMap<String, u32>,
    wrong: HashMap<(String, bool), u32>,
    /// Reservation times of outbound sends that still count (not refunded).
    sends: Vec<(String, u64)>,
    opted_out: bool,
    last_delivery: HashMap<String, DeliveryStatus>,
    /// Inbound requests with their expiry, and the requests a step acted on (an
    /// attempt that counted, a failed send): the others must stay live until expiry.
    inbound: Vec<(String, u64)>,
    touched: HashSet<String>,
}

fn pick(model: &Model, i: usize) -> Option<String> {
    (!model.ids.is_empty()).then(|| model.ids[i % model.ids.len()].clone())
}

fn run_sequence(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut object = GuardObject::default();
    let mut model = Model::default();
    let mut now = T0;
    for (n, step) in steps.into_iter().enumerate() {
        match step {
            Step::Wait(ms) => now += ms,
            Step::Reserve(mode) => run_reserve(&mut object, &mut model, format!("otp_{n:022}"), mode, now)?,
            Step::Accept(_) | Step::Fail(_, _) if model.ids.is_empty() => {}
            Step::Accept(i) => {
                let id = pick(&model, i).unwrap();
                let result =
                    SendResult::Accepted { message_id: Some(format!("wamid.{id}")), response: json!({}), wa_id: None };
                let call = Settle {
                    number: NUMBER.into(),
                    request_id: id,
                    result,
                    idempotency_slot: None,
                    sms: None,
                    fallback: None,
                };
                execute(&mut object, call, now).unwrap();
            }
            Step::Fail(i, refund) => {
                let id = pick(&model, i).unwrap();
                run_failed_send(&mut object, &mut model, id, refund, now);
            }
            Step::Attempt(i, correct, channel) => {
                let Some(id) = pick(&model, i) else { continue };
                run_attempt(&mut object, &mut model, id, correct, channel, None, now)?;
            }
            Step::Reply(i, correct, m) => {
                let Some(id) = pick(&model, i) else { continue };
                let message = MessageRef { id: format!("wamid.in.{m}"), sent_ms: now };
                run_attempt(&mut object, &mut model, id, correct, Channel::WhatsApp, Some(message), now)?;
            }
            Step::Status(i, status) => {
                let Some(id) = pick(&model, i) else { continue };
                let call = delivery_call(&format!("wamid.{id}"), Some(&id), status);
                execute(&mut object, call, now).unwrap();
            }
            Step::Keyword(word, m) => {
                let message = MessageRef { id: format!("wamid.kw.{n}.{m}"), sent_ms: now };
                let reply =
                    execute(&mut object, Keyword { number: NUMBER.into(), word, message, other_spelling: None }, now)
                        .unwrap();
                if let KeywordReply::Opted { .. } = reply {
                    model.opted_out = word == Word::Stop;
                }
            }
        }
        check_invariants(&mut object, &mut model, now, n % 10 == 0)?;
    }
    check_invariants(&mut object, &mut model, now, true)
}

fn run_reserve(
    object: &mut GuardObject,
    model: &mut Model,
    id: String,
    mode: Mode,
    now: u64,
) -> Result<(), TestCaseError> {
    let call = reserve_call(&id, mode, POLICY);
    if let ReserveReply::Reserved(_) = execute(object, call, now).unwrap() {
        prop_assert!(!(model.opted_out && mode == Mode::Outbound), "a send to an opted-out number");
        match mode {
            Mode::Outbound => model.sends.push((id.clone(), now)),
            Mode::Inbound => model.inbound.push((id.clone(), now + POLICY.ttl_s * 1000)),
        }
        model.ids.push(id);
    }
    Ok(())
}

fn run_failed_send(object: &mut GuardObject, model: &mut Model, id: String, refund: bool, now: u64) {
    let call = Settle {
        number: NUMBER.into(),
        request_id: id.clone(),
        result: SendResult::Failed { refund, error_code: None },
        idempotency_slot: None,
        sms: None,
        fallback: None,
    };
    let state_before = format!("{object:?}");
    execute(object, call, now).unwrap();
    model.touched.insert(id.clone());
    if refund && state_before != format!("{object:?}") {
        // The guard gives back the send reserved for this request, if it still counts.
        if let Some(pos) = model.sends.iter().position(|(sid, _)| *sid == id) {
            model.sends.remove(pos);
        }
    }
}

fn run_attempt(
    object: &mut GuardObject,
    model: &mut Model,
    id: String,
    correct: bool,
    channel: Channel,
    message: Option<MessageRef>,
    now: u64,
) -> Result<(), TestCaseError> {
    let call = Attempt { number: NUMBER.into(), request_id: id.clone(), correct, channel, message, policy: POLICY };
    record(model, &id, channel, execute(object, call, now).unwrap().outcome)
}

fn record(model: &mut Model, id: &str, channel: Channel, outcome: AttemptOutcome) -> Result<(), TestCaseError> {
    if matches!(outcome, AttemptOutcome::Verified { .. } | AttemptOutcome::Wrong { .. }) {
        model.touched.insert(id.to_string());
    }
    match outcome {
        AttemptOutcome::Verified { .. } => {
            let wins = model.successes.entry(id.to_string()).or_default();
            *wins += 1;
            prop_assert!(*wins <= 1, "{id} verified twice");
        }
        AttemptOutcome::Wrong { .. } => {
            let wrong = model.wrong.entry((id.to_string(), channel == Channel::Phone)).or_default();
            *wrong += 1;
            prop_assert!(*wrong <= POLICY.max_attempts, "{id}: more wrong codes than allowed on {channel:?}");
        }
        _ => {}
    }
    Ok(())
}

fn check_invariants(
    object: &mut GuardObject,
    model: &mut Model,
    now: u64,
    thorough: bool,
) -> Result<(), TestCaseError> {
    // Sends stay within the cooldown and the sliding windows.
    let times: Vec<u64> = model.sends.iter().map(|(_, t)| *t).collect();
    for pair in times.windows(2) {
        prop_assert!(pair[1] - pair[0] >= POLICY.cooldown_s * 1000, "two sends inside the cooldown");
    }
    for &t in &times {
        let in_hour = times.iter().filter(|&&u| u >= t && u < t + HOUR_MS).count();
        let in_day = times.iter().filter(|&&u| u >= t && u < t + DAY_MS).count();
        prop_assert!(in_hour <= POLICY.max_per_hour as usize && in_day <= POLICY.max_per_day as usize);
    }
    // Delivery never moves backwards (the newest requests, where statuses land).
    for id in model.ids.iter().rev().take(3).cloned().collect::<Vec<_>>() {
        let call = Status { number: NUMBER.into(), request_id: id.clone(), policy: POLICY };
        if let StatusReply::Found { view } = execute(object, call, now).unwrap() {
            if let Some(delivery) = view.delivery {
                if let Some(before) = model.last_delivery.insert(id.clone(), delivery.status) {
                    prop_assert!(
                        before == delivery.status || before.may_become(delivery.status),
                        "{before:?} -> {:?}",
                        delivery.status
                    );
                }
            }
        }
    }
    // Nothing ends an inbound request but what is done to it or its expiry: no other
    // request, inbound or outbound, cancels or pushes it out.
    for (id, expires) in model.inbound.clone() {
        let call = Status { number: NUMBER.into(), request_id: id.clone(), policy: POLICY };
        let reply = execute(object, call, now).unwrap();
        if let StatusReply::Found { view } = &reply {
            prop_assert!(view.status != RequestStatus::Superseded, "inbound {id} superseded");
        }
        if now < expires && !model.touched.contains(&id) {
            let live = matches!(&reply, StatusReply::Found { view } if view.live);
            prop_assert!(live, "inbound {id} ended before its expiry: {reply:?}");
        }
    }
    // The stored form stays small and reads back as it was.
    object.take_changes();
    let text = save(object);
    prop_assert!(text.len() <= MAX_STATE_BYTES, "state of {} bytes", text.len());
    if thorough {
        prop_assert_eq!(&load(&text).unwrap(), object);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("GUARD_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// One success per request, attempts never above the maximum on any channel, sends
    /// within the cooldown and the windows, inbound requests live until their expiry, delivery never backwards, opt-out honoured,
    /// state bounded and faithfully stored: all checked after every step.
    #[test]
    fn the_guard_keeps_its_invariants(steps in prop::collection::vec(step(), 1..80)) {
        run_sequence(steps)?;
    }
}
