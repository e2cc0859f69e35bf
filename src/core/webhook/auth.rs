//! Whether a call is Meta's: the subscription handshake's verify token, and every
//! delivery's `X-Hub-Signature-256`.

use hmac::Mac;

use crate::core::crypto::hmac_sha256;

/// Constant-time equality for short secrets such as the verify token.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /webhook`: the challenge to echo back, or `None` (403).
pub fn handshake<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_token: &str,
) -> Option<&'a str> {
    let token_ok = token.is_some_and(|t| same_bytes(t.as_bytes(), verify_token.as_bytes()));
    (mode == Some("subscribe") && token_ok).then_some(challenge?).filter(|c| c.len() <= 1024)
}

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, app secret)>`, checked
/// in constant time over the exact bytes received.
pub fn verify_signature(app_secrets: &[&str], header: Option<&str>, body: &[u8]) -> bool {
    let Some(expected) = header.and_then(|h| h.trim().strip_prefix("sha256=")).and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    // The current secret and, during a rotation, the previous one; both always checked.
    app_secrets.iter().fold(false, |valid, secret| {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(body);
        mac.verify_slice(&expected).is_ok() | valid
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCOMING: &str = include_str!("../../../tests/fixtures/incoming-text.json");

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signature_test_vector() {
        let header = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(verify_signature(&["secret"], Some(header), b"test"));
        assert!(!verify_signature(&["secret"], Some(header), b"test "));
        assert!(!verify_signature(&["other"], Some(header), b"test"));
        assert!(!verify_signature(&["secret"], None, b"test"));
        assert!(!verify_signature(&["secret"], Some("sha1=0329a0"), b"test"));
        assert!(!verify_signature(&["secret"], Some("sha256=zz"), b"test"));
        assert!(!verify_signature(&["secret"], Some(&header[..40]), b"test"));
        assert!(verify_signature(&["s"], Some(&sign("s", INCOMING.as_bytes())), INCOMING.as_bytes()));
    }

    #[test]
    fn either_app_secret_is_accepted_during_a_rotation() {
        let body = INCOMING.as_bytes();
        let both = ["new-app-secret", "old-app-secret"];
        assert!(verify_signature(&both, Some(&sign("old-app-secret", body)), body));
        assert!(verify_signature(&both, Some(&sign("new-app-secret", body)), body));
        assert!(!verify_signature(&both, Some(&sign("another-secret", body)), body));
        assert!(!verify_signature(&["new-app-secret"], Some(&sign("old-app-secret", body)), body));
    }

    #[test]
    fn handshake_needs_mode_and_token() {
        assert_eq!(handshake(Some("subscribe"), Some("tok"), Some("c123"), "tok"), Some("c123"));
        assert_eq!(handshake(Some("subscribe"), Some("bad"), Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("unsubscribe"), Some("tok"), Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("subscribe"), None, Some("c123"), "tok"), None);
        assert_eq!(handshake(Some("subscribe"), Some("tok"), None, "tok"), None);
    }
}
