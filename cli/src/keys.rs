//! `otpctl keys generate [--kid K]`: a fresh EC P-256 key pair for ES256 tokens.
//!
//! Prints two lines on stdout: the private JWK (the secret `TOKEN_SIGNING_KEY`) and
//! its public JWK (what goes into `TOKEN_PREVIOUS_PUBLIC_KEYS` once the key is
//! rotated out). Guidance goes to stderr, so `otpctl keys generate | head -1` is the secret.

use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use serde_json::{json, Value};

/// `otpctl keys generate [--kid K]`.
#[derive(Debug, clap::Parser)]
#[command(name = "keys")]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
}

#[derive(Debug, clap::Subcommand)]
enum KeysAction {
    /// Prints the private JWK (TOKEN_SIGNING_KEY), then its public JWK.
    Generate {
        /// The key id (default: today's date and 4 random hex digits).
        #[arg(long)]
        kid: Option<String>,
    },
}

pub fn run(args: KeysArgs) -> ExitCode {
    let KeysAction::Generate { kid } = args.action;
    match checked_kid(kid) {
        Ok(kid) => match generate(&kid) {
            Ok((private, public)) => {
                eprintln!("# line 1: the secret TOKEN_SIGNING_KEY (npx wrangler secret put TOKEN_SIGNING_KEY)");
                eprintln!(
                    "# line 2: its public key; add it to TOKEN_PREVIOUS_PUBLIC_KEYS when this key is rotated out"
                );
                println!("{private}");
                println!("{public}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("otpctl keys: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("otpctl keys: {e}\n\nUsage: otpctl keys generate [--kid K]");
            ExitCode::from(2)
        }
    }
}

/// The `kid` to use: the one given, or today's date and 4 random hex digits.
fn checked_kid(kid: Option<String>) -> Result<String, String> {
    let kid = match kid {
        Some(kid) => kid,
        None => default_kid()?,
    };
    if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the kid must be 1 to 128 visible ASCII characters".into());
    }
    Ok(kid)
}

fn default_kid() -> Result<String, String> {
    let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut suffix = [0u8; 2];
    getrandom::fill(&mut suffix).map_err(|e| e.to_string())?;
    Ok(format!("{}-{}", &today[..10], hex(&suffix)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (private JWK, public JWK), each as compact JSON.
pub fn generate(kid: &str) -> Result<(String, String), String> {
    let mut scalar = [0u8; 32];
    // Rejection sampling: a 32-byte string is a valid scalar unless it is 0 or ≥ n.
    let secret = loop {
        getrandom::fill(&mut scalar).map_err(|e| e.to_string())?;
        if let Ok(secret) = SecretKey::from_slice(&scalar) {
            break secret;
        }
    };
    Ok(jwks_of(&secret, kid))
}

fn jwks_of(secret: &SecretKey, kid: &str) -> (String, String) {
    let point = secret.public_key().to_encoded_point(false);
    let (x, y) = (point.x().map(|x| x.to_vec()), point.y().map(|y| y.to_vec()));
    let (x, y) = (URL_SAFE_NO_PAD.encode(x.unwrap_or_default()), URL_SAFE_NO_PAD.encode(y.unwrap_or_default()));
    let d = URL_SAFE_NO_PAD.encode(secret.to_bytes());
    let public: Value =
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig" });
    let mut private = public.clone();
    private["d"] = d.into();
    (private.to_string(), public.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

    fn field(jwk: &Value, name: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap()
    }

    #[test]
    fn the_pair_signs_and_verifies() {
        let (private, public) = generate("test-kid").unwrap();
        let private: Value = serde_json::from_str(&private).unwrap();
        let public: Value = serde_json::from_str(&public).unwrap();
        assert_eq!(public["kid"], "test-kid");
        assert_eq!((public["kty"].as_str(), public["crv"].as_str()), (Some("EC"), Some("P-256")));
        assert!(public.get("d").is_none(), "the public key has no private part");
        assert_eq!(field(&private, "d").len(), 32);
        assert_eq!((field(&public, "x"), field(&public, "y")), (field(&private, "x"), field(&private, "y")));

        let signer = SigningKey::from_slice(&field(&private, "d")).unwrap();
        let signature: Signature = signer.sign(b"header.payload");
        let mut sec1 = vec![4u8];
        sec1.extend(field(&public, "x"));
        sec1.extend(field(&public, "y"));
        let verifier = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        assert!(verifier.verify(b"header.payload", &signature).is_ok());
        assert!(verifier.verify(b"header.payloaD", &signature).is_err());
    }

    #[test]
    fn every_pair_is_new() {
        assert_ne!(generate("k").unwrap().0, generate("k").unwrap().0);
    }

    #[test]
    fn options() {
        use clap::Parser;
        let kid = |a: &[&str]| {
            let args = KeysArgs::try_parse_from(std::iter::once("keys").chain(a.iter().copied()))
                .map_err(|e| e.to_string())?;
            let KeysAction::Generate { kid } = args.action;
            checked_kid(kid)
        };
        assert_eq!(kid(&["generate", "--kid", "2026-11"]).unwrap(), "2026-11");
        assert_eq!(kid(&["generate", "--kid=a"]).unwrap(), "a");
        let default = kid(&["generate"]).unwrap();
        assert_eq!(default.len(), "2026-11-26-abcd".len(), "{default}");
        assert!(kid(&[]).is_err());
        assert!(kid(&["generate", "--kid"]).is_err());
        assert!(kid(&["generate", "--kid", "has space"]).is_err());
        assert!(kid(&["generate", "--nope"]).is_err());
    }
}
