//! Meta's webhook: the handshake, the signature, and a delivery
//! turned into plain events.
//!
//! - `auth`: whether a call is Meta's (the handshake's verify token, the
//!   delivery's signature);
//! - `event`: the plain events a delivery becomes;
//! - `delivery_body`: Meta's delivery JSON as it is read;
//! - `parse`: a delivery's body into events, one unusable item never failing the rest;
//! - `keyword`: the chat keywords (STOP, START, NOT ME).

mod auth;
mod delivery_body;
mod event;
mod keyword;
mod parse;

pub use auth::{handshake, verify_signature};
pub use event::{Content, Sender, WebhookEvent};
pub use keyword::keyword;
pub use parse::{parse_delivery, NotADelivery};
