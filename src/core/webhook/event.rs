//! The plain events a delivery becomes: who wrote what, and what happened to the
//! messages we sent.

use crate::core::guard::{DeliveryStatus, MessageRef};

/// Who sent a message: a phone number when Meta gives one, and the business-scoped
/// user id (`user_id`) Meta adds since 2026. A user with a username may have no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The canonical form (`canonical_phone`): the guard every spelling shares.
    pub phone: Option<String>,
    /// The number as WhatsApp wrote it (`from`, E.164): where a chat answer goes.
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
}

/// What a message says, as far as verification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Typed text, or a quick-reply button's text.
    Text(String),
    /// Media, reactions, locations...: nothing to verify.
    Other(String),
}

/// What one delivery asks of us, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    Message {
        sender: Sender,
        message: MessageRef,
        /// The id of our message this one replies to (`context.id`).
        replying_to: Option<String>,
        content: Content,
    },
    /// A delivery status of one of our messages, matched by its id and the request id
    /// we attached (`biz_opaque_callback_data`), never by the recipient's number.
    Status {
        message_id: String,
        status: DeliveryStatus,
        request_id: Option<String>,
        error_code: Option<i64>,
        pricing_category: Option<String>,
    },
    /// Meta's system-level `errors[]` (logged).
    SystemError { code: i64, title: String },
    /// A system message in a chat (`type: "system"`: `user_changed_number`,
    /// `user_changed_user_id`, …): logged, never acted on. Numbers are canonical.
    System { kind: String, phone: Option<String>, new_phone: Option<String> },
    /// A change for another of the business's numbers (same app, same webhook): skipped.
    OtherNumber { phone_number_id: String },
    /// An item we cannot use (logged, never fatal to the rest of the delivery).
    Skipped { what: &'static str },
}
