//! Attacks by someone who knows only a victim's phone number: each test performs one
//! and shows it no longer blocks, watches or hijacks the owner's verification.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::client::{client_secret_of, digits, into_resp, random_phone, wrong, Env, Resp};
use crate::tests_webhook::{fresh_id, incoming, sign};

mod budget;
mod client_secret;
pub use budget::*;
pub use client_secret::*;

e2e_tests! {
    guesses_by_phone_never_lock_the_owner,
    verify_by_phone_reveals_nothing,
    inbound_requests_cannot_push_out_the_owner,
    idempotency_keys_are_scoped,
    the_token_never_sits_behind_a_url,
    per_address_limits_cover_ipv6_and_checks,
    a_hundred_failures_block_new_codes,
    replayed_and_stale_messages_count_once_or_never,
    not_me_revokes_and_blocks,
    meta_failures_never_cost_the_user,
    operator_switches_channels_and_caps_spend,
    a_flood_of_keywords_gets_one_acknowledgement_a_minute,
    chat_replies_can_be_turned_off,
    every_limit_names_its_reason,
    a_replayed_stop_after_start_keeps_the_number_in,
    the_token_needs_the_client_secret,
    the_client_secret_never_leaves_the_202,
}

fn verify_by_phone(
    env: &Env,
    base: &str,
    address: &str,
    phone: &str,
    code: &str,
) -> impl std::future::Future<Output = Resp> {
    let url = format!("{base}/v1/otp/verify");
    let body = json!({ "phone": phone, "code": code });
    let (env, address) = (env.http.clone(), address.to_string());
    async move { into_resp(env.post(url).header("CF-Connecting-IP", address).json(&body).send().await.unwrap()).await }
}

/// Posts a delivery signed with the app secret straight to a worker's `/webhook`.
pub async fn deliver_to(env: &Env, base: &str, body: &str) -> Resp {
    let request = env
        .http
        .post(format!("{base}/webhook"))
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", sign(body))
        .body(body.to_string());
    into_resp(request.send().await.unwrap()).await
}

/// Twelve wrong codes by phone from two addresses leave the owner's code usable.
pub async fn guesses_by_phone_never_lock_the_owner(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    for i in 0..12 {
        let address = if i % 2 == 0 { "198.51.100.1" } else { "198.51.100.2" };
        let resp = verify_by_phone(&env, &env.main, address, &phone, &wrong(&code)).await;
        assert_eq!((resp.status, resp.code()), (400, "invalid_code"), "{}", resp.text);
        assert!(resp.body["error"].get("attempts_left").is_none(), "{}", resp.text);
    }
    // Even the right code by phone is refused now: the by-phone budget is spent...
    let by_phone = verify_by_phone(&env, &env.main, "198.51.100.1", &phone, &code).await;
    assert_eq!(by_phone.code(), "invalid_code");
    // ...but the owner, who holds the request id, still verifies.
    let owner = env.verify(&env.main, &id, &code).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
}

/// Verify by phone answers alike for a number with no request, a pending one, an
/// expired one and an inbound one.
pub async fn verify_by_phone_reveals_nothing(env: Arc<Env>) {
    let base = env.short_ttl.clone();
    let none = random_phone();
    let pending = random_phone();
    let expired = random_phone();
    let inbound = random_phone();
    for phone in [&pending, &expired] {
        assert_eq!(env.request(&base, json!({ "phone": phone })).await.status, 202);
    }
    let resp = env.request(&base, json!({ "phone": inbound, "mode": "inbound" })).await;
    let inbound_code = resp.body["code"].as_str().unwrap().to_string();
    env.wait_for_messages(&expired, 1).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut answers = Vec::new();
    for (phone, code) in
        [(&none, "123456"), (&pending, "000000"), (&expired, "000000"), (&inbound, inbound_code.as_str())]
    {
        let resp = verify_by_phone(&env, &base, "198.51.100.3", phone, code).await;
        answers.push((resp.status, resp.body));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 400);
}

