//! Edge hardening: each test performs an attack a red-team run found and checks
//! the worker, inside workerd, holds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{digits, into_resp, random_phone, wrong, Env, Resp};
use crate::harness::{free_port, Service, Worker};

mod red_team;
pub use red_team::*;

e2e_tests! {
    chunked_bodies_are_cut_off_at_the_limit.alone(),
    unknown_methods_get_405_and_head_works_like_get,
    weak_settings_are_refused_at_start_up,
    short_numbers_are_masked_to_the_country_code_and_two_digits,
    shared_and_satellite_ranges_are_refused,
    storm_of_wrong_codes_counts_exactly_max_attempts.alone(),
    storm_of_requests_for_one_number_sends_one_message.alone(),
    storm_of_right_codes_verifies_once.alone(),
    resend_racing_verify_never_verifies_the_old_code_later.alone(),
    no_code_is_sent_without_a_key_that_can_sign,
    pages_carry_a_content_security_policy,
    admin_windows_never_answer_5xx,
}

/// A client address in the benchmarking range (198.18.0.0/15), so storms never
/// spend the per-address allowance other tests share.
fn address(group: u8, n: usize) -> String {
    format!("198.18.{group}.{}", n % 250 + 1)
}

/// A client with a fresh connection per request: a kept-alive connection the dev
/// server closes under a storm shows as a connection reset, not as an answer.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(0).build().expect("client")
    })
}

async fn call(_env: &Env, method: Method, url: &str, ip: impl AsRef<str>, body: Option<&Value>) -> Resp {
    let mut builder = client().request(method, url).header("CF-Connecting-IP", ip.as_ref());
    if let Some(body) = body {
        builder = builder.json(body);
    }
    match builder.send().await {
        Ok(response) => into_resp(response).await,
        Err(e) => panic!("{url}: no answer: {e:?}"),
    }
}

/// Not one 5xx among the answers.
fn no_5xx(answers: &[Resp], what: &str) {
    let bad: Vec<(u16, &str)> =
        answers.iter().filter(|r| r.status >= 500).map(|r| (r.status, r.text.as_str())).collect();
    assert!(bad.is_empty(), "{what}: {} answers were 5xx, e.g. {:?}", bad.len(), &bad[..bad.len().min(3)]);
}

/// What a slow chunked upload got back, and how much of the body had been sent then.
struct Upload {
    status: u16,
    body: String,
    sent_when_answered: usize,
}

/// Streams `total` bytes as a chunked body (no `Content-Length`): `prefix`, then
/// spaces, `chunk` bytes every `pause`, while reading the answer; stops sending once
/// the answer starts.
async fn slow_chunked_upload(
    base: &str,
    path: &str,
    prefix: &[u8],
    total: usize,
    chunk: usize,
    pause: Duration,
) -> Upload {
    let authority = base.trim_start_matches("http://");
    let stream = TcpStream::connect(authority).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nCF-Connecting-IP: 198.18.9.1\r\nConnection: close\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.expect("request head");
    let sent = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicBool::new(false));
    let sending = {
        let (sent, answered) = (sent.clone(), answered.clone());
        let mut body: Vec<u8> = prefix.to_vec();
        tokio::spawn(async move {
            while sent.load(Ordering::SeqCst) < total && !answered.load(Ordering::SeqCst) {
                let len = chunk.min(total - sent.load(Ordering::SeqCst));
                body.resize(len.max(body.len()), b' ');
                let data: Vec<u8> = body.drain(..len).collect();
                let mut frame = format!("{len:x}\r\n").into_bytes();
                frame.extend(data);
                frame.extend(b"\r\n");
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
                sent.fetch_add(len, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
            }
            let _ = writer.write_all(b"0\r\n\r\n").await;
        })
    };
    let mut response = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent_when_answered = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let n = match tokio::time::timeout(remaining, reader.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => 0,
        };
        if n > 0 && sent_when_answered.is_none() {
            sent_when_answered = Some(sent.load(Ordering::SeqCst));
            answered.store(true, Ordering::SeqCst);
        }
        response.extend_from_slice(&buf[..n]);
        if n == 0 || complete(&response) {
            break;
        }
    }
    answered.store(true, Ordering::SeqCst);
    sending.abort();
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
    Upload { status, body, sent_when_answered: sent_when_answered.unwrap_or(usize::MAX) }
}

