//! Events, analytics and callbacks against workerd's own local Queue and D1, on the
//! dedicated `analytics` worker (its own stand-in, so no other test's traffic
//! reaches its counts).

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{digits, into_resp, random_phone, send, wrong, Env, Resp, ADMIN_TOKEN, CALLBACK_SECRET};
use crate::harness::root;
use crate::receiver::{standard_webhooks_verdicts, Received, Script};

e2e_tests! {
    funnel_stats_callbacks_and_dead_letters.limit(240),
    admin_routes_need_the_token,
    healthz_reports_optional_features,
}

async fn admin_get(env: &Env, base: &str, path: &str, token: Option<&str>) -> Resp {
    let mut request = env.http.get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    into_resp(request.send().await.expect("GET")).await
}

async fn inbox(env: &Env, phone: &str) -> Vec<Value> {
    let resp = env.get(&format!("{}/control/inbox?to={}", env.analytics_standin, digits(phone))).await;
    resp.body["messages"].as_array().cloned().unwrap_or_default()
}

/// Requests a code on the analytics worker; returns (request_id, code, Meta's message id).
async fn issue(env: &Env, phone: &str) -> (String, String, String) {
    let resp = env.request(&env.analytics, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "request failed: {}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        if let Some(m) = inbox(env, phone).await.into_iter().find(|m| m["type"] == "template") {
            return (id, m["code"].as_str().unwrap().to_string(), m["id"].as_str().unwrap().to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no template reached {phone}");
}

async fn standin_post(env: &Env, path: &str, body: Value) {
    let resp = env.post(&format!("{}/control/webhook/{path}", env.analytics_standin), &body).await;
    assert_eq!(resp.status, 200, "stand-in {path}: {}", resp.text);
}

async fn reply(env: &Env, phone: &str, text: &str) {
    standin_post(env, "reply", json!({ "from": digits(phone), "text": text })).await;
}

async fn status(env: &Env, message_id: &str, state: &str, error_code: Option<i64>) {
    let mut body = json!({ "message_id": message_id, "status": state });
    if let Some(code) = error_code {
        body["error_code"] = code.into();
    }
    standin_post(env, "status", body).await;
}

async fn wait_for_status(env: &Env, request_id: &str, wanted: &str) {
    for _ in 0..100 {
        if env.status(&env.analytics, request_id).await.body["status"] == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("request {request_id} never became {wanted}");
}

/// Polls an admin route until `done` holds (or 90 s pass); returns the last body seen.
async fn poll_admin(env: &Env, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let value = admin_get(env, &env.analytics, path, Some(ADMIN_TOKEN)).await.body;
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn uk_phone() -> String {
    format!("+447700900{}", &random_phone()[9..])
}

/// Checks every received callback's signature with the `standardwebhooks` npm
/// package (the specification's reference implementation), plus one tampered copy
/// that must fail.
fn verify_with_reference_library(received: &[Received]) {
    let mut items: Vec<Value> = received.iter().map(Received::standard_webhook).collect();
    // Every event has a "type": one byte of it changed (whatever the first event was).
    let mut tampered = items[0].clone();
    let original = tampered["body"].as_str().unwrap().to_string();
    tampered["body"] = Value::String(original.replacen("\"type\"", "\"typE\"", 1));
    assert_ne!(tampered["body"].as_str(), Some(original.as_str()), "the tampered copy differs");
    items.push(tampered);
    let verdicts = standard_webhooks_verdicts(&items, CALLBACK_SECRET, "callbacks.json");
    let (last, signed) = verdicts.split_last().unwrap();
    assert!(signed.iter().all(|v| v == "ok"), "signatures rejected by standardwebhooks: {verdicts:?}");
    assert_ne!(last, "ok", "a tampered body must not verify");
}

fn attempts_for<'a>(received: &'a [Received], kind: &str, request_id: Option<&str>) -> Vec<&'a Received> {
    received
        .iter()
        .filter(|r| r.json["type"] == kind && request_id.is_none_or(|id| r.json["request_id"] == id))
        .collect()
}

/// A scripted mix on two countries (typed, replied, inbound, a failed delivery with
/// 131026, expiries, a lock, an opt-out) → exact stats; each subscribed callback
/// arrives signed, once; a receiver failing twice gets it on the third attempt with
/// the same `webhook-id`; one always failing leaves it in the dead-letter queue; the
/// retried deliveries (the same event reaching the consumer again) count once.
pub async fn funnel_stats_callbacks_and_dead_letters(env: Arc<Env>) {
    let env = env.as_ref();
    let (us, uk) = (|| random_phone(), uk_phone);
    let (e_phone, a_phone, f_phone, l_phone) = (us(), us(), us(), us());
    let (b_phone, c_phone, o_phone) = (uk(), uk(), uk());

    // E: requested, never answered (expires after the worker's 10 s).
    let (e_id, _, _) = issue(env, &e_phone).await;
    let resp = env.request(&env.analytics, json!({ "phone": e_phone })).await;
    assert_eq!((resp.status, resp.code()), (429, "rate_limited"), "{}", resp.text);
    assert_eq!(resp.body["error"]["reason"], "resend_cooldown");
    // A: typed, delivered and read.
    let (a_id, a_code, a_message) = issue(env, &a_phone).await;
    status(env, &a_message, "delivered", None).await;
    status(env, &a_message, "read", None).await;
    let resp = env.verify(&env.analytics, &a_id, &a_code).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    // B: replied in WhatsApp; its callback fails twice before it is accepted.
    let (b_id, b_code, _) = issue(env, &b_phone).await;
    env.receiver.script(&b_id, Script::FailTimes(2));
    reply(env, &b_phone, &format!("my code is {b_code}")).await;
    wait_for_status(env, &b_id, "verified").await;
    // C: inbound, from the user's own WhatsApp.
    let resp = env.request(&env.analytics, json!({ "phone": c_phone, "mode": "inbound" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let c_id = resp.body["request_id"].as_str().unwrap().to_string();
    reply(env, &c_phone, &format!("My verification code is {}", resp.body["code"].as_str().unwrap())).await;
    wait_for_status(env, &c_id, "verified").await;
    // F: Meta reports the message undeliverable.
    let (f_id, _, f_message) = issue(env, &f_phone).await;
    status(env, &f_message, "failed", Some(131_026)).await;
    // L: wrong codes until locked (OTP_MAX_ATTEMPTS=2).
    let (l_id, l_code, _) = issue(env, &l_phone).await;
    for _ in 0..2 {
        let resp = env.verify(&env.analytics, &l_id, &wrong(&l_code)).await;
        assert!(resp.status == 400 || resp.status == 429, "{}", resp.text);
    }
    // O: opts out; its callback is never accepted.
    env.receiver.script("number.opted_out", Script::AlwaysFail);
    reply(env, &o_phone, "STOP").await;
    // Refused: two numbers of a country the worker does not serve (and E, above, asking
    // again inside its resend wait). None is a request; each is counted by reason.
    for phone in ["+33612345678", "+4915123456789"] {
        let resp = env.request(&env.analytics, json!({ "phone": phone })).await;
        assert_eq!((resp.status, resp.code()), (403, "country_not_allowed"), "{}", resp.text);
    }

    let expected = json!({
        "requested": 6, "sent": 5, "delivered": 1, "read": 1, "failed": 1, "verified": 3,
        // E, F and L were still live when their 10 s ran out.
        "expired": 3, "locked": 1, "opted_out": 1,
        "conversion_rate": 0.5,
        "verified_via": { "code": 1, "reply": 1, "inbound": 1 },
        "failures": { "131026": 1 },
        "by_country": [
            { "country_code": "1", "requested": 4, "verified": 1, "failed": 1, "conversion_rate": 0.25 },
            { "country_code": "44", "requested": 2, "verified": 2, "failed": 0, "conversion_rate": 1.0 },
        ],
        "billable": { "authentication": 1 },
        // MESSAGE_PRICES: the one billable message at its price; a category priced
        // but not billed shows at zero.
        "spend": {
            "by_category": {
                "authentication": { "messages": 1, "price": 0.0135, "estimate": 0.0135 },
                "authentication-international": { "messages": 0, "price": 0.0467, "estimate": 0.0 },
            },
            "total": 0.0135,
        },
    });
    // The flood test beside this one adds `invalid_phone` refusals: only these two reasons are ours.
    let refused = json!({ "country_not_allowed": 2, "resend_cooldown": 1 });
    // Under each number's calling code (the flood's numbers do not parse: they have none).
    let refused_by_country = json!({ "1": 1, "33": 1, "49": 1 });
    let refused_counted = |stats: &Value| {
        refused.as_object().unwrap().iter().all(|(k, v)| &stats["refused"][k] == v)
            && stats["refused_by_country"] == refused_by_country
    };
    let counted =
        |stats: &Value| expected.as_object().unwrap().iter().all(|(k, v)| &stats[k] == v) && refused_counted(stats);
    let stats = poll_admin(env, "/v1/admin/stats", counted).await;
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&stats[key], value, "stats.{key} in {stats}");
    }
    assert!(
        refused_counted(&stats),
        "stats.refused: {}, by country: {}",
        stats["refused"],
        stats["refused_by_country"]
    );
    let (p50, p95) = (stats["seconds_to_verify"]["p50"].as_u64(), stats["seconds_to_verify"]["p95"].as_u64());
    assert!(matches!((p50, p95), (Some(a), Some(b)) if a <= b && b <= 30), "seconds_to_verify: {stats}");
    let keys: HashSet<&str> = stats.as_object().unwrap().keys().map(String::as_str).collect();
    let contract: HashSet<&str> = [
        "since",
        "until",
        "requested",
        "sent",
        "delivered",
        "read",
        "failed",
        "verified",
        "expired",
        "locked",
        "opted_out",
        "conversion_rate",
        "verified_via",
        "failures",
        "seconds_to_verify",
        "by_country",
        "billable",
        "spend",
        "by_channel",
        "fallbacks",
        "refused",
        "refused_by_country",
        "test_verifications",
    ]
    .into();
    assert_eq!(keys, contract);
    // A window that ends before the test began holds nothing.
    let past = admin_get(env, &env.analytics, "/v1/admin/stats?until=2020-01-01T00:00:00Z", Some(ADMIN_TOKEN)).await;
    assert_eq!((past.status, &past.body["requested"], &past.body["by_country"]), (200, &json!(0), &json!([])));

    // Callbacks: the dead letter is the last to settle (1 + 6 attempts, then the DLQ).
    let dead =
        poll_admin(env, "/v1/admin/dead-letters", |b| b["dead_letters"].as_array().is_some_and(|l| !l.is_empty()))
            .await;
    let received = env.receiver.received();
    let subscribed = ["verification.verified", "verification.failed", "number.opted_out"];
    for r in &received {
        assert!(subscribed.contains(&r.json["type"].as_str().unwrap_or("")), "unsubscribed callback: {}", r.body);
        assert_eq!(r.header("webhook-id"), r.json["id"].as_str().unwrap(), "webhook-id is the event id");
        for phone in [&a_phone, &b_phone, &c_phone, &f_phone, &o_phone] {
            assert!(!r.body.contains(&digits(phone)), "a full number in a callback: {}", r.body);
        }
    }
    for (kind, id) in
        [("verification.verified", &a_id), ("verification.verified", &c_id), ("verification.failed", &f_id)]
    {
        let got = attempts_for(&received, kind, Some(id));
        assert_eq!(got.len(), 1, "{kind} for {id}: {got:?}");
        assert_eq!(got[0].answered, 204);
    }
    assert_eq!(attempts_for(&received, "verification.failed", Some(&f_id))[0].json["data"]["error_code"], 131_026);
    let b = attempts_for(&received, "verification.verified", Some(&b_id));
    assert_eq!(b.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 204], "B's attempts");
    assert!(b.iter().all(|r| r.header("webhook-id") == b[0].header("webhook-id")));
    assert_eq!(b[0].json["data"]["verified_via"], "reply");
    let o = attempts_for(&received, "number.opted_out", None);
    assert_eq!(o.len(), 7, "the first attempt and six retries: {o:?}");
    assert!(o.iter().all(|r| r.answered == 503 && r.header("webhook-id") == o[0].header("webhook-id")));
    let letters = dead["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{dead}");
    assert_eq!(letters[0]["event_id"], o[0].header("webhook-id"));
    assert_eq!(letters[0]["event"]["type"], "number.opted_out");
    assert_eq!(letters[0]["event"]["country_code"], "44");
    verify_with_reference_library(&received);

    // The receiver works again: the operator sends the dead letter again, and it
    // arrives once more with the same webhook-id; a second call queues nothing.
    env.receiver.script("number.opted_out", Script::FailTimes(7));
    let message_id = letters[0]["message_id"].as_str().expect("a listed letter has its message_id").to_string();
    let path = format!("/v1/admin/dead-letters/{message_id}/resend");
    assert_eq!(admin_post(env, &path, None).await.status, 401, "the resend needs the token");
    let unknown = admin_post(env, "/v1/admin/dead-letters/no-such-letter/resend", Some(ADMIN_TOKEN)).await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "{}", unknown.text);
    let (first, second) =
        tokio::join!(admin_post(env, &path, Some(ADMIN_TOKEN)), admin_post(env, &path, Some(ADMIN_TOKEN)));
    assert_eq!((first.status, second.status), (200, 200), "{} {}", first.text, second.text);
    assert_eq!(first.body, second.body, "both calls answer the one resend");
    assert_eq!(first.body["event_id"], letters[0]["event_id"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let resent = loop {
        let o =
            env.receiver.received().into_iter().filter(|r| r.json["type"] == "number.opted_out").collect::<Vec<_>>();
        if o.len() > 7 || Instant::now() > deadline {
            break o;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(resent.len(), 8, "the seven failed attempts and the resend: {resent:?}");
    assert_eq!((resent[7].answered, resent[7].header("webhook-id")), (204, o[0].header("webhook-id")));
    let listed = admin_get(env, &env.analytics, "/v1/admin/dead-letters", Some(ADMIN_TOKEN)).await.body;
    assert_eq!(listed["dead_letters"][0]["resent_at"], first.body["resent_at"], "{listed}");

    // B's event reached the consumer three times and O's seven: still counted once.
    let again = admin_get(env, &env.analytics, "/v1/admin/stats", Some(ADMIN_TOKEN)).await.body;
    assert_eq!((&again["verified"], &again["opted_out"]), (&json!(3), &json!(1)));
    assert!(e_id.starts_with("otp_") && l_id != e_id);

    dashboard_renders_with_data(env);
    dashboard_is_clean_under_axe(env).await;
    let o = env.receiver.received().into_iter().filter(|r| r.json["type"] == "number.opted_out").count();
    assert_eq!(o, 8, "the second resend call queued nothing");
}

async fn admin_post(env: &Env, path: &str, token: Option<&str>) -> Resp {
    let mut request = env.http.post(format!("{}{path}", env.analytics));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

/// The dashboard with this data, at 1280 and 390 px, through chromedriver and
/// axe-core (`tests/browser/admin.test.js`).
async fn dashboard_is_clean_under_axe(env: &Env) {
    let mut command = Command::new("node");
    command
        .current_dir(root())
        .args(["--test", "tests/browser/admin.test.js"])
        .env("OTP_ADMIN_URL", &env.analytics)
        .env("OTP_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCREENSHOT_DIR", root().join("target/screenshots"));
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dashboard's browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("# pass 2"), "both viewports ran: {stdout}");
}

/// The dashboard in headless Chromium at 390 px, after the scripted mix: the DOM
/// carries the charts and the numbers, and a screenshot is kept.
fn dashboard_renders_with_data(env: &Env) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        panic!("no headless Chromium on this machine (apt-get install chromium)");
    };
    let url = format!("{}/admin#token={ADMIN_TOKEN}", env.analytics);
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"];
    let dom = Command::new(chromium)
        .args(common)
        .args(["--window-size=390,2200", "--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let needles = [
        "data-key=\"verified\"",
        "<polyline",
        "data-key=\"131026\"",
        "<td>+44</td>",
        "Undeliverable",
        "data-key=\"country_not_allowed\"",
    ];
    for needle in needles {
        assert!(dom.contains(needle), "dashboard lacks {needle}: {dom}");
    }
    assert!(dom.contains("data-requested=\"6\""), "funnel numbers missing: {dom}");
    for (name, size) in [("admin-dashboard-390.png", "390,2200"), ("admin-dashboard-1280.png", "1280,1400")] {
        let path = shots.join(name);
        let _ = std::fs::remove_file(&path);
        let status = Command::new(chromium)
            .args(common)
            .args([&format!("--window-size={size}"), &format!("--screenshot={}", path.display()), &url])
            .output()
            .expect("chromium runs");
        assert!(path.exists(), "no screenshot: {}", String::from_utf8_lossy(&status.stderr));
    }
}

/// 401 without the right token, 404 where `ADMIN_TOKEN` or D1 is absent, 400 for a
/// window that is not RFC 3339.
pub async fn admin_routes_need_the_token(env: Arc<Env>) {
    let env = env.as_ref();
    for path in ["/v1/admin/stats", "/v1/admin/series", "/v1/admin/dead-letters"] {
        for token in [None, Some("e2e-admin-token-012345678"), Some("")] {
            let resp = admin_get(env, &env.analytics, path, token).await;
            assert_eq!((resp.status, resp.code()), (401, "unauthorized"), "{path} {token:?}: {}", resp.text);
        }
        let basic = env.http.get(format!("{}{path}", env.analytics)).basic_auth("admin", Some(ADMIN_TOKEN));
        assert_eq!(into_resp(basic.send().await.unwrap()).await.status, 401);
        // The main worker has neither ADMIN_TOKEN nor D1: the route does not exist.
        let resp = admin_get(env, &env.main, path, Some(ADMIN_TOKEN)).await;
        assert_eq!((resp.status, resp.code()), (404, "not_found"), "{path}: {}", resp.text);
    }
    assert_eq!(env.get(&format!("{}/admin", env.main)).await.status, 404);
    let page = env.get(&format!("{}/admin", env.analytics)).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("sessionStorage") && !page.text.contains(ADMIN_TOKEN));
    assert!(!page.text.contains("://cdn") && !page.text.contains("<script src=\"http"), "no third-party assets");
    for query in ["since=yesterday", "until=1700000000", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"] {
        let resp = admin_get(env, &env.analytics, &format!("/v1/admin/stats?{query}"), Some(ADMIN_TOKEN)).await;
        assert_eq!((resp.status, resp.code()), (400, "invalid_request"), "{query}: {}", resp.text);
    }
    // The default window is the last 24 hours: 25 hourly buckets unless it starts on the hour.
    let series = admin_get(env, &env.analytics, "/v1/admin/series", Some(ADMIN_TOKEN)).await;
    assert_eq!(series.status, 200, "{}", series.text);
    assert!(matches!(series.body["hours"].as_array().map(Vec::len), Some(24 | 25)), "{}", series.text);
    let day = "/v1/admin/series?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z";
    let series = admin_get(env, &env.analytics, day, Some(ADMIN_TOKEN)).await;
    let hours = series.body["hours"].as_array().cloned().unwrap_or_default();
    assert_eq!(hours.len(), 24, "{}", series.text);
    assert_eq!(
        hours[0],
        json!({ "hour": "2026-01-01T00:00:00Z", "requested": 0, "verified": 0, "conversion_rate": 0.0 })
    );
    let post = env.post(&format!("{}/v1/admin/stats", env.analytics), &json!({})).await;
    assert_eq!(post.status, 405);
}

/// `/healthz` names the optional features: off without the bindings, on with them.
pub async fn healthz_reports_optional_features(env: Arc<Env>) {
    let env = env.as_ref();
    let off = json!({ "events": false, "analytics": false, "callbacks": false, "admin": false,
        "missing": ["EVENTS", "ANALYTICS_DB"] });
    for base in [&env.main, &env.short_ttl, &env.strict] {
        let resp = env.get(&format!("{base}/healthz")).await;
        assert_eq!((resp.status, &resp.body["features"]), (200, &off), "{}", resp.text);
    }
    let broken = env.get(&format!("{}/healthz", env.broken)).await;
    assert_eq!((broken.status, &broken.body["features"]), (503, &off), "{}", broken.text);
    let on = env.get(&format!("{}/healthz", env.analytics)).await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.body["features"], json!({ "events": true, "analytics": true, "callbacks": true, "admin": true }));
}
