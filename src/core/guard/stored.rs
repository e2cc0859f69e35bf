//! What a guard object stores, with a schema version. A state this code cannot read
//! is migrated (version 1, written before versions existed) or refused loudly — never
//! silently reset: opt-outs and limits must survive every deploy.

use serde::de::{self, value::MapAccessDeserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::address::{AddressState, MinuteCount, Window};
use super::budget::{BudgetOutcome, BudgetState};
use super::number::{KeywordStamp, NumberState, RequestState};
use super::{Change, LinkState};

/// Version 3: requests gained the test mark (`test`), their SMS leg and the sealed code
/// of a possible fallback, all optional fields, so a version 2 state reads with the same
/// reader. Bumped so that the code of version 2 refuses a version 3 state
/// (`NewerVersion`) instead of silently stripping those fields (and then sending for a
/// test number, or sending a second SMS).
pub const STATE_VERSION: u64 = 3;
/// The oldest versioned state the reader of `STATE_VERSION` reads as it is.
const SAME_SHAPE_SINCE: u64 = 2;

/// One object's state; which kind it is follows from the object's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuardObject {
    #[default]
    Empty,
    Number(NumberState),
    Address(AddressState),
    Link(LinkState),
    Budget(BudgetState),
}

/// Reads what the derived `Serialize` writes, `{"kind": "number", ...the state's fields}`,
/// with `kind` first, as serde always writes the tag. Hand-written because serde's reader
/// for tagged enums buffers the whole object and compiles every nested type a second
/// time against that buffer: kilobytes of wasm for nothing.
impl<'de> Deserialize<'de> for GuardObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(KindFirst)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Empty,
    Number,
    Address,
    Link,
    Budget,
}

struct KindFirst;

impl<'de> Visitor<'de> for KindFirst {
    type Value = GuardObject;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a guard object with `kind` as its first field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GuardObject, A::Error> {
        if map.next_key::<String>()?.as_deref() != Some("kind") {
            return Err(de::Error::custom("`kind` must be the first field of a guard object"));
        }
        let kind: Kind = map.next_value()?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match kind {
            Kind::Empty => {
                IgnoredAny::deserialize(rest)?;
                GuardObject::Empty
            }
            Kind::Number => GuardObject::Number(NumberState::deserialize(rest)?),
            Kind::Address => GuardObject::Address(AddressState::deserialize(rest)?),
            Kind::Link => GuardObject::Link(LinkState::deserialize(rest)?),
            Kind::Budget => GuardObject::Budget(BudgetState::deserialize(rest)?),
        })
    }
}

/// A command reached an object of another kind (a bug in the caller, never input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongObject;

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u64,
    object: GuardObject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Written by a newer version of the code: do not guess, do not overwrite.
    NewerVersion(u64),
    Unreadable(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NewerVersion(v) => write!(f, "guard state has version {v}, newer than {STATE_VERSION}"),
            Self::Unreadable(e) => write!(f, "guard state unreadable: {e}"),
        }
    }
}

/// `Stored` by reference: saving (on every change) does not copy the state first.
#[derive(Serialize)]
struct StoredRef<'a> {
    v: u64,
    object: &'a GuardObject,
}

pub fn save(object: &GuardObject) -> String {
    serde_json::to_string(&StoredRef { v: STATE_VERSION, object }).unwrap_or_default()
}

/// Only the version, the rest skipped: which reader to use for the whole text.
#[derive(Deserialize)]
struct Version {
    v: Option<u64>,
}

pub fn load(text: &str) -> Result<GuardObject, LoadError> {
    let unreadable = |e: serde_json::Error| LoadError::Unreadable(e.to_string());
    match serde_json::from_str::<Version>(text).map_err(unreadable)?.v {
        Some(v) if (SAME_SHAPE_SINCE..=STATE_VERSION).contains(&v) => {
            serde_json::from_str::<Stored>(text).map(|s| s.object).map_err(unreadable)
        }
        Some(v) if v > STATE_VERSION => Err(LoadError::NewerVersion(v)),
        Some(v) => Err(LoadError::Unreadable(format!("unknown version {v}"))),
        None => serde_json::from_str::<V1>(text).map(V1::migrate).map_err(unreadable),
    }
}

impl GuardObject {
    /// This object as a number's state (an empty object becomes one).
    pub fn number(&mut self, number: &str) -> Result<&mut NumberState, WrongObject> {
        if *self == GuardObject::Empty {
            *self = GuardObject::Number(NumberState::default());
        }
        match self {
            GuardObject::Number(state) => {
                if state.number.is_empty() {
                    state.number = number.to_string();
                }
                Ok(state)
            }
            _ => Err(WrongObject),
        }
    }

    pub fn address(&mut self) -> Result<&mut AddressState, WrongObject> {
        if *self == GuardObject::Empty {
            *self = GuardObject::Address(AddressState::default());
        }
        match self {
            GuardObject::Address(state) => Ok(state),
            _ => Err(WrongObject),
        }
    }

