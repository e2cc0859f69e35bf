//! Meta's delivery JSON, as far as it is read: every field optional where Meta may
//! leave it out, and items kept as raw JSON until each is read on its own.

use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct Delivery {
    #[serde(default)]
    pub(super) entry: Vec<Entry>,
}

#[derive(Deserialize)]
pub(super) struct Entry {
    #[serde(default)]
    pub(super) changes: Vec<Change>,
}

#[derive(Deserialize)]
pub(super) struct Change {
    #[serde(default)]
    pub(super) value: ChangeValue,
}

// Items are kept as raw JSON first, so one malformed item never fails the delivery.
#[derive(Deserialize, Default)]
pub(super) struct ChangeValue {
    #[serde(default)]
    pub(super) metadata: Option<Metadata>,
    #[serde(default)]
    pub(super) contacts: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) statuses: Vec<serde_json::Value>,
    #[serde(default)]
    pub(super) errors: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct Metadata {
    #[serde(default)]
    pub(super) phone_number_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Contact {
    #[serde(default)]
    pub(super) wa_id: Option<String>,
    #[serde(default)]
    pub(super) user_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Message {
    #[serde(default)]
    pub(super) from: Option<String>,
    pub(super) id: String,
    #[serde(default)]
    pub(super) timestamp: Option<String>,
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) context: Option<Context>,
    #[serde(default)]
    pub(super) text: Option<TextBody>,
    #[serde(default)]
    pub(super) button: Option<ButtonBody>,
    #[serde(default)]
    pub(super) system: Option<SystemBody>,
}

/// `{"body","type","wa_id"|"new_wa_id"?,"user_id"?}`: Meta has named the new number
/// both ways over the API's versions.
#[derive(Deserialize)]
pub(super) struct SystemBody {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) wa_id: Option<String>,
    #[serde(default)]
    pub(super) new_wa_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Context {
    #[serde(default)]
    pub(super) id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct TextBody {
    pub(super) body: String,
}

#[derive(Deserialize)]
pub(super) struct ButtonBody {
    #[serde(default)]
    pub(super) text: String,
}

#[derive(Deserialize)]
pub(super) struct Status {
    pub(super) id: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub(super) errors: Vec<MetaError>,
    #[serde(default)]
    pub(super) pricing: Option<Pricing>,
}

#[derive(Deserialize)]
pub(super) struct Pricing {
    #[serde(default)]
    pub(super) category: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct MetaError {
    pub(super) code: i64,
    #[serde(default)]
    pub(super) title: String,
}
