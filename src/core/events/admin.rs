//! Who may use the admin routes: the bearer of `ADMIN_TOKEN`.

use sha2::{Digest, Sha256};

use crate::core::crypto::constant_time_eq;

/// `Authorization: Bearer <token>` against the admin token, in constant time (both
/// sides hashed first, so neither length nor content leaks through timing).
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    let presented = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let same = constant_time_eq(&Sha256::digest(presented.as_bytes()), &Sha256::digest(expected.as_bytes()));
    same && !presented.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_exactly() {
        let token = "an-admin-token-long-enough";
        assert!(bearer_matches(Some("Bearer an-admin-token-long-enough"), token));
        assert!(bearer_matches(Some("bearer  an-admin-token-long-enough "), token));
        for wrong in [None, Some(""), Some("Bearer"), Some("Bearer "), Some("Basic an-admin-token-long-enough")] {
            assert!(!bearer_matches(wrong, token), "{wrong:?}");
        }
        assert!(!bearer_matches(Some("Bearer an-admin-token-long-enougH"), token));
        assert!(!bearer_matches(Some("Bearer an-admin-token-long-enough2"), token));
    }
}
