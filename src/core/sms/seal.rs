//! The code kept sealed while a fallback is possible: the SMS must carry the same code
//! as the WhatsApp message, and the guard stores it only in this form, only until the
//! request can no longer fall back.
//!
//! ChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`, authenticated encryption)
//! under a key derived per request: HMAC-SHA256(`OTP_SECRET`, "sms-seal" ‖ request id).
//! Each key seals exactly one message (a request has one code, sealed once), so a
//! fixed nonce is safe, and no random nonce needs storing. The request id is the
//! associated data too: a sealed code moved to another request does not open. Codes
//! sealed under `OTP_SECRET_PREVIOUS` still open during a rotation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::Mac;

use crate::core::crypto::hmac_sha256;

const PREFIX: &str = "s1.";

fn cipher(secret: &str, request_id: &str) -> ChaCha20Poly1305 {
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(b"sms-seal\0");
    mac.update(request_id.as_bytes());
    ChaCha20Poly1305::new(Key::from_slice(&mac.finalize().into_bytes()))
}

/// The code sealed for `request_id` under `secret` (`OTP_SECRET`).
pub fn seal(secret: &str, request_id: &str, code: &str) -> String {
    let payload = Payload { msg: code.as_bytes(), aad: request_id.as_bytes() };
    // Encryption into a Vec fails only past the cipher's length limit (256 GiB).
    let sealed = cipher(secret, request_id).encrypt(Nonce::from_slice(&[0; 12]), payload).unwrap_or_default();
    format!("{PREFIX}{}", B64.encode(sealed))
}

/// The code, when `sealed` was sealed for `request_id` under one of `secrets`.
pub fn open(secrets: &[&str], request_id: &str, sealed: &str) -> Option<String> {
    let bytes = B64.decode(sealed.strip_prefix(PREFIX)?).ok()?;
    secrets.iter().find_map(|secret| {
        let payload = Payload { msg: &bytes, aad: request_id.as_bytes() };
        let plain = cipher(secret, request_id).decrypt(Nonce::from_slice(&[0; 12]), payload).ok()?;
        String::from_utf8(plain).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "oooooooooooooooooooooooooooooooo";
    const NEXT: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

    #[test]
    fn a_sealed_code_opens_only_for_its_request_and_secret() {
        let sealed = seal(SECRET, "otp_a", "123456");
        assert!(!sealed.contains("123456"));
        assert_eq!(open(&[SECRET], "otp_a", &sealed).as_deref(), Some("123456"));
        assert_eq!(open(&[SECRET], "otp_b", &sealed), None);
        assert_eq!(open(&[NEXT], "otp_a", &sealed), None);
        // Sealed before a rotation, opened after it (OTP_SECRET_PREVIOUS).
        assert_eq!(open(&[NEXT, SECRET], "otp_a", &sealed).as_deref(), Some("123456"));
    }

    #[test]
    fn tampering_is_detected() {
        let sealed = seal(SECRET, "otp_a", "123456");
        let mut bytes = B64.decode(&sealed[PREFIX.len()..]).unwrap();
        bytes[0] ^= 1;
        assert_eq!(open(&[SECRET], "otp_a", &format!("{PREFIX}{}", B64.encode(&bytes))), None);
        assert_eq!(open(&[SECRET], "otp_a", "s1.!!"), None);
        assert_eq!(open(&[SECRET], "otp_a", &sealed[PREFIX.len()..]), None);
        assert_eq!(open(&[SECRET], "otp_a", ""), None);
    }

    #[test]
    fn different_requests_seal_differently() {
        assert_ne!(seal(SECRET, "otp_a", "123456"), seal(SECRET, "otp_b", "123456"));
        assert_eq!(seal(SECRET, "otp_a", "123456").len(), PREFIX.len() + B64.encode([0u8; 6 + 16]).len());
    }
}
