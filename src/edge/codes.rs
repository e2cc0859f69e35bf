//! KV `OTP_CODES`: one write-once record per issued code.

use worker::Env;

use crate::core::error::ApiError;
use crate::core::record::{kv_key, kv_ttl_seconds, CodeRecord};
use crate::edge::isolate::CODES_BINDING;

pub async fn put(env: &Env, request_id: &str, record: &CodeRecord, ttl_s: u64) -> Result<(), ApiError> {
    let value = serde_json::to_string(record).map_err(|_| ApiError::storage_unavailable())?;
    let kv = env.kv(CODES_BINDING).map_err(|_| ApiError::misconfigured(&[CODES_BINDING]))?;
    kv.put(&kv_key(request_id), value)
        .map_err(|_| ApiError::storage_unavailable())?
        .expiration_ttl(kv_ttl_seconds(ttl_s))
        .execute()
        .await
        .map_err(|e| {
            worker::console_error!("kv put failed: {e}");
            ApiError::storage_unavailable()
        })
}

pub async fn get(env: &Env, request_id: &str) -> Result<Option<CodeRecord>, ApiError> {
    let kv = env.kv(CODES_BINDING).map_err(|_| ApiError::misconfigured(&[CODES_BINDING]))?;
    match kv.get(&kv_key(request_id)).text().await {
        // A record that cannot be read is refused loudly, like unreadable guard state:
        // answering "no such request" would hide a broken deploy or a damaged value.
        Ok(Some(text)) => serde_json::from_str(&text).map(Some).map_err(|e| {
            worker::console_error!("{}", serde_json::json!({ "kv_record": "unreadable", "error": e.to_string() }));
            ApiError::storage_unavailable()
        }),
        Ok(None) => Ok(None),
        Err(e) => {
            worker::console_error!("kv get failed: {e}");
            Err(ApiError::storage_unavailable())
        }
    }
}