/// Whether an HTTP/1.1 response has fully arrived (by `Content-Length` or the last chunk).
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let head = head.to_ascii_lowercase();
    match head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        Some(len) => body.len() >= len.trim().parse::<usize>().unwrap_or(0),
        None => head.contains("transfer-encoding: chunked") && body.ends_with("0\r\n\r\n"),
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The answer to a cut-off upload: 413, and when its body arrived, the contract's error.
/// (workerd closes the connection with the rest of the upload unread, and the TCP
/// reset that follows can drop the body after the status line.)
fn assert_too_large(upload: &Upload, limit: usize, sent_at_most: usize) {
    let what = format!(
        "status {}, {} bytes sent when answered, body {:?}",
        upload.status, upload.sent_when_answered, upload.body
    );
    assert_eq!(upload.status, 413, "{what}");
    if !upload.body.is_empty() {
        let body: Value = serde_json::from_str(&upload.body).unwrap_or(Value::Null);
        assert_eq!(
            (body["error"]["code"].as_str(), body["error"]["limit"].as_u64()),
            (Some("payload_too_large"), Some(limit as u64)),
            "{what}"
        );
    }
    assert!(upload.sent_when_answered < sent_at_most, "answered too late: {what}");
}

pub async fn chunked_bodies_are_cut_off_at_the_limit(env: Arc<Env>) {
    const MIB: usize = 1024 * 1024;
    // A worker of its own: connections cut off mid-upload stay out of the other tests' way.
    let (worker, _stopping) = start_worker(&env, "upload", &[("IP_MAX_REQUESTS_PER_HOUR", "1000000")]).await;
    // 64 MiB without Content-Length, 4 KiB every 5 ms: all of it would take 80 s.
    let api = slow_chunked_upload(&worker, "/v1/otp/request", b"", 64 * MIB, 4 * 1024, Duration::from_millis(5)).await;
    println!("upload: API answered {} after {} KiB", api.status, api.sent_when_answered / 1024);
    assert_too_large(&api, 4096, MIB);
    // A chunked body within the limit is read whole: exactly 4096 bytes is fine.
    let phone = random_phone();
    let json = json!({ "phone": phone }).to_string();
    let fits = slow_chunked_upload(&worker, "/v1/otp/request", json.as_bytes(), 4096, 1000, Duration::ZERO).await;
    assert_eq!(fits.status, 202, "a 4096-byte chunked body is within the limit: {}", fits.body);
    let over = slow_chunked_upload(&worker, "/v1/otp/request", json.as_bytes(), 4097, 1000, Duration::ZERO).await;
    assert_eq!(over.status, 413, "4097 bytes are not: {}", over.body);
}

