//! Twilio's Programmable Messaging: the form a send posts, what its answers mean,
//! its error codes, and the `X-Twilio-Signature` on its status callbacks.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::SmsFailure;
use crate::core::config::sms::{TwilioSender, TwilioSettings};
use crate::core::crypto::constant_time_eq;

/// Twilio answers within seconds; past this the SMS counts as not sent.
pub const SEND_TIMEOUT_MS: u64 = 10_000;

/// The form-encoded body of `POST .../Messages.json`.
pub fn message_form(settings: &TwilioSettings, to: &str, body: &str) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", to);
    match &settings.sender {
        TwilioSender::From(from) => form.append_pair("From", from),
        TwilioSender::MessagingService(sid) => form.append_pair("MessagingServiceSid", sid),
    };
    form.append_pair("Body", body);
    form.append_pair("StatusCallback", &settings.status_callback_url());
    form.finish()
}

/// HTTP Basic credentials: `sid:token`, base64.
pub fn basic_auth(settings: &TwilioSettings) -> String {
    format!("Basic {}", B64.encode(format!("{}:{}", settings.account_sid, settings.auth_token.expose())))
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
}

/// Reads Twilio's answer to a send: the message `sid` (201), or why it failed.
pub fn read_send_response(http_status: u16, body: &str) -> Result<String, SmsFailure> {
    if (200..300).contains(&http_status) {
        return serde_json::from_str::<Created>(body)
            .ok()
            .map(|c| c.sid)
            .filter(|sid| !sid.is_empty())
            .ok_or_else(|| SmsFailure::status(502));
    }
    let code = serde_json::from_str::<TwilioError>(body).ok().and_then(|e| e.code);
    let mut failure = SmsFailure::status(http_status);
    if let Some(code) = code {
        failure.error_code = Some(code);
        failure.about_recipient = about_recipient(code);
        failure.transient = failure.transient || code == 20429;
    }
    Err(failure)
}

/// Twilio's codes about the recipient rather than our account or Twilio itself:
/// the SMS leg failed because of the number.
pub fn about_recipient(code: i64) -> bool {
    matches!(code, 21211 | 21214 | 21610 | 21612 | 21614 | 30003..=30006)
}

/// What a Twilio error code means, for logs and the README.
pub fn describe(code: i64) -> &'static str {
    match code {
        20003 => "our Twilio credentials were refused",
        20429 => "too many requests to Twilio",
        21211 => "not a valid phone number",
        21408 => "SMS to this region is not enabled on the account",
        21610 => "the recipient texted STOP",
        21612 => "this sender cannot reach the recipient",
        21614 => "not a mobile number",
        30003 => "handset unreachable",
        30004 => "message blocked",
        30005 => "unknown destination handset",
        30006 => "landline or unreachable carrier",
        30007 => "filtered by the carrier",
        30008 => "unknown delivery error",
        _ => "other Twilio error",
    }
}

/// A status callback's `MessageStatus`, as it changes an SMS leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
}

impl CallbackStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" | "queued" | "sending" => Some(Self::Queued),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "undelivered" => Some(Self::Undelivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The fields of a status callback the worker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub status: CallbackStatus,
    pub error_code: Option<i64>,
}

