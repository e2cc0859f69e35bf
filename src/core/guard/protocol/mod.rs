//! The guard's protocol: one request type and one reply type per command, so every
//! caller handles exactly the answers its command can give (no catch-all arm can let
//! an unexpected reply through), and every refusal is an explicit variant.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::address::Allowance;
use super::budget::BudgetOutcome;
use super::leg::{FallbackArm, SmsJob, SmsResult, SmsSent};
use super::number::{AttemptOutcome, NotMeOutcome, OtherSpellingState, ReserveOk, ReserveRefusal, SendResult};
use super::stored::{GuardObject, WrongObject};
use super::{Channel, DeliveryStatus, LimitReason, LinkState, MessageRef, Mode, RequestView, SendPolicy};

mod address;
mod budget;
mod link;
mod number;

pub use address::*;
pub use budget::*;
pub use link::*;
pub use number::*;

/// A command for one guard object, with the reply it gets.
pub trait GuardCall: Serialize + DeserializeOwned {
    /// The path the Durable Object dispatches on.
    const OP: &'static str;
    type Reply: Serialize + DeserializeOwned;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<Self::Reply, WrongObject>;
}

/// An `Idempotency-Key`, scoped: `slot` hashes the caller's address key with the key,
/// `fingerprint` hashes the normalised request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    pub slot: String,
    pub fingerprint: String,
}

/// What the Durable Object runs for every command: age out what is old, then apply.
/// Afterwards, a sealed code its request can no longer use is gone.
pub fn execute<C: GuardCall>(object: &mut GuardObject, call: C, now_ms: u64) -> Result<C::Reply, WrongObject> {
    object.prune(now_ms);
    let reply = call.apply(object, now_ms);
    if let GuardObject::Number(state) = object {
        state.drop_spent_seals(now_ms);
    }
    reply
}
