//! One-time codes: generation, keyed hashing, constant-time checks, and
//! finding a code inside a WhatsApp reply.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use super::crypto::{constant_time_eq, hmac_sha256, HmacSha256};

/// The random source gave no bytes: nothing secret can be made without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomUnavailable(pub String);

impl std::fmt::Display for RandomUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the random source failed: {}", self.0)
    }
}

/// A source of random bytes: `getrandom` in production, a script in tests.
pub trait RandomSource {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomUnavailable>;
}

/// The operating system's CSPRNG.
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(buf).map_err(|e| RandomUnavailable(e.to_string()))
    }
}

/// `length` uniform decimal digits. Bytes of 250 and above are rejected so
/// that every digit is exactly 1/10 likely (no modulo bias).
pub fn generate_code(length: usize, rng: &mut impl RandomSource) -> Result<String, RandomUnavailable> {
    let mut code = String::with_capacity(length);
    let mut buf = [0u8; 16];
    while code.len() < length {
        rng.fill(&mut buf)?;
        for &b in buf.iter() {
            if b < 250 && code.len() < length {
                code.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(code)
}

/// `otp_` + 22 base64url characters: 128 random bits.
pub fn generate_request_id(rng: &mut impl RandomSource) -> Result<String, RandomUnavailable> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(format!("otp_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `id` has the shape of a request id (cheap check before any lookup).
pub fn is_request_id(id: &str) -> bool {
    id.len() == 26
        && id.starts_with("otp_")
        && id[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn code_mac(secret: &str, request_id: &str, code: &str) -> HmacSha256 {
    // Binding the request id means one record's hash says nothing about another's.
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(request_id.as_bytes());
    mac.update(b":");
    mac.update(code.as_bytes());
    mac
}

/// The only form in which a code is stored: HMAC-SHA256 keyed by `OTP_SECRET`, base64url.
pub fn hash_code(secret: &str, request_id: &str, code: &str) -> String {
    URL_SAFE_NO_PAD.encode(code_mac(secret, request_id, code).finalize().into_bytes())
}

/// Constant-time comparison of a submitted code against the stored hash, under each
/// of `secrets` in turn: the current `OTP_SECRET`, then `OTP_SECRET_PREVIOUS` while a
/// rotation is under way (codes hashed before it still verify until they expire). Every
/// secret is tried, so the time taken does not say which one matched.
pub fn code_matches(secrets: &[&str], request_id: &str, code: &str, stored_hash: &str) -> bool {
    let Ok(expected) = URL_SAFE_NO_PAD.decode(stored_hash) else {
        return false;
    };
    secrets
        .iter()
        .fold(false, |matched, secret| code_mac(secret, request_id, code).verify_slice(&expected).is_ok() | matched)
}

/// `cs_` + 32 base64url characters: 192 random bits. Only its holder, the caller
/// of `POST /v1/otp/request`, can collect the token: the request id is in logs and URLs.
pub fn generate_client_secret(rng: &mut impl RandomSource) -> Result<String, RandomUnavailable> {
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes)?;
    Ok(format!("cs_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn client_secret_mac(secret: &str, request_id: &str, client_secret: &str) -> [u8; 32] {
    // A label of its own keeps this hash apart from a code's under the same key.
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(b"client_secret:");
    mac.update(request_id.as_bytes());
    mac.update(b":");
    mac.update(client_secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The only form in which a client secret is stored: HMAC-SHA256 keyed by `OTP_SECRET`.
pub fn hash_client_secret(secret: &str, request_id: &str, client_secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(client_secret_mac(secret, request_id, client_secret))
}

/// Constant time, under every one of `secrets` (as `code_matches`). A record written
/// before client secrets existed (`stored` is `None`) matches nothing: its token is
/// refused rather than handed to whoever knows the request id.
pub fn client_secret_matches(secrets: &[&str], request_id: &str, presented: &str, stored: Option<&str>) -> bool {
    let Some(Ok(expected)) = stored.map(|s| URL_SAFE_NO_PAD.decode(s)) else {
        return false;
    };
    secrets.iter().fold(false, |matched, secret| {
        constant_time_eq(&client_secret_mac(secret, request_id, presented), &expected) | matched
    })
}

/// A code typed into the API: digits, with the spaces or hyphens people paste.
/// Returns `None` unless exactly `length` digits remain.
pub fn normalize_typed_code(input: &str, length: usize) -> Option<String> {
    let mut digits = String::with_capacity(length);
    for c in input.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return None,
        }
        if digits.len() > length {
            return None;
        }
    }
    (digits.len() == length).then_some(digits)
}

/// The first run of exactly `length` digits in a chat message, where spaces
/// and hyphens between digits are ignored ("my code is 123 456" → "123456").
pub fn find_code_in_text(text: &str, length: usize) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut runs: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            current.push(c);
        } else if (c == ' ' || c == '-') && !current.is_empty() {
            // Joins only when the separators lead to another digit.
            let mut j = i;
            while j < chars.len() && (chars[j] == ' ' || chars[j] == '-') {
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_digit() {
                i = j;
                continue;
            }
            runs.push(std::mem::take(&mut current));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
        i += 1;
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs.into_iter().find(|run| run.len() == length)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Replays the given bytes, cycling.
    pub struct ScriptedRandom(pub Vec<u8>, pub usize);

    impl RandomSource for ScriptedRandom {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
            for b in buf.iter_mut() {
                *b = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
            Ok(())
        }
    }

    #[test]
    fn codes_have_the_requested_length_and_only_digits() {
        for len in 4..=10 {
            let code = generate_code(len, &mut OsRandom).unwrap();
            assert_eq!(code.len(), len);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn biased_bytes_are_rejected() {
        // 250..=255 would make 0..=5 more likely; they must be skipped.
        let mut rng = ScriptedRandom(vec![255, 250, 7, 251, 19, 253], 0);
        assert_eq!(generate_code(6, &mut rng).unwrap(), "797979");
    }

    #[test]
    fn digits_are_uniform() {
        let mut counts = [0usize; 10];
        for _ in 0..2000 {
            for b in generate_code(10, &mut OsRandom).unwrap().bytes() {
                counts[(b - b'0') as usize] += 1;
            }
        }
        // 20,000 digits: each expected 2,000; 5 sigma is about ±212.
        for (digit, &n) in counts.iter().enumerate() {
            assert!((1750..=2250).contains(&n), "digit {digit} seen {n} times");
        }
    }

    #[test]
    fn request_ids_have_the_contract_shape() {
        let id = generate_request_id(&mut OsRandom).unwrap();
        assert!(is_request_id(&id), "{id}");
        assert_ne!(id, generate_request_id(&mut OsRandom).unwrap());
        assert!(!is_request_id("otp_short"));
        assert!(!is_request_id("otp_AAAAAAAAAAAAAAAAAAAA/A"));
        assert!(!is_request_id("xyz_AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(is_request_id("otp_AAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn hashes_check_in_constant_time_and_bind_the_request() {
        let h = hash_code("s3cret", "otp_a", "123456");
        assert!(!h.contains("123456"));
        assert!(code_matches(&["s3cret"], "otp_a", "123456", &h));
        assert!(!code_matches(&["s3cret"], "otp_a", "123457", &h));
        assert!(!code_matches(&["other"], "otp_a", "123456", &h));
        assert!(!code_matches(&["s3cret"], "otp_b", "123456", &h));
        assert!(!code_matches(&["s3cret"], "otp_a", "123456", "not base64!"));
        assert!(!code_matches(&[], "otp_a", "123456", &h));
    }

    #[test]
    fn codes_hashed_before_a_rotation_still_match() {
        let before = hash_code("old-secret", "otp_a", "123456");
        let after = hash_code("new-secret", "otp_a", "123456");
        let both = ["new-secret", "old-secret"];
        assert!(code_matches(&both, "otp_a", "123456", &before));
        assert!(code_matches(&both, "otp_a", "123456", &after));
        assert!(!code_matches(&both, "otp_a", "654321", &before));
        assert!(!code_matches(&["new-secret"], "otp_a", "123456", &before), "the old secret was dropped");
        assert!(!code_matches(&["new-secret", "third"], "otp_a", "123456", &before));
    }

    #[test]
    fn client_secrets_are_random_hashed_and_checked_under_both_keys() {
        let cs = generate_client_secret(&mut OsRandom).unwrap();
        assert!(cs.starts_with("cs_") && cs.len() == 35);
        assert_ne!(cs, generate_client_secret(&mut OsRandom).unwrap());
        let stored = hash_client_secret("old", "otp_a", &cs);
        assert!(!stored.contains(&cs[3..]));
        assert!(client_secret_matches(&["new", "old"], "otp_a", &cs, Some(&stored)));
        assert!(!client_secret_matches(&["new"], "otp_a", &cs, Some(&stored)));
        assert!(!client_secret_matches(&["old"], "otp_b", &cs, Some(&stored)));
        assert!(!client_secret_matches(&["old"], "otp_a", "cs_wrong", Some(&stored)));
        // Records from before client secrets: no token for anyone.
        assert!(!client_secret_matches(&["old"], "otp_a", &cs, None));
        assert!(!client_secret_matches(&["old"], "otp_a", &cs, Some("!not base64")));
        assert_ne!(stored, hash_code("old", "otp_a", &cs));
    }

    #[test]
    fn a_failed_random_source_makes_no_client_secret() {
        struct Broken;
        impl RandomSource for Broken {
            fn fill(&mut self, _: &mut [u8]) -> Result<(), RandomUnavailable> {
                Err(RandomUnavailable("no entropy".into()))
            }
        }
        assert!(generate_client_secret(&mut Broken).is_err());
    }

    #[test]
    fn typed_codes() {
        assert_eq!(normalize_typed_code("123456", 6).as_deref(), Some("123456"));
        assert_eq!(normalize_typed_code(" 123 456 ", 6).as_deref(), Some("123456"));
        assert_eq!(normalize_typed_code("123-456", 6).as_deref(), Some("123456"));
        assert_eq!(normalize_typed_code("12345", 6), None);
        assert_eq!(normalize_typed_code("1234567", 6), None);
        assert_eq!(normalize_typed_code("12345a", 6), None);
        assert_eq!(normalize_typed_code("١٢٣٤٥٦", 6), None);
    }

    #[test]
    fn codes_in_replies() {
        assert_eq!(find_code_in_text("my code is 123 456", 6).as_deref(), Some("123456"));
        assert_eq!(find_code_in_text("123456", 6).as_deref(), Some("123456"));
        assert_eq!(find_code_in_text("code: 12-34-56.", 6).as_deref(), Some("123456"));
        assert_eq!(find_code_in_text("call 555 1234 then 654321", 6).as_deref(), Some("654321"));
        assert_eq!(find_code_in_text("1234567", 6), None);
        assert_eq!(find_code_in_text("12345", 6), None);
        assert_eq!(find_code_in_text("no digits here", 6), None);
        assert_eq!(find_code_in_text("a1b2c3d4e5f6", 6), None);
        assert_eq!(find_code_in_text("1234 is it", 4).as_deref(), Some("1234"));
    }
}
