//! KV `OTP_CODES`: one write-once record per issued code.

use worker::Env;

use crate::core::error::ApiError;
use crate::core::record::{kv_key, kv_ttl_seconds, CodeRecord};

pub async fn put(env: &Env, request_id: &str, record: &CodeRecord, ttl_s: u64) -> Result<(), ApiError> {
    let value = serde_json::to_string(record).map_err(|_| ApiError::storage_unavailable())?;
    let kv = env.kv("OTP_CODES").map_err(|_| ApiError::misconfigured(&["OTP_CODES"]))?;
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
    let kv = env.kv("OTP_CODES").map_err(|_| ApiError::misconfigured(&["OTP_CODES"]))?;
    match kv.get(&kv_key(request_id)).text().await {
        Ok(Some(text)) => Ok(serde_json::from_str(&text).ok()),
        Ok(None) => Ok(None),
        Err(e) => {
            worker::console_error!("kv get failed: {e}");
            Err(ApiError::storage_unavailable())
        }
    }
}
