//! The Rust floor for `./bench`: the JavaScript floor (`benches/floor/worker.js`) made
//! with workers-rs, round trip for round trip (the same objects, KV calls and Cloud
//! API fetch, JSON through `serde_json::Value`), and none of the real worker's logic.
//! The real worker against this floor is the cost of its own work; this floor against
//! the JavaScript one is what Rust/wasm costs per request and per object call.

#[cfg(target_arch = "wasm32")]
mod floor {
    use serde_json::{json, Value};
    use worker::{
        durable_object, event, Context, DurableObject, Env, Fetch, Headers, Method, Request, RequestInit, Response,
        Result, State,
    };

    const HOUR_MS: f64 = 3_600_000.0;
    const HEALTHY: &str =
        r#"{"ok":true,"features":{"events":false,"analytics":false,"callbacks":false,"admin":false}}"#;

    fn json_response(status: u16, body: &str) -> Result<Response> {
        let mut resp = Response::ok(body)?.with_status(status);
        let headers = resp.headers_mut();
        headers.set("Content-Type", "application/json; charset=utf-8")?;
        headers.set("Cache-Control", "no-store")?;
        headers.set("X-Content-Type-Options", "nosniff")?;
        Ok(resp)
    }

    fn post_init(body: String, headers: Headers) -> Result<RequestInit> {
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        Ok(init)
    }

