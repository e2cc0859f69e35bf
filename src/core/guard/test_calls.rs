//! Guard commands as the guard's tests build them: the plain case on one number,
//! each test changing only what it is about (`Reserve { test: true, ..reserve_call(…) }`).

use super::protocol::{Delivery, Reserve};
use super::{DeliveryStatus, Mode, SendPolicy};

/// The number the guard's tests run on.
pub(super) const NUMBER: &str = "+14155550123";

/// A code request for [`NUMBER`]: no locale, no idempotency key, nothing from the
/// number's other spelling, not a test number.
pub(super) fn reserve_call(request_id: &str, mode: Mode, policy: SendPolicy) -> Reserve {
    Reserve {
        number: NUMBER.into(),
        request_id: request_id.into(),
        mode,
        locale: None,
        policy,
        idempotency: None,
        other_spelling: None,
        test: false,
    }
}

/// Meta's status of the message `message_id` to [`NUMBER`]: no error, no pricing.
pub(super) fn delivery_call(message_id: &str, request_id: Option<&str>, status: DeliveryStatus) -> Delivery {
    Delivery {
        number: NUMBER.into(),
        message_id: message_id.into(),
        request_id: request_id.map(str::to_string),
        status,
        error_code: None,
        pricing_category: None,
    }
}
