//! request, verify and status against workerd, through the stand-in.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::client::{client_secrets_seen, decode_token, digits, into_resp, random_phone, wrong, Env};
use crate::harness::{OTP_SECRET, TOKEN_SECRET};

e2e_tests! {
    request_then_verify_yields_a_standard_jwt,
    status_follows_the_request,
    verify_by_phone_uses_the_live_request,
    concurrent_requests_send_one_message,
    concurrent_wrong_codes_count_exactly_max_attempts,
    concurrent_right_codes_verify_once,
    a_new_request_supersedes_the_old_code,
    codes_expire_after_the_ttl,
    meta_errors_map_to_contract_errors,
    transient_failures_are_retried_once,
    our_configuration_failures_do_not_use_the_quota,
    idempotency_key_replays_without_sending_again,
    country_allow_list_is_enforced,
    malformed_requests_get_contract_errors.alone(),
    per_ip_limit_applies,
    captcha_is_checked_when_configured,
    text_mode_sends_the_code_as_text,
    logs_carry_no_code_and_no_full_number,
    kv_holds_one_hashed_record_per_code,
}

pub async fn request_then_verify_yields_a_standard_jwt(env: Arc<Env>) {
    let phone = random_phone();
    let resp = env.request(&env.main, json!({ "phone": phone, "locale": "pt_BR" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("otp_") && id.len() == 26, "{id}");
    assert_eq!(resp.body["status"], "pending");
    assert_eq!(resp.body["expires_in"], 300);
    assert_eq!(resp.body["resend_after"], 2);
    assert_eq!(resp.body["attempts_left"], 5);
    assert!(resp.body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(resp.body.get("code").is_none(), "outbound codes never leave by the API");

    let inbox = env.wait_for_messages(&phone, 1).await;
    let message = &inbox[0];
    assert_eq!(message["type"], "template");
    let payload = &message["payload"];
    assert_eq!(payload["template"]["name"], "otp_code");
    assert_eq!(payload["template"]["language"]["code"], "pt_BR");
    assert_eq!(payload["biz_opaque_callback_data"], id.as_str());
    let body_code = payload["template"]["components"][0]["parameters"][0]["text"].as_str().unwrap();
    let button = &payload["template"]["components"][1];
    assert_eq!(
        (button["type"].as_str(), button["sub_type"].as_str(), button["index"].as_str()),
        (Some("button"), Some("url"), Some("0"))
    );
    assert_eq!(button["parameters"][0]["text"], body_code);
    assert_eq!(body_code.len(), 6);
    assert!(body_code.bytes().all(|b| b.is_ascii_digit()));

    let resp = env.verify(&env.main, &id, body_code).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["verified"], true);
    let claims = decode_token(resp.body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], phone.as_str());
    assert_eq!(claims["jti"], id.as_str());
    assert_eq!(claims["amr"], json!(["otp"]));
    assert_eq!(claims["verified_via"], "code");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 600);
    assert!(resp.body["token_expires_at"].is_string());
    assert_eq!(resp.header("cache-control"), Some("no-store"), "tokens are never cached");

    let again = env.verify(&env.main, &id, body_code).await;
    assert_eq!((again.status, again.code()), (409, "already_verified"));
}

pub async fn status_follows_the_request(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let status = env.status(&env.main, &id).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.body["status"], "pending");
    assert_eq!(status.body["attempts_left"], 5);
    assert_eq!(status.body["delivery"]["status"], "accepted");
    assert!(status.body.get("token").is_none());
    env.verify(&env.main, &id, &wrong(&code)).await;
    assert_eq!(env.status(&env.main, &id).await.body["attempts_left"], 4);
    let verified = env.verify(&env.main, &id, &code).await;
    let status = env.status(&env.main, &id).await;
    assert_eq!(status.body["status"], "verified");
    assert_eq!(status.body["verified_via"], "code");
    assert!(status.body.get("token").is_none(), "a URL never carries the token: {}", status.text);
    let with_token = env.status_with_token(&env.main, &id).await;
    assert_eq!(with_token.body["token"], verified.body["token"], "POST status hands out the same token");
    assert_eq!(with_token.body["status"], "verified");
}

