//! Webhook deliveries: payloads shaped like Meta's samples, HMAC signing, posting.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::meta_errors::webhook_error;

pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// Lowercase hex HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Hub-Signature-256` value Meta sends: `sha256=<hex>` over the raw body bytes.
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(app_secret.as_bytes(), body))
}

/// Who the deliveries claim to come from (`entry[].id`, `metadata`).
#[derive(Debug, Clone)]
pub struct Business {
    pub waba_id: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// Wraps one `changes[].value` into a full delivery.
pub fn envelope(biz: &Business, mut value: Map<String, Value>) -> Value {
    let mut v = Map::new();
    v.insert("messaging_product".into(), json!("whatsapp"));
    v.insert(
        "metadata".into(),
        json!({"display_phone_number": biz.display_phone_number, "phone_number_id": biz.phone_number_id}),
    );
    v.append(&mut value);
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": biz.waba_id, "changes": [{"value": Value::Object(v), "field": "messages"}]}]
    })
}

/// A user's text message (like `incoming-text.json`).
pub fn incoming_text(biz: &Business, from: &str, name: &str, id: &str, timestamp: &str, body: &str) -> Value {
    let mut value = Map::new();
    value.insert("contacts".into(), json!([{"profile": {"name": name}, "wa_id": from}]));
    value.insert(
        "messages".into(),
        json!([{"from": from, "id": id, "timestamp": timestamp, "type": "text", "text": {"body": body}}]),
    );
    envelope(biz, value)
}

/// One status update (like `status-{sent,delivered,read,failed}.json`).
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub message_id: String,
    pub recipient_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Unix seconds.
    pub timestamp: u64,
    pub biz_opaque_callback_data: Option<String>,
    /// Conversation/pricing category: `authentication` for templates, `service` for text.
    pub category: String,
    /// For `failed`; defaults to 131026.
    pub error_code: Option<i64>,
    pub error_details: Option<String>,
}

pub const STATUSES: [&str; 4] = ["sent", "delivered", "read", "failed"];

/// A conversation id that stays the same for every status of one message.
pub fn conversation_id(message_id: &str) -> String {
    hex::encode(&Sha256::digest(format!("conversation:{message_id}").as_bytes())[..16])
}

pub fn status(biz: &Business, s: &StatusUpdate) -> Value {
    let mut st = Map::new();
    st.insert("id".into(), json!(s.message_id));
    st.insert("status".into(), json!(s.status));
    st.insert("timestamp".into(), json!(s.timestamp.to_string()));
    st.insert("recipient_id".into(), json!(s.recipient_id));
    if let Some(b) = &s.biz_opaque_callback_data {
        st.insert("biz_opaque_callback_data".into(), json!(b));
    }
    let origin = json!({"type": s.category});
    match s.status.as_str() {
        "sent" => {
            st.insert(
                "conversation".into(),
                json!({"id": conversation_id(&s.message_id), "expiration_timestamp": (s.timestamp + 86_400).to_string(), "origin": origin}),
            );
        }
        "delivered" => {
            st.insert("conversation".into(), json!({"id": conversation_id(&s.message_id), "origin": origin}));
        }
        "failed" => {
            st.insert(
                "errors".into(),
                json!([webhook_error(s.error_code.unwrap_or(131_026), s.error_details.as_deref())]),
            );
        }
        _ => {}
    }
    if matches!(s.status.as_str(), "sent" | "delivered") {
        st.insert(
            "pricing".into(),
            json!({"billable": true, "pricing_model": "PMP", "category": s.category, "type": "regular"}),
        );
    }
    let mut value = Map::new();
    value.insert("statuses".into(), json!([Value::Object(st)]));
    envelope(biz, value)
}

/// Why a delivery could not get an HTTP answer.
#[derive(Debug)]
pub struct PostFailure {
    pub timed_out: bool,
    pub message: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .no_proxy()
        .user_agent("facebookexternalua")
        .build()
        .expect("HTTP client builds with static settings")
}

/// POSTs `body` to `url` with `Content-Type: application/json` and, when given, the
/// signature header; returns the answer's status and body text.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signature: Option<&str>,
) -> Result<(u16, String), PostFailure> {
    let mut req = client.post(url).header("Content-Type", "application/json").body(body);
    if let Some(sig) = signature {
        req = req.header(SIGNATURE_HEADER, sig);
    }
    let fail = |e: reqwest::Error| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        PostFailure { timed_out: e.is_timeout(), message }
    };
    let resp = req.send().await.map_err(fail)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(fail)?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{key_paths, load};

    fn biz() -> Business {
        Business {
            waba_id: "102290129340398".into(),
            display_phone_number: "15550783881".into(),
            phone_number_id: "106540352242922".into(),
        }
    }

    #[test]
    fn hmac_test_vector() {
        assert_eq!(
            hmac_sha256_hex(b"secret", b"test"),
            "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        assert_eq!(
            signature_header("secret", b"test"),
            "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
    }

    #[test]
    fn incoming_text_matches_sample_exactly() {
        let sample = load("incoming-text.json");
        let got = incoming_text(
            &biz(),
            "16505551234",
            "Sheena Nelson",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "1749416383",
            "Does it come in another color?",
        );
        assert_eq!(key_paths(&got), key_paths(&sample));
        assert_eq!(got, sample);
    }

    fn update(status: &str, ts: u64) -> StatusUpdate {
        StatusUpdate {
            message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
            recipient_id: "16505551234".into(),
            status: status.into(),
            timestamp: ts,
            biz_opaque_callback_data: Some("otp_AAAAAAAAAAAAAAAAAAAAAA".into()),
            category: "authentication".into(),
            error_code: None,
            error_details: None,
        }
    }

    /// Same shape as the sample; equal once the conversation id is aligned.
    fn assert_like_sample(file: &str, mut got: Value) {
        let sample = load(file);
        assert_eq!(key_paths(&got), key_paths(&sample), "{file}");
        let st = &mut got["entry"][0]["changes"][0]["value"]["statuses"][0];
        if st.get("conversation").is_some() {
            st["conversation"]["id"] = json!("CONVERSATION_ID");
        }
        assert_eq!(got, sample, "{file}");
    }

    #[test]
    fn statuses_match_samples() {
        for (name, ts) in
            [("sent", 1_750_263_770), ("delivered", 1_750_263_772), ("read", 1_750_263_790), ("failed", 1_750_263_773)]
        {
            let got = status(&biz(), &update(name, ts));
            assert_like_sample(&format!("status-{name}.json"), got);
        }
    }

    #[test]
    fn status_without_opaque_data_and_custom_error() {
        let mut u = update("failed", 1);
        u.biz_opaque_callback_data = None;
        u.error_code = Some(131_047);
        let v = status(&biz(), &u);
        let st = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert!(st.get("biz_opaque_callback_data").is_none());
        assert_eq!(st["errors"][0]["code"], 131_047);
        assert_eq!(st["errors"][0]["title"], "Re-engagement message");
    }

    #[test]
    fn conversation_id_is_stable_per_message() {
        assert_eq!(conversation_id("wamid.a"), conversation_id("wamid.a"));
        assert_ne!(conversation_id("wamid.a"), conversation_id("wamid.b"));
        assert_eq!(conversation_id("wamid.a").len(), 32);
    }
}
