//! Commands for a number's guard object: reserving and settling sends, attempts,
//! statuses, chat keywords, the SMS leg, reading the other spelling's restrictions.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reserve {
    pub number: String,
    pub request_id: String,
    pub mode: Mode,
    pub locale: Option<String>,
    pub policy: SendPolicy,
    pub idempotency: Option<IdempotencyKey>,
    /// What the guard of the number's other spelling holds (`ReadOtherSpelling`),
    /// merged the first time (see `number::spelling`).
    pub other_spelling: Option<OtherSpellingState>,
    /// A test number (`TEST_NUMBERS`): the request is marked for good, so that no
    /// channel ever sends for it, whatever the list says later.
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReserveReply {
    Reserved(ReserveOk),
    /// The same key and body from the same address: the first answer again.
    Replay {
        #[serde(with = "crate::core::guard::wire::json_text")]
        response: Value,
    },
    /// The same key while the first call is still sending.
    InProgress,
    /// The same key with another body.
    KeyReused,
    OptedOut,
    Limited {
        retry_after_s: u64,
        reason: LimitReason,
    },
}

impl GuardCall for Reserve {
    const OP: &'static str = "reserve";
    type Reply = ReserveReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<ReserveReply, WrongObject> {
        let state = object.number(&self.number)?;
        state.merge_other_spelling(self.other_spelling);
        if let Some(key) = &self.idempotency {
            if let Some(entry) = state.find_key(&key.slot) {
                return Ok(match (&entry.response, entry.fingerprint == key.fingerprint) {
                    (_, false) => ReserveReply::KeyReused,
                    (Some(response), true) => ReserveReply::Replay { response: response.clone() },
                    (None, true) => ReserveReply::InProgress,
                });
            }
        }
        let reserved = state.reserve(self.request_id.clone(), self.mode, self.locale, &self.policy, now_ms);
        Ok(match reserved {
            Ok(ok) => {
                if self.test {
                    state.mark_test(&self.request_id);
                }
                if let Some(key) = self.idempotency {
                    state.remember_key(key.slot, key.fingerprint, self.request_id, ok.expires_ms);
                }
                ReserveReply::Reserved(ok)
            }
            Err(ReserveRefusal::OptedOut) => ReserveReply::OptedOut,
            Err(ReserveRefusal::Limited { retry_after_s, reason }) => ReserveReply::Limited { retry_after_s, reason },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settle {
    pub number: String,
    pub request_id: String,
    pub result: SendResult,
    pub idempotency_slot: Option<String>,
    /// The code went by SMS with this send (explicit `sms`, or Meta refused WhatsApp).
    pub sms: Option<SmsSent>,
    /// The WhatsApp message may fall back to SMS: the sealed code and its deadline.
    pub fallback: Option<FallbackArm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettleReply {
    Settled,
    UnknownRequest,
}

impl GuardCall for Settle {
    const OP: &'static str = "settle";
    type Reply = SettleReply;
    fn apply(self, object: &mut GuardObject, _now_ms: u64) -> Result<SettleReply, WrongObject> {
        let state = object.number(&self.number)?;
        let settled =
            state.settle(&self.request_id, self.result, self.idempotency_slot.as_deref(), self.sms, self.fallback);
        Ok(match settled {
            true => SettleReply::Settled,
            false => SettleReply::UnknownRequest,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub number: String,
    pub request_id: String,
    pub correct: bool,
    pub channel: Channel,
    pub message: Option<MessageRef>,
    pub policy: SendPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptReply {
    pub outcome: AttemptOutcome,
    /// Seconds until the number may ask for a new code (for `too_many_attempts`).
    pub retry_after_s: u64,
}

impl GuardCall for Attempt {
    const OP: &'static str = "attempt";
    type Reply = AttemptReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<AttemptReply, WrongObject> {
        let state = object.number(&self.number)?;
        let outcome = state.attempt(&self.request_id, self.correct, self.channel, self.message.as_ref(), now_ms);
        Ok(AttemptReply { outcome, retry_after_s: state.retry_after_s(&self.policy, now_ms) })
    }
}

/// Verify by phone: which request it would be for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindForPhone {
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindForPhoneReply {
    Live {
        request_id: String,
    },
    /// No request, an expired or inbound one, or its by-phone budget is used up: the
    /// caller answers all of these the same way.
    NoneUsable,
}

impl GuardCall for FindForPhone {
    const OP: &'static str = "find_for_phone";
    type Reply = FindForPhoneReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<FindForPhoneReply, WrongObject> {
        let state = object.number(&self.number)?;
        Ok(match state.live_for_phone(now_ms) {
            Some(request) => FindForPhoneReply::Live { request_id: request.request_id.clone() },
            None => FindForPhoneReply::NoneUsable,
        })
    }
}

/// A WhatsApp message from the number: which live requests a code in it may be for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCandidates {
    pub number: String,
    pub message: MessageRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub request_id: String,
    pub mode: Mode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatCandidatesReply {
    /// Newest first.
    pub candidates: Vec<Candidate>,
    pub locale: Option<String>,
}

impl GuardCall for ChatCandidates {
    const OP: &'static str = "chat_candidates";
    type Reply = ChatCandidatesReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<ChatCandidatesReply, WrongObject> {
        let state = object.number(&self.number)?;
        let candidates = state
            .chat_candidates(&self.message, now_ms)
            .into_iter()
            .map(|r| Candidate { request_id: r.request_id.clone(), mode: r.mode })
            .collect();
        Ok(ChatCandidatesReply { candidates, locale: state.latest_locale() })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub number: String,
    pub request_id: String,
    pub policy: SendPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusReply {
    Found {
        view: RequestView,
    },
    /// The guard forgot it (retention over); the KV record still knows its expiry.
    Forgotten,
}

impl GuardCall for Status {
    const OP: &'static str = "status";
    type Reply = StatusReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<StatusReply, WrongObject> {
        let state = object.number(&self.number)?;
        Ok(match state.status_of(&self.request_id, &self.policy, now_ms) {
            Some(view) => StatusReply::Found { view },
            None => StatusReply::Forgotten,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub number: String,
    pub message_id: String,
    pub request_id: Option<String>,
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    pub pricing_category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryReply {
    Applied,
    /// Applied: the message failed, and its code goes by SMS now (claimed here, once).
    FallBack(SmsJob),
    /// Older than what is known (statuses arrive late and twice).
    Stale,
    UnknownMessage,
}

impl GuardCall for Delivery {
    const OP: &'static str = "delivery";
    type Reply = DeliveryReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<DeliveryReply, WrongObject> {
        let state = object.number(&self.number)?;
        let applied = state.delivery(
            &self.message_id,
            self.request_id.as_deref(),
            self.status,
            self.error_code,
            self.pricing_category,
            now_ms,
        );
        Ok(match applied {
            Some(true) if self.status == DeliveryStatus::Failed => {
                let request_id = self.request_id.or_else(|| state.request_of_message(&self.message_id));
                match request_id.and_then(|id| state.fall_back_after_failure(&id, now_ms)) {
                    Some(job) => DeliveryReply::FallBack(job),
                    None => DeliveryReply::Applied,
                }
            }
            Some(true) => DeliveryReply::Applied,
            Some(false) => DeliveryReply::Stale,
            None => DeliveryReply::UnknownMessage,
        })
    }
}

/// How a claimed SMS went (`SmsJob`), reported by whoever sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettleSms {
    pub number: String,
    pub request_id: String,
    pub result: SmsResult,
}

impl GuardCall for SettleSms {
    const OP: &'static str = "settle_sms";
    type Reply = SettleReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<SettleReply, WrongObject> {
        let state = object.number(&self.number)?;
        Ok(match state.settle_sms(&self.request_id, self.result, now_ms) {
            true => SettleReply::Settled,
            false => SettleReply::UnknownRequest,
        })
    }
}

/// A status callback of the SMS provider for the SMS sent as `sid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsStatus {
    pub number: String,
    pub sid: String,
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
}

impl GuardCall for SmsStatus {
    const OP: &'static str = "sms_status";
    type Reply = DeliveryReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<DeliveryReply, WrongObject> {
        let state = object.number(&self.number)?;
        Ok(match state.sms_status(&self.sid, self.status, self.error_code, now_ms) {
            Some(true) => DeliveryReply::Applied,
            Some(false) => DeliveryReply::Stale,
            None => DeliveryReply::UnknownMessage,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Word {
    Stop,
    Start,
    NotMe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyword {
    pub number: String,
    pub word: Word,
    pub message: MessageRef,
    /// As for `Reserve`: the person's word applies on top of what the old guard held.
    pub other_spelling: Option<OtherSpellingState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordReply {
    /// STOP/START applied (`changed`: the opt-out flag flipped). `acknowledge`: the
    /// chat may say so (at most once a minute per number).
    Opted { changed: bool, locale: Option<String>, acknowledge: bool },
    /// NOT ME applied: new codes blocked; `revoked` names the verification undone.
    NotMe { revoked: Option<String>, locale: Option<String>, acknowledge: bool },
    /// Already applied, or older than the last keyword.
    Duplicate,
}

impl GuardCall for Keyword {
    const OP: &'static str = "keyword";
    type Reply = KeywordReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<KeywordReply, WrongObject> {
        let state = object.number(&self.number)?;
        state.merge_other_spelling(self.other_spelling);
        let locale = state.latest_locale();
        Ok(match self.word {
            Word::Stop | Word::Start => match state.opt(self.word == Word::Stop, &self.message) {
                Some(changed) => KeywordReply::Opted { changed, locale, acknowledge: state.may_acknowledge(now_ms) },
                None => KeywordReply::Duplicate,
            },
            Word::NotMe => match state.not_me(&self.message, now_ms) {
                NotMeOutcome::Blocked { revoked } => {
                    KeywordReply::NotMe { revoked, locale, acknowledge: state.may_acknowledge(now_ms) }
                }
                NotMeOutcome::Duplicate => KeywordReply::Duplicate,
            },
        })
    }
}

/// Read by the caller from the guard of a number's other spelling (see
/// `number::spelling`): what it holds, without turning an empty object into a number's
/// or writing anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadOtherSpelling {}

impl GuardCall for ReadOtherSpelling {
    const OP: &'static str = "read_other_spelling";
    type Reply = Option<OtherSpellingState>;
    fn apply(self, object: &mut GuardObject, _now_ms: u64) -> Result<Option<OtherSpellingState>, WrongObject> {
        match object {
            GuardObject::Empty => Ok(None),
            GuardObject::Number(state) => Ok(state.as_other_spelling()),
            _ => Err(WrongObject),
        }
    }
}
