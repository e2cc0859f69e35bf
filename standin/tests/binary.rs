//! Runs the real `meta-standin` binary on port 0 and drives it over HTTP, with a
//! small in-test webhook receiver standing in for the worker.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

#[path = "../src/fixtures.rs"]
mod fixtures;
use fixtures::{auth_template, copy_code_template, OPAQUE};

const TOKEN: &str = "test-token";
const SECRET: &str = "test-secret";

struct Standin {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Standin {
    fn start(extra: &[&str]) -> Standin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meta-standin"))
            .args(["--port", "0", "--access-token", TOKEN, "--app-secret", SECRET])
            .args(["--seed-template", "otp_auth:en_US", "--review-ms", "300"])
            .args(extra)
            .env_remove("STANDIN_PORT")
            .env_remove("STANDIN_WEBHOOK_URL")
            .env_remove("STANDIN_WABA_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn meta-standin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("meta-standin listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Standin { child, base, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A Cloud API send, with `token` as the bearer token if given.
    async fn send(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(self.url("/v23.0/106540352242922/messages")).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        status_and_json(req).await
    }

    async fn templates(&self, token: &str, body: Option<Value>, query: &str) -> (u16, Value) {
        let url = self.url(&format!("/v23.0/102290129340398/message_templates{query}"));
        let req = match body {
            Some(b) => self.http.post(url).json(&b),
            None => self.http.get(url),
        };
        status_and_json(req.bearer_auth(token)).await
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        status_and_json(self.http.get(self.url(path))).await
    }

    async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        status_and_json(self.http.post(self.url(path)).json(&body)).await
    }
}

async fn status_and_json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Received = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A webhook receiver that records (signature header, raw body) and answers 200.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/webhook",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let sig = headers.get("x-hub-signature-256").map(|v| v.to_str().unwrap().to_string());
                sink.lock().unwrap().push((sig, body.to_vec()));
                "EVENT_RECEIVED"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/webhook"), got)
}

/// The (signature header, raw body) of the latest delivery the receiver got.
fn last_delivery(received: &Received) -> (Option<String>, Vec<u8>) {
    received.lock().unwrap().last().cloned().expect("a delivery")
}

fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn sends_inbox_failures_and_signed_webhooks() {
    let (hook, received) = receiver().await;
    let s = Standin::start(&["--webhook-url", &hook]);
    assert_eq!(s.get_json("/healthz").await, (200, json!({"ok": true})));
    let wamid = sends_failures_and_the_inbox(&s).await;
    let user_id = signed_replies(&s, &received, &wamid).await;
    statuses_take_the_inbox_into_account(&s, &wamid, &user_id).await;
    raw_deliveries_are_the_exact_bytes(&s, &received).await;
    reset_and_unknown_routes(&s).await;
}

/// Returns the id of the one message that reached the inbox.
async fn sends_failures_and_the_inbox(s: &Standin) -> String {
    // Auth.
    let (status, body) = s.send(None, &auth_template("111111")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 190);
    let (status, _) = s.send(Some("wrong"), &auth_template("111111")).await;
    assert_eq!(status, 401);

    // Success.
    let (status, body) = s.send(Some(TOKEN), &auth_template("482913")).await;
    assert_eq!(status, 200);
    assert_eq!(body["contacts"], json!([{"input": "+16505551234", "wa_id": "16505551234"}]));
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wamid.starts_with("wamid."));

    // Scripted failure, not put in the inbox; then back to normal.
    let (status, body) = s.post_json("/control/fail", json!({"code": 131026, "cuont": 2})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Unknown field 'cuont'; allowed: count, to,"));
    let (_, q) = s.post_json("/control/fail", json!({"code": 131026})).await;
    assert_eq!(q, json!({"queued": 1}));
    let (status, body) = s.send(Some(TOKEN), &auth_template("222222")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 131026);
    assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");

    // Validation.
    let bad = json!({"messaging_product": "whatsapp", "to": "12"});
    let (status, body) = s.send(Some(TOKEN), &bad).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 100);

