//! `otpctl smoke --worker URL --phone N --code C`: the step after every deploy. Asks
//! for a code for a test number (`TEST_NUMBERS`: nothing is sent), verifies it with
//! its fixed code, and checks the token as a backend would: its signature against
//! the worker's JWKS (ES256) or `TOKEN_SECRET` (HS256), then issuer, audience,
//! subject and expiry. Each step prints its latency; exit 0 when all pass, else 1.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use whatsapp_otp_worker::core::crypto::{constant_time_eq, hmac_sha256};
use whatsapp_otp_worker::core::phone::{canonical_phone, normalize_phone};

use crate::{net, settings_layers};

#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// The deployed worker's URL.
    #[arg(long, value_name = "URL")]
    pub worker: String,
    /// A test number of the worker's TEST_NUMBERS, in E.164 (+15550100001).
    #[arg(long)]
    pub phone: String,
    /// Its fixed code.
    #[arg(long)]
    pub code: String,
}

/// What the token must say, read like the worker reads it.
struct Expect {
    issuer: String,
    audience: Option<String>,
    secret: Option<String>,
}

pub fn run(args: SmokeArgs) -> ExitCode {
    let worker = args.worker.trim_end_matches('/').to_string();
    let Some(phone) = normalize_phone(&args.phone).map(|p| canonical_phone(&p)) else {
        eprintln!("otpctl smoke: --phone must be E.164, like +15550100001");
        return ExitCode::from(2);
    };
    if !(worker.starts_with("https://") || worker.starts_with("http://")) {
        eprintln!("otpctl smoke: --worker must be an http(s) URL");
        return ExitCode::from(2);
    }
    let layers = settings_layers();
    let get = |k: &str| layers.get(k).map(|(v, _)| v);
    let expect = Expect {
        issuer: get("TOKEN_ISSUER").unwrap_or_else(|| "whatsapp-otp-worker".into()),
        audience: get("TOKEN_AUDIENCE"),
        secret: get("TOKEN_SECRET"),
    };
    match smoke(&worker, &phone, &args.code, &expect) {
        Ok(()) => {
            println!("Smoke test passed.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("✘ {e}\nSmoke test failed.");
            ExitCode::from(1)
        }
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn ms(a: &net::Answer) -> String {
    format!("{} ms", a.elapsed.as_millis())
}

fn smoke(worker: &str, phone: &str, code: &str, expect: &Expect) -> Result<(), String> {
    let body = json!({ "phone": phone }).to_string();
    let requested =
        net::post(&format!("{worker}/v1/otp/request"), &[JSON], &body).map_err(|e| format!("request: {e}"))?;
    let v: Value = serde_json::from_str(&requested.body).unwrap_or(Value::Null);
    if requested.status != 202 {
        return Err(format!("request     HTTP {} in {}: {}", requested.status, ms(&requested), error_of(&v)));
    }
    let request_id = v["request_id"].as_str().unwrap_or_default().to_string();
    println!("✔ request     202 in {} ({request_id})", ms(&requested));

    let body = json!({ "request_id": request_id, "code": code }).to_string();
    let verified = net::post(&format!("{worker}/v1/otp/verify"), &[JSON], &body).map_err(|e| format!("verify: {e}"))?;
    let v: Value = serde_json::from_str(&verified.body).unwrap_or(Value::Null);
    if verified.status != 200 {
        return Err(format!("verify      HTTP {} in {}: {}", verified.status, ms(&verified), error_of(&v)));
    }
    println!("✔ verify      200 in {}", ms(&verified));
    let token = v["token"].as_str().ok_or("verify      no token in the answer")?;
    let claims = check_token(worker, token, expect)?;
    check_claims(&claims, phone, &request_id, expect, now_s())?;
    println!(
        "✔ claims      iss {}, aud {}, sub {}, jti {}{}, expires in {} s",
        claims["iss"],
        claims.get("aud").map_or("none".into(), Value::to_string),
        claims["sub"],
        claims["jti"],
        if claims["test"] == true { ", test: true" } else { "" },
        claims["exp"].as_u64().unwrap_or(0).saturating_sub(now_s())
    );
    Ok(())
}

fn error_of(v: &Value) -> String {
    match (v["error"]["code"].as_str(), v["error"]["message"].as_str()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => "not the worker's JSON".into(),
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn part(token: &str, i: usize) -> Result<Vec<u8>, String> {
    let p = token.split('.').nth(i).ok_or("token: not a JWT")?;
    URL_SAFE_NO_PAD.decode(p).map_err(|_| "token: not base64url".to_string())
}

/// The signature checked (fetching the JWKS for ES256); the claims.
fn check_token(worker: &str, token: &str, expect: &Expect) -> Result<Value, String> {
    if token.split('.').count() != 3 {
        return Err("token       not a JWT".into());
    }
    let header: Value = serde_json::from_slice(&part(token, 0)?).map_err(|_| "token: header is not JSON")?;
    let claims: Value = serde_json::from_slice(&part(token, 1)?).map_err(|_| "token: claims are not JSON")?;
    let signature = part(token, 2)?;
    let input = &token[..token.rfind('.').unwrap_or(0)];
    match header["alg"].as_str() {
        Some("HS256") => {
            let secret = expect
                .secret
                .as_deref()
                .ok_or("token       HS256, but TOKEN_SECRET is not set here (export it, or put it in .dev.vars)")?;
            use hmac::Mac;
            let mut mac = hmac_sha256(secret.as_bytes());
            mac.update(input.as_bytes());
            if !constant_time_eq(&mac.finalize().into_bytes(), &signature) {
                return Err("token       HS256 signature does not match TOKEN_SECRET".into());
            }
            println!("✔ signature   HS256 with TOKEN_SECRET");
        }
        Some("ES256") => {
            let kid = header["kid"].as_str().ok_or("token       ES256 without a kid")?;
            let jwks = net::get(&format!("{worker}/.well-known/jwks.json"), &[]).map_err(|e| format!("jwks: {e}"))?;
            if jwks.status != 200 {
                return Err(format!("jwks        HTTP {} in {}", jwks.status, ms(&jwks)));
            }
            let keys: Value = serde_json::from_str(&jwks.body).unwrap_or(Value::Null);
            let key = keys["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["kid"] == kid)
                .ok_or_else(|| format!("jwks        no key {kid} among the worker's"))?;
            es256_verify(key, input.as_bytes(), &signature)?;
            println!("✔ signature   ES256, key {kid} from the JWKS ({})", ms(&jwks));
        }
        other => return Err(format!("token       unexpected alg {other:?}")),
    }
    Ok(claims)
}

fn es256_verify(jwk: &Value, input: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    let coord = |k: &str| jwk[k].as_str().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).filter(|b| b.len() == 32);
    let (Some(x), Some(y)) = (coord("x"), coord("y")) else {
        return Err("jwks        the key is not an EC P-256 public key".into());
    };
    let mut sec1 = vec![4u8];
    sec1.extend(x);
    sec1.extend(y);
    let key = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "jwks        the key is not on P-256")?;
    let signature = Signature::from_slice(signature).map_err(|_| "token       the signature is not r || s")?;
    key.verify(input, &signature).map_err(|_| "token       ES256 signature does not verify".to_string())
}

/// What a backend must check beyond the signature.
fn check_claims(claims: &Value, phone: &str, request_id: &str, expect: &Expect, now_s: u64) -> Result<(), String> {
    if claims["iss"] != expect.issuer.as_str() {
        return Err(format!("claims      iss is {}, TOKEN_ISSUER says {}", claims["iss"], expect.issuer));
    }
    match (&expect.audience, claims.get("aud")) {
        (Some(aud), Some(got)) if got == aud.as_str() => {}
        (None, None) => {}
        (want, got) => {
            return Err(format!(
                "claims      aud is {}, TOKEN_AUDIENCE says {}",
                got.map_or("absent".into(), Value::to_string),
                want.as_deref().unwrap_or("unset")
            ))
        }
    }
    if claims["sub"] != phone {
        return Err(format!("claims      sub is {}, not {phone}", claims["sub"]));
    }
    if claims["jti"] != request_id {
        return Err(format!("claims      jti is {}, not the request {request_id}", claims["jti"]));
    }
    if claims["exp"].as_u64().is_none_or(|exp| exp <= now_s) {
        return Err("claims      the token has expired already".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect { issuer: "iss".into(), audience: Some("aud".into()), secret: Some("s".repeat(32)) }
    }

    #[test]
    fn claims_are_checked_like_a_backend_would() {
        let good = json!({"iss": "iss", "aud": "aud", "sub": "+15550100001", "jti": "otp_1", "exp": 200});
        assert!(check_claims(&good, "+15550100001", "otp_1", &expect(), 100).is_ok());
        for (key, value) in [
            ("iss", json!("x")),
            ("aud", json!("x")),
            ("sub", json!("+1")),
            ("jti", json!("otp_2")),
            ("exp", json!(100)),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            assert!(check_claims(&bad, "+15550100001", "otp_1", &expect(), 100).is_err(), "{key}");
        }
        let no_aud = Expect { audience: None, ..expect() };
        assert!(check_claims(&good, "+15550100001", "otp_1", &no_aud, 100).is_err(), "an unexpected aud");
    }

    #[test]
    fn hs256_signatures_are_checked_against_token_secret() {
        use whatsapp_otp_worker::core::guard::VerifiedVia;
        use whatsapp_otp_worker::core::secret::Secret;
        use whatsapp_otp_worker::core::token::{sign_token, token_claims, TokenSettings};
        let settings = TokenSettings {
            secret: Secret::new("s".repeat(32)),
            ttl_s: 600,
            issuer: "iss".into(),
            audience: Some("aud".into()),
        };
        let claims = token_claims(&settings, "+15550100001", "otp_1", 1_000, VerifiedVia::Code);
        let token = sign_token(settings.secret.expose(), &claims);
        let got = check_token("http://unused", &token, &expect()).unwrap();
        assert_eq!(got["sub"], "+15550100001");
        let wrong = Expect { secret: Some("t".repeat(32)), ..expect() };
        assert!(check_token("http://unused", &token, &wrong).is_err());
        let tampered = token.replacen('.', ".e", 1);
        assert!(check_token("http://unused", &tampered, &expect()).is_err());
    }

    #[test]
    fn es256_signatures_are_checked_against_the_key() {
        use p256::ecdsa::signature::Signer;
        let (private, public) = crate::keys::generate("k").unwrap();
        let private: Value = serde_json::from_str(&private).unwrap();
        let public: Value = serde_json::from_str(&public).unwrap();
        let d = URL_SAFE_NO_PAD.decode(private["d"].as_str().unwrap()).unwrap();
        let signer = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        let signature: p256::ecdsa::Signature = signer.sign(b"h.p");
        assert!(es256_verify(&public, b"h.p", &signature.to_bytes()).is_ok());
        assert!(es256_verify(&public, b"h.q", &signature.to_bytes()).is_err());
    }
}
