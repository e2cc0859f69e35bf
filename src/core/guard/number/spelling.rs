//! Guards kept under another spelling of the number, from before guards were keyed by
//! the canonical form (`phone::canonical_phone`).
//!
//! Until then a number was guarded under whichever spelling reached the worker: a
//! Brazilian STOP from `55 11 8765 4321` opted out `+551187654321`, while requests for
//! `+55 11 98765 4321` went to another guard. Now every call goes to the canonical
//! guard, and what the old guard holds about the person follows them there once: the
//! caller reads the other spelling's guard (`ReadOtherSpelling`, never written) and
//! hands its state to the canonical guard with the commands that decide for the
//! person (a send, a keyword), which merges it the first time and remembers that it did.

use serde::{Deserialize, Serialize};

use super::{Block, KeywordStamp, NumberState};

/// What a guard under another spelling holds that must follow the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherSpellingState {
    pub opted_out: bool,
    pub last_keyword: Option<KeywordStamp>,
    pub blocked: Option<Block>,
    pub consecutive_failures: u32,
    /// Sends still inside the day's window.
    pub sends: Vec<u64>,
}

impl NumberState {
    /// This guard's state as another spelling's guard hands it over; `None` when it
    /// holds nothing that outlives its own requests.
    pub fn as_other_spelling(&self) -> Option<OtherSpellingState> {
        let state = OtherSpellingState {
            opted_out: self.opted_out,
            last_keyword: self.last_keyword.clone(),
            blocked: self.blocked,
            consecutive_failures: self.consecutive_failures,
            sends: self.sends.clone(),
        };
        let holds_something = state.opted_out
            || state.last_keyword.is_some()
            || state.blocked.is_some()
            || state.consecutive_failures > 0
            || !state.sends.is_empty();
        holds_something.then_some(state)
    }

