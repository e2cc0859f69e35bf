//! The one keyed hash everything here uses: HMAC-SHA256 (codes, tokens, webhooks),
//! and the constant-time comparison of secrets.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key`. HMAC takes keys of any length (long ones are
/// hashed first), so construction cannot fail.
pub fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Equality of two byte strings in time that depends only on their lengths, for
/// secrets a caller presents (tokens): no early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_test_vector() {
        let mut mac = hmac_sha256(b"secret");
        mac.update(b"test");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
        );
        let _ = hmac_sha256(&[7u8; 1000]);
        let _ = hmac_sha256(b"");
    }

    #[test]
    fn constant_time_eq_is_plain_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokeN"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
