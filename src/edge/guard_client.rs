//! Calls into `PhoneGuard` objects: one per E.164 number, and `ip:<address>` ones.

use worker::{Env, Headers, Method, Request, RequestInit};

use crate::core::error::ApiError;
use crate::core::guard::{GuardCommand, GuardReply};

pub async fn call(env: &Env, name: &str, command: &GuardCommand) -> Result<GuardReply, ApiError> {
    let attempt = async {
        let namespace = env.durable_object("PHONE_GUARD")?;
        let stub = namespace.id_from_name(name)?.get_stub()?;
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        let body = serde_json::to_string(command)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        let request = Request::new_with_init("https://phone-guard/command", &init)?;
        let mut response = stub.fetch_with_request(request).await?;
        response.json::<GuardReply>().await
    };
    attempt.await.map_err(|e| {
        worker::console_error!("PhoneGuard call failed: {e}");
        ApiError::storage_unavailable()
    })
}
