//! What the commands on a number answer.

use serde::{Deserialize, Serialize};

use crate::core::guard::{LimitReason, VerifiedVia};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveOk {
    pub expires_ms: u64,
    pub resend_after_s: u64,
    pub attempts_left: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReserveRefusal {
    OptedOut,
    Limited { retry_after_s: u64, reason: LimitReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Verified {
        at_ms: u64,
        via: VerifiedVia,
    },
    Wrong {
        attempts_left: u32,
    },
    /// This channel's attempt budget is used up.
    Locked,
    AlreadyVerified,
    Revoked,
    Expired,
    Superseded,
    NotFound,
    /// An inbound-mode code typed into the API: only a message from the number counts.
    WrongChannel,
    /// A WhatsApp message already counted (Meta delivered it again).
    Duplicate,
    /// A WhatsApp message sent before the request began.
    TooOld,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotMeOutcome {
    Blocked { revoked: Option<String> },
    Duplicate,
}
