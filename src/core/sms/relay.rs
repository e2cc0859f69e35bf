//! The `webhook` SMS provider: the worker POSTs a Standard-Webhooks-signed
//! `sms.send` to `SMS_WEBHOOK_URL`, and the operator's endpoint hands the text to any
//! SMS provider. Its body carries the code: never log it.

use serde_json::json;

use crate::core::events::callback::CallbackSecret;

/// What an `sms.send` needs.
pub struct SmsSend<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub request_id: &'a str,
    pub locale: Option<&'a str>,
    pub expires_at: &'a str,
}

/// The body and headers of the POST: `webhook-id` is `msg_<request_id>` (one SMS
/// per request, so a receiver can dedupe on it).
pub fn request(
    secret: &CallbackSecret,
    send: &SmsSend,
    timestamp_s: u64,
    timestamp: &str,
) -> (String, Vec<(&'static str, String)>) {
    let body = json!({
        "type": "sms.send",
        "timestamp": timestamp,
        "data": {
            "to": send.to,
            "text": send.text,
            "request_id": send.request_id,
            "locale": send.locale,
            "expires_at": send.expires_at,
        },
    })
    .to_string();
    let id = format!("msg_{}", send.request_id);
    let signature = secret.sign(&id, timestamp_s, &body);
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("user-agent", "whatsapp-otp-worker".to_string()),
        ("webhook-id", id),
        ("webhook-timestamp", timestamp_s.to_string()),
        ("webhook-signature", signature),
    ];
    (body, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_signed_per_standard_webhooks() {
        let secret = CallbackSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let send = SmsSend {
            to: "+14155550123",
            text: "123456 is your Acme code.",
            request_id: "otp_abc",
            locale: Some("en_US"),
            expires_at: "2026-01-01T00:05:00Z",
        };
        let (body, headers) = request(&secret, &send, 1_767_225_600, "2026-01-01T00:00:00Z");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["type"], "sms.send");
        assert_eq!(value["data"]["to"], "+14155550123");
        assert_eq!(value["data"]["request_id"], "otp_abc");
        let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(header("webhook-id"), "msg_otp_abc");
        assert_eq!(header("webhook-signature"), secret.sign("msg_otp_abc", 1_767_225_600, &body));
        assert!(header("webhook-signature").starts_with("v1,"));
    }
}
