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

/// A business-scoped user id (BSUID) for a phone number: the country's ISO code, a dot
/// and 20 digits, the same for the same number (like `US.13491208655302741918`).
pub fn user_id_for(phone_digits: &str) -> String {
    const COUNTRIES: [(&str, &str); 16] = [
        ("1", "US"),
        ("44", "GB"),
        ("49", "DE"),
        ("33", "FR"),
        ("34", "ES"),
        ("39", "IT"),
        ("31", "NL"),
        ("351", "PT"),
        ("55", "BR"),
        ("52", "MX"),
        ("54", "AR"),
        ("91", "IN"),
        ("62", "ID"),
        ("234", "NG"),
        ("27", "ZA"),
        ("61", "AU"),
    ];
    let country = COUNTRIES
        .iter()
        .filter(|(cc, _)| phone_digits.starts_with(cc))
        .max_by_key(|(cc, _)| cc.len())
        .map_or("US", |(_, iso)| iso);
    let digest = Sha256::digest(format!("bsuid:{phone_digits}").as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    format!("{country}.{:020}", u64::from_be_bytes(n))
}

/// A BSUID as Meta writes them: an ISO country code, a dot, then up to 128 letters,
/// digits and dots (a parent id looks like `US.ENT.11815799212886844830`).
pub fn valid_user_id(s: &str) -> bool {
    let Some((country, rest)) = s.split_once('.') else {
        return false;
    };
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && (1..=128).contains(&rest.len())
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && !rest.starts_with('.')
        && !rest.ends_with('.')
}

/// A user's text message, shaped as Meta delivers it in 2026.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Digits; `None` for a user who arrives by username only (no `from`, no `wa_id`).
    pub from: Option<String>,
    /// The BSUID, always in `contacts[]`.
    pub user_id: String,
    pub name: String,
    /// `contacts[].profile.username`, when the user adopted one.
    pub username: Option<String>,
    pub id: String,
    pub timestamp: String,
    pub body: String,
    /// The message replied to: `context.from` (the business number) and `context.id`.
    pub context: Option<(String, String)>,
}

/// A user's text message (like `incoming-text.json`, `incoming-reply-with-context.json`
/// and `incoming-text-username-no-phone.json`).
pub fn incoming_text(biz: &Business, m: &Incoming) -> Value {
    let mut profile = Map::new();
    profile.insert("name".into(), json!(m.name));
    if let Some(u) = &m.username {
        profile.insert("username".into(), json!(u));
    }
    let mut contact = Map::new();
    contact.insert("profile".into(), Value::Object(profile));
    if let Some(from) = &m.from {
        contact.insert("wa_id".into(), json!(from));
    }
    contact.insert("user_id".into(), json!(m.user_id));

    let mut message = Map::new();
    if let Some((from, id)) = &m.context {
        message.insert("context".into(), json!({"from": from, "id": id}));
    }
    if let Some(from) = &m.from {
        message.insert("from".into(), json!(from));
    }
    message.insert("id".into(), json!(m.id));
    message.insert("timestamp".into(), json!(m.timestamp));
    message.insert("type".into(), json!("text"));
    message.insert("text".into(), json!({"body": m.body}));

    let mut value = Map::new();
    value.insert("contacts".into(), json!([Value::Object(contact)]));
    value.insert("messages".into(), json!([Value::Object(message)]));
    envelope(biz, value)
}

/// What a status says was billed (`pricing`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub billable: bool,
    /// `PMP` (per-message pricing) since July 2025.
    pub pricing_model: String,
    /// `authentication`, `authentication-international`, `service`, …
    pub category: String,
}

/// One status update (like `status-delivered-pricing.json`, `status-read.json`, `status-failed.json`).
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub message_id: String,
    /// Digits; `None` leaves `recipient_id` out (a recipient known by BSUID only).
    pub recipient_id: Option<String>,
    pub recipient_user_id: Option<String>,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Unix seconds.
    pub timestamp: u64,
    pub biz_opaque_callback_data: Option<String>,
    /// `None` leaves `pricing` out.
    pub pricing: Option<Pricing>,
    /// For `failed`; defaults to 131026.
    pub error_code: Option<i64>,
    pub error_details: Option<String>,
}

pub const STATUSES: [&str; 4] = ["sent", "delivered", "read", "failed"];

/// The pricing Meta reports by default: billable for `sent` and `delivered`, none otherwise.
pub fn default_pricing(status: &str, category: &str) -> Option<Pricing> {
    matches!(status, "sent" | "delivered").then(|| Pricing {
        billable: true,
        pricing_model: "PMP".into(),
        category: category.to_string(),
    })
}