pub async fn verify_by_phone_uses_the_live_request(env: Arc<Env>) {
    let phone = random_phone();
    let (_, code) = env.issue(&phone).await;
    let formatted = format!("{} {}", &code[..3], &code[3..]);
    let pretty_phone = format!("{} ({}) {}-{}", &phone[..2], &phone[2..5], &phone[5..8], &phone[8..]);
    let resp =
        env.post(&format!("{}/v1/otp/verify", env.main), &json!({ "phone": pretty_phone, "code": formatted })).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let resp =
        env.post(&format!("{}/v1/otp/verify", env.main), &json!({ "phone": random_phone(), "code": code })).await;
    assert_eq!((resp.status, resp.code()), (400, "invalid_code"), "a number without a request looks like any other");
    assert!(resp.body["error"].get("attempts_left").is_none());
}

pub async fn concurrent_requests_send_one_message(env: Arc<Env>) {
    // The short-TTL worker keeps the default 30 s cooldown: no race with the clock.
    let phone = random_phone();
    let answers = join_all((0..20).map(|_| env.request(&env.short_ttl, json!({ "phone": phone })))).await;
    let accepted = answers.iter().filter(|r| r.status == 202).count();
    let limited: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!((accepted, limited.len()), (1, 19), "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    for r in limited {
        assert_eq!(r.code(), "rate_limited");
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=30).contains(&retry));
        assert_eq!(r.body["error"]["retry_after"], retry);
        assert_eq!(r.body["error"]["reason"], "resend_cooldown");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.inbox(&phone).await.len(), 1);
}

pub async fn concurrent_wrong_codes_count_exactly_max_attempts(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let bad = wrong(&code);
    let answers = join_all((0..30).map(|_| env.verify(&env.main, &id, &bad))).await;
    let mut left: Vec<u64> = answers
        .iter()
        .filter(|r| r.code() == "invalid_code")
        .map(|r| r.body["error"]["attempts_left"].as_u64().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, vec![0, 1, 2, 3, 4], "each attempt counted once");
    assert_eq!(answers.iter().filter(|r| r.status == 429 && r.code() == "too_many_attempts").count(), 25);
    let right = env.verify(&env.main, &id, &code).await;
    assert_eq!((right.status, right.code()), (429, "too_many_attempts"));
    let status = env.status(&env.main, &id).await;
    assert_eq!((status.body["status"].as_str(), status.body["attempts_left"].as_u64()), (Some("locked"), Some(0)));
}

pub async fn concurrent_right_codes_verify_once(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let answers = join_all((0..10).map(|_| env.verify(&env.main, &id, &code))).await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1);
    assert_eq!(answers.iter().filter(|r| r.status == 409 && r.code() == "already_verified").count(), 9);
}

pub async fn a_new_request_supersedes_the_old_code(env: Arc<Env>) {
    let phone = random_phone();
    let (old_id, old_code) = env.issue(&phone).await;
    let (new_id, new_code) = env.issue_again(&phone).await;
    let old = env.verify(&env.main, &old_id, &old_code).await;
    assert_eq!((old.status, old.code()), (410, "superseded"));
    assert_eq!(env.status(&env.main, &old_id).await.body["status"], "superseded");
    assert_eq!(env.verify(&env.main, &new_id, &new_code).await.status, 200);
}

pub async fn codes_expire_after_the_ttl(env: Arc<Env>) {
    let phone = random_phone();
    let resp = env.request(&env.short_ttl, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    assert_eq!(resp.body["expires_in"], 2);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let code = env.latest_code(&phone).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = env.verify(&env.short_ttl, &id, &code).await;
    assert_eq!((late.status, late.code()), (410, "expired"));
    assert_eq!(env.status(&env.short_ttl, &id).await.body["status"], "expired");
}

pub async fn meta_errors_map_to_contract_errors(env: Arc<Env>) {
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({ "code": 131026 }), 422, "not_on_whatsapp"),
        (json!({ "code": 130429 }), 503, "whatsapp_throttled"),
        (json!({ "code": 132001 }), 502, "whatsapp_rejected"),
        (json!({ "code": 190 }), 503, "whatsapp_auth_failed"),
        (json!({ "delay_ms": 11_000 }), 502, "whatsapp_unavailable"),
    ];
    let runs = cases.into_iter().map(|(mut script, status, code)| {
        let env = env.clone();
        async move {
            let phone = random_phone();
            script["to"] = digits(&phone).into();
            env.script_failure(script).await;
            let resp = env.request_code(&phone).await;
            assert_eq!((resp.status, resp.code()), (status, code), "{}", resp.text);
            if code == "whatsapp_throttled" {
                assert!(resp.header("retry-after").is_some());
            }
            // A failed send leaves no live code behind.
            let verify =
                env.post(&format!("{}/v1/otp/verify", env.main), &json!({ "phone": phone, "code": "000000" })).await;
            assert_eq!((verify.status, verify.code()), (400, "invalid_code"), "{}", verify.text);
            assert!(env.inbox(&phone).await.is_empty());
        }
    });
    join_all(runs).await;
}