/// Inbound requests belong to whoever holds their code: strangers' requests for the
/// owner's number never cancel, expire or spend the owner's, and a code matching none
/// of the live requests spends no attempt on any of them.
pub async fn inbound_requests_cannot_push_out_the_owner(env: Arc<Env>) {
    let phone = random_phone();
    let (out_id, code) = env.issue(&phone).await;
    let url = format!("{}/v1/otp/request", env.main);
    let inbound = |address: String| {
        let url = url.clone();
        let body = json!({ "phone": phone, "mode": "inbound" });
        let env = env.clone();
        async move { env.post_from(&address, &url, &body).await }
    };
    let owner = inbound("203.0.113.49".into()).await;
    assert_eq!(owner.status, 202, "{}", owner.text);
    let owner_id = owner.body["request_id"].as_str().unwrap().to_string();
    let owner_code = owner.body["code"].as_str().unwrap().to_string();
    let mut strangers = Vec::new();
    for i in 0..8 {
        let resp = inbound(format!("203.0.113.{}", 50 + i)).await;
        assert_eq!(resp.status, 202, "inbound request {i}: {}", resp.text);
        strangers.push(resp.body["request_id"].as_str().unwrap().to_string());
    }
    // Past the cap of ten live ones a new request is refused; none is pushed out.
    assert_eq!(inbound("203.0.113.60".into()).await.status, 202);
    let full = inbound("203.0.113.61".into()).await;
    assert_eq!((full.status, full.body["error"]["reason"].as_str()), (429, Some("hourly_limit")), "{}", full.text);

    // A code matching nothing: the chat says so, no request loses an attempt.
    let sent = env.inbox(&phone).await.len();
    let reply = env.reply(&phone, &format!("My verification code is {}", wrong(&owner_code))).await;
    assert_eq!(reply["webhook_status"], 200);
    let answer = env.wait_for_messages(&phone, sent + 1).await;
    assert_eq!(answer[sent]["text"], "That code is not correct.", "no attempt count: none was spent");
    for id in strangers.iter().chain([&owner_id, &out_id]) {
        let status = env.status(&env.main, id).await;
        assert_eq!(status.body["attempts_left"], 5, "{id}: {}", status.text);
        assert!(!["superseded", "expired"].contains(&status.body["status"].as_str().unwrap()), "{}", status.text);
    }

    // The owner's own code, from the owner's WhatsApp, verifies the owner's request only.
    env.reply(&phone, &format!("My verification code is {owner_code}")).await;
    assert_eq!(env.status(&env.main, &owner_id).await.body["status"], "verified");
    for id in &strangers {
        assert_eq!(env.status(&env.main, id).await.body["status"], "pending", "{id}");
    }
    // The inbound requests used none of the number's send quota.
    let (_, code2) = env.issue_again(&phone).await;
    assert_ne!(code, code2);
}

/// An idempotency key belongs to one address and one body.
pub async fn idempotency_keys_are_scoped(env: Arc<Env>) {
    let phone = random_phone();
    let url = format!("{}/v1/otp/request", env.main);
    let send = |address: &'static str, body: Value| {
        let request =
            env.http.post(url.clone()).header("CF-Connecting-IP", address).header("Idempotency-Key", "shared-key");
        async move { into_resp(request.json(&body).send().await.unwrap()).await }
    };
    let first = send("192.0.2.10", json!({ "phone": phone })).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let id = first.body["request_id"].as_str().unwrap();
    let replay = send("192.0.2.10", json!({ "phone": phone })).await;
    assert_eq!(replay.body["request_id"], id, "the same caller gets its answer again");
    let other_body = send("192.0.2.10", json!({ "phone": phone, "locale": "es" })).await;
    assert_eq!((other_body.status, other_body.code()), (422, "idempotency_key_reused"));
    let stranger = send("192.0.2.99", json!({ "phone": phone })).await;
    assert!(!stranger.text.contains(id), "another address gets nothing of the first request: {}", stranger.text);

    // The same key while the first call is still sending.
    let slow = random_phone();
    env.script_failure(json!({ "delay_ms": 3_000, "to": digits(&slow) })).await;
    let (a, b) = tokio::join!(send("192.0.2.11", json!({ "phone": slow })), async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        send("192.0.2.11", json!({ "phone": slow })).await
    });
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!((b.status, b.code()), (409, "request_in_progress"), "{}", b.text);
}