pub fn status(biz: &Business, s: &StatusUpdate) -> Value {
    let mut st = Map::new();
    st.insert("id".into(), json!(s.message_id));
    st.insert("status".into(), json!(s.status));
    st.insert("timestamp".into(), json!(s.timestamp.to_string()));
    if let Some(r) = &s.recipient_id {
        st.insert("recipient_id".into(), json!(r));
    }
    if let Some(u) = &s.recipient_user_id {
        st.insert("recipient_user_id".into(), json!(u));
    }
    if let Some(b) = &s.biz_opaque_callback_data {
        st.insert("biz_opaque_callback_data".into(), json!(b));
    }
    if s.status == "failed" {
        st.insert("errors".into(), json!([webhook_error(s.error_code.unwrap_or(131_026), s.error_details.as_deref())]));
    }
    if let Some(p) = &s.pricing {
        st.insert(
            "pricing".into(),
            json!({"billable": p.billable, "pricing_model": p.pricing_model, "category": p.category, "type": "regular"}),
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

    fn sheena(
        from: Option<&str>,
        context: Option<&str>,
        username: Option<&str>,
        id: &str,
        ts: &str,
        body: &str,
    ) -> Incoming {
        Incoming {
            from: from.map(str::to_string),
            user_id: "US.13491208655302741918".into(),
            name: "Sheena Nelson".into(),
            username: username.map(str::to_string),
            id: id.into(),
            timestamp: ts.into(),
            body: body.into(),
            context: context.map(|c| ("15550783881".to_string(), c.to_string())),
        }
    }

    #[test]
    fn incoming_texts_match_the_2026_samples_exactly() {
        let got = incoming_text(
            &biz(),
            &sheena(
                Some("16505551234"),
                Some("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"),
                None,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMQA=",
                "1764150042",
                "482913",
            ),
        );
        assert_eq!(got, load("incoming-reply-with-context.json"));

        let got = incoming_text(
            &biz(),
            &sheena(
                None,
                None,
                Some("@sheena"),
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                "1764150000",
                "my code is 482 913",
            ),
        );
        assert_eq!(got, load("incoming-text-username-no-phone.json"));
    }

    #[test]
    fn incoming_text_is_the_older_sample_plus_the_user_id() {
        let mut sample = load("incoming-text.json");
        sample["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = json!("US.13491208655302741918");
        let got = incoming_text(
            &biz(),
            &sheena(
                Some("16505551234"),
                None,
                None,
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "1749416383",
                "Does it come in another color?",
            ),
        );
        assert_eq!(key_paths(&got), key_paths(&sample));
        assert_eq!(got, sample);
    }

    #[test]
    fn user_ids_are_stable_and_well_formed() {
        let a = user_id_for("16505551234");
        assert_eq!(a, user_id_for("16505551234"));
        assert_ne!(a, user_id_for("16505551235"));
        assert!(a.starts_with("US.") && a.len() == 23, "{a}");
        assert!(user_id_for("5511987654321").starts_with("BR."));
        assert!(user_id_for("447700900123").starts_with("GB."));
        for ok in ["US.13491208655302741918", "US.ENT.11815799212886844830", &a] {
            assert!(valid_user_id(ok), "{ok}");
        }
        for bad in ["13491208655302741918", "us.1", "US.", "US.a b", "USA.1", "US..1"] {
            assert!(!valid_user_id(bad), "{bad}");
        }
    }

    fn update(status: &str, ts: u64) -> StatusUpdate {
        StatusUpdate {
            message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
            recipient_id: Some("16505551234".into()),
            recipient_user_id: None,
            status: status.into(),
            timestamp: ts,
            biz_opaque_callback_data: Some("otp_AAAAAAAAAAAAAAAAAAAAAA".into()),
            pricing: default_pricing(status, "authentication"),
            error_code: None,
            error_details: None,
        }
    }

    #[test]
    fn delivered_with_pricing_matches_the_2026_sample_exactly() {
        let u = StatusUpdate {
            message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into(),
            recipient_user_id: Some("US.13491208655302741918".into()),
            timestamp: 1_764_150_010,
            biz_opaque_callback_data: Some("otp_3q2-7w9XbQnN8sJ0aZk1Lg".into()),
            ..update("delivered", 0)
        };
        assert_eq!(status(&biz(), &u), load("status-delivered-pricing.json"));
    }

    #[test]
    fn read_and_failed_match_samples() {
        assert_eq!(status(&biz(), &update("read", 1_750_263_790)), load("status-read.json"));
        assert_eq!(status(&biz(), &update("failed", 1_750_263_773)), load("status-failed.json"));
    }

    #[test]
    fn sent_carries_pricing_and_no_recipient_leaves_recipient_id_out() {
        let v = status(&biz(), &update("sent", 1));
        let st = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert_eq!(
            st["pricing"],
            json!({"billable": true, "pricing_model": "PMP", "category": "authentication", "type": "regular"})
        );
        assert!(st.get("conversation").is_none());
        let u = StatusUpdate { recipient_id: None, recipient_user_id: Some("US.1".into()), ..update("delivered", 1) };
        let v = status(&biz(), &u);
        let st = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
        assert!(st.get("recipient_id").is_none());
        assert_eq!(st["recipient_user_id"], "US.1");
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
}
