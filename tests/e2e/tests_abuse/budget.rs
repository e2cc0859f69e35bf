//! Every message the worker sends is paid for: codes and chat replies alike spend from
//! the day's budget, and a flood of keywords cannot become a flood of answers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::deliver_to;
use crate::client::{random_phone, Env};
use crate::tests_webhook::{fresh_id, incoming};

/// With `VERIFY_VIA=code,reply` inbound requests are refused. The day's budget (3
/// sends on this worker) counts codes and chat replies: two codes and one
/// confirmation spend it, then a code request gets `daily_budget_exhausted` and a
/// reply that still verifies gets no confirmation.
pub async fn operator_switches_channels_and_caps_spend(env: Arc<Env>) {
    let inbound = env.request(&env.guarded, json!({ "phone": random_phone(), "mode": "inbound" })).await;
    assert_eq!((inbound.status, inbound.code()), (400, "invalid_request"), "{}", inbound.text);
    let (first, second) = (random_phone(), random_phone());
    let mut ids = Vec::new();
    for phone in [&first, &second] {
        let resp = env.request(&env.guarded, json!({ "phone": phone })).await;
        assert_eq!(resp.status, 202, "{}", resp.text);
        ids.push(resp.body["request_id"].as_str().unwrap().to_string());
    }
    // The first owner replies with the code: verified, and the confirmation is the
    // day's third send.
    let code = env.latest_code(&first).await;
    assert_eq!(deliver_to(&env, &env.guarded, &incoming(&first, &code, &fresh_id())).await.status, 200);
    let messages = env.wait_for_messages(&first, 2).await;
    assert!(messages[1]["text"].as_str().unwrap().contains("Acme Bank"), "{messages:?}");
    let third = env.request(&env.guarded, json!({ "phone": random_phone() })).await;
    assert_eq!((third.status, third.code()), (503, "daily_budget_exhausted"), "{}", third.text);
    // The second owner still verifies; the budget has no room for a confirmation.
    let code = env.latest_code(&second).await;
    assert_eq!(deliver_to(&env, &env.guarded, &incoming(&second, &code, &fresh_id())).await.status, 200);
    assert_eq!(env.status(&env.guarded, &ids[1]).await.body["status"], "verified");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = env.inbox(&second).await;
    assert_eq!(messages.len(), 1, "only the code went out: {messages:?}");
}

/// Twenty STOP/START messages within a few seconds: all applied in order (the last,
/// a START, leaves the number in), one acknowledgement sent.
pub async fn a_flood_of_keywords_gets_one_acknowledgement_a_minute(env: Arc<Env>) {
    let phone = random_phone();
    for i in 0..20 {
        let word = if i % 2 == 0 { "STOP" } else { "START" };
        let answer = deliver_to(&env, &env.main, &incoming(&phone, word, &fresh_id())).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let acknowledged = env.wait_for_messages(&phone, 1).await;
    assert!(acknowledged[0]["text"].as_str().unwrap().contains("no longer receive"), "{acknowledged:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = env.inbox(&phone).await;
    assert_eq!(messages.len(), 1, "one acknowledgement for twenty keywords: {messages:?}");
    let resp = env.request_code(&phone).await;
    assert_eq!(resp.status, 202, "the last keyword was START: {}", resp.text);
}
