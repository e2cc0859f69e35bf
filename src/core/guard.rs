//! The policy behind the `PhoneGuard` Durable Object: plain data and plain functions
//! over an injected clock, so every rule is tested natively.
//!
//! One Durable Object class serves four kinds of objects, told apart by name:
//! - `+<E.164>`: one phone number ([`NumberState`]): send limits, live requests,
//!   attempts, single use, delivery status, opt-out, idempotency keys;
//! - `ip:<address key>`: one client address or IPv6 /64 ([`AddressState`]);
//! - `msg:<message id>`: which number a sent message belongs to ([`LinkState`]), so a
//!   reply that quotes our message finds its number even without a phone number;
//! - `budget:<UTC day>`: all sends of the day ([`BudgetState`]).
//!
//! The Durable Object loads the [`stored::GuardObject`], applies one typed command
//! from [`protocol`] synchronously (the whole check-and-update), stores the result and
//! hands the [`Change`]s to the event hook. Objects serve one request at a time, which
//! is what makes concurrent requests safe.

pub mod address;
pub mod budget;
pub mod leg;
pub mod link;
pub mod number;
pub mod protocol;
pub mod stored;
pub mod wire;

#[cfg(test)]
mod fallback_tests;
#[cfg(test)]
mod model;
#[cfg(test)]
mod storage_size;
#[cfg(test)]
mod test_calls;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use address::AddressState;
pub use budget::BudgetState;
pub use leg::{FallbackReason, Leg};
pub use link::LinkState;
pub use number::{NumberState, RequestStatus, RequestView, RETENTION_MS};

pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifiedVia {
    Code,
    Reply,
    Inbound,
}

impl VerifiedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Reply => "reply",
            Self::Inbound => "inbound",
        }
    }
}

/// Where a code attempt came from; each has its own attempt budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `POST /v1/otp/verify` with the `request_id`.
    RequestId,
    /// `POST /v1/otp/verify` with the phone number: its own, separate budget, so that
    /// whoever merely knows the number cannot lock the owner's code.
    Phone,
    /// A WhatsApp message from the number (or quoting our message) through the webhook.
    WhatsApp,
}

/// The send policy in force, passed with each command that needs it (settings live
/// in the worker, not in stored state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPolicy {
    pub ttl_s: u64,
    pub max_attempts: u32,
    pub cooldown_s: u64,
    pub max_per_hour: u32,
    pub max_per_day: u32,
}

/// Why a send was refused: the `reason` of `429 rate_limited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitReason {
    ResendCooldown,
    HourlyLimit,
    DailyLimit,
    IpLimit,
    TooManyFailures,
    NotMe,
}

impl LimitReason {
    pub const ALL: [LimitReason; 6] =
        [Self::ResendCooldown, Self::HourlyLimit, Self::DailyLimit, Self::IpLimit, Self::TooManyFailures, Self::NotMe];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResendCooldown => "resend_cooldown",
            Self::HourlyLimit => "hourly_limit",
            Self::DailyLimit => "daily_limit",
            Self::IpLimit => "ip_limit",
            Self::TooManyFailures => "too_many_failures",
            Self::NotMe => "not_me",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The Cloud API took the message; no status webhook yet.
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    /// Statuses arrive late and twice: never move backwards; `failed` is final,
    /// and a message already read cannot have failed.
    pub fn may_become(self, next: Self) -> bool {
        match (self, next) {
            (Self::Failed, _) => false,
            (Self::Read, Self::Failed) => false,
            (_, Self::Failed) => true,
            (current, next) => next > current,
        }
    }
}

/// A WhatsApp message as the guard needs it: its id (dedupe) and Meta's timestamp
/// (a message older than a request never counts for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub id: String,
    pub sent_ms: u64,
}

/// What changed in a guard, for events and logs. Never a code or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Requested {
        request_id: String,
        mode: Mode,
    },
    Sent {
        request_id: String,
        message_id: Option<String>,
        #[serde(default)]
        channel: Leg,
    },
    Delivery {
        request_id: String,
        status: DeliveryStatus,
        error_code: Option<i64>,
        pricing_category: Option<String>,
        #[serde(default)]
        channel: Leg,
    },
    /// The code went by SMS after WhatsApp (`verification.fallback`).
    Fallback {
        request_id: String,
        from: Leg,
        to: Leg,
        reason: FallbackReason,
    },
    Verified {
        request_id: String,
        via: VerifiedVia,
        seconds: u64,
    },
    Locked {
        request_id: String,
    },
    Expired {
        request_id: String,
    },
    Revoked {
        request_id: String,
    },
    OptedOut,
    OptedIn,
    BudgetWarning {
        sends: u32,
        max: u32,
    },
}