    pub fn set_link(&mut self, link: LinkState) -> Result<(), WrongObject> {
        match self {
            GuardObject::Empty | GuardObject::Link(_) => {
                *self = GuardObject::Link(link);
                Ok(())
            }
            _ => Err(WrongObject),
        }
    }

    pub fn link(&self) -> Result<Option<LinkState>, WrongObject> {
        match self {
            GuardObject::Empty => Ok(None),
            GuardObject::Link(link) => Ok(Some(link.clone())),
            _ => Err(WrongObject),
        }
    }

    fn budget(&mut self) -> Result<&mut BudgetState, WrongObject> {
        if *self == GuardObject::Empty {
            *self = GuardObject::Budget(BudgetState::default());
        }
        match self {
            GuardObject::Budget(state) => Ok(state),
            _ => Err(WrongObject),
        }
    }

    pub fn budget_spend(&mut self, max: u32, now_ms: u64) -> Result<BudgetOutcome, WrongObject> {
        let budget = self.budget()?;
        let outcome = budget.spend(max, now_ms);
        Ok(outcome)
    }

    pub fn budget_refund(&mut self, now_ms: u64) -> Result<(), WrongObject> {
        self.budget()?.refund(now_ms);
        Ok(())
    }

    /// Drops whatever aged out (run before every command and by the alarm).
    pub fn prune(&mut self, now_ms: u64) {
        match self {
            GuardObject::Number(state) => state.prune(now_ms),
            GuardObject::Address(state) => state.prune(now_ms),
            GuardObject::Link(link) if link.expired(now_ms) => *self = GuardObject::Empty,
            GuardObject::Budget(budget) if budget.expired(now_ms) => *self = GuardObject::Empty,
            _ => {}
        }
    }

    /// Nothing worth keeping: the object may delete its storage.
    pub fn is_empty(&self) -> bool {
        match self {
            GuardObject::Empty => true,
            GuardObject::Number(state) => state.is_empty(),
            GuardObject::Address(state) => state.is_empty(),
            GuardObject::Link(_) | GuardObject::Budget(_) => false,
        }
    }

    /// When the alarm should next run.
    pub fn next_wakeup(&self) -> Option<u64> {
        match self {
            GuardObject::Empty => None,
            GuardObject::Number(state) => state.next_wakeup(),
            GuardObject::Address(state) => state.next_wakeup(),
            GuardObject::Link(link) => Some(link.until_ms),
            GuardObject::Budget(budget) => budget.next_wakeup(),
        }
    }

    /// The requests marked as a test number's, whose events say `"test": true`.
    pub fn test_request_ids(&self) -> Vec<String> {
        match self {
            GuardObject::Number(state) => {
                state.requests.iter().filter(|r| r.test).map(|r| r.request_id.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The alarm's fallbacks: the SMS every request past its deadline now gets.
    pub fn take_due_fallbacks(&mut self, now_ms: u64) -> Vec<super::leg::SmsJob> {
        match self {
            GuardObject::Number(state) => state.take_due_fallbacks(now_ms),
            _ => Vec::new(),
        }
    }

    /// What the last command changed, with the number it happened to.
    pub fn take_changes(&mut self) -> (String, Vec<Change>) {
        match self {
            GuardObject::Number(state) => (state.number.clone(), state.take_changes()),
            _ => (String::new(), Vec::new()),
        }
    }
}

/// The state as written before versions existed: numbers and addresses shared one shape.
#[derive(Deserialize)]
struct V1 {
    #[serde(default)]
    sends: Vec<u64>,
    #[serde(default)]
    requests: Vec<RequestState>,
    #[serde(default)]
    opted_out: bool,
    #[serde(default)]
    seen_messages: Vec<V1Seen>,
    #[serde(default)]
    ip_minutes: Vec<MinuteCount>,
}

#[derive(Deserialize)]
struct V1Seen {
    at_ms: u64,
}

impl V1 {
    fn migrate(self) -> GuardObject {
        let is_address = self.sends.is_empty() && self.requests.is_empty() && !self.opted_out;
        if is_address && !self.ip_minutes.is_empty() {
            return GuardObject::Address(AddressState {
                requests: Window { minutes: self.ip_minutes },
                checks: Window::default(),
            });
        }
        if is_address && self.seen_messages.is_empty() {
            return GuardObject::Empty;
        }
        // Old idempotency keys were not scoped to an address: they are dropped (a retry
        // then gets a fresh request instead of someone else's answer). Messages seen
        // before become one stamp: a keyword older than the newest of them is stale.
        let newest_seen = self.seen_messages.iter().map(|s| s.at_ms).max();
        GuardObject::Number(NumberState {
            sends: self.sends,
            requests: self.requests,
            opted_out: self.opted_out,
            last_keyword: newest_seen.map(|sent_ms| KeywordStamp { sent_ms, id: String::new() }),
            ..NumberState::default()
        })
    }
}