    // Inbox.
    let (_, inbox) = s.get_json("/control/inbox?to=16505551234").await;
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["id"], wamid.as_str());
    assert_eq!(msgs[0]["code"], "482913");
    assert_eq!(msgs[0]["button_code"], "482913");
    assert_eq!(msgs[0]["template_name"], "otp_auth");
    assert_eq!(msgs[0]["payload"], auth_template("482913"));
    let html = s.http.get(s.url("/inbox")).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("482913") && html.contains(&wamid));
    wamid
}

/// Returns the user id the replies from +16505551234 carry.
async fn signed_replies(s: &Standin, received: &Received, wamid: &str) -> String {
    // Signed reply.
    let (status, ans) =
        s.post_json("/control/webhook/reply", json!({"from": "16505551234", "text": "my code is 482 913"})).await;
    assert_eq!(status, 200);
    assert_eq!(ans["webhook_status"], 200);
    assert_eq!(ans["webhook_body"], "EVENT_RECEIVED");
    let (sig, raw) = last_delivery(received);
    assert_eq!(sig, Some(expected_signature(&raw)));
    let delivered: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(delivered, ans["delivery"]);
    assert_eq!(delivered["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"], "my code is 482 913");

    let contact = &delivered["entry"][0]["changes"][0]["value"]["contacts"][0];
    let user_id = contact["user_id"].as_str().unwrap().to_string();
    assert!(user_id.starts_with("US."), "{contact}");
    assert_eq!(contact["wa_id"], "16505551234");

    // 2026 shapes: a phone-less reply to our message, with a given timestamp.
    let (status, ans) = s
        .post_json(
            "/control/webhook/reply",
            json!({"from": "16505551234", "no_phone": true, "text": "482913", "context_id": wamid, "timestamp": 1764150042, "username": "@sheena"}),
        )
        .await;
    assert_eq!(status, 200);
    let value = &ans["delivery"]["entry"][0]["changes"][0]["value"];
    assert_eq!(
        value["contacts"][0],
        json!({"profile": {"name": "Test User", "username": "@sheena"}, "user_id": user_id})
    );
    let msg = &value["messages"][0];
    assert!(msg.get("from").is_none());
    assert_eq!(msg["context"], json!({"from": "15550783881", "id": wamid}));
    assert_eq!(msg["timestamp"], "1764150042");
    let (status, _) = s.post_json("/control/webhook/reply", json!({"user_id": "not a bsuid", "text": "x"})).await;
    assert_eq!(status, 400);
    let (status, _) = s.post_json("/control/webhook/reply", json!({"text": "x"})).await;
    assert_eq!(status, 400);
    user_id
}