/// The token only leaves through `POST /v1/otp/status`, never through a URL.
pub async fn the_token_never_sits_behind_a_url(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    assert_eq!(env.verify(&env.main, &id, &code).await.status, 200);
    let by_url = env.status(&env.main, &id).await;
    assert_eq!(by_url.body["status"], "verified");
    assert!(!by_url.text.contains("token"), "{}", by_url.text);
    let by_body = env.status_with_token(&env.main, &id).await;
    assert!(by_body.body["token"].is_string(), "{}", by_body.text);
}

/// Addresses of one IPv6 /64 share one allowance; checks (status, verify) have their own.
pub async fn per_address_limits_cover_ipv6_and_checks(env: Arc<Env>) {
    let url = format!("{}/v1/otp/request", env.strict);
    let mut statuses = Vec::new();
    for host in 1..=4 {
        let body = json!({ "phone": random_phone(), "turnstile_token": "pass-e2e" });
        statuses.push(env.post_from(&format!("2001:db8:ab:cd::{host}"), &url, &body).await);
    }
    assert_eq!(statuses.iter().map(|r| r.status).collect::<Vec<_>>(), vec![202, 202, 202, 429]);
    assert_eq!(statuses[3].body["error"]["reason"], "ip_limit");
    let id = statuses[0].body["request_id"].as_str().unwrap().to_string();
    let mut checks = Vec::new();
    for _ in 0..6 {
        let request =
            env.http.get(format!("{}/v1/otp/status/{id}", env.strict)).header("CF-Connecting-IP", "2001:db8:78::9");
        checks.push(into_resp(request.send().await.unwrap()).await.status);
    }
    assert_eq!(checks, vec![200, 200, 200, 200, 200, 429], "status polling has its own allowance");
    let garbage =
        env.post_from("not-an-address", &url, &json!({ "phone": random_phone(), "turnstile_token": "pass-e2e" })).await;
    assert_eq!((garbage.status, garbage.code()), (403, "forbidden"), "{}", garbage.text);
}

