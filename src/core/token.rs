//! The proof a customer's backend checks: a JWT (HS256) signed with `TOKEN_SECRET`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use serde::Serialize;

use super::crypto::hmac_sha256;
use super::guard::VerifiedVia;

#[derive(Debug, Serialize, PartialEq)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    pub iat: u64,
    pub exp: u64,
    pub jti: &'a str,
    pub amr: [&'static str; 1],
    pub verified_via: VerifiedVia,
}

/// Signs the claims. Deterministic: the same verification always yields the same
/// token, so `/v1/otp/status` can hand it out again without storing it.
pub fn sign_token(secret: &str, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims<'static> {
        Claims {
            iss: "whatsapp-otp-worker",
            sub: "+14155550123",
            aud: Some("my-app"),
            iat: 1_700_000_000,
            exp: 1_700_000_600,
            jti: "otp_AAAAAAAAAAAAAAAAAAAAAA",
            amr: ["otp"],
            verified_via: VerifiedVia::Code,
        }
    }

    #[test]
    fn token_has_three_parts_and_the_claims() {
        let token = sign_token("k".repeat(32).as_str(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["sub"], "+14155550123");
        assert_eq!(payload["amr"][0], "otp");
        assert_eq!(payload["verified_via"], "code");
        assert_eq!(payload["jti"], "otp_AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(payload["aud"], "my-app");
    }

    #[test]
    fn signature_depends_on_the_secret_and_is_stable() {
        let a = sign_token("secret-a-secret-a-secret-a-secret-a", &claims());
        let b = sign_token("secret-b-secret-b-secret-b-secret-b", &claims());
        assert_ne!(a, b);
        assert_eq!(a, sign_token("secret-a-secret-a-secret-a-secret-a", &claims()));
    }

    #[test]
    fn audience_is_omitted_when_unset() {
        let mut c = claims();
        c.aud = None;
        let token = sign_token("x", &c);
        let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("aud"));
    }
}