pub async fn unknown_methods_get_405_and_head_works_like_get(env: Arc<Env>) {
    let ip = "198.18.10.1";
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    assert_eq!(env.verify(&env.main, &id, &code).await.status, 200);
    let status_url = format!("{}/v1/otp/status/{id}", env.main);

    // Unknown methods were served as GET: PROPFIND on the status returned the token.
    for name in ["PROPFIND", "PURGE", "MKCOL", "propfind", "FOO"] {
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        let resp = call(&env, method, &status_url, ip, None).await;
        assert!(!resp.text.contains("token") && !resp.text.contains("verified"), "{name}: {}", resp.text);
        if resp.status == 501 && name != "PROPFIND" {
            continue; // a method the runtime itself does not know, refused before the worker
        }
        assert_eq!((resp.status, resp.code()), (405, "method_not_allowed"), "{name}: {}", resp.text);
        assert_eq!(resp.header("allow"), Some("GET, HEAD, OPTIONS"), "{name}");
        assert!(!resp.text.contains("token") && !resp.text.contains("verified"), "{name}: {}", resp.text);
    }
    for (method, path, allow) in [
        ("PROPFIND", "/healthz", "GET, HEAD, OPTIONS"),
        ("PUT", "/v1/otp/verify", "POST, OPTIONS"),
        ("PATCH", "/v1/otp/request", "POST, OPTIONS"),
        ("REPORT", "/webhook", "GET, HEAD, POST, OPTIONS"),
        ("PUT", "/webhook/twilio", "POST, OPTIONS"),
    ] {
        let url = format!("{}{path}", env.main);
        let resp = call(&env, Method::from_bytes(method.as_bytes()).unwrap(), &url, ip, None).await;
        assert_eq!((resp.status, resp.code()), (405, "method_not_allowed"), "{method} {path}: {}", resp.text);
        assert_eq!(resp.header("allow"), Some(allow), "{method} {path}");
    }
    // Even a worker with broken settings says 405 for a method no route takes.
    let resp = call(&env, Method::from_bytes(b"PROPFIND").unwrap(), &format!("{}/healthz", env.broken), ip, None).await;
    assert_eq!((resp.status, resp.code()), (405, "method_not_allowed"));

    // HEAD: the same status and headers as GET, and no body.
    let handshake = format!(
        "{}/webhook?hub.mode=subscribe&hub.verify_token={}&hub.challenge=4242",
        env.main,
        crate::harness::VERIFY_TOKEN
    );
    let cases = [
        format!("{}/healthz", env.main),
        format!("{}/healthz", env.broken),
        status_url.clone(),
        format!("{}/v1/otp/status/otp_00000000000000000000aa", env.main),
        format!("{}/v1/otp/request", env.main),
        format!("{}/nope", env.main),
        handshake,
    ];
    for url in cases {
        let get = call(&env, Method::GET, &url, ip, None).await;
        let head = call(&env, Method::HEAD, &url, ip, None).await;
        assert_eq!(head.status, get.status, "HEAD {url}");
        assert!(head.text.is_empty(), "HEAD {url} has a body: {}", head.text);
        for name in ["content-type", "cache-control", "x-content-type-options", "allow", "retry-after"] {
            assert_eq!(head.header(name), get.header(name), "HEAD {url}: {name}");
        }
        assert!(head.header("content-type").is_some(), "HEAD {url}: a content type");
    }
}

/// Stops a worker started by one test when the test ends, pass or fail.
pub struct Stopping(pub Service);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A worker started for one test, with `vars` over the defaults; stopped when dropped.
pub async fn start_worker(env: &Env, name: &str, vars: &[(&str, &str)]) -> (String, Stopping) {
    let dir = env.main_state.parent().and_then(|p| p.parent()).expect("run dir").to_path_buf();
    let worker = Worker::start(&dir, name, free_port(), &env.standin, vars, &[]).ready(&env.http).await;
    (worker.url.clone(), Stopping(worker.service))
}

