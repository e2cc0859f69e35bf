//! The proof a customer's backend checks: a JWT, either ES256 (with `TOKEN_SIGNING_KEY`,
//! public keys published as a JWKS) or HS256 with `TOKEN_SECRET`.
//!
//! The core builds the claims, the header and the signing input, and checks the keys'
//! shape; the ES256 signature itself is made at the edge (WebCrypto), which hands the
//! 64 raw bytes back to [`finish`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::crypto::hmac_sha256;
use super::guard::VerifiedVia;
use super::secret::Secret;

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
    /// A test number's verification (`TEST_NUMBERS`): no message proved anything, so
    /// a backend may refuse it where that matters. Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
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

/// The proof handed to the customer's backend.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// HS256 key; empty when `TOKEN_SIGNING_KEY` signs ES256 instead.
    pub secret: Secret,
    pub ttl_s: u64,
    pub issuer: String,
    pub audience: Option<String>,
}

/// A signed token and when it stops being accepted.
pub struct IssuedToken {
    pub token: String,
    pub expires_ms: u64,
}

/// The token's claims for a verification (signed HS256 here, ES256 at the edge).
pub fn token_claims<'a>(
    settings: &'a TokenSettings,
    phone: &'a str,
    request_id: &'a str,
    verified_at_ms: u64,
    via: VerifiedVia,
) -> Claims<'a> {
    let iat = verified_at_ms / 1000;
    Claims {
        iss: &settings.issuer,
        sub: phone,
        aud: settings.audience.as_deref(),
        iat,
        exp: iat + settings.ttl_s,
        jti: request_id,
        amr: ["otp"],
        verified_via: via,
        test: false,
    }
}

pub fn issue_token(
    settings: &TokenSettings,
    phone: &str,
    request_id: &str,
    verified_at_ms: u64,
    via: VerifiedVia,
) -> IssuedToken {
    let claims = token_claims(settings, phone, request_id, verified_at_ms, via);
    let exp = claims.exp;
    IssuedToken { token: sign_token(settings.secret.expose(), &claims), expires_ms: exp * 1000 }
}

/// `header.payload` of an ES256 token whose header names `kid`.
pub fn es256_signing_input(kid: &str, claims: &Claims) -> String {
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    format!("{header}.{payload}")
}

/// The token from its signing input and the signature's raw bytes (for ES256, `r || s`).
pub fn finish(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An EC P-256 key pair from `TOKEN_SIGNING_KEY` (a JWK with `kid`). `Debug` never
/// shows the private part.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub x: String,
    pub y: String,
    pub d: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The public half as a JWK for the key set.
    pub fn public_jwk(&self) -> Value {
        public_jwk(&self.kid, &self.x, &self.y)
    }

    /// The private key as WebCrypto imports it (`importKey('jwk', …)`): only the members
    /// it checks, so a `kid` or `alg` written another way cannot make the import fail.
    pub fn private_jwk(&self) -> Value {
        json!({ "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "d": self.d })
    }
}

fn public_jwk(kid: &str, x: &str, y: &str) -> Value {
    json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig" })
}

/// A coordinate or scalar of P-256: base64url without padding, exactly 32 bytes.
fn p256_component(jwk: &Map<String, Value>, name: &str) -> Option<String> {
    let value = jwk.get(name)?.as_str()?;
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    (bytes.len() == 32).then(|| value.to_string())
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= 128 && kid.bytes().all(|b| b.is_ascii_graphic())
}

/// The parts of an EC P-256 JWK every key here shares: `kty`, `crv`, `kid`, `x`, `y`,
/// and `alg`/`use` only if they say ES256/sig.
fn ec_public_parts(jwk: &Map<String, Value>) -> Option<(String, String, String)> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") {
        return None;
    }
    if jwk.get("alg").is_some_and(|a| a != "ES256") || jwk.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let kid = member("kid").filter(|k| valid_kid(k))?.to_string();
    Some((kid, p256_component(jwk, "x")?, p256_component(jwk, "y")?))
}

/// `TOKEN_SIGNING_KEY`: an EC P-256 private JWK with a `kid`. Whether `d` belongs to
/// `x`/`y` is checked where the key is imported (the edge), once per isolate.
pub fn parse_signing_key(text: &str) -> Option<SigningKey> {
    let Value::Object(jwk) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let (kid, x, y) = ec_public_parts(&jwk)?;
    let d = p256_component(&jwk, "d")?;
    Some(SigningKey { kid, x, y, d })
}