async fn statuses_take_the_inbox_into_account(s: &Standin, wamid: &str, user_id: &str) {
    // Status for the sent message: recipient and callback data come from the inbox; pricing is there.
    let (_, ans) = s.post_json("/control/webhook/status", json!({"message_id": wamid, "status": "delivered"})).await;
    let st = &ans["delivery"]["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(st["recipient_id"], "16505551234");
    assert_eq!(st["recipient_user_id"], user_id);
    assert_eq!(st["biz_opaque_callback_data"], OPAQUE);
    assert_eq!(st["pricing"]["category"], "authentication");
    assert_eq!(st["pricing"]["billable"], true);
    assert_eq!(st["pricing"]["pricing_model"], "PMP");
    let (_, ans) = s
        .post_json(
            "/control/webhook/status",
            json!({"message_id": wamid, "status": "delivered", "no_recipient": true, "category": "authentication-international"}),
        )
        .await;
    let st = &ans["delivery"]["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert!(st.get("recipient_id").is_none());
    assert_eq!(st["recipient_user_id"], user_id);
    assert_eq!(st["pricing"]["category"], "authentication-international");
}

async fn raw_deliveries_are_the_exact_bytes(s: &Standin, received: &Received) {
    // Raw: the exact bytes, with valid, missing and forged signatures.
    let raw = r#"{"object":"whatsapp_business_account",  "entry":[]}"#;
    let valid = expected_signature(raw.as_bytes());
    for mode in ["valid", "missing", "forged"] {
        s.post_json("/control/webhook/raw", json!({"payload": raw, "signature": mode})).await;
        let (sig, body) = last_delivery(received);
        assert_eq!(body, raw.as_bytes(), "{mode}");
        match mode {
            "valid" => assert_eq!(sig.as_ref(), Some(&valid)),
            "missing" => assert_eq!(sig, None),
            _ => {
                let sig = sig.unwrap();
                assert!(sig.starts_with("sha256=") && sig != valid, "{sig}");
            }
        }
    }
}

async fn reset_and_unknown_routes(s: &Standin) {
    // Reset takes no fields.
    let (status, body) = s.post_json("/control/reset", json!({"inbox": true})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    let (_, ok) = s.post_json("/control/reset", json!({})).await;
    assert_eq!(ok, json!({"ok": true}));
    let (_, inbox) = s.get_json("/control/inbox").await;
    assert_eq!(inbox, json!({"messages": []}));

    // Unknown route.
    let (status, body) = s.get_json("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn auto_status_posts_sent_then_delivered() {
    let (hook, received) = receiver().await;
    let s = Standin::start(&["--webhook-url", &hook, "--auto-status", "--phone-number-id", "106540352242922"]);
    let (status, body) = s.send(Some(TOKEN), &auth_template("333333")).await;
    assert_eq!(status, 200);
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();

    let mut statuses = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let got = received.lock().unwrap();
        if got.len() >= 2 {
            for (sig, raw) in got.iter() {
                assert_eq!(sig.as_deref(), Some(expected_signature(raw).as_str()));
                let v: Value = serde_json::from_slice(raw).unwrap();
                let value = &v["entry"][0]["changes"][0]["value"];
                assert_eq!(value["metadata"]["phone_number_id"], "106540352242922");
                let st = &value["statuses"][0];
                assert_eq!(st["id"], wamid.as_str());
                assert_eq!(st["recipient_id"], "16505551234");
                assert_eq!(st["biz_opaque_callback_data"], OPAQUE);
                statuses.push(st["status"].as_str().unwrap().to_string());
            }
            break;
        }
    }
    assert_eq!(statuses, ["sent", "delivered"]);
}

#[tokio::test]
async fn the_webhook_url_can_be_set_after_start() {
    let s = Standin::start(&[]);
    let reply = json!({"from": "16505551234", "text": "123456"});
    let (status, body) = s.post_json("/control/webhook/reply", reply.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("no_webhook_url")));
    for bad in [json!({"url": "https://example.com/webhook"}), json!({"url": 7}), json!({"to": "x"})] {
        let (status, _) = s.post_json("/control/webhook-url", bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (hook, received) = receiver().await;
    let (status, body) = s.post_json("/control/webhook-url", json!({"url": hook})).await;
    assert_eq!((status, body["webhook_url"].as_str()), (200, Some(hook.as_str())));
    let (status, body) = s.post_json("/control/webhook/reply", reply).await;
    assert_eq!((status, &body["webhook_status"]), (200, &json!(200)));
    let (signature, raw) = last_delivery(&received);
    assert_eq!(signature.as_deref(), Some(expected_signature(&raw).as_str()));
}

fn send_with(name: &str, language: &str) -> Value {
    let mut v = auth_template("123456");
    v["template"]["name"] = json!(name);
    v["template"]["language"]["code"] = json!(language);
    v
}

#[tokio::test]
async fn templates_are_reviewed_and_gate_sends() {
    let s = Standin::start(&[]);

    // The seeded template sends; a language it lacks fails like at Meta.
    assert_eq!(s.send(Some(TOKEN), &send_with("otp_auth", "en_US")).await.0, 200);
    let (status, body) = s.send(Some(TOKEN), &send_with("otp_auth", "fr_FR")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 132001);
    assert_eq!(body["error"]["error_subcode"], 2494073);
    assert_eq!(body["error"]["message"], "(#132001) Template name does not exist in the translation");
    assert_eq!(body["error"]["error_data"]["details"], "template name (otp_auth) does not exist in fr_FR");

    // Token first.
    assert_eq!(s.templates("wrong", Some(copy_code_template("login_code", "en_US")), "").await.0, 401);

    // Created PENDING; sends fail until the review ends, then pass.
    let (status, created) = s.templates(TOKEN, Some(copy_code_template("login_code", "en_US")), "").await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["category"], "AUTHENTICATION");
    let (_, list) = s.templates(TOKEN, None, "?name=login_code").await;
    assert_eq!(list["data"][0]["status"], "PENDING");
    assert_eq!(list["data"][0]["id"], created["id"]);
    assert_eq!(s.send(Some(TOKEN), &send_with("login_code", "en_US")).await.1["error"]["code"], 132001);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, list) = s.templates(TOKEN, None, "?name=login_code&fields=name,language,status").await;
    assert_eq!(
        list["data"][0],
        json!({"name": "login_code", "language": "en_US", "status": "APPROVED", "id": created["id"]})
    );
    assert_eq!(s.send(Some(TOKEN), &send_with("login_code", "en_US")).await.0, 200);

    // The same name and language again: Meta's 2388024.
    let (status, again) = s.templates(TOKEN, Some(copy_code_template("login_code", "en_US")), "").await;
    assert_eq!(status, 400);
    assert_eq!(again["error"]["error_subcode"], 2388024);

    // A scripted rejection, before the template exists, decides its review.
    let (status, ans) = s
        .post_json(
            "/control/templates/review",
            json!({"name": "login_code", "language": "es", "status": "REJECTED", "reason": "PROMOTIONAL"}),
        )
        .await;
    assert_eq!((status, &ans["scripted"]), (200, &json!(true)));
    assert_eq!(s.templates(TOKEN, Some(copy_code_template("login_code", "es")), "").await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, list) = s.templates(TOKEN, None, "?name=login_code&language=es").await;
    assert_eq!(list["data"][0]["status"], "REJECTED");
    assert_eq!(list["data"][0]["rejected_reason"], "PROMOTIONAL");
    assert_eq!(s.send(Some(TOKEN), &send_with("login_code", "es")).await.1["error"]["code"], 132001);

    // Rules: a body with a URL.
    let mut bad = copy_code_template("with_link", "en_US");
    bad["components"][0]["text"] = json!("Your code, or log in at https://example.com");
    let (status, refusal) = s.templates(TOKEN, Some(bad), "").await;
    assert_eq!(status, 400);
    assert_eq!(refusal["error"]["code"], 100);
    assert_eq!(refusal["error"]["message"], "Invalid parameter");
    assert!(refusal["error"]["error_user_msg"].as_str().unwrap().contains("can't contain URLs"));

    // Paging follows `next`.
    for lang in ["de", "it", "nl"] {
        assert_eq!(s.templates(TOKEN, Some(copy_code_template("paged", lang)), "").await.0, 200);
    }
    let (_, page) = s.templates(TOKEN, None, "?name=paged&limit=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let next = page["paging"]["next"].as_str().unwrap().to_string();
    let (_, rest) = status_and_json(s.http.get(next).bearer_auth(TOKEN)).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["paging"].get("next").is_none());

    // Reset forgets created templates but keeps the seed.
    s.post_json("/control/reset", json!({})).await;
    let (_, list) = s.templates(TOKEN, None, "").await;
    let names: Vec<&str> = list["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["otp_auth"]);
}

#[cfg(unix)]
#[test]
fn exits_cleanly_on_sigterm() {
    let mut s = Standin::start(&[]);
    let pid = s.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = s.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
}