pub async fn weak_settings_are_refused_at_start_up(env: Arc<Env>) {
    let weak = [
        ("OTP_LENGTH", "4"),
        ("OTP_TTL_SECONDS", "86400"),
        ("OTP_MAX_ATTEMPTS", "100"),
        ("TOKEN_TTL_SECONDS", "2678400"),
    ];
    // `WHATSAPP_APP_SECRET=x` passed once: a guessable secret signs forged webhooks.
    let secrets = [
        ("WHATSAPP_APP_SECRET", Some("x")),
        ("WHATSAPP_APP_SECRET_PREVIOUS", Some("old-app-secret")),
        ("WHATSAPP_VERIFY_TOKEN", Some("verify-me")),
    ];
    let worker = Worker::start(&env.run_dir, "weak", free_port(), &env.standin, &weak, &secrets).ready(&env.http).await;
    let (url, _stopping) = (worker.url.clone(), Stopping(worker.service));
    let mut names = vec!["OTP_LENGTH", "OTP_TTL_SECONDS", "OTP_MAX_ATTEMPTS", "TOKEN_TTL_SECONDS"];
    names.extend(["WHATSAPP_APP_SECRET", "WHATSAPP_APP_SECRET_PREVIOUS", "WHATSAPP_VERIFY_TOKEN"]);
    names.sort_unstable();
    let sorted = |v: &Value| {
        let mut v: Vec<String> = serde_json::from_value(v.clone()).unwrap_or_default();
        v.sort_unstable();
        v
    };
    let health = env.get(&format!("{url}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(sorted(&health.body["problems"]), names);
    assert!(!health.text.contains("old-app-secret") && !health.text.contains("verify-me"));
    let resp = call(
        &env,
        Method::POST,
        &format!("{url}/v1/otp/request"),
        "198.18.11.1",
        Some(&json!({ "phone": random_phone() })),
    )
    .await;
    assert_eq!((resp.status, resp.code()), (503, "misconfigured"), "{}", resp.text);
    assert_eq!(sorted(&resp.body["error"]["settings"]), names);
}

pub async fn short_numbers_are_masked_to_the_country_code_and_two_digits(env: Arc<Env>) {
    // An 8-digit UK-style number: the old mask kept 7 of its 10 digits.
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    let phone = format!("+44{:08}", u64::from_le_bytes(bytes) % 100_000_000);
    let resp = call(
        &env,
        Method::POST,
        &format!("{}/v1/otp/request", env.main),
        "198.18.12.1",
        Some(&json!({ "phone": phone })),
    )
    .await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let masked = format!("+44{}{}", "*".repeat(6), &phone[phone.len() - 2..]);
    let mut found = false;
    for _ in 0..50 {
        let log = std::fs::read_to_string(&env.main_log).unwrap_or_default();
        found = log.contains(&format!("\"phone\":\"{masked}\""));
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "a request line with {masked}");
    let log = std::fs::read_to_string(&env.main_log).unwrap();
    // No run of 3 digits of the subscriber part, anywhere in the log.
    let subscriber = &phone[3..];
    for start in 0..subscriber.len() - 2 {
        let run = &subscriber[start..start + 3];
        let with_stars = format!("*{run}");
        assert!(!log.contains(&format!("+44{run}")) && !log.contains(&with_stars), "{run} of {phone} is logged");
    }
    assert!(!log.contains(&digits(&phone)));
    // Every masked number any test logged shows at most 3 + 2 digits.
    for line in log.lines().filter(|l| l.starts_with('{')) {
        let Some(shown) = serde_json::from_str::<Value>(line).ok().and_then(|v| v["phone"].as_str().map(String::from))
        else {
            continue;
        };
        let digits_shown = shown.chars().filter(char::is_ascii_digit).count();
        assert!(digits_shown <= 5 && shown.ends_with(|c: char| c.is_ascii_digit()), "too much shown: {shown}");
    }
}

pub async fn shared_and_satellite_ranges_are_refused(env: Arc<Env>) {
    // short_ttl has no country list: before, every number was allowed.
    let url = format!("{}/v1/otp/request", env.short_ttl);
    for phone in ["+88212345678", "+870773123456", "+8816123456789", "+883510012345", "+88812345678", "+97912345678"] {
        let resp = call(&env, Method::POST, &url, "198.18.13.1", Some(&json!({ "phone": phone }))).await;
        assert_eq!((resp.status, resp.code()), (403, "country_not_allowed"), "{phone}: {}", resp.text);
        assert!(env.inbox(phone).await.is_empty(), "nothing was sent to {phone}");
    }
    // An unassigned calling code is no number at all: invalid, not a refused country.
    for phone in ["+21012345678", "+99912345678"] {
        let resp = call(&env, Method::POST, &url, "198.18.13.1", Some(&json!({ "phone": phone }))).await;
        assert_eq!((resp.status, resp.code()), (400, "invalid_phone"), "{phone}: {}", resp.text);
        assert!(env.inbox(phone).await.is_empty(), "nothing was sent to {phone}");
    }
    // An ordinary number still goes through on the same worker.
    let resp = call(&env, Method::POST, &url, "198.18.13.1", Some(&json!({ "phone": "+33612345678" }))).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
}

/// Runs `n` calls with at most `in_flight` at a time; returns the answers and the time taken.
async fn storm<F, Fut>(n: usize, in_flight: usize, call: F) -> (Vec<Resp>, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let started = Instant::now();
    let answers = stream::iter(0..n).map(call).buffer_unordered(in_flight).collect::<Vec<_>>().await;
    (answers, started.elapsed())
}

fn tally(answers: &[Resp]) -> Vec<(u16, String, usize)> {
    let mut counts: Vec<(u16, String, usize)> = Vec::new();
    for r in answers {
        match counts.iter_mut().find(|(s, c, _)| *s == r.status && c == r.code()) {
            Some(entry) => entry.2 += 1,
            None => counts.push((r.status, r.code().to_string(), 1)),
        }
    }
    counts.sort();
    counts
}

pub async fn storm_of_wrong_codes_counts_exactly_max_attempts(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let bad = wrong(&code);
    let url = format!("{}/v1/otp/verify", env.main);
    let body = json!({ "request_id": id, "code": bad });
    let (answers, took) = storm(1000, 100, |i| call(&env, Method::POST, &url, address(20, i % 10), Some(&body))).await;
    println!("storm: 1000 wrong codes in {:.1}s: {:?}", took.as_secs_f64(), tally(&answers));
    no_5xx(&answers, "wrong codes");
    let mut left: Vec<u64> = answers
        .iter()
        .filter(|r| r.code() == "invalid_code")
        .map(|r| r.body["error"]["attempts_left"].as_u64().unwrap_or(99))
        .collect();
    left.sort();
    assert_eq!(left, vec![0, 1, 2, 3, 4], "exactly OTP_MAX_ATTEMPTS wrong codes counted, each once");
    let locked = answers.iter().filter(|r| r.status == 429 && r.code() == "too_many_attempts").count();
    assert_eq!(locked, 995, "{:?}", tally(&answers));
    let right = call(&env, Method::POST, &url, &address(20, 0), Some(&json!({ "request_id": id, "code": code }))).await;
    assert_eq!((right.status, right.code()), (429, "too_many_attempts"), "the right code is too late");
}

pub async fn storm_of_requests_for_one_number_sends_one_message(env: Arc<Env>) {
    // short_ttl keeps the default 30 s cooldown: the whole storm falls inside it.
    let phone = random_phone();
    let url = format!("{}/v1/otp/request", env.short_ttl);
    let body = json!({ "phone": phone });
    let (answers, took) = storm(500, 100, |i| call(&env, Method::POST, &url, address(21, i % 10), Some(&body))).await;
    println!("storm: 500 requests for one number in {:.1}s: {:?}", took.as_secs_f64(), tally(&answers));
    assert!(took < Duration::from_secs(30), "the storm outlasted the cooldown");
    no_5xx(&answers, "requests");
    assert_eq!(answers.iter().filter(|r| r.status == 202).count(), 1, "{:?}", tally(&answers));
    assert_eq!(answers.iter().filter(|r| r.status == 429 && r.code() == "rate_limited").count(), 499);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.inbox(&phone).await.len(), 1, "one message went out");
}

pub async fn storm_of_right_codes_verifies_once(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let url = format!("{}/v1/otp/verify", env.main);
    let body = json!({ "request_id": id, "code": code });
    let (answers, took) = storm(200, 100, |i| call(&env, Method::POST, &url, address(22, i % 10), Some(&body))).await;
    println!("storm: 200 right codes in {:.1}s: {:?}", took.as_secs_f64(), tally(&answers));
    no_5xx(&answers, "right codes");
    let verified: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(verified.len(), 1, "{:?}", tally(&answers));
    assert!(verified[0].body["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(answers.iter().filter(|r| r.status != 200).all(|r| r.status == 409), "{:?}", tally(&answers));
}

pub async fn resend_racing_verify_never_verifies_the_old_code_later(env: Arc<Env>) {
    let started = Instant::now();
    let rounds = (0..8).map(|round| {
        let env = env.clone();
        async move {
            let ip = address(23, round);
            let phone = random_phone();
            let request_url = format!("{}/v1/otp/request", env.main);
            let first = call(&env, Method::POST, &request_url, &ip, Some(&json!({ "phone": phone }))).await;
            assert_eq!(first.status, 202, "{}", first.text);
            let old_id = first.body["request_id"].as_str().unwrap().to_string();
            let old_code = env.latest_code(&phone).await;
            tokio::time::sleep(Duration::from_millis(2100)).await; // the main worker's cooldown
            let verify_url = format!("{}/v1/otp/verify", env.main);
            let old = json!({ "request_id": old_id, "code": old_code });
            let accepted_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
            let resend = {
                let (env, accepted_at, ip, phone, url) =
                    (env.clone(), accepted_at.clone(), ip.clone(), phone.clone(), request_url.clone());
                async move {
                    let resp = call(&env, Method::POST, &url, &ip, Some(&json!({ "phone": phone }))).await;
                    if resp.status == 202 {
                        *accepted_at.lock().unwrap() = Some(Instant::now());
                    }
                    resp
                }
            };
            // Verifies of the old code, one every 100 ms (8 rounds at once stay well below
            // what one local workerd thread serves), from a little after the resend
            // starts (later each round, so some land before the new request is taken and
            // some after) until 300 ms after its 202 (at most 15 s).
            let offset = Duration::from_millis([0, 20, 40, 60, 90, 120, 180, 250][round]);
            let verifies = {
                let (env, accepted_at, old, ip, url) =
                    (env.clone(), accepted_at.clone(), old.clone(), ip.clone(), verify_url.clone());
                async move {
                    tokio::time::sleep(offset).await;
                    let started = Instant::now();
                    let mut calls = Vec::new();
                    while started.elapsed() < Duration::from_secs(15)
                        && !accepted_at.lock().unwrap().is_some_and(|t| t.elapsed() > Duration::from_millis(300))
                    {
                        let (env, old, ip, url) = (env.clone(), old.clone(), ip.clone(), url.clone());
                        calls.push(tokio::spawn(async move {
                            let sent_at = Instant::now();
                            (sent_at, call(&env, Method::POST, &url, &ip, Some(&old)).await)
                        }));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let mut answers = Vec::new();
                    for call in calls {
                        answers.push(call.await.expect("verify task"));
                    }
                    answers
                }
            };
            let (resend, verifies) = tokio::join!(resend, verifies);
            assert_eq!(resend.status, 202, "the resend: {}", resend.text);
            let accepted_at = accepted_at.lock().unwrap().expect("accepted");
            let answers: Vec<Resp> = verifies.iter().map(|(_, r)| clone_resp(r)).collect();
            no_5xx(&answers, "verifies racing a resend");
            assert!(verifies.iter().filter(|(_, r)| r.status == 200).count() <= 1, "{:?}", tally(&answers));
            let late: Vec<&(Instant, Resp)> = verifies.iter().filter(|(sent, _)| *sent > accepted_at).collect();
            for (_, r) in &late {
                assert_ne!(r.status, 200, "the old code verified after the new request was accepted");
            }
            // Afterwards the old code is dead and the new one works.
            let again = call(&env, Method::POST, &verify_url, &ip, Some(&old)).await;
            assert!(again.status == 410 || again.status == 409, "old code afterwards: {}", again.text);
            let new_id = resend.body["request_id"].as_str().unwrap().to_string();
            let new_code = env.latest_code(&phone).await;
            assert_ne!(new_id, old_id);
            let new =
                call(&env, Method::POST, &verify_url, &ip, Some(&json!({ "request_id": new_id, "code": new_code })))
                    .await;
            assert_eq!(new.status, 200, "the new code: {}", new.text);
            (late.len(), verifies.iter().filter(|(_, r)| r.status == 200).count())
        }
    });
    let all = futures_util::future::join_all(rounds).await;
    let results: Vec<(usize, usize)> = all;
    let late: usize = results.iter().map(|(l, _)| l).sum();
    let old_verified = results.iter().filter(|(_, v)| *v == 1).count();
    println!(
        "storm: resend racing verify, 8 rounds in {:.1}s; {late} verifies of the old code after the resend's 202, \
         old code verified first in {old_verified} rounds",
        started.elapsed().as_secs_f64()
    );
    assert!(late > 0, "some verifies raced past the resend");
}

fn clone_resp(r: &Resp) -> Resp {
    Resp { status: r.status, headers: r.headers.clone(), body: r.body.clone(), text: r.text.clone() }
}
