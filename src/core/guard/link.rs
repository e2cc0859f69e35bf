//! `msg:<message id>`: which number and request a message we sent belongs to.
//!
//! A user who adopted a WhatsApp username may reply without a phone number; the only
//! sure tie to a request is the message they quote (`context.id`). KV holds exactly one
//! write per code, so this index lives in its own tiny Durable Object, written once
//! after the Cloud API accepted the message, deleted by its alarm when the request's
//! retention ends.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkState {
    pub number: String,
    pub request_id: String,
    /// When the link may be forgotten (the request's expiry plus retention).
    pub until_ms: u64,
    /// The `wa_id` Meta answered the send with (E.164): a reply that quotes this message
    /// from that `wa_id` is the recipient's, whatever spelling it arrives in. Always
    /// written: the guard's wire format (postcard) cannot skip a field, and a skipped
    /// `None` made a link without one unreadable (every SMS link has none).
    #[serde(default)]
    pub wa_id: Option<String>,
}

impl LinkState {
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= self.until_ms
    }
}
