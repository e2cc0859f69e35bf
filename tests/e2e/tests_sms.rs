//! The SMS fallback, end to end: the worker in workerd with its own stand-in (Meta's
//! Cloud API and Twilio's Messages API), codes that go by SMS when WhatsApp refuses,
//! fails or does not deliver in time (the guard's alarm, 1 s here), exactly once,
//! carrying the same code; signed Twilio callbacks; the `webhook` provider checked
//! with the Standard Webhooks reference library.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::client::{digits, into_resp, random_phone, send, Env, Resp, ADMIN_TOKEN, CALLBACK_SECRET};
use crate::harness::{free_port, Worker};
use crate::receiver::{standard_webhooks_verdicts, Receiver};
use crate::tests_hardening::Stopping;

pub const TWILIO_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_AUTH_TOKEN: &str = "dev-twilio-auth-token-0123456789";

e2e_tests! {
    meta_refusal_sends_the_code_by_sms_at_once,
    a_message_that_stays_sent_falls_back_once_with_the_same_code,
    a_message_delivered_in_time_gets_no_sms,
    a_failed_status_sends_the_sms_at_once,
    channel_whatsapp_never_sends_sms,
    channel_sms_sends_no_whatsapp_and_uses_the_quota,
    sms_outside_its_countries_is_refused,
    twilio_callbacks_must_be_signed_and_update_the_leg,
    a_twilio_outage_costs_the_user_nothing,
    the_webhook_provider_request_verifies_with_standard_webhooks,
    a_storm_of_fallbacks_sends_one_sms_per_request.alone(),
    an_alarm_racing_verifies_never_texts_a_verified_request.alone().limit(300),
    a_fallback_shows_in_the_stats.limit(180),
}

fn uk_phone() -> String {
    format!("+447700900{}", &random_phone()[9..])
}

async fn request(env: &Env, body: Value) -> Resp {
    env.request(&env.sms, body).await
}

/// Every message to `phone` at the SMS worker's stand-in, SMS marked `"type":"sms"`.
async fn messages(env: &Env, phone: &str) -> Vec<Value> {
    let resp = env.get(&format!("{}/control/inbox?to={}", env.sms_standin, digits(phone))).await;
    resp.body["messages"].as_array().cloned().unwrap_or_default()
}

async fn sms_to(env: &Env, phone: &str) -> Vec<Value> {
    messages(env, phone).await.into_iter().filter(|m| m["type"] == "sms").collect()
}

async fn whatsapp_to(env: &Env, phone: &str) -> Vec<Value> {
    messages(env, phone).await.into_iter().filter(|m| m["type"] != "sms").collect()
}