    /// Takes in the other spelling's state, the first time only: later calls carry the
    /// same state again (the old guard is never written), and merging it twice would
    /// undo what the person said here since (a START after the merge, say).
    ///
    /// A merge never lifts a restriction: opted out in either guard is opted out (a
    /// START sent to the old spelling before the change is outweighed by a STOP here;
    /// the person sends START again), the longer block holds, failures add up, and
    /// sends count against the limits of one person.
    pub fn merge_other_spelling(&mut self, other: Option<OtherSpellingState>) {
        let Some(other) = other else {
            return;
        };
        if self.other_spelling_merged {
            return;
        }
        self.other_spelling_merged = true;
        self.opted_out |= other.opted_out;
        if other.last_keyword.as_ref().is_some_and(|o| self.last_keyword.as_ref().is_none_or(|m| o.sent_ms > m.sent_ms))
        {
            self.last_keyword = other.last_keyword;
        }
        if let Some(block) = other.blocked {
            self.block(block.until_ms, block.reason);
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(other.consecutive_failures);
        self.sends.extend(other.sends);
        self.sends.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::core::guard::number::SendResult;
    use crate::core::guard::protocol::*;
    use crate::core::guard::stored::{load, save, GuardObject};
    use crate::core::guard::DAY_MS as DAY_MS_FOR_TESTS;
    use crate::core::guard::{LimitReason, MessageRef, Mode, SendPolicy};

    const POLICY: SendPolicy =
        SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };
    const T0: u64 = 1_800_000_000_000;
    const TYPED: &str = "+5511987654321";
    /// A guard the previous version kept under WhatsApp's spelling of `TYPED`: opted out
    /// by a STOP from `55 11 8765 4321`, blocked by a NOT ME, with failures and a send.
    const OLD_GUARD: &str = include_str!("../../../../tests/fixtures/guard-state-v2-old-spelling.json");
    /// The canonical guard after it took the old one in, with a request that kept the
    /// `wa_id` Meta answered: written by this version.
    const MERGED_GUARD: &str = include_str!("../../../../tests/fixtures/guard-state-v2-spellings.json");

    fn run<C: GuardCall>(o: &mut GuardObject, call: C, now: u64) -> C::Reply {
        execute(o, call, now).expect("a number object")
    }

    fn reserve(o: &mut GuardObject, id: &str, other: Option<super::OtherSpellingState>, now: u64) -> ReserveReply {
        let call = Reserve {
            number: TYPED.into(),
            request_id: id.into(),
            mode: Mode::Outbound,
            locale: None,
            policy: POLICY,
            idempotency: None,
            other_spelling: other,
            test: false,
        };
        run(o, call, now)
    }

    fn keyword(o: &mut GuardObject, word: Word, id: &str, other: Option<super::OtherSpellingState>, now: u64) {
        let message = MessageRef { id: id.into(), sent_ms: now };
        run(o, Keyword { number: TYPED.into(), word, message, other_spelling: other }, now);
    }

    fn old_guard_read(now: u64) -> Option<super::OtherSpellingState> {
        let mut old = load(OLD_GUARD).expect("the old spelling's guard loads");
        let before = old.clone();
        let read = run(&mut old, ReadOtherSpelling {}, now);
        assert_eq!(old, before, "reading the old guard changes nothing in it");
        read
    }

    #[test]
    fn an_old_spellings_opt_out_block_and_failures_follow_the_person() {
        let other = old_guard_read(T0);
        let other_state = other.clone().expect("the old guard holds something");
        assert!(other_state.opted_out && other_state.consecutive_failures == 7);
        let mut canonical = GuardObject::default();
        assert_eq!(reserve(&mut canonical, "a", other.clone(), T0), ReserveReply::OptedOut);
        // START from any spelling reaches the canonical guard; the NOT ME block still holds.
        keyword(&mut canonical, Word::Start, "start", other.clone(), T0 + 1_000);
        match reserve(&mut canonical, "b", other.clone(), T0 + 2_000) {
            ReserveReply::Limited { reason: LimitReason::NotMe, .. } => {}
            reply => panic!("{reply:?}"),
        }
        // Once the block is over, the START stands: the same old state, handed over
        // again with every command, is not merged twice.
        let later = T0 + DAY_MS_FOR_TESTS;
        assert!(matches!(reserve(&mut canonical, "c", other, later), ReserveReply::Reserved(_)));
        let GuardObject::Number(state) = &canonical else { panic!() };
        assert!(!state.opted_out && state.other_spelling_merged);
        assert_eq!(state.consecutive_failures, 7);
    }

    #[test]
    fn sends_under_both_spellings_share_one_set_of_limits() {
        let mut old = GuardObject::default();
        let call = Reserve {
            number: "+551187654321".into(),
            request_id: "old".into(),
            mode: Mode::Outbound,
            locale: None,
            policy: POLICY,
            idempotency: None,
            other_spelling: None,
            test: false,
        };
        assert!(matches!(run(&mut old, call, T0), ReserveReply::Reserved(_)));
        let other = run(&mut old, ReadOtherSpelling {}, T0 + 1_000);
        let mut canonical = GuardObject::default();
        assert!(matches!(
            reserve(&mut canonical, "new", other, T0 + 1_000),
            ReserveReply::Limited { reason: LimitReason::ResendCooldown, .. }
        ));
    }

    #[test]
    fn nothing_to_carry_over_leaves_no_trace() {
        let mut empty = GuardObject::default();
        assert_eq!(run(&mut empty, ReadOtherSpelling {}, T0), None);
        assert_eq!(empty, GuardObject::Empty, "an empty object is not turned into a number's");
        let mut canonical = GuardObject::default();
        keyword(&mut canonical, Word::Stop, "stop", None, T0);
        let GuardObject::Number(state) = &canonical else { panic!() };
        assert!(!state.other_spelling_merged);
        let mut link = GuardObject::default();
        link.set_link(crate::core::guard::LinkState {
            number: TYPED.into(),
            request_id: "r".into(),
            until_ms: T0,
            wa_id: None,
        })
        .unwrap();
        assert!(execute(&mut link, ReadOtherSpelling {}, T0 - 1).is_err(), "only a number's guard is read");
    }

    /// The merged state and the request's `wa_id` are stored, read back, and written
    /// out byte for byte the same; states written before them still load (the other
    /// version 2 fixtures).
    #[test]
    fn merged_state_with_a_wa_id_reads_and_writes_back_unchanged() {
        let mut canonical = GuardObject::default();
        let other = old_guard_read(T0);
        let later = T0 + DAY_MS_FOR_TESTS;
        keyword(&mut canonical, Word::Start, "start", other.clone(), later - 1_000);
        assert!(matches!(reserve(&mut canonical, "otp_br", other, later), ReserveReply::Reserved(_)));
        let result = SendResult::Accepted {
            message_id: Some("wamid.BR".into()),
            response: json!({}),
            wa_id: Some("+551187654321".into()),
        };
        let settle = Settle {
            number: TYPED.into(),
            request_id: "otp_br".into(),
            result,
            idempotency_slot: None,
            sms: None,
            fallback: None,
        };
        run(&mut canonical, settle, later + 500);
        let written = save(&canonical);
        if std::env::var_os("UPDATE_STATE_FIXTURE").is_some() {
            let as_v2 = written.replacen("{\"v\":3,", "{\"v\":2,", 1);
            std::fs::write("tests/fixtures/guard-state-v2-spellings.json", format!("{as_v2}\n")).unwrap();
        }
        // Written by version 2; version 3 writes the same state with its own number.
        let as_v3 = MERGED_GUARD.trim_end().replacen("{\"v\":2,", "{\"v\":3,", 1);
        assert_eq!(written, as_v3, "rewrite with UPDATE_STATE_FIXTURE=1 if intended");
        let loaded = load(MERGED_GUARD).unwrap();
        assert_eq!(save(&loaded), as_v3);
        let GuardObject::Number(state) = loaded else { panic!() };
        assert!(state.other_spelling_merged);
        assert_eq!(state.requests[0].wa_id.as_deref(), Some("+551187654321"));
    }
}
