//! One signed webhook delivery of about 1 MiB, all code messages: how long the worker
//! takes to answer it (Meta delivers again when the answer is slow, and the whole
//! batch comes back). Half the messages carry the right code for a live request
//! (each verifies: code record read, attempt, confirmation queued), half a code from a
//! number with no request (each a guard round trip that finds nothing).

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::harness::{APP_SECRET, PHONE_NUMBER_ID};

/// The size Meta's deliveries can reach and the worker's body limit (1 MiB) allows.
const TARGET_BYTES: usize = 1_000_000;
const MESSAGES: usize = 500;

pub struct DeliveryRun {
    pub messages: usize,
    pub bytes: usize,
    pub answer: Duration,
    pub status: u16,
    /// Of the requests whose right code was in the delivery.
    pub verified: usize,
    pub expected: usize,
}

/// `pairs`: (phone digits, request id, code) of live requests made just before.
pub async fn run(http: &reqwest::Client, worker: &str, pairs: &[(String, String, String)], first: u64) -> DeliveryRun {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let per_message = TARGET_BYTES / MESSAGES;
    let mut messages = Vec::new();
    let mut contacts = Vec::new();
    for i in 0..MESSAGES {
        let (from, code) = match pairs.get(i / 2).filter(|_| i % 2 == 0) {
            Some((phone, _, code)) => (phone.clone(), code.clone()),
            None => (format!("1555{:07}", first + i as u64), "000000".to_string()),
        };
        // A long text with the code in it, as a chatty user (or an attacker) writes.
        let text = format!("my code is {code} {}", "x".repeat(per_message.saturating_sub(260)));
        contacts.push(json!({ "profile": { "name": "Bench" }, "wa_id": from }));
        messages.push(json!({
            "from": from, "id": format!("wamid.BENCH{first}x{i}"), "timestamp": now.to_string(),
            "type": "text", "text": { "body": text }
        }));
    }
    let delivery = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": contacts, "messages": messages
        }}]}]
    })
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(delivery.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let started = Instant::now();
    let resp = http
        .post(format!("{worker}/webhook"))
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", signature)
        .body(delivery.clone())
        .timeout(Duration::from_secs(120))
        .send()
        .await;
    let answer = started.elapsed();
    let status = resp.map(|r| r.status().as_u16()).unwrap_or(0);
    let mut verified = 0;
    for (_, id, _) in pairs.iter().take(MESSAGES.div_ceil(2)) {
        match request_status(http, worker, id).await {
            Ok(body) if body["status"] == "verified" => verified += 1,
            Ok(body) => eprintln!("[bench] {id} not verified after the delivery: {body}"),
            Err(e) => eprintln!("[bench] {id}: its status could not be read: {e}"),
        }
    }
    DeliveryRun {
        messages: MESSAGES,
        bytes: delivery.len(),
        answer,
        status,
        verified,
        expected: pairs.len().min(MESSAGES.div_ceil(2)),
    }
}

/// A request's status, asked again when the answer does not arrive: a kept-alive
/// loopback connection the dev server closed under load loses a call now and then
/// (the `null` statuses of earlier runs, counted as unverified), which says nothing
/// about the request.
async fn request_status(http: &reqwest::Client, worker: &str, id: &str) -> Result<Value, String> {
    let mut last = String::new();
    for _ in 0..3 {
        let call = http.get(format!("{worker}/v1/otp/status/{id}")).header("CF-Connecting-IP", "10.9.9.9");
        match call.send().await {
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.map_err(|e| e.to_string())?;
                return serde_json::from_str(&text).map_err(|_| format!("{status}: {text}"));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// How many live requests one run needs.
pub const REQUESTS_NEEDED: usize = MESSAGES.div_ceil(2);
