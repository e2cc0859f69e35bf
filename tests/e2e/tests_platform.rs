//! Meta's platform as it is in 2026: messages from usernames without a phone number,
//! statuses matched by message id, billing categories, and the language fallback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{digits, random_phone, Env};
use crate::harness::PHONE_NUMBER_ID;
use crate::tests_webhook::fresh_id;

e2e_tests! {
    a_message_without_a_number_never_sinks_its_delivery,
    a_username_reply_verifies_only_by_quoting_our_message,
    inbound_never_verifies_without_a_number,
    statuses_are_matched_by_message_id_and_keep_the_billing_category,
    a_missing_translation_falls_back_to_the_default_language,
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A messages delivery in the shape Meta documents for 2026.
fn delivery(contacts: Vec<Value>, messages: Vec<Value>, statuses: Vec<Value>) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": contacts, "messages": messages, "statuses": statuses
        }}]}]
    })
}

/// A user who adopted a username: `user_id`, no `from`, no `wa_id`.
fn username_text(text: &str, quoting: Option<&str>) -> (Value, Value) {
    let contact =
        json!({ "profile": { "name": "Sheena", "username": "@sheena" }, "user_id": "US.13491208655302741918" });
    let mut message =
        json!({ "id": fresh_id(), "timestamp": now_s().to_string(), "type": "text", "text": { "body": text } });
    if let Some(id) = quoting {
        message["context"] = json!({ "from": "15550783881", "id": id });
    }
    (contact, message)
}

fn phone_text(phone: &str, text: &str) -> (Value, Value) {
    let contact = json!({ "profile": { "name": "Test" }, "wa_id": digits(phone), "user_id": "US.999" });
    let message = json!({ "from": digits(phone), "id": fresh_id(), "timestamp": now_s().to_string(), "type": "text", "text": { "body": text } });
    (contact, message)
}

async fn post(env: &Env, body: Value) -> Value {
    let answer = env.raw_delivery(body, "valid").await;
    assert_eq!(answer["webhook_status"], 200, "{answer}");
    answer
}

/// One message without a phone number never sinks the rest of its delivery.
pub async fn a_message_without_a_number_never_sinks_its_delivery(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let (c1, m1) = username_text("hello, it's me", None);
    let (c2, m2) = phone_text(&phone, &code);
    post(&env, delivery(vec![c1, c2], vec![m1, m2], vec![])).await;
    assert_eq!(env.status(&env.main, &id).await.body["status"], "verified");

    // A phone-less STOP beside a status for our message: the status is applied.
    let other = random_phone();
    let (other_id, _) = env.issue(&other).await;
    let wamid = env.first_message_id(&other).await;
    let (c, stop) = username_text("STOP", None);
    let status = json!({ "id": wamid, "status": "delivered", "timestamp": now_s().to_string(), "recipient_id": digits(&other), "biz_opaque_callback_data": other_id });
    post(&env, delivery(vec![c], vec![stop], vec![status])).await;
    assert_eq!(env.status(&env.main, &other_id).await.body["delivery"]["status"], "delivered");
}

/// A reply without a phone number verifies only when it quotes our very message.
pub async fn a_username_reply_verifies_only_by_quoting_our_message(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let wamid = env.first_message_id(&phone).await;
    // Give the worker a moment to link the message it sent (done after the 202).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for quoting in [None, Some("wamid.someone-elses-message")] {
        let (c, m) = username_text(&code, quoting);
        post(&env, delivery(vec![c], vec![m], vec![])).await;
        let status = env.status(&env.main, &id).await;
        assert_eq!((status.body["status"].as_str(), status.body["attempts_left"].as_u64()), (Some("pending"), Some(5)));
    }
    let (c, m) = username_text(&format!("code {code}"), Some(&wamid));
    post(&env, delivery(vec![c], vec![m], vec![])).await;
    let status = env.status(&env.main, &id).await;
    assert_eq!(
        (status.body["status"].as_str(), status.body["verified_via"].as_str()),
        (Some("verified"), Some("reply"))
    );
    // The confirmation goes to the number the code was sent to.
    let messages = env.wait_for_messages(&phone, 2).await;
    assert_eq!(messages[1]["type"], "text");
}

/// Inbound mode proves the number: a message without one never verifies it.
pub async fn inbound_never_verifies_without_a_number(env: Arc<Env>) {
    let phone = random_phone();
    let resp = env.request(&env.main, json!({ "phone": phone, "mode": "inbound" })).await;
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let code = resp.body["code"].as_str().unwrap().to_string();
    assert!(resp.body["wa_link"].as_str().unwrap().contains("Sign%20me%20in%20to%20whatsapp%2Dotp%2Dworker"));
    let (c, m) = username_text(&format!("Sign me in. My verification code is {code}"), None);
    post(&env, delivery(vec![c], vec![m], vec![])).await;
    let status = env.status(&env.main, &id).await;
    assert_eq!((status.body["status"].as_str(), status.body["attempts_left"].as_u64()), (Some("pending"), Some(5)));
    let (c, m) = phone_text(&phone, &format!("My verification code is {code}"));
    post(&env, delivery(vec![c], vec![m], vec![])).await;
    assert_eq!(env.status(&env.main, &id).await.body["status"], "verified", "from the number, the code counts");
}

/// A status with neither recipient nor request id still finds its request by the
/// message id, and keeps what was billed.
pub async fn statuses_are_matched_by_message_id_and_keep_the_billing_category(env: Arc<Env>) {
    let phone = random_phone();
    let (id, _) = env.issue(&phone).await;
    let wamid = env.first_message_id(&phone).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = json!({
        "id": wamid, "status": "delivered", "timestamp": now_s().to_string(),
        "recipient_user_id": "US.13491208655302741918",
        "pricing": { "billable": true, "pricing_model": "PMP", "category": "authentication-international", "type": "regular" }
    });
    post(&env, delivery(vec![], vec![], vec![status])).await;
    let body = env.status(&env.main, &id).await.body;
    assert_eq!(body["delivery"]["status"], "delivered", "{body}");
    assert_eq!(body["delivery"]["pricing_category"], "authentication-international");
}

/// No approved translation in the request's language: its base language, then the default one.
pub async fn a_missing_translation_falls_back_to_the_default_language(env: Arc<Env>) {
    // The stand-in's template has no French translation, as Meta would answer.
    let phone = random_phone();
    let resp = env.request(&env.main, json!({ "phone": phone, "locale": "fr_FR" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    assert_eq!(resp.body["locale"], "en_US");
    let inbox = env.wait_for_messages(&phone, 1).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["payload"]["template"]["language"]["code"], "en_US");

    // A translation that exists is used as asked.
    let spanish = random_phone();
    let resp = env.request(&env.main, json!({ "phone": spanish, "locale": "es" })).await;
    assert_eq!(resp.body["locale"], "es", "{}", resp.text);

    // Missing in the default language too: 502, and no loop (three sends tried, fr_FR,
    // fr and en_US, no more).
    let both = random_phone();
    env.script_failure(json!({ "code": 132001, "count": 4, "to": digits(&both) })).await;
    let resp = env.request(&env.main, json!({ "phone": both, "locale": "fr_FR" })).await;
    assert_eq!((resp.status, resp.code()), (502, "whatsapp_rejected"), "{}", resp.text);
    // The fourth scripted failure is still queued: only three sends were tried. (A
    // rejected template is our fault, so no cooldown stands in the way.)
    let next = env.request(&env.main, json!({ "phone": both })).await;
    assert_eq!((next.status, next.code()), (502, "whatsapp_rejected"), "the fourth failure was left for this send");
}
