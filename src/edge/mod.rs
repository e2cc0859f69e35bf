//! The edge shell: moves data between Workers (requests, KV, the Durable Object,
//! outbound fetch) and the pure core. No policy lives here.

mod analytics;
mod budget;
mod clock;
mod code_check;
mod codes;
mod consumer;
mod degraded;
mod events;
mod guard_client;
mod guard_object;
mod handlers;
mod http;
mod isolate;
mod log;
mod outbound;
mod refusals;
mod retention;
mod router;
mod sms;
mod tokens;

#[allow(unused_imports)]
pub use guard_object::PhoneGuard;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    match router::handle(req, env, ctx).await {
        Ok(response) => Ok(response),
        // Only building a response can fail here; still never a bare exception.
        Err(e) => {
            worker::console_error!("response could not be built: {e}");
            http::to_response(Err(crate::core::error::ApiError::internal()))
        }
    }
}