/// Polls until `phone` has received `n` SMS (at most `within`).
async fn wait_for_sms(env: &Env, phone: &str, n: usize, within: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let sms = sms_to(env, phone).await;
        if sms.len() >= n || started.elapsed() > within {
            assert_eq!(sms.len(), n, "SMS to {phone} after {:?}: {sms:?}", started.elapsed());
            return sms;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Watches `phone` for `window` (past the fallback deadline and its alarm): no SMS.
async fn no_sms_during(env: &Env, phone: &str, window: Duration) {
    let started = Instant::now();
    while started.elapsed() < window {
        assert_eq!(sms_to(env, phone).await, Vec::<Value>::new(), "an SMS reached {phone}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn script_whatsapp(env: &Env, phone: &str, outcome: &str) {
    let body = json!({ "to": digits(phone), "outcome": outcome });
    let resp = env.post(&format!("{}/control/whatsapp/delivery", env.sms_standin), &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

async fn status(env: &Env, request_id: &str) -> Value {
    let resp = env.status(&env.sms, request_id).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.body
}

async fn verify(env: &Env, request_id: &str, code: &str) -> Resp {
    env.verify(&env.sms, request_id, code).await
}

fn channels(status: &Value) -> Vec<(String, String)> {
    status["deliveries"]
        .as_array()
        .map(|legs| {
            legs.iter()
                .map(|l| {
                    (l["channel"].as_str().unwrap_or("").to_string(), l["status"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn meta_refusal_sends_the_code_by_sms_at_once(env: Arc<Env>) {
    let phone = random_phone();
    let script = json!({ "to": digits(&phone), "code": 131026, "http_status": 400 });
    let resp = env.post(&format!("{}/control/fail", env.sms_standin), &script).await;
    assert_eq!(resp.status, 200);
    let resp = request(&env, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    assert_eq!((&resp.body["channel"], &resp.body["fallback_reason"]), (&json!("sms"), &json!("not_on_whatsapp")));
    let id = resp.body["request_id"].as_str().unwrap();
    let sms = wait_for_sms(&env, &phone, 1, Duration::from_secs(5)).await;
    assert!(whatsapp_to(&env, &phone).await.is_empty(), "Meta refused it: nothing went by WhatsApp");
    let text = sms[0]["text"].as_str().unwrap();
    assert!(text.contains("Do not share"), "{text}");
    let st = status(&env, id).await;
    assert_eq!(
        channels(&st),
        [("whatsapp".into(), "failed".into()), ("sms".into(), "accepted".into())].map(|x: (String, String)| x).to_vec()
    );
    assert_eq!(st["deliveries"][0]["error_code"], 131026);
    assert_eq!(st["deliveries"][1]["fallback_reason"], "not_on_whatsapp");
    assert_eq!((&st["channel"], &st["status"]), (&json!("sms"), &json!("pending")));
    let ok = verify(&env, id, sms[0]["code"].as_str().unwrap()).await;
    assert_eq!(ok.status, 200, "the SMS's code verifies: {}", ok.text);
}

pub async fn a_message_that_stays_sent_falls_back_once_with_the_same_code(env: Arc<Env>) {
    let phone = random_phone();
    script_whatsapp(&env, &phone, "stay_sent").await;
    let resp = request(&env, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    assert_eq!(resp.body["channel"], "whatsapp");
    assert!(resp.body.get("fallback_reason").is_none());
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    // FALLBACK_AFTER_SECONDS=1: the alarm sends it with no request arriving.
    let sms = wait_for_sms(&env, &phone, 1, Duration::from_secs(15)).await;
    let whatsapp = whatsapp_to(&env, &phone).await;
    assert_eq!(whatsapp.len(), 1);
    assert_eq!(sms[0]["code"], whatsapp[0]["code"], "one code on both channels");
    let st = status(&env, &id).await;
    assert_eq!(channels(&st)[0].0, "whatsapp");
    assert_eq!(channels(&st)[1].0, "sms");
    assert_eq!(st["deliveries"][0]["status"], "sent");
    assert_eq!(st["deliveries"][1]["fallback_reason"], "not_delivered_in_time");
    assert_eq!((&st["channel"], &st["delivery"]["channel"]), (&json!("sms"), &json!("sms")));
    // Attempts are shared: a wrong code spends from the one budget.
    let wrong = verify(&env, &id, &crate::client::wrong(sms[0]["code"].as_str().unwrap())).await;
    assert_eq!(wrong.body["error"]["attempts_left"], 4);
    assert_eq!(verify(&env, &id, sms[0]["code"].as_str().unwrap()).await.status, 200);
    // Nothing more went out, on either channel.
    assert_eq!((sms_to(&env, &phone).await.len(), whatsapp_to(&env, &phone).await.len()), (1, 1));
}

pub async fn a_message_delivered_in_time_gets_no_sms(env: Arc<Env>) {
    let phone = random_phone();
    let resp = request(&env, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let message_id = whatsapp_to(&env, &phone).await[0]["id"].as_str().unwrap().to_string();
    let body = json!({ "message_id": message_id, "recipient_id": digits(&phone), "status": "delivered", "biz_opaque_callback_data": id });
    let posted = env.post(&format!("{}/control/webhook/status", env.sms_standin), &body).await;
    assert_eq!(posted.status, 200, "{}", posted.text);
    no_sms_during(&env, &phone, Duration::from_secs(4)).await;
    let st = status(&env, &id).await;
    assert_eq!(channels(&st), vec![("whatsapp".to_string(), "delivered".to_string())]);
    assert_eq!(st["channel"], "whatsapp");
}

pub async fn a_failed_status_sends_the_sms_at_once(env: Arc<Env>) {
    let phone = uk_phone();
    script_whatsapp(&env, &phone, "fail").await;
    let resp = request(&env, json!({ "phone": phone, "locale": "de" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sms = wait_for_sms(&env, &phone, 1, Duration::from_secs(10)).await;
    assert!(sms[0]["text"].as_str().unwrap().contains("Gib ihn an niemanden weiter"), "in the request's language");
    let st = status(&env, &id).await;
    assert_eq!(st["deliveries"][0]["status"], "failed");
    assert_eq!(st["deliveries"][0]["error_code"], 131026);
    assert_eq!(st["deliveries"][1]["fallback_reason"], "whatsapp_failed");
    assert_eq!(verify(&env, &id, sms[0]["code"].as_str().unwrap()).await.status, 200);
}

pub async fn channel_whatsapp_never_sends_sms(env: Arc<Env>) {
    let refused = random_phone();
    let script = json!({ "to": digits(&refused), "code": 131026, "http_status": 400 });
    env.post(&format!("{}/control/fail", env.sms_standin), &script).await;
    let resp = request(&env, json!({ "phone": refused, "channel": "whatsapp" })).await;
    assert_eq!((resp.status, resp.code()), (422, "not_on_whatsapp"), "{}", resp.text);
    let silent = random_phone();
    script_whatsapp(&env, &silent, "stay_sent").await;
    let resp = request(&env, json!({ "phone": silent, "channel": "whatsapp" })).await;
    assert_eq!((resp.status, &resp.body["channel"]), (202, &json!("whatsapp")), "{}", resp.text);
    no_sms_during(&env, &silent, Duration::from_secs(4)).await;
    assert!(sms_to(&env, &refused).await.is_empty());
}

pub async fn channel_sms_sends_no_whatsapp_and_uses_the_quota(env: Arc<Env>) {
    let phone = uk_phone();
    let resp = request(&env, json!({ "phone": phone, "channel": "sms" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    assert_eq!(resp.body["channel"], "sms");
    assert!(resp.body.get("fallback_reason").is_none());
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sms = wait_for_sms(&env, &phone, 1, Duration::from_secs(5)).await;
    assert!(whatsapp_to(&env, &phone).await.is_empty());
    let st = status(&env, &id).await;
    assert_eq!(channels(&st), vec![("sms".to_string(), "accepted".to_string())]);
    assert_eq!(verify(&env, &id, sms[0]["code"].as_str().unwrap()).await.status, 200);
    // An explicit SMS is a send like any other: the hourly limit (5) holds.
    for _ in 0..4 {
        assert_eq!(request(&env, json!({ "phone": phone, "channel": "sms" })).await.status, 202);
    }
    let sixth = request(&env, json!({ "phone": phone, "channel": "sms" })).await;
    assert_eq!((sixth.status, &sixth.body["error"]["reason"]), (429, &json!("hourly_limit")), "{}", sixth.text);
}

pub async fn sms_outside_its_countries_is_refused(env: Arc<Env>) {
    let german = format!("+4915112{}", &random_phone()[8..]);
    let resp = request(&env, json!({ "phone": german, "channel": "sms" })).await;
    assert_eq!((resp.status, resp.code()), (400, "invalid_request"), "{}", resp.text);
    assert_eq!(resp.body["error"]["field"], "channel");
    let resp = request(&env, json!({ "phone": random_phone(), "channel": "sms", "mode": "inbound" })).await;
    assert_eq!(resp.status, 400, "inbound is WhatsApp's own: {}", resp.text);
    let resp = request(&env, json!({ "phone": random_phone(), "channel": "pigeon" })).await;
    assert_eq!((resp.status, &resp.body["error"]["field"]), (400, &json!("channel")));
    // `auto` is plain WhatsApp there: no fallback, even when nothing is delivered.
    script_whatsapp(&env, &german, "stay_sent").await;
    let resp = request(&env, json!({ "phone": german })).await;
    assert_eq!((resp.status, &resp.body["channel"]), (202, &json!("whatsapp")), "{}", resp.text);
    no_sms_during(&env, &german, Duration::from_secs(4)).await;
    // And where SMS is off altogether (the main worker), `sms` is refused the same way.
    let off = env.request(&env.main, json!({ "phone": random_phone(), "channel": "sms" })).await;
    assert_eq!((off.status, &off.body["error"]["field"]), (400, &json!("channel")));
}

async fn twilio_callback(env: &Env, form: &[(&str, &str)], signature: Option<&str>) -> Resp {
    let mut request = env
        .http
        .post(format!("{}/webhook/twilio", env.sms))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.iter().map(|(k, v)| format!("{k}={}", v.replace('+', "%2B"))).collect::<Vec<_>>().join("&"));
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    send(request).await
}

pub async fn twilio_callbacks_must_be_signed_and_update_the_leg(env: Arc<Env>) {
    let phone = random_phone();
    let resp = request(&env, json!({ "phone": phone, "channel": "sms" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sid = wait_for_sms(&env, &phone, 1, Duration::from_secs(5)).await[0]["sid"].as_str().unwrap().to_string();
    let form = [("MessageSid", sid.as_str()), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")];
    // Unsigned, and signed with the wrong token: 401, nothing changes.
    assert_eq!(twilio_callback(&env, &form, None).await.status, 401);
    let forged = twilio_callback(&env, &form, Some("GvWf1cFY/Q7PnoempGyD5oXAezc=")).await;
    assert_eq!((forged.status, forged.code()), (401, "invalid_signature"));
    assert_eq!(status(&env, &id).await["deliveries"][0]["status"], "accepted");
    // Twilio's own (the stand-in signs as Twilio does): the leg is delivered.
    let signed = env
        .post(&format!("{}/control/twilio/status", env.sms_standin), &json!({ "sid": sid, "status": "delivered" }))
        .await;
    assert_eq!(signed.body["callback_status"], 204, "{}", signed.text);
    let st = status(&env, &id).await;
    assert_eq!((&st["status"], &st["deliveries"][0]["status"]), (&json!("delivered"), &json!("delivered")));
    // Late and repeated callbacks change nothing: a delivered SMS never turns failed.
    for _ in 0..2 {
        let late = json!({ "sid": sid, "status": "undelivered", "error_code": 30003 });
        let again = env.post(&format!("{}/control/twilio/status", env.sms_standin), &late).await;
        assert_eq!(again.body["callback_status"], 204);
    }
    assert_eq!(status(&env, &id).await["deliveries"][0]["status"], "delivered");
}

pub async fn a_twilio_outage_costs_the_user_nothing(env: Arc<Env>) {
    // Twilio down for both tries of an explicit SMS: 502, and the send is given back.
    let phone = uk_phone();
    let script = json!({ "to": digits(&phone), "code": 20500, "http_status": 503, "count": 2 });
    assert_eq!(env.post(&format!("{}/control/twilio/fail", env.sms_standin), &script).await.status, 200);
    let resp = request(&env, json!({ "phone": phone, "channel": "sms" })).await;
    assert_eq!((resp.status, resp.code()), (502, "sms_unavailable"), "{}", resp.text);
    for _ in 0..5 {
        // The hourly limit of 5 is whole: the failed send did not count.
        assert_eq!(request(&env, json!({ "phone": phone, "channel": "sms" })).await.status, 202);
    }
    // Twilio down when the fallback comes: the WhatsApp code stays valid.
    let silent = random_phone();
    script_whatsapp(&env, &silent, "stay_sent").await;
    let script = json!({ "to": digits(&silent), "code": 20500, "http_status": 503, "count": 2 });
    env.post(&format!("{}/control/twilio/fail", env.sms_standin), &script).await;
    let resp = request(&env, json!({ "phone": silent })).await;
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let st = loop {
        let st = status(&env, &id).await;
        let settled = st["deliveries"][1]["status"].as_str().is_some_and(|s| s != "accepted");
        if settled || started.elapsed() > Duration::from_secs(15) {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(st["deliveries"][1]["status"], "failed", "{st}");
    assert_eq!(st["status"], "failed");
    let code = whatsapp_to(&env, &silent).await[0]["code"].as_str().unwrap().to_string();
    assert_eq!(verify(&env, &id, &code).await.status, 200, "the WhatsApp code still verifies");
}

pub async fn the_webhook_provider_request_verifies_with_standard_webhooks(env: Arc<Env>) {
    // Its own receiver: the shared one is the analytics worker's, whose test counts
    // every callback it gets.
    let receiver = Receiver::start().await;
    let vars = [
        ("SMS_PROVIDER", "webhook"),
        ("SMS_WEBHOOK_URL", receiver.url.as_str()),
        ("SMS_COUNTRY_CODES", "44"),
        ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
    ];
    let secrets = [("SMS_WEBHOOK_SECRET", Some(CALLBACK_SECRET))];
    let worker =
        Worker::start(&env.run_dir, "sms-relay", free_port(), &env.standin, &vars, &secrets).ready(&env.http).await;
    let (url, _stopping) = (worker.url.clone(), Stopping(worker.service));
    let phone = uk_phone();
    let resp = env.request(&url, json!({ "phone": phone, "channel": "sms" })).await;
    assert_eq!((resp.status, &resp.body["channel"]), (202, &json!("sms")), "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let received = loop {
        let found: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.json["type"] == "sms.send" && r.json["data"]["request_id"] == id.as_str())
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(received.len(), 1, "one sms.send");
    let item = &received[0];
    assert_eq!(item.json["data"]["to"], phone.as_str());
    let code = item.json["data"]["text"].as_str().unwrap().split(' ').next().unwrap().to_string();
    let signed = item.standard_webhook();
    let mut tampered = signed.clone();
    tampered["body"] = json!(item.body.replacen("sms.send", "sms.sent", 1));
    let verdicts = standard_webhooks_verdicts(&[signed, tampered], CALLBACK_SECRET, &format!("sms-send-{id}.json"));
    assert_eq!(verdicts[0], "ok", "standardwebhooks rejected the sms.send: {verdicts:?}");
    assert_ne!(verdicts[1], "ok", "a tampered body must not verify");
    assert_eq!(env.verify(&url, &id, &code).await.status, 200, "the relayed code verifies");
}

pub async fn a_storm_of_fallbacks_sends_one_sms_per_request(env: Arc<Env>) {
    // 200 numbers at once, none of whose WhatsApp messages is ever delivered: each
    // gets exactly one SMS, with its own WhatsApp code.
    let phones: Vec<String> = (0..200).map(|_| random_phone()).collect();
    let answers: Vec<Resp> = stream::iter(phones.clone())
        .map(|p| {
            let env = env.clone();
            async move { request(&env, json!({ "phone": p })).await }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(answers.iter().all(|r| r.status == 202), "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    let started = Instant::now();
    for phone in &phones {
        let sms = wait_for_sms(&env, phone, 1, Duration::from_secs(60).saturating_sub(started.elapsed())).await;
        let whatsapp = whatsapp_to(&env, phone).await;
        assert_eq!(whatsapp.len(), 1);
        assert_eq!(sms[0]["code"], whatsapp[0]["code"], "{phone}: the same code");
    }
    // Every alarm has run (each number has its SMS): none sent a second.
    for phone in &phones {
        assert_eq!(sms_to(&env, phone).await.len(), 1, "{phone}");
    }
    println!("storm: 200 fallbacks in {:.1}s", started.elapsed().as_secs_f64());
}

pub async fn an_alarm_racing_verifies_never_texts_a_verified_request(env: Arc<Env>) {
    // Each request is verified at a different moment of the second before its fallback
    // is due, while the alarms of the others fire around it. A verify answered within
    // 950 ms of sending the request was applied before the deadline (set while the
    // request was handled): that request must never get an SMS. A loaded machine makes
    // many verifies late, which tests nothing: rounds of 30 go on until ten were in time.
    let mut verified: Vec<(u16, Duration, String)> = Vec::new();
    let in_time = |verified: &[(u16, Duration, String)]| -> Vec<String> {
        verified.iter().filter(|(_, took, _)| *took < Duration::from_millis(950)).map(|(_, _, p)| p.clone()).collect()
    };
    for round in 1..=6 {
        verified.extend(race_round(&env).await);
        println!(
            "race: round {round}, {} of {} verified before their deadline",
            in_time(&verified).len(),
            verified.len()
        );
        if in_time(&verified).len() >= 10 {
            break;
        }
    }
    assert!(
        verified.iter().all(|(status, _, _)| *status == 200),
        "every code verified (the SMS, if any, carries the same one)"
    );
    let in_time = in_time(&verified);
    assert!(in_time.len() >= 10, "too few verifies beat their deadline to test anything: {}", in_time.len());
    // Past every deadline and alarm: still no SMS for them.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        for phone in &in_time {
            assert!(sms_to(&env, phone).await.is_empty(), "{phone} was verified and still got an SMS");
        }
    }
    // The late ones, if any, got at most one.
    for (_, _, phone) in &verified {
        assert!(sms_to(&env, phone).await.len() <= 1);
    }
}

/// 30 requests, ten at a time, each verified at its own moment of the second after
/// its code arrived: (the verify's status, the time from request to verified, phone).
async fn race_round(env: &Arc<Env>) -> Vec<(u16, Duration, String)> {
    let phones: Vec<String> = (0..30).map(|_| random_phone()).collect();
    let runs = stream::iter(phones.into_iter().enumerate()).map(|(i, phone)| {
        let env = env.clone();
        async move {
            let asked = Instant::now();
            let resp = request(&env, json!({ "phone": phone })).await;
            assert_eq!(resp.status, 202, "{}", resp.text);
            let id = resp.body["request_id"].as_str().unwrap().to_string();
            let code = whatsapp_to(&env, &phone).await[0]["code"].as_str().unwrap().to_string();
            tokio::time::sleep(Duration::from_millis((i as u64 * 37) % 900)).await;
            let verified = verify(&env, &id, &code).await;
            (verified.status, asked.elapsed(), phone)
        }
    });
    runs.buffer_unordered(10).collect().await
}

async fn sms_stats(env: &Env) -> Value {
    let request = env.http.get(format!("{}/v1/admin/stats", env.sms)).bearer_auth(ADMIN_TOKEN);
    let resp = into_resp(request.send().await.expect("GET stats")).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.body
}

fn count(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |v, key| &v[key]).as_u64().unwrap_or(0)
}

/// After a fallback, the stats (events through the Queue consumer into D1) count the
/// WhatsApp send, the SMS send and verification, and the reason. Other tests on this
/// worker fall back too, meanwhile: each figure must have grown by at least ours.
pub async fn a_fallback_shows_in_the_stats(env: Arc<Env>) {
    let before = sms_stats(&env).await;
    let phone = random_phone();
    script_whatsapp(&env, &phone, "stay_sent").await;
    let resp = request(&env, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sms = wait_for_sms(&env, &phone, 1, Duration::from_secs(15)).await;
    assert_eq!(verify(&env, &id, sms[0]["code"].as_str().unwrap()).await.status, 200);

    let figures: [&[&str]; 4] = [
        &["fallbacks", "not_delivered_in_time"],
        &["by_channel", "whatsapp", "sent"],
        &["by_channel", "sms", "sent"],
        &["by_channel", "sms", "verified"],
    ];
    let grown = |now: &Value| figures.iter().all(|f| count(now, f) > count(&before, f));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut now = sms_stats(&env).await;
    while !grown(&now) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now = sms_stats(&env).await;
    }
    for f in figures {
        assert!(count(&now, f) > count(&before, f), "{f:?} did not grow: {} then {}", before, now);
    }
}