    async fn guard(env: &Env, name: &str, op: &str, command: Value) -> Result<Value> {
        let stub = env.durable_object("FLOOR_GUARD")?.id_from_name(name)?.get_stub()?;
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        let request =
            Request::new_with_init(&format!("https://guard/{op}"), &post_init(command.to_string(), headers)?)?;
        let mut response = stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!("guard answered {}", response.status_code())));
        }
        response.json().await
    }

    async fn allowed(env: &Env, req: &Request, allowance: &str) -> Result<bool> {
        let ip = req.headers().get("CF-Connecting-IP")?.unwrap_or_else(|| "unknown".into());
        let reply = guard(
            env,
            &format!("ip:{ip}"),
            "address_hit",
            json!({ "allowance": allowance, "max_per_hour": 1_000_000 }),
        )
        .await?;
        Ok(reply["allowed"].as_bool() == Some(true))
    }

    fn random_hex(bytes: usize) -> String {
        let mut b = vec![0u8; bytes];
        getrandom::fill(&mut b).expect("random");
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn iso(ms: f64) -> String {
        String::from(js_sys::Date::new(&ms.into()).to_iso_string())
    }

    async fn otp_request(mut req: Request, env: Env, ctx: Context, settle: bool) -> Result<Response> {
        let body: Value = req.json().await.unwrap_or(Value::Null);
        let Some(phone) = body["phone"].as_str().map(str::to_string) else {
            return json_response(400, r#"{"error":"invalid_request"}"#);
        };
        if !(phone.starts_with('+')
            && phone.len() >= 8
            && phone.len() <= 16
            && phone[1..].bytes().all(|c| c.is_ascii_digit()))
        {
            return json_response(400, r#"{"error":"invalid_request"}"#);
        }
        if !allowed(&env, &req, "requests").await? {
            return json_response(429, r#"{"error":"rate_limited"}"#);
        }
        let request_id = random_hex(16);
        let reserve = guard(&env, &phone, "reserve", json!({ "request_id": request_id })).await?;
        if reserve["ok"].as_bool() != Some(true) {
            return json_response(429, r#"{"error":"rate_limited"}"#);
        }
        let expires_ms = reserve["expires_ms"].as_f64().unwrap_or(0.0);
        let mut r = [0u8; 4];
        getrandom::fill(&mut r).expect("random");
        let code = format!("{:06}", u32::from_le_bytes(r) % 1_000_000);
        let now = js_sys::Date::now();
        let record = json!({ "phone": phone, "code": code, "expires_ms": expires_ms });
        env.kv("OTP_CODES")?
            .put(&format!("otp:{request_id}"), record.to_string())?
            .expiration_ttl(3900)
            .execute()
            .await?;
        let url = format!(
            "{}/{}/{}/messages",
            env.var("WHATSAPP_API_BASE")?,
            env.var("WHATSAPP_API_VERSION")?,
            env.var("WHATSAPP_PHONE_NUMBER_ID")?
        );
        let message = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": &phone[1..],
            "type": "template",
            "template": {
                "name": "otp_code",
                "language": { "code": "en_US" },
                "components": [
                    { "type": "body", "parameters": [{ "type": "text", "text": code }] },
                    { "type": "button", "sub_type": "url", "index": "0", "parameters": [{ "type": "text", "text": code }] }
                ]
            },
            "biz_opaque_callback_data": request_id,
        });
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("Authorization", &format!("Bearer {}", env.var("WHATSAPP_ACCESS_TOKEN")?))?;
        let mut sent =
            Fetch::Request(Request::new_with_init(&url, &post_init(message.to_string(), headers)?)?).send().await?;
        let answer: Value = sent.json().await.unwrap_or(Value::Null);
        if sent.status_code() != 200 {
            return json_response(502, r#"{"error":"whatsapp_error"}"#);
        }
        let message_id = answer["messages"][0]["id"].as_str().unwrap_or_default().to_string();
        if settle {
            let (env, phone, request_id) = (env.clone(), phone.clone(), request_id.clone());
            ctx.wait_until(async move {
                let settled = json!({ "request_id": request_id, "message_id": message_id });
                let _ = guard(&env, &phone, "settle", settled).await;
                let link = json!({ "number": phone, "request_id": request_id });
                let _ = guard(&env, &format!("msg:{message_id}"), "link", link).await;
            });
        }
        let body = json!({
            "request_id": request_id,
            "status": "pending",
            "expires_at": iso(expires_ms),
            "expires_in": ((expires_ms - now) / 1000.0).ceil() as u64,
            "resend_after": 0,
            "attempts_left": 5,
        });
        json_response(202, &body.to_string())
    }

    async fn otp_verify(mut req: Request, env: Env) -> Result<Response> {
        let body: Value = req.json().await.unwrap_or(Value::Null);
        let (Some(id), Some(code)) = (body["request_id"].as_str(), body["code"].as_str()) else {
            return json_response(400, r#"{"error":"invalid_request"}"#);
        };
        if !allowed(&env, &req, "checks").await? {
            return json_response(429, r#"{"error":"rate_limited"}"#);
        }
        let Some(record) = env.kv("OTP_CODES")?.get(&format!("otp:{id}")).json::<Value>().await? else {
            return json_response(404, r#"{"error":"not_found"}"#);
        };
        let phone = record["phone"].as_str().unwrap_or_default();
        let correct = record["code"].as_str() == Some(code);
        let reply = guard(&env, phone, "attempt", json!({ "request_id": id, "correct": correct })).await?;
        if reply["verified"].as_bool() != Some(true) {
            return json_response(400, r#"{"error":"invalid_code"}"#);
        }
        let body = json!({ "verified": true, "request_id": id, "token": "floor", "token_expires_at": "" });
        json_response(200, &body.to_string())
    }

    async fn otp_status(req: Request, env: Env, id: &str) -> Result<Response> {
        if !allowed(&env, &req, "checks").await? {
            return json_response(429, r#"{"error":"rate_limited"}"#);
        }
        let Some(record) = env.kv("OTP_CODES")?.get(&format!("otp:{id}")).json::<Value>().await? else {
            return json_response(404, r#"{"error":"not_found"}"#);
        };
        let phone = record["phone"].as_str().unwrap_or_default();
        let reply = guard(&env, phone, "status", json!({ "request_id": id })).await?;
        let expires_ms = record["expires_ms"].as_f64().unwrap_or(0.0);
        let body = json!({ "request_id": id, "status": reply["status"], "expires_at": iso(expires_ms) });
        json_response(200, &body.to_string())
    }

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
        // `path()` and the raw URL string, not `url()`: `Url` brings the `url` crate and
        // its IDNA tables (~45 KB gzip) that the worker does not ship either.
        let path = req.path();
        let settle = req.inner().url().contains("settle=1");
        match (req.method(), path.as_str()) {
            (Method::Get, "/healthz") => json_response(200, HEALTHY),
            (Method::Post, "/v1/otp/request") => otp_request(req, env, ctx, settle).await,
            (Method::Post, "/v1/otp/verify") => otp_verify(req, env).await,
            (Method::Get, p) if p.starts_with("/v1/otp/status/") => {
                let id = p["/v1/otp/status/".len()..].to_string();
                otp_status(req, env, &id).await
            }
            _ => json_response(404, r#"{"error":"not_found"}"#),
        }
    }

    /// One object per number, address or message, like the JavaScript floor's: the
    /// state is read, changed and written back on every command.
    #[durable_object]
    pub struct FloorGuard {
        state: State,
    }

    impl DurableObject for FloorGuard {
        fn new(state: State, _env: Env) -> Self {
            FloorGuard { state }
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            let op = req.path().trim_start_matches('/').to_string();
            let command: Value = req.json().await?;
            let now = js_sys::Date::now();
            let storage = self.state.storage();
            let mut state: Value =
                storage.get::<Value>("state").await?.unwrap_or_else(|| json!({ "hits": [], "requests": [] }));
            let find = |state: &mut Value| -> Option<usize> {
                state["requests"].as_array()?.iter().position(|r| r["id"] == command["request_id"])
            };
            let reply = match op.as_str() {
                "address_hit" => {
                    let mut hits: Vec<f64> = state["hits"].as_array().map_or(Vec::new(), |h| {
                        h.iter().filter_map(Value::as_f64).filter(|t| t + HOUR_MS > now).collect()
                    });
                    let allowed = (hits.len() as f64) < command["max_per_hour"].as_f64().unwrap_or(0.0);
                    if allowed {
                        hits.push(now);
                    }
                    state["hits"] = json!(hits);
                    json!({ "allowed": allowed })
                }
                "reserve" => {
                    let expires_ms = now + 300_000.0;
                    let requests = state["requests"].as_array_mut().expect("requests");
                    requests.push(json!({ "id": command["request_id"], "expires_ms": expires_ms, "verified": false }));
                    if requests.len() > 20 {
                        requests.remove(0);
                    }
                    json!({ "ok": true, "expires_ms": expires_ms })
                }
                "settle" => {
                    let found = find(&mut state);
                    if let Some(i) = found {
                        state["requests"][i]["message_id"] = command["message_id"].clone();
                    }
                    json!({ "settled": found.is_some() })
                }
                "link" => {
                    state["link"] = command.clone();
                    json!({})
                }
                "attempt" => {
                    let found = find(&mut state);
                    let verified = found.is_some_and(|i| {
                        let r = &state["requests"][i];
                        r["verified"] == false
                            && command["correct"] == true
                            && r["expires_ms"].as_f64().unwrap_or(0.0) > now
                    });
                    if let (true, Some(i)) = (verified, found) {
                        state["requests"][i]["verified"] = json!(true);
                    }
                    json!({ "verified": verified })
                }
                "status" => {
                    let status = match find(&mut state) {
                        Some(i) if state["requests"][i]["verified"] == true => "verified",
                        Some(_) => "pending",
                        None => "forgotten",
                    };
                    return Response::from_json(&json!({ "status": status }));
                }
                _ => return Response::error("unknown command", 404),
            };
            storage.put("state", &state).await?;
            Response::from_json(&reply)
        }
    }
}
