//! Documents for integrators: `GET /openapi.json` (the contract, byte for byte as kept
//! in `openapi/openapi.json`) and `GET /.well-known/jwks.json` (the token keys).

use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::token::jwks as key_set;
use crate::edge::http::{Handled, Reply};

const OPENAPI: &str = include_str!("../../../openapi/openapi.json");

/// Public documents may be cached for five minutes (a rotated key shows within that).
const PUBLIC_CACHE: &str = "public, max-age=300";

pub fn openapi() -> Reply {
    Reply::Asset { content_type: "application/json; charset=utf-8", cache_control: PUBLIC_CACHE, body: OPENAPI.into() }
}

/// The ES256 public keys; `404 not_found` while tokens are HS256 (nothing to publish).
pub fn jwks(config: &Config) -> Handled {
    let Some(key) = &config.keys.token_signing_key else {
        return Err(ApiError::not_found("key set (tokens are HS256)"));
    };
    let body = key_set(key, &config.keys.token_previous_public_keys).to_string();
    Ok(Reply::Asset { content_type: "application/json; charset=utf-8", cache_control: PUBLIC_CACHE, body })
}
