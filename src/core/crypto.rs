//! The one keyed hash everything here uses: HMAC-SHA256 (codes, tokens, webhooks).

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
}