pub async fn transient_failures_are_retried_once(env: Arc<Env>) {
    let once = random_phone();
    env.script_failure(json!({ "http_status": 500, "to": digits(&once) })).await;
    let resp = env.request_code(&once).await;
    assert_eq!(resp.status, 202, "one 500 is retried: {}", resp.text);
    assert_eq!(env.inbox(&once).await.len(), 1);

    let twice = random_phone();
    env.script_failure(json!({ "code": 131000, "count": 2, "to": digits(&twice) })).await;
    let resp = env.request_code(&twice).await;
    assert_eq!((resp.status, resp.code()), (502, "whatsapp_unavailable"), "{}", resp.text);
    assert!(env.inbox(&twice).await.is_empty());
}

pub async fn our_configuration_failures_do_not_use_the_quota(env: Arc<Env>) {
    // On the short-TTL worker (30 s cooldown), so the clock cannot end a cooldown mid-test.
    let request = |phone: &str| env.request(&env.short_ttl, json!({ "phone": phone }));
    for (script, status) in [(json!({ "code": 190 }), 503), (json!({ "http_status": 500, "count": 2 }), 502)] {
        let ours = random_phone();
        let mut script = script;
        script["to"] = digits(&ours).into();
        env.script_failure(script).await;
        assert_eq!(request(&ours).await.status, status);
        let retry = request(&ours).await;
        assert_eq!(retry.status, 202, "no cooldown after a failure on our or Meta's side: {}", retry.text);
    }

    let theirs = random_phone();
    env.script_failure(json!({ "code": 131026, "to": digits(&theirs) })).await;
    assert_eq!(request(&theirs).await.status, 422);
    let retry = request(&theirs).await;
    assert_eq!((retry.status, retry.code()), (429, "rate_limited"), "the user's failure counts");
}

