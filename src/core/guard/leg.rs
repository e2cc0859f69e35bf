//! The channels a request's code went by (its legs) and the SMS fallback's state in
//! a number's guard: the sealed code kept while a fallback is possible, the SMS leg,
//! and the job handed to whoever sends the SMS.

use serde::{Deserialize, Serialize};

use super::DeliveryStatus;

/// Which way a code went: the contract's `channel` of a leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    #[default]
    WhatsApp,
    Sms,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WhatsApp => "whatsapp",
            Self::Sms => "sms",
        }
    }
}

/// Why a request's code went by SMS after WhatsApp (`fallback_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// Meta refused the send: the error code the API would have answered.
    NotOnWhatsapp,
    WhatsappUnavailable,
    WhatsappThrottled,
    WhatsappAuthFailed,
    WhatsappRejected,
    /// A status webhook said our WhatsApp message failed.
    WhatsappFailed,
    /// No `delivered` or `read` within `FALLBACK_AFTER_SECONDS`.
    NotDeliveredInTime,
}

impl FallbackReason {
    pub const ALL: [Self; 7] = [
        Self::NotOnWhatsapp,
        Self::WhatsappUnavailable,
        Self::WhatsappThrottled,
        Self::WhatsappAuthFailed,
        Self::WhatsappRejected,
        Self::WhatsappFailed,
        Self::NotDeliveredInTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotOnWhatsapp => "not_on_whatsapp",
            Self::WhatsappUnavailable => "whatsapp_unavailable",
            Self::WhatsappThrottled => "whatsapp_throttled",
            Self::WhatsappAuthFailed => "whatsapp_auth_failed",
            Self::WhatsappRejected => "whatsapp_rejected",
            Self::WhatsappFailed => "whatsapp_failed",
            Self::NotDeliveredInTime => "not_delivered_in_time",
        }
    }
}

/// A WhatsApp send that may still fall back: the code sealed (`sms::seal`), and when
/// the alarm sends it by SMS if no `delivered` or `read` came. Dropped as soon as the
/// request can no longer fall back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackArm {
    pub sealed: String,
    pub due_ms: u64,
}

/// A request's SMS leg. `sid`: the provider's message id (Twilio's `SM…`), once it
/// took the SMS; `status` is `accepted` from the claim until a status callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsLeg {
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FallbackReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub updated_ms: u64,
}

/// An SMS the guard has claimed for a request (at most one per request): the caller
/// opens the sealed code, sends it, and reports with `SettleSms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsJob {
    pub number: String,
    pub request_id: String,
    pub sealed: String,
    pub locale: Option<String>,
    pub expires_ms: u64,
    pub reason: FallbackReason,
}

/// An SMS that went out with the request's own send (an explicit `sms` request, or
/// Meta refused the WhatsApp message): recorded by `Settle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSent {
    pub sid: Option<String>,
    /// `Some` when it replaced a WhatsApp message Meta refused (with Meta's code).
    pub reason: Option<FallbackReason>,
    pub whatsapp_error: Option<i64>,
}

/// How a claimed SMS ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsResult {
    Sent { sid: Option<String> },
    Failed { error_code: Option<i64> },
}
