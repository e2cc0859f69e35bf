//! The request id is in logs, events and URLs, so it is no bearer secret: the token
//! leaves `POST /v1/otp/status` only with the `client_secret` of the request's 202,
//! and that secret appears nowhere else.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::deliver_to;
use crate::client::{client_secret_of, client_secrets_seen, random_phone, send, Env, Resp, ADMIN_TOKEN};
use crate::client::{ANALYTICS_BINDINGS, CALLBACK_SECRET};
use crate::harness::{free_port, Service, Worker};
use crate::receiver::{Receiver, Script};
use crate::tests_webhook::{fresh_id, incoming};

/// Stops a worker started for one test, even when the test panics.
struct Stop(Service);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The text an inbound request's `wa_link` prefills: what the user sends.
fn prefilled_text(accepted: &Resp) -> String {
    let link = reqwest::Url::parse(accepted.body["wa_link"].as_str().expect("wa_link")).expect("a URL");
    link.query_pairs().find(|(k, _)| k == "text").map(|(_, v)| v.into_owned()).expect("text")
}

async fn wait_verified(env: &Env, base: &str, request_id: &str) {
    for _ in 0..100 {
        if env.status(base, request_id).await.body["status"] == "verified" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("request {request_id} never became verified");
}

/// 400 without the client secret, 403 with a wrong one (or another request's), 200
/// with the token with the right one: for a reply-verified and an inbound-verified request.
pub async fn the_token_needs_the_client_secret(env: Arc<Env>) {
    let phone = random_phone();
    let (replied, code) = env.issue(&phone).await;
    assert_eq!(env.reply(&phone, &code).await["webhook_status"], 200);
    let sender = random_phone();
    let accepted = env.request(&env.main, json!({ "phone": sender, "mode": "inbound" })).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let inbound = accepted.body["request_id"].as_str().unwrap().to_string();
    assert_eq!(env.reply(&sender, &prefilled_text(&accepted)).await["webhook_status"], 200);
    for (id, other) in [(&replied, &inbound), (&inbound, &replied)] {
        wait_verified(&env, &env.main, id).await;
        let missing = env.status_with_secret(&env.main, id, None).await;
        assert_eq!((missing.status, missing.code()), (400, "invalid_request"), "{}", missing.text);
        assert_eq!(missing.body["error"]["field"], "client_secret", "{}", missing.text);
        for wrong in [format!("cs_{}", "A".repeat(32)), client_secret_of(other)] {
            let refused = env.status_with_secret(&env.main, id, Some(&wrong)).await;
            assert_eq!((refused.status, refused.code()), (403, "forbidden"), "{}", refused.text);
            assert!(!refused.text.contains("token"), "{}", refused.text);
        }
        let right = env.status_with_token(&env.main, id).await;
        assert_eq!((right.status, right.body["status"].as_str()), (200, Some("verified")), "{}", right.text);
        assert!(right.body["token"].is_string(), "{}", right.text);
    }
}

/// Every file under `dir` whose path passes `wanted`, as text (lossy: D1 is binary).
fn files_under(dir: &Path, wanted: &dyn Fn(&Path) -> bool, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, wanted, found);
        } else if wanted(&path) {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
            found.push((path.display().to_string(), text));
        }
    }
}

/// A worker with events, D1 and callbacks of its own; one request verified by reply
/// (its callback always fails, so it also ends in the dead letters), one inbound, and
/// an idempotent replay. No log line, callback, D1 row or admin view holds a client secret.
pub async fn the_client_secret_never_leaves_the_202(env: Arc<Env>) {
    let receiver = Receiver::start().await;
    let vars = [
        ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
        ("CALLBACK_URL", receiver.url.as_str()),
        ("CALLBACK_RETRY_DELAYS", "1,1,1,1,1,1"),
    ];
    let secrets = [("ADMIN_TOKEN", Some(ADMIN_TOKEN)), ("CALLBACK_SECRET", Some(CALLBACK_SECRET))];
    let name = "client-secret-leaks";
    let worker = Worker::start_with(&env.run_dir, name, free_port(), &env.standin, &vars, &secrets, ANALYTICS_BINDINGS)
        .ready(&env.http)
        .await;
    let (url, _stop) = (worker.url.clone(), Stop(worker.service));
    let ask = |body: Value| {
        let request = env.http.post(format!("{url}/v1/otp/request")).header("CF-Connecting-IP", "198.18.90.1");
        send(request.header("Idempotency-Key", "client-secret-leaks").json(&body))
    };
    let phone = random_phone();
    let first = ask(json!({ "phone": phone })).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let replay = ask(json!({ "phone": phone })).await;
    assert_eq!((replay.status, &replay.body), (202, &first.body), "the replay is the same 202, secret and all");
    let replied = first.body["request_id"].as_str().unwrap().to_string();
    receiver.script(&replied, Script::AlwaysFail);
    let code = env.latest_code(&phone).await;
    assert_eq!(deliver_to(&env, &url, &incoming(&phone, &code, &fresh_id())).await.status, 200);
    let sender = random_phone();
    let accepted = env.request(&url, json!({ "phone": sender, "mode": "inbound" })).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let inbound = accepted.body["request_id"].as_str().unwrap().to_string();
    let message = incoming(&sender, &prefilled_text(&accepted), &fresh_id());
    assert_eq!(deliver_to(&env, &url, &message).await.status, 200);
    for id in [&replied, &inbound] {
        wait_verified(&env, &url, id).await;
        assert!(env.status_with_token(&url, id).await.body["token"].is_string());
    }
    let views = admin_views(&env, &url, &replied).await;
    let secrets = client_secrets_seen();
    for id in [&replied, &inbound] {
        assert!(secrets.contains(&client_secret_of(id)) && client_secret_of(id).starts_with("cs_"));
    }
    let mut places: Vec<(String, String)> = views;
    for r in receiver.received() {
        places.push(("callback".into(), format!("{:?} {}", r.headers, r.body)));
    }
    let logs = |p: &Path| p.extension().is_some_and(|e| e == "log");
    files_under(&env.run_dir, &logs, &mut places);
    let d1 = |p: &Path| p.components().any(|c| c.as_os_str() == "d1");
    files_under(&env.run_dir.join(name), &d1, &mut places);
    assert!(places.iter().any(|(p, text)| p.ends_with("wrangler.log") && text.contains(&replied)), "logs read");
    assert!(places.iter().any(|(p, text)| p.contains("/d1/") && text.contains(&inbound)), "D1 read");
    assert!(receiver.received().iter().any(|r| r.body.contains(&inbound)), "callbacks read");
    for (place, text) in &places {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a client secret in {place}");
        }
    }
}

/// Stats, series and dead letters, once the failing callback's event is a dead letter.
async fn admin_views(env: &Env, url: &str, dead: &str) -> Vec<(String, String)> {
    let get = |path: String| send(env.http.get(format!("{url}{path}")).bearer_auth(ADMIN_TOKEN));
    let deadline = Instant::now() + Duration::from_secs(90);
    let letters = loop {
        let letters = get("/v1/admin/dead-letters".into()).await;
        if letters.text.contains(dead) || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(letters.text.contains(dead), "no dead letter for {dead}: {}", letters.text);
    let mut views = vec![("dead letters".to_string(), letters.text)];
    for path in ["/v1/admin/stats", "/v1/admin/series"] {
        let view = get(path.into()).await;
        assert_eq!(view.status, 200, "{path}: {}", view.text);
        views.push((path.to_string(), view.text));
    }
    views
}