pub async fn idempotency_key_replays_without_sending_again(env: Arc<Env>) {
    let phone = random_phone();
    let send = || {
        let url = format!("{}/v1/otp/request", env.main);
        let http = env.http.clone();
        let phone = phone.clone();
        async move {
            into_resp(
                http.post(url)
                    .header("Idempotency-Key", "order-42")
                    .json(&json!({ "phone": phone }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let first = send().await;
    assert_eq!(first.status, 202, "{}", first.text);
    let second = send().await;
    assert_eq!(second.status, 202, "{}", second.text);
    assert_eq!(first.body, second.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.inbox(&phone).await.len(), 1);
}

pub async fn country_allow_list_is_enforced(env: Arc<Env>) {
    let resp = env.request(&env.main, json!({ "phone": "+33 6 12 34 56 78" })).await;
    assert_eq!((resp.status, resp.code()), (403, "country_not_allowed"));
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).unwrap();
    let uk = format!("+447700{:06}", u32::from_le_bytes(bytes) % 1_000_000);
    assert_eq!(env.request(&env.main, json!({ "phone": uk })).await.status, 202);
}

/// (method, path, content type, body, extra header, expected status, expected code)
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, Option<(&'a str, String)>, u16, &'a str);

pub async fn malformed_requests_get_contract_errors(env: Arc<Env>) {
    let ok_phone = random_phone();
    let known = "otp_AAAAAAAAAAAAAAAAAAAAAA";
    let json_ct = Some("application/json");
    let known_status = format!("/v1/otp/status/{known}");
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("POST", "/v1/otp/request", json_ct, "{".into(), None, 400, "invalid_json"),
        ("POST", "/v1/otp/request", json_ct, "".into(), None, 400, "invalid_json"),
        ("POST", "/v1/otp/request", json_ct, "{\"phone\":\"+1\u{0}".into(), None, 400, "invalid_json"),
        ("POST", "/v1/otp/request", json_ct, "[]".into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, "null".into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, "{}".into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":14155550123}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":null}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":["+14155550123"]}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"abc"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"14155550123"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"+0123456789"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"+1234567"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"+1234567890123456"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"+{}"}}"#, "9".repeat(3000)), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"+1 415 555 0123 x"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/request", json_ct, r#"{"phone":"+33612345678"}"#.into(), None, 403, "country_not_allowed"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}","mode":"sideways"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}","mode":5}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}","locale":"xx yy"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}","turnstile_token":5}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}"}}"#), Some(("Idempotency-Key", "k".repeat(300))), 400, "invalid_request"),
        ("POST", "/v1/otp/request", Some("text/plain"), format!(r#"{{"phone":"{ok_phone}"}}"#), None, 415, "unsupported_media_type"),
        ("POST", "/v1/otp/request", None, format!(r#"{{"phone":"{ok_phone}"}}"#), None, 415, "unsupported_media_type"),
        ("POST", "/v1/otp/request", Some("application/x-www-form-urlencoded"), "phone=%2B14155550123".into(), None, 415, "unsupported_media_type"),
        ("POST", "/v1/otp/request", json_ct, format!(r#"{{"phone":"{ok_phone}","pad":"{}"}}"#, "x".repeat(5000)), None, 413, "payload_too_large"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}","code":"123456"}}"#), None, 404, "not_found"),
        ("POST", "/v1/otp/verify", json_ct, r#"{"request_id":"nope","code":"123456"}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}","code":"12345a"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}","code":"12345"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}","code":123456}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, r#"{"code":"123456"}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, r#"{"request_id":42,"code":"123456"}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"phone":"{}","code":"123456"}}"#, random_phone()), None, 400, "invalid_code"),
        ("POST", "/v1/otp/status", json_ct, r#"{"request_id":"nope"}"#.into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/status", json_ct, "{}".into(), None, 400, "invalid_request"),
        ("POST", "/v1/otp/status", json_ct, format!(r#"{{"request_id":"{known}"}}"#), None, 400, "invalid_request"),
        ("POST", "/v1/otp/status", json_ct, format!(r#"{{"request_id":"{known}","client_secret":"cs_x"}}"#), None, 404, "not_found"),
        ("GET", "/v1/otp/status", None, "".into(), None, 405, "method_not_allowed"),
        ("POST", "/v1/otp/verify", json_ct, r#"{"phone":"bad","code":"123456"}"#.into(), None, 400, "invalid_phone"),
        ("POST", "/v1/otp/verify", json_ct, "{".into(), None, 400, "invalid_json"),
        ("POST", "/v1/otp/verify", Some("text/plain"), "{}".into(), None, 415, "unsupported_media_type"),
        ("POST", "/v1/otp/verify", json_ct, format!(r#"{{"request_id":"{known}","code":"{}"}}"#, "1".repeat(5000)), None, 413, "payload_too_large"),
        ("GET", known_status.as_str(), None, "".into(), None, 404, "not_found"),
        ("GET", "/v1/otp/status/garbage", None, "".into(), None, 404, "not_found"),
        ("GET", "/v1/otp/status/", None, "".into(), None, 404, "not_found"),
        ("POST", "/v1/otp/status/x", json_ct, "{}".into(), None, 405, "method_not_allowed"),
        ("PUT", "/v1/otp/verify", json_ct, "{}".into(), None, 405, "method_not_allowed"),
        ("GET", "/v1/otp/verify", None, "".into(), None, 405, "method_not_allowed"),
        ("DELETE", "/webhook", None, "".into(), None, 405, "method_not_allowed"),
    ];
    assert!(cases.len() >= 30);
    let runs = cases.into_iter().map(|(method, path, ct, body, extra, status, code)| {
        let env = env.clone();
        async move {
            let mut req = env.http.request(method.parse().unwrap(), format!("{}{path}", env.main));
            if let Some(ct) = ct {
                req = req.header("Content-Type", ct);
            }
            if let Some((name, value)) = extra {
                req = req.header(name, value);
            }
            if method != "GET" {
                req = req.body(body.clone());
            }
            let resp = into_resp(req.send().await.unwrap()).await;
            assert_eq!((resp.status, resp.code()), (status, code), "{method} {path} {body:.80} -> {}", resp.text);
            assert!(resp.header("content-type").unwrap().starts_with("application/json"));
            assert!(resp.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    });
    join_all(runs).await;
    assert!(env.inbox(&ok_phone).await.is_empty(), "refused requests send nothing");
}

pub async fn per_ip_limit_applies(env: Arc<Env>) {
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let url = format!("{}/v1/otp/request", env.strict);
        let body = json!({ "phone": random_phone(), "turnstile_token": "pass-e2e" });
        let resp = env.http.post(url).header("CF-Connecting-IP", "203.0.113.7").json(&body).send().await.unwrap();
        statuses.push(into_resp(resp).await);
    }
    assert_eq!(statuses.iter().map(|r| r.status).collect::<Vec<_>>(), vec![202, 202, 202, 429]);
    assert_eq!(statuses[3].code(), "rate_limited");
    assert!(statuses[3].header("retry-after").is_some());
}

pub async fn logs_carry_no_code_and_no_full_number(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    assert_eq!(env.verify(&env.main, &id, &code).await.status, 200);
    env.verify(&env.main, &id, &wrong(&code)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = std::fs::read_to_string(&env.main_log).unwrap();
    let ours: Vec<&str> = log.lines().filter(|l| l.starts_with('{') && l.contains("\"route\"")).collect();
    assert!(ours.iter().any(|l| l.contains("otp_verify")), "request lines are logged");
    let masked = format!("+1{}{}", "*".repeat(8), &phone[phone.len() - 2..]);
    assert!(ours.iter().any(|l| l.contains(&masked)), "the masked number is logged");
    for secret in [phone.as_str(), &digits(&phone), &code, &wrong(&code), OTP_SECRET, TOKEN_SECRET] {
        assert!(!log.contains(secret), "the log contains {secret}");
    }
}

pub async fn captcha_is_checked_when_configured(env: Arc<Env>) {
    for body in [json!({ "phone": random_phone() }), json!({ "phone": random_phone(), "turnstile_token": "fail-e2e" })]
    {
        let resp = env.request(&env.strict, body).await;
        assert_eq!((resp.status, resp.code()), (403, "captcha_failed"), "{}", resp.text);
    }
}

/// §3 and §4.2, read straight from workerd's local KV storage: one record per
/// issued code, none for a verification, and the code only as its HMAC.
pub async fn kv_holds_one_hashed_record_per_code(env: Arc<Env>) {
    let phone = random_phone();
    let (_, first_code) = env.issue(&phone).await;
    let (second_id, second_code) = env.issue_again(&phone).await;
    assert_eq!(env.verify(&env.main, &second_id, &second_code).await.status, 200);

    let blobs = env.main_state.join("v3/kv/e2e/blobs");
    let records: Vec<Value> = std::fs::read_dir(&blobs)
        .unwrap_or_else(|e| panic!("{}: {e}", blobs.display()))
        .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
        .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|record| record["phone"] == phone.as_str())
        .collect();
    assert_eq!(records.len(), 2, "one KV write per issued code, none on verify: {records:?}");
    for record in &records {
        let mut fields: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["client_secret_hash", "code_hash", "created_ms", "expires_ms", "mode", "phone"]);
        for value in record.as_object().unwrap().values() {
            assert!(value != first_code.as_str() && value != second_code.as_str(), "a code stored in clear: {record}");
            assert!(!client_secrets_seen().iter().any(|s| value == s.as_str()), "a client secret in clear: {record}");
        }
        assert_eq!(record["code_hash"].as_str().unwrap().len(), 43, "base64url of a SHA-256 HMAC");
    }
}

/// Text mode (`WHATSAPP_MESSAGE_MODE=text`, on the strict worker): a plain text carries the code.
pub async fn text_mode_sends_the_code_as_text(env: Arc<Env>) {
    let phone = random_phone();
    let body = json!({ "phone": phone, "turnstile_token": "pass-e2e" });
    let url = format!("{}/v1/otp/request", env.strict);
    let resp =
        into_resp(env.http.post(url).header("CF-Connecting-IP", "198.51.100.9").json(&body).send().await.unwrap())
            .await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap();
    let message = &env.wait_for_messages(&phone, 1).await[0];
    assert_eq!(message["type"], "text");
    assert_eq!(message["payload"]["biz_opaque_callback_data"], id);
    let text = message["text"].as_str().unwrap();
    let code: String = text.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{text}");
    assert_eq!(env.verify(&env.strict, id, &code).await.status, 200);
}
