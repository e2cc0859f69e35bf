//! Token signing at the edge. HS256 is pure Rust (the core); ES256 uses the runtime's
//! WebCrypto (`crypto.subtle`), which signs P-256 natively: no elliptic-curve code
//! ships in the wasm, and a signature costs a fraction of what it would in wasm.
//! The private key is imported once per isolate and checked against its public half.

use std::cell::RefCell;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::VerifiedVia;
use crate::core::token::{es256_signing_input, finish, sign_token, token_claims, IssuedToken, SigningKey};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = sign, catch)]
    fn subtle_sign(algorithm: &JsValue, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(algorithm: &JsValue, key: &JsValue, signature: &[u8], data: &[u8]) -> Result<Promise, JsValue>;
}

thread_local! {
    /// The imported signing key for the `kid` it was imported for; `Err` when the
    /// runtime refused it (then `/healthz` names `TOKEN_SIGNING_KEY`).
    static KEY: RefCell<Option<(String, Result<JsValue, ()>)>> = const { RefCell::new(None) };
}

fn algorithm(pairs: &[(&str, &str)]) -> JsValue {
    let object = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&object, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    object.into()
}

fn ecdsa() -> JsValue {
    algorithm(&[("name", "ECDSA"), ("hash", "SHA-256")])
}

async fn import(jwk: &serde_json::Value, usage: &str) -> Result<JsValue, JsValue> {
    let key = JSON::parse(&jwk.to_string())?;
    let usages = Array::of1(&JsValue::from_str(usage));
    let params = algorithm(&[("name", "ECDSA"), ("namedCurve", "P-256")]);
    JsFuture::from(import_key("jwk", &key, &params, false, &usages)?).await
}

async fn sign_bytes(key: &JsValue, data: &[u8]) -> Result<Vec<u8>, JsValue> {
    let signature = JsFuture::from(subtle_sign(&ecdsa(), key, data)?).await?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// Imports the private key and proves it belongs to the published public key (a
/// signature made with it verifies under `x`/`y`).
async fn import_checked(key: &SigningKey) -> Result<JsValue, JsValue> {
    let private = import(&key.private_jwk(), "sign").await?;
    let public = import(&key.public_jwk(), "verify").await?;
    let probe = b"whatsapp-otp-worker signing key check";
    let signature = sign_bytes(&private, probe).await?;
    let valid = JsFuture::from(subtle_verify(&ecdsa(), &public, &signature, probe)?).await?;
    if valid.as_bool() == Some(true) {
        Ok(private)
    } else {
        Err(JsValue::from_str("the private key does not match x/y"))
    }
}

/// The signing key as imported into WebCrypto (once per isolate and key).
async fn signing_key(key: &SigningKey) -> Result<JsValue, ()> {
    let cached = KEY.with(|k| k.borrow().as_ref().filter(|(kid, _)| *kid == key.kid).map(|(_, r)| r.clone()));
    if let Some(result) = cached {
        return result;
    }
    let result = import_checked(key).await.map_err(|e| {
        // The runtime's reason, never the key.
        worker::console_error!("TOKEN_SIGNING_KEY was refused: {}", e.as_string().unwrap_or_default());
    });
    KEY.with(|k| *k.borrow_mut() = Some((key.kid.clone(), result.clone())));
    result
}

/// `Some("TOKEN_SIGNING_KEY")` when a signing key is set but cannot sign (for `/healthz`).
pub async fn key_problem(config: &Config) -> Option<&'static str> {
    let key = config.keys.token_signing_key.as_ref()?;
    signing_key(key).await.is_err().then_some("TOKEN_SIGNING_KEY")
}

/// A code is worth nothing without a token to show for it: with a signing key the
/// runtime refuses, a request or a check is turned away before anything is
/// reserved, sent or consumed (the check is cached per isolate, like the key).
pub async fn require_usable_key(config: &Config) -> Result<(), ApiError> {
    match key_problem(config).await {
        Some(name) => Err(ApiError::misconfigured(&[name])),
        None => Ok(()),
    }
}

/// The token for a verified request: ES256 with `TOKEN_SIGNING_KEY` when set (a fresh
/// signature each time: ECDSA is randomised), HS256 with `TOKEN_SECRET` otherwise.
pub async fn issue(
    config: &Config,
    phone: &str,
    request_id: &str,
    verified_at_ms: u64,
    via: VerifiedVia,
    test: bool,
) -> Result<IssuedToken, ApiError> {
    let mut claims = token_claims(&config.tokens, phone, request_id, verified_at_ms, via);
    claims.test = test;
    let exp = claims.exp;
    let Some(key) = &config.keys.token_signing_key else {
        return Ok(IssuedToken { token: sign_token(config.tokens.secret.expose(), &claims), expires_ms: exp * 1000 });
    };
    let input = es256_signing_input(&key.kid, &claims);
    let private = signing_key(key).await.map_err(|_| ApiError::misconfigured(&["TOKEN_SIGNING_KEY"]))?;
    let signature = sign_bytes(&private, input.as_bytes()).await.map_err(|e| {
        worker::console_error!("ES256 signing failed: {}", e.as_string().unwrap_or_default());
        ApiError::misconfigured(&["TOKEN_SIGNING_KEY"])
    })?;
    Ok(IssuedToken { token: finish(&input, &signature), expires_ms: exp * 1000 })
}
