//! Who is calling: the client address every API call is charged to.

use worker::{Env, Request};

use crate::core::error::ApiError;
use crate::core::guard::address::Allowance;
use crate::core::guard::protocol::{AddressHit, AddressReply};
use crate::core::guard::LimitReason;
use crate::core::net::address_key;
use crate::edge::guard_client::{address_object, call};
use crate::edge::http::header;

/// The caller's allowance key. Cloudflare always sets `CF-Connecting-IP`; without
/// it a request would be unlimited, so it is refused.
pub fn client_address(req: &Request) -> Result<String, ApiError> {
    header(req, "CF-Connecting-IP").and_then(|ip| address_key(&ip)).ok_or_else(ApiError::client_address_unknown)
}

/// Draws one call on the address's allowance.
pub async fn charge_address(env: &Env, address: &str, allowance: Allowance, max_per_hour: u32) -> Result<(), ApiError> {
    match call(env, &address_object(address), &AddressHit { allowance, max_per_hour }).await? {
        AddressReply::Allowed => Ok(()),
        AddressReply::Limited { retry_after_s } => Err(ApiError::rate_limited(retry_after_s, LimitReason::IpLimit)),
    }
}