/// `TOKEN_PREVIOUS_PUBLIC_KEYS`: a JSON array of public EC P-256 JWKs with `kid`s. A key
/// carrying a private part (`d`) is refused: it would be published.
pub fn parse_public_keys(text: &str) -> Option<Vec<Value>> {
    let Value::Array(keys) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    keys.iter()
        .map(|key| {
            let jwk = key.as_object().filter(|k| !k.contains_key("d"))?;
            let (kid, x, y) = ec_public_parts(jwk)?;
            Some(public_jwk(&kid, &x, &y))
        })
        .collect()
}

/// The key set at `/.well-known/jwks.json`: the signing key's public half first, then
/// the previous keys (without a repeated `kid`).
pub fn jwks(current: &SigningKey, previous: &[Value]) -> Value {
    let mut keys = vec![current.public_jwk()];
    for key in previous {
        if !keys.iter().any(|k| k["kid"] == key["kid"]) {
            keys.push(key.clone());
        }
    }
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key pair (RFC 7515 appendix A.3).
    pub const JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

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
            test: false,
        }
    }

    fn part(token: &str, i: usize) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn token_has_three_parts_and_the_claims() {
        let token = sign_token("k".repeat(32).as_str(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = part(&token, 1);
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

    #[test]
    fn es256_header_names_the_key() {
        let input = es256_signing_input("k1", &claims());
        let token = finish(&input, &[7u8; 64]);
        assert_eq!(part(&token, 0), json!({ "alg": "ES256", "typ": "JWT", "kid": "k1" }));
        assert_eq!(part(&token, 1)["sub"], "+14155550123");
        assert_eq!(URL_SAFE_NO_PAD.decode(token.split('.').nth(2).unwrap()).unwrap(), vec![7u8; 64]);
    }

    #[test]
    fn signing_keys_are_checked_and_never_shown() {
        let key = parse_signing_key(JWK).unwrap();
        assert_eq!(key.kid, "k1");
        assert!(!format!("{key:?}").contains(&key.d));
        let public = key.public_jwk();
        assert!(public.get("d").is_none());
        assert_eq!((&public["alg"], &public["use"], &public["kid"]), (&json!("ES256"), &json!("sig"), &json!("k1")));
        assert_eq!(key.private_jwk()["d"], key.d.as_str());

        let edit = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut jwk: Map<String, Value> = serde_json::from_str(JWK).unwrap();
            f(&mut jwk);
            parse_signing_key(&Value::Object(jwk).to_string())
        };
        assert!(edit(&|j| {
            j.insert("alg".into(), "ES256".into());
            j.insert("use".into(), "sig".into());
        })
        .is_some());
        assert!(edit(&|j| {
            j.remove("kid");
        })
        .is_none());
        assert!(edit(&|j| {
            j.remove("d");
        })
        .is_none());
        assert!(edit(&|j| {
            j.insert("crv".into(), "P-384".into());
        })
        .is_none());
        assert!(edit(&|j| {
            j.insert("alg".into(), "RS256".into());
        })
        .is_none());
        assert!(edit(&|j| {
            j.insert("x".into(), "AAAA".into());
        })
        .is_none());
        assert!(edit(&|j| {
            j.insert("kid".into(), "".into());
        })
        .is_none());
        assert!(parse_signing_key("not json").is_none());
        assert!(parse_signing_key("[]").is_none());
    }

    #[test]
    fn previous_keys_are_public_only() {
        let key = parse_signing_key(JWK).unwrap();
        let public = key.public_jwk().to_string();
        let keys = parse_public_keys(&format!("[{public}]")).unwrap();
        assert_eq!(keys, vec![key.public_jwk()]);
        assert_eq!(parse_public_keys("[]").unwrap(), Vec::<Value>::new());
        assert!(parse_public_keys(&format!("[{JWK}]")).is_none(), "a private key is never published");
        assert!(parse_public_keys(&public).is_none(), "an object, not an array");
        assert!(parse_public_keys("[{\"kty\":\"EC\"}]").is_none());
    }

    #[test]
    fn key_set_lists_current_then_previous_once() {
        let key = parse_signing_key(JWK).unwrap();
        let mut other = key.clone();
        other.kid = "k0".into();
        let set = jwks(&key, &[other.public_jwk(), key.public_jwk()]);
        let kids: Vec<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, vec!["k1", "k0"]);
        assert!(!set.to_string().contains("\"d\""));
    }
}
