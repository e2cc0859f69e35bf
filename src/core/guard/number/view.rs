//! What the status routes show of a request.

use serde::{Deserialize, Serialize};

use super::{Delivery, NumberState, Outcome, RequestState, RequestStatus};
use crate::core::guard::leg::SmsLeg;
use crate::core::guard::{DeliveryStatus, FallbackReason, Leg, Mode, SendPolicy, VerifiedVia};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub request_id: String,
    pub mode: Mode,
    pub status: RequestStatus,
    pub live: bool,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub attempts_left: u32,
    pub resend_after_s: u64,
    /// The latest leg (the contract's `delivery`).
    pub delivery: Option<DeliveryView>,
    /// Every leg, WhatsApp first (the contract's `deliveries`).
    pub deliveries: Vec<DeliveryView>,
    pub verified: Option<(u64, VerifiedVia)>,
    pub locale: Option<String>,
}

/// A request's delivery as the status routes show it. Its own type because the
/// stored `Delivery` omits empty fields, which the guard's wire format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub channel: Leg,
    pub fallback_reason: Option<FallbackReason>,
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    pub pricing_category: Option<String>,
    pub updated_ms: u64,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            channel: Leg::WhatsApp,
            fallback_reason: None,
            status: d.status,
            error_code: d.error_code,
            pricing_category: d.pricing_category.clone(),
            updated_ms: d.updated_ms,
        }
    }
}

impl From<&SmsLeg> for DeliveryView {
    fn from(s: &SmsLeg) -> Self {
        DeliveryView {
            channel: Leg::Sms,
            fallback_reason: s.reason,
            status: s.status,
            error_code: s.error_code,
            pricing_category: None,
            updated_ms: s.updated_ms,
        }
    }
}

impl NumberState {
    pub fn view(&self, request: &RequestState, policy: &SendPolicy, now_ms: u64) -> RequestView {
        RequestView {
            request_id: request.request_id.clone(),
            mode: request.mode,
            status: request.status(now_ms),
            live: request.is_live(now_ms),
            created_ms: request.created_ms,
            expires_ms: request.expires_ms,
            attempts_left: request.attempts_left(),
            resend_after_s: self.send_wait(policy, now_ms).map_or(0, |(wait, _)| wait.div_ceil(1000)),
            delivery: request
                .sms
                .as_ref()
                .map(DeliveryView::from)
                .or_else(|| request.delivery.as_ref().map(DeliveryView::from)),
            deliveries: request
                .delivery
                .as_ref()
                .map(DeliveryView::from)
                .into_iter()
                .chain(request.sms.as_ref().map(DeliveryView::from))
                .collect(),
            verified: match request.outcome {
                Outcome::Verified { at_ms, via } => Some((at_ms, via)),
                _ => None,
            },
            locale: request.locale.clone(),
        }
    }

    pub fn status_of(&self, request_id: &str, policy: &SendPolicy, now_ms: u64) -> Option<RequestView> {
        self.find(request_id).map(|r| self.view(r, policy, now_ms))
    }
}