/// A hundred wrong codes in a row, across requests: no new code for a day.
pub async fn a_hundred_failures_block_new_codes(env: Arc<Env>) {
    let phone = random_phone();
    let base = env.lenient.clone();
    // Ten wrong codes by request id and ten by phone per request: five requests make 100.
    for round in 0..8 {
        let resp = env.request(&base, json!({ "phone": phone })).await;
        if resp.status == 429 {
            assert_eq!(resp.body["error"]["reason"], "too_many_failures", "{}", resp.text);
            assert!(resp.body["error"]["retry_after"].as_u64().unwrap() > 23 * 3600);
            assert_eq!(round, 5, "blocked after exactly a hundred failures");
            return;
        }
        assert_eq!(resp.status, 202, "round {round}: {}", resp.text);
        let id = resp.body["request_id"].as_str().unwrap().to_string();
        env.wait_for_messages(&phone, round + 1).await;
        // Wait until the guard knows the message went out (verify by phone needs it).
        for _ in 0..50 {
            if env.status(&base, &id).await.body["delivery"].is_object() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bad = wrong(&env.latest_code(&phone).await);
        // By phone first: once its own budget is spent by request id, a request is
        // locked and takes no more guesses by phone either.
        let by_phone = join_all((0..10).map(|_| verify_by_phone(&env, &base, "198.51.100.77", &phone, &bad))).await;
        let by_id = join_all((0..10).map(|_| env.verify(&base, &id, &bad))).await;
        assert!(by_id.iter().chain(by_phone.iter()).all(|r| r.code() == "invalid_code"));
    }
    panic!("never blocked");
}

/// Meta retries a delivery for days; a message older than a request never counts for it.
pub async fn replayed_and_stale_messages_count_once_or_never(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    // The right code, but sent an hour before this request began: it proves nothing now.
    let mut stale: Value = serde_json::from_str(&incoming(&phone, &code, &fresh_id())).unwrap();
    let hour_ago = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    stale["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = hour_ago.to_string().into();
    assert_eq!(env.raw_delivery(stale, "valid").await["webhook_status"], 200);
    let status = env.status(&env.main, &id).await;
    assert_eq!((status.body["status"].as_str(), status.body["attempts_left"].as_u64()), (Some("pending"), Some(5)));
    // The right code now, delivered three times: it counts once, one confirmation.
    let reply = incoming(&phone, &code, &fresh_id());
    for _ in 0..3 {
        assert_eq!(env.raw_delivery(Value::String(reply.clone()), "valid").await["webhook_status"], 200);
    }
    assert_eq!(env.status(&env.main, &id).await.body["status"], "verified");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.inbox(&phone).await.len(), 2, "one code, one confirmation");
}

/// The owner answers `NOT ME` to a confirmation: the verification is revoked and no
/// new code goes out for a day.
pub async fn not_me_revokes_and_blocks(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    assert_eq!(env.reply(&phone, &code).await["webhook_status"], 200);
    let confirmation = env.wait_for_messages(&phone, 2).await;
    let text = confirmation[1]["text"].as_str().unwrap();
    assert!(text.contains("whatsapp-otp-worker") && text.contains("NOT ME"), "{text}");
    assert!(env.status_with_token(&env.main, &id).await.body["token"].is_string());

    assert_eq!(env.reply(&phone, "not me").await["webhook_status"], 200);
    let status = env.status_with_token(&env.main, &id).await;
    assert_eq!(status.body["status"], "revoked", "{}", status.text);
    assert!(status.body.get("token").is_none());
    let verify = env.verify(&env.main, &id, &code).await;
    assert_eq!((verify.status, verify.code()), (410, "revoked"));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let again = env.request_code(&phone).await;
    assert_eq!((again.status, again.body["error"]["reason"].as_str()), (429, Some("not_me")), "{}", again.text);
    let ack = env.wait_for_messages(&phone, 3).await;
    assert!(ack[2]["text"].as_str().unwrap().contains("24"), "{}", ack[2]);
}

/// Meta slow or down: a failed resend keeps the previous code, and a verification that
/// lands while a slow send is pending is not undone when that send fails.
pub async fn meta_failures_never_cost_the_user(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    env.script_failure(json!({ "code": 131000, "count": 2, "to": digits(&phone) })).await;
    let resend = env.request_code(&phone).await;
    assert_eq!((resend.status, resend.code()), (502, "whatsapp_unavailable"));
    assert_eq!(env.status(&env.main, &id).await.body["status"], "pending", "the previous code lives on");

    // A slow resend (it will time out) while the owner types the previous code.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    env.script_failure(json!({ "delay_ms": 11_000, "to": digits(&phone) })).await;
    let (slow, verified) = tokio::join!(env.request_code(&phone), async {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        env.verify(&env.main, &id, &code).await
    });
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(slow.status, 502, "{}", slow.text);
    assert_eq!(env.status(&env.main, &id).await.body["status"], "verified");
}

/// `CHAT_REPLIES=false`: a reply that verifies gets no confirmation in the chat.
pub async fn chat_replies_can_be_turned_off(env: Arc<Env>) {
    let phone = random_phone();
    let url = format!("{}/v1/otp/request", env.strict);
    let resp = env.post_from("203.0.113.201", &url, &json!({ "phone": phone, "turnstile_token": "pass-e2e" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let messages = env.wait_for_messages(&phone, 1).await;
    let text = messages[0]["text"].as_str().unwrap();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let answer = deliver_to(&env, &env.strict, &incoming(&phone, &code, &fresh_id())).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let status = into_resp(
        env.http
            .post(format!("{}/v1/otp/status", env.strict))
            .header("CF-Connecting-IP", "203.0.113.202")
            .json(&json!({ "request_id": id, "client_secret": client_secret_of(&id) }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status.body["status"], "verified", "{}", status.text);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(env.inbox(&phone).await.len(), 1, "no confirmation was sent");
}

/// Each send limit says which one it is, so a page can tell "resend in 27 s" from
/// "try again tomorrow"; a locked code says when a new one may be asked for.
pub async fn every_limit_names_its_reason(env: Arc<Env>) {
    let hourly = random_phone();
    let (id, _) = env.issue(&hourly).await;
    for _ in 0..4 {
        env.issue_again(&hourly).await;
    }
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let sixth = env.request_code(&hourly).await;
    assert_eq!((sixth.status, sixth.body["error"]["reason"].as_str()), (429, Some("hourly_limit")), "{}", sixth.text);
    assert!(sixth.header("retry-after").is_some());
    let status = env.status(&env.main, &id).await;
    assert!(status.body["resend_after"].as_u64().unwrap() > 60, "a reload keeps the countdown: {}", status.text);

    // The latest request of that number, locked by wrong codes: retry_after says when
    // a new code may be asked for.
    let latest = random_phone();
    let (latest_id, latest_code) = env.issue(&latest).await;
    for _ in 0..5 {
        env.verify(&env.main, &latest_id, &wrong(&latest_code)).await;
    }
    let locked = env.verify(&env.main, &latest_id, &latest_code).await;
    assert_eq!((locked.status, locked.code()), (429, "too_many_attempts"));
    let retry: u64 = locked.header("retry-after").expect("Retry-After").parse().unwrap();
    assert_eq!(locked.body["error"]["retry_after"], retry);

    let daily = random_phone();
    for i in 0..20 {
        let resp = env.request(&env.lenient, json!({ "phone": daily })).await;
        assert_eq!(resp.status, 202, "send {i}: {}", resp.text);
    }
    let over = env.request(&env.lenient, json!({ "phone": daily })).await;
    assert_eq!((over.status, over.body["error"]["reason"].as_str()), (429, Some("daily_limit")), "{}", over.text);
}

/// A stranger (or Meta's own retry) delivers the owner's old STOP again after the owner
/// sent START: it is older than the START, so it must not opt the number out again,
/// even when START left the number with nothing else stored.
pub async fn a_replayed_stop_after_start_keeps_the_number_in(env: Arc<Env>) {
    let phone = random_phone();
    let sent_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let keyword = |id: &str, text: &str, at_s: u64| json!({ "from": digits(&phone), "text": text, "id": id, "timestamp": at_s.to_string() });
    let reply_url = format!("{}/control/webhook/reply", env.standin);
    let stop = keyword(&fresh_id(), "STOP", sent_s - 2);
    assert_eq!(env.post(&reply_url, &stop).await.body["webhook_status"], 200);
    env.wait_for_messages(&phone, 1).await;
    let refused = env.request_code(&phone).await;
    assert_eq!((refused.status, refused.code()), (403, "opted_out"));
    // START, within the minute of the STOP's acknowledgement: applied, not acknowledged.
    assert_eq!(env.post(&reply_url, &keyword(&fresh_id(), "START", sent_s - 1)).await.body["webhook_status"], 200);
    // The same STOP again, as Meta redelivers it (same id, same time).
    assert_eq!(env.post(&reply_url, &stop).await.body["webhook_status"], 200);
    let allowed = env.request_code(&phone).await;
    assert_eq!(allowed.status, 202, "{:?}", allowed.body);
    // Nothing answered the replay in the chat: the STOP's acknowledgement, then the code.
    let messages = env.wait_for_messages(&phone, 2).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[1]["type"] == "template", "{messages:?}");
}
