//! the harness proves the worker runs in workerd beside the stand-in.

use std::sync::Arc;

use serde_json::json;

use crate::client::{digits, into_resp, random_phone, Env};
use crate::harness::{Worker, ACCESS_TOKEN, PHONE_NUMBER_ID, TOKEN_SECRET};

e2e_tests! {
    healthz_is_200_with_full_configuration,
    healthz_is_503_naming_a_missing_secret,
    unknown_routes_and_methods_get_json_errors,
    stand_in_inbox_records_an_accepted_message,
    stand_in_answers_like_meta,
    signed_delivery_from_the_stand_in_reaches_the_worker,
    cors_preflight_for_allowed_origins,
    demo_page_is_served_when_enabled,
    a_worker_whose_port_was_taken_starts_on_another,
}

pub async fn healthz_is_200_with_full_configuration(env: Arc<Env>) {
    let resp = env.get(&format!("{}/healthz", env.main)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["ok"], true);
    assert_eq!(resp.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(resp.header("content-type").unwrap().starts_with("application/json"));
}

pub async fn healthz_is_503_naming_a_missing_secret(env: Arc<Env>) {
    let resp = env.get(&format!("{}/healthz", env.broken)).await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    let off = json!({ "events": false, "analytics": false, "callbacks": false, "admin": false,
        "missing": ["EVENTS", "ANALYTICS_DB"] });
    assert_eq!(resp.body, json!({ "ok": false, "problems": ["TOKEN_SECRET"], "features": off }));
    // The API refuses clearly too, naming the setting and never a value.
    let resp = env.request(&env.broken, json!({ "phone": random_phone() })).await;
    assert_eq!((resp.status, resp.code()), (503, "misconfigured"));
    assert_eq!(resp.body["error"]["settings"], json!(["TOKEN_SECRET"]));
    assert!(!resp.text.contains(TOKEN_SECRET) && !resp.text.contains(ACCESS_TOKEN));
}

pub async fn unknown_routes_and_methods_get_json_errors(env: Arc<Env>) {
    let resp = env.get(&format!("{}/nope", env.main)).await;
    assert_eq!((resp.status, resp.code()), (404, "not_found"));
    let resp = env.get(&format!("{}/v1/otp/request", env.main)).await;
    assert_eq!((resp.status, resp.code()), (405, "method_not_allowed"));
    assert_eq!(resp.header("allow"), Some("POST, OPTIONS"));
    let resp = into_resp(env.http.delete(format!("{}/healthz", env.main)).send().await.unwrap()).await;
    assert_eq!((resp.status, resp.code()), (405, "method_not_allowed"));
    assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"));
    // The reference page is off by default.
    assert_eq!(env.get(&format!("{}/", env.strict)).await.status, 404);
}

pub async fn stand_in_inbox_records_an_accepted_message(env: Arc<Env>) {
    let phone = random_phone();
    let body = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": digits(&phone),
        "type": "text", "text": { "body": "hello from the e2e harness" }
    });
    let url = format!("{}/v23.0/{PHONE_NUMBER_ID}/messages", env.standin);
    let resp = into_resp(env.http.post(&url).bearer_auth(ACCESS_TOKEN).json(&body).send().await.unwrap()).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let id = resp.body["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wamid."));
    let inbox = env.inbox(&phone).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["id"], id.as_str());
    assert_eq!(inbox[0]["text"], "hello from the e2e harness");
    let html = env.http.get(format!("{}/inbox", env.standin)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("hello from the e2e harness"));
}

pub async fn stand_in_answers_like_meta(env: Arc<Env>) {
    let url = format!("{}/v23.0/{PHONE_NUMBER_ID}/messages", env.standin);
    let body = json!({ "messaging_product": "whatsapp", "to": digits(&random_phone()), "type": "text", "text": { "body": "x" } });
    let resp = into_resp(env.http.post(&url).bearer_auth("wrong").json(&body).send().await.unwrap()).await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.body["error"]["code"], 190);
    assert_eq!(resp.body["error"]["type"], "OAuthException");
    assert!(resp.body["error"]["fbtrace_id"].is_string());
    let bad = json!({ "messaging_product": "whatsapp", "to": "123", "type": "text", "text": { "body": "x" } });
    let resp = into_resp(env.http.post(&url).bearer_auth(ACCESS_TOKEN).json(&bad).send().await.unwrap()).await;
    assert_eq!(resp.status, 400);
    assert!(resp.body["error"]["code"].is_i64());
}

pub async fn signed_delivery_from_the_stand_in_reaches_the_worker(env: Arc<Env>) {
    let phone = random_phone();
    let answer = env.reply(&phone, "hello").await;
    assert_eq!(answer["webhook_status"], 200, "{answer}");
    assert!(answer["message_id"].as_str().unwrap().starts_with("wamid."));
}

pub async fn cors_preflight_for_allowed_origins(env: Arc<Env>) {
    let url = format!("{}/v1/otp/request", env.main);
    let preflight = |origin: &'static str| {
        env.http
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = into_resp(preflight("http://localhost:5173").await.unwrap()).await;
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert!(allowed.header("access-control-allow-headers").unwrap().contains("Idempotency-Key"));
    let denied = into_resp(preflight("https://evil.example").await.unwrap()).await;
    assert_eq!(denied.status, 204);
    assert_eq!(denied.header("access-control-allow-origin"), None);
}

pub async fn demo_page_is_served_when_enabled(env: Arc<Env>) {
    let resp = env.get(&format!("{}/", env.short_ttl)).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-type").unwrap().starts_with("text/html"));
    assert!(resp.text.contains(r#"<form id="phone-form""#) && resp.text.contains("/page.js"));
}

/// The harness itself: a port found free can be taken before wrangler binds it (several
/// workers start at once). Such a start is retried on other ports, not failed.
pub async fn a_worker_whose_port_was_taken_starts_on_another(env: Arc<Env>) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().unwrap().port();
    let mut worker = Worker::start(&env.run_dir, "port-taken", port, &env.standin, &[], &[]).ready(&env.http).await;
    assert_ne!(worker.proxy_url, format!("http://127.0.0.1:{port}"));
    let resp = env.get(&format!("{}/healthz", worker.url)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(env.run_dir.join("port-taken/wrangler-1.log").exists(), "the failed start's log is kept");
    worker.service.stop();
    drop(taken);
}
