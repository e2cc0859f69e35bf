//! Test-only send bodies, shared by the unit tests and `tests/binary.rs` (which
//! includes this file by path, as the crate has no library target).

use serde_json::{json, Value};

/// The `biz_opaque_callback_data` that [`auth_template`] carries.
pub const OPAQUE: &str = "otp_AAAAAAAAAAAAAAAAAAAAAA";

/// An authentication template send to +16505551234, with `code` as the body
/// parameter and the URL button's parameter.
pub fn auth_template(code: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "template",
        "template": {
            "name": "otp_auth",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]}
            ]
        },
        "biz_opaque_callback_data": OPAQUE
    })
}

/// A template creation body (`POST /{WABA}/message_templates`): an authentication
/// template with a copy-code button, as Meta documents it and `otpctl templates` makes it.
pub fn copy_code_template(name: &str, language: &str) -> Value {
    json!({
        "name": name,
        "language": language,
        "category": "AUTHENTICATION",
        "message_send_ttl_seconds": 300,
        "components": [
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 5},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}
        ]
    })
}
