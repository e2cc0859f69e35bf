//! The Rust floor for `./bench`: what any workers-rs worker pays per request (the
//! wasm instance, the JS glue, building the request and the response), with one
//! Durable Object class like the real worker and none of its logic. `/healthz`
//! answers the same bytes and headers as the real worker's healthy `/healthz`.

#[cfg(target_arch = "wasm32")]
mod worker_entry {
    use worker::{durable_object, event, Context, DurableObject, Env, Request, Response, Result, State};

    const HEALTHY: &str =
        r#"{"ok":true,"features":{"events":false,"analytics":false,"callbacks":false,"admin":false}}"#;

    #[event(fetch)]
    async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
        if req.path() != "/healthz" {
            return Ok(Response::error("not found", 404)?);
        }
        let mut resp = Response::ok(HEALTHY)?;
        let headers = resp.headers_mut();
        headers.set("Content-Type", "application/json; charset=utf-8")?;
        headers.set("Cache-Control", "no-store")?;
        headers.set("X-Content-Type-Options", "nosniff")?;
        Ok(resp)
    }

    /// Never called: here so the module carries a Durable Object class, as the real one does.
    #[durable_object]
    pub struct FloorObject {
        _state: State,
    }

    impl DurableObject for FloorObject {
        fn new(state: State, _env: Env) -> Self {
            FloorObject { _state: state }
        }

        async fn fetch(&self, _req: Request) -> Result<Response> {
            Response::ok("")
        }
    }
}
