//! Status webhooks for the messages that carried a number's codes.

use super::{Delivery, NumberState, RequestState};
use crate::core::guard::{Change, DeliveryStatus, Leg, Mode};

impl NumberState {
    /// The request a WhatsApp message carried the code of.
    pub fn request_of_message(&self, message_id: &str) -> Option<String> {
        self.requests
            .iter()
            .find(|r| r.delivery.as_ref().and_then(|d| d.message_id.as_deref()) == Some(message_id))
            .map(|r| r.request_id.clone())
    }

    /// A status webhook for one of our messages: `Some(applied)`, or `None` when no
    /// request is known by `request_id` or by the message.
    pub fn delivery(
        &mut self,
        message_id: &str,
        request_id: Option<&str>,
        status: DeliveryStatus,
        error_code: Option<i64>,
        pricing_category: Option<String>,
        now_ms: u64,
    ) -> Option<bool> {
        let by_message =
            |r: &RequestState| r.delivery.as_ref().and_then(|d| d.message_id.as_deref()) == Some(message_id);
        let index =
            request_id.and_then(|id| self.position(id)).or_else(|| self.requests.iter().position(by_message))?;
        let request = &mut self.requests[index];
        if request.mode == Mode::Inbound {
            return Some(false);
        }
        let may_change = request.delivery.as_ref().is_none_or(|current| current.status.may_become(status));
        let pricing_category =
            pricing_category.or_else(|| request.delivery.as_ref().and_then(|d| d.pricing_category.clone()));
        if may_change {
            request.delivery = Some(Delivery {
                status,
                error_code: if status == DeliveryStatus::Failed { error_code } else { None },
                pricing_category: pricing_category.clone(),
                updated_ms: now_ms,
                message_id: Some(message_id.to_string()),
            });
            self.changes.push(Change::Delivery {
                request_id: request.request_id.clone(),
                status,
                error_code: if status == DeliveryStatus::Failed { error_code } else { None },
                pricing_category,
                channel: Leg::WhatsApp,
            });
        } else if let (Some(delivery), Some(category)) = (&mut request.delivery, pricing_category) {
            // A late status still tells what was billed.
            delivery.pricing_category = Some(category);
        }
        Some(may_change)
    }
}