/// Every parameter of a form body, in the order sent (names may repeat).
pub fn form_params(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The callback's fields; `None` when `MessageSid` or a known `MessageStatus` is missing.
pub fn read_status_callback(params: &[(String, String)]) -> Option<StatusCallback> {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let message_sid = get("MessageSid").or_else(|| get("SmsSid")).filter(|s| !s.is_empty() && s.len() <= 64)?;
    Some(StatusCallback {
        message_sid: message_sid.to_string(),
        status: CallbackStatus::parse(get("MessageStatus").or_else(|| get("SmsStatus"))?)?,
        error_code: get("ErrorCode").and_then(|c| c.parse().ok()),
    })
}

/// `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the auth token, over the full
/// URL followed by every POST parameter's name and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Sorted by name, then value (Twilio's libraries sort the pairs).
    sorted.sort();
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is Twilio's signature of this callback (constant time).
pub fn signature_valid(auth_token: &str, url: &str, params: &[(String, String)], presented: &str) -> bool {
    !presented.is_empty() && constant_time_eq(signature(auth_token, url, params).as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::secret::Secret;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn settings(sender: TwilioSender) -> TwilioSettings {
        TwilioSettings {
            account_sid: "AC0123".into(),
            auth_token: Secret::new("token"),
            sender,
            api_base: "https://api.twilio.com".into(),
            public_url: "https://otp.example.com".into(),
        }
    }

    /// The worked example of Twilio's request-validation documentation (both the
    /// older and the current revision of its numbers).
    #[test]
    fn signature_matches_twilios_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        for (caller, expected) in
            [("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="), ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc=")]
        {
            // Given in another order than sorted: the signature sorts them.
            let params = pairs(&[
                ("To", "+18005551212"),
                ("From", caller),
                ("Digits", "1234"),
                ("Caller", caller),
                ("CallSid", "CA1234567890ABCDE"),
            ]);
            assert_eq!(signature("12345", url, &params), expected);
            assert!(signature_valid("12345", url, &params, expected));
            assert!(!signature_valid("12346", url, &params, expected));
            assert!(!signature_valid("12345", "https://mycompany.com/myapp.php", &params, expected));
            let mut forged = params.clone();
            forged[2].1 = "9999".into();
            assert!(!signature_valid("12345", url, &forged, expected));
            assert!(!signature_valid("12345", url, &params, ""));
        }
    }

    #[test]
    fn the_send_form_is_twilios() {
        let form = message_form(&settings(TwilioSender::From("+15005550006".into())), "+447700900123", "123 is it");
        assert_eq!(
            form,
            "To=%2B447700900123&From=%2B15005550006&Body=123+is+it&StatusCallback=https%3A%2F%2Fotp.example.com%2Fwebhook%2Ftwilio"
        );
        let form = message_form(&settings(TwilioSender::MessagingService("MG1".into())), "+1", "x");
        assert!(form.contains("MessagingServiceSid=MG1") && !form.contains("From="));
        assert_eq!(
            basic_auth(&settings(TwilioSender::From(String::new()))),
            format!("Basic {}", B64.encode("AC0123:token"))
        );
    }

    #[test]
    fn answers_and_error_codes_are_mapped() {
        assert_eq!(read_send_response(201, r#"{"sid":"SM123","status":"queued"}"#), Ok("SM123".to_string()));
        assert_eq!(read_send_response(201, "{}").unwrap_err().http_status, Some(502));
        let refused = |status: u16, code: i64| {
            read_send_response(status, &format!(r#"{{"code":{code},"message":"m","status":{status}}}"#)).unwrap_err()
        };
        for code in [21211, 21610, 21614] {
            let f = refused(400, code);
            assert!(f.about_recipient && !f.transient, "{code}");
            assert_eq!(f.error_code, Some(code));
        }
        // Our account's faults never count against the person.
        for (status, code) in [(401, 20003), (400, 21408)] {
            let f = refused(status, code);
            assert!(!f.about_recipient && !f.transient, "{code}");
        }
        assert!(refused(429, 20429).transient);
        assert!(read_send_response(503, "<html>").unwrap_err().transient);
        assert!(read_send_response(500, "").unwrap_err().transient);
        assert!(SmsFailure::network().transient && !SmsFailure::timeout().transient);
        for code in 30003..=30008 {
            assert_ne!(describe(code), describe(1), "{code}");
        }
        assert!(about_recipient(30003) && !about_recipient(30007) && !about_recipient(20003));
    }

    #[test]
    fn status_callbacks_are_read() {
        let params = form_params(b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003&To=%2B1555");
        assert_eq!(
            read_status_callback(&params),
            Some(StatusCallback {
                message_sid: "SM1".into(),
                status: CallbackStatus::Undelivered,
                error_code: Some(30003)
            })
        );
        assert_eq!(read_status_callback(&form_params(b"MessageStatus=sent")), None);
        assert_eq!(read_status_callback(&form_params(b"MessageSid=SM1&MessageStatus=exploded")), None);
        assert_eq!(
            read_status_callback(&form_params(b"SmsSid=SM2&SmsStatus=delivered")).unwrap().status,
            CallbackStatus::Delivered
        );
    }
}
