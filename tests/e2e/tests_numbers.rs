//! Numbers as WhatsApp writes them: Brazil's ninth digit, Mexico's `1`, Argentina's
//! `9`. The stand-in answers sends with another `wa_id`, as Meta does, and replies,
//! keywords and statuses come from it; every spelling is one person with one guard.
//! Numbers here are +55, +52 and +54 ones no other test uses.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::client::{decode_token, digits, Env};

e2e_tests! {
    brazil_a_reply_from_the_number_without_the_ninth_digit_verifies,
    mexico_the_521_spelling_verifies_and_shares_the_cooldown,
    argentina_an_inbound_code_from_549_verifies,
    argentina_a_reply_quoting_our_message_from_metas_wa_id_verifies,
    system_messages_and_an_image_beside_a_code_never_fail_a_delivery,
    // Writes a Durable Object's SQLite file from outside workerd (as the previous
    // version left it): alone, so no other object is being opened beside it.
    guards_under_an_old_spelling_keep_their_opt_out_and_block.alone(),
}

/// `n` random digits.
fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// A São Paulo mobile as typed today, `+55 11 9 8XXX XXXX`, and as WhatsApp writes an
/// account registered before the ninth digit: `55 11 8XXX XXXX`.
fn brazil_mobile() -> (String, String) {
    let tail = random_digits(7);
    (format!("+55 11 98{} {}", &tail[..3], &tail[3..]), format!("55118{tail}"))
}

/// The stand-in answers sends to `typed` with `wa_id`, as Meta does.
async fn meta_resolves(env: &Env, typed: &str, wa_id: &str) {
    let body = json!({ "to": digits(&typed.replace(' ', "")), "wa_id": wa_id });
    let resp = env.post(&format!("{}/control/wa-id", env.standin), &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

/// A text from `from` (digits, WhatsApp's spelling).
async fn text_from(env: &Env, from: &str, text: &str) -> Value {
    let body = json!({ "from": from, "text": text });
    env.post(&format!("{}/control/webhook/reply", env.standin), &body).await.body
}

async fn status_of(env: &Env, id: &str) -> Value {
    env.status_with_token(&env.main, id).await.body
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

pub async fn brazil_a_reply_from_the_number_without_the_ninth_digit_verifies(env: Arc<Env>) {
    let (typed, wa_id) = brazil_mobile();
    let canonical = format!("+{}", digits(&typed.replace(' ', "")));
    meta_resolves(&env, &typed, &wa_id).await;
    let resp = env.request_code(&typed).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sent = env.wait_for_messages(&canonical, 1).await;
    assert_eq!(sent[0]["wa_id"], wa_id.as_str(), "the code went to the number as typed, Meta resolved it");
    let code = sent[0]["code"].as_str().unwrap().to_string();

    // A status from the account's own spelling lands on the request.
    let status = json!({ "message_id": sent[0]["id"], "status": "delivered" });
    let answer = env.post(&format!("{}/control/webhook/status", env.standin), &status).await.body;
    assert_eq!(answer["delivery"]["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"], wa_id.as_str());
    assert_eq!(status_of(&env, &id).await["status"], "delivered");

    assert_eq!(text_from(&env, &wa_id, &code).await["webhook_status"], 200);
    let status = status_of(&env, &id).await;
    assert_eq!((status["status"].as_str(), status["verified_via"].as_str()), (Some("verified"), Some("reply")));
    assert_eq!(decode_token(status["token"].as_str().unwrap())["sub"], canonical.as_str(), "one identity");
    // The confirmation goes back to the spelling the reply came from.
    let confirmation = env.wait_for_messages(&format!("+{wa_id}"), 1).await;
    assert!(confirmation[0]["text"].as_str().unwrap().contains("verified"), "{confirmation:?}");

    // STOP from the short spelling opts out the number as typed, and every spelling.
    assert_eq!(text_from(&env, &wa_id, "STOP").await["webhook_status"], 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for spelling in [typed.as_str(), canonical.as_str(), &format!("+{wa_id}")] {
        let refused = env.request_code(spelling).await;
        assert_eq!((refused.status, refused.code()), (403, "opted_out"), "{spelling}: {}", refused.text);
    }
    // And START from the typed spelling lets both back in.
    assert_eq!(text_from(&env, &digits(&canonical), "START").await["webhook_status"], 200);
    let again = env.request_code(&format!("+{wa_id}")).await;
    assert_eq!(again.status, 202, "{}", again.text);
}

pub async fn mexico_the_521_spelling_verifies_and_shares_the_cooldown(env: Arc<Env>) {
    let national = format!("55{}", random_digits(8));
    let (typed, wa_id) = (format!("+52 {national}"), format!("521{national}"));
    meta_resolves(&env, &typed, &wa_id).await;
    let first = env.request_code(&typed).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let id = first.body["request_id"].as_str().unwrap().to_string();
    // The `52 1` spelling inside the first one's cooldown: the same person, no second code.
    let second = env.request_code(&format!("+{wa_id}")).await;
    assert_eq!((second.status, second.code()), (429, "rate_limited"), "{}", second.text);
    assert_eq!(second.body["error"]["reason"], "resend_cooldown");
    assert!(env.inbox(&format!("+{wa_id}")).await.is_empty(), "nothing went to the other spelling");
    let code = env.latest_code(&format!("+52{national}")).await;
    assert_eq!(env.inbox(&format!("+52{national}")).await.len(), 1, "one code, one message");

    assert_eq!(text_from(&env, &wa_id, &format!("Mi código es {code}")).await["webhook_status"], 200);
    let status = status_of(&env, &id).await;
    assert_eq!((status["status"].as_str(), status["verified_via"].as_str()), (Some("verified"), Some("reply")));
    assert_eq!(decode_token(status["token"].as_str().unwrap())["sub"], format!("+52{national}"));
}

pub async fn argentina_an_inbound_code_from_549_verifies(env: Arc<Env>) {
    let national = format!("11{}", random_digits(8));
    let resp = env.request(&env.main, json!({ "phone": format!("+54 {national}"), "mode": "inbound" })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let code = resp.body["code"].as_str().unwrap().to_string();
    // Nothing was sent first: the canonical form alone ties `54 9 11 …` to `+54 11 …`.
    let answer = text_from(&env, &format!("549{national}"), &format!("My verification code is {code}")).await;
    assert_eq!(answer["webhook_status"], 200);
    let status = status_of(&env, &id).await;
    assert_eq!((status["status"].as_str(), status["verified_via"].as_str()), (Some("verified"), Some("inbound")));
}

/// A number typed with Argentina's domestic `15` is kept as typed (it is no
/// international spelling), and Meta resolves it: a reply quoting our message from the
/// `wa_id` Meta answered the send with still reaches the request, through that `wa_id`.
pub async fn argentina_a_reply_quoting_our_message_from_metas_wa_id_verifies(env: Arc<Env>) {
    let subscriber = random_digits(8);
    let typed = format!("+54 11 15 {subscriber}");
    let wa_id = format!("54911{subscriber}");
    meta_resolves(&env, &typed, &wa_id).await;
    let resp = env.request_code(&typed).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    let sent = env.wait_for_messages(&typed.replace(' ', ""), 1).await;
    let code = sent[0]["code"].as_str().unwrap();
    // Without the quote, `54 9 11 …` is someone else's number as far as the guards know.
    let unquoted = text_from(&env, &wa_id, code).await;
    assert_eq!(unquoted["webhook_status"], 200);
    assert_eq!(status_of(&env, &id).await["status"], "pending");
    // Quoting our message (the stand-in sends it from the message's `wa_id`).
    let body = json!({ "context_id": sent[0]["id"], "text": code });
    let quoted = env.post(&format!("{}/control/webhook/reply", env.standin), &body).await.body;
    assert_eq!(quoted["delivery"]["entry"][0]["changes"][0]["value"]["messages"][0]["from"], wa_id.as_str());
    assert_eq!(quoted["webhook_status"], 200, "{quoted}");
    let status = status_of(&env, &id).await;
    assert_eq!((status["status"].as_str(), status["verified_via"].as_str()), (Some("verified"), Some("reply")));
}

pub async fn system_messages_and_an_image_beside_a_code_never_fail_a_delivery(env: Arc<Env>) {
    let (typed, wa_id) = brazil_mobile();
    meta_resolves(&env, &typed, &wa_id).await;
    let (id, code) = env.issue(&typed.replace(' ', "")).await;
    let new_number = format!("55119{}", random_digits(8));
    let ts = (now_ms() / 1000).to_string();
    let message = |id: &str, kind: &str, extra: Value| {
        let mut m = json!({ "from": wa_id, "id": id, "timestamp": ts, "type": kind });
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        m
    };
    let messages = vec![
        message(
            &format!("wamid.sys1.{wa_id}"),
            "system",
            json!({ "system": { "body": "User A changed from one number to another", "new_wa_id": new_number, "type": "user_changed_number" } }),
        ),
        message(
            &format!("wamid.sys2.{wa_id}"),
            "system",
            json!({ "system": { "body": "User A changed their user id", "type": "user_changed_user_id", "user_id": "BR.1234567890" } }),
        ),
        message(&format!("wamid.img.{wa_id}"), "image", json!({ "image": { "id": "1", "mime_type": "image/jpeg" } })),
        message(
            &format!("wamid.rx.{wa_id}"),
            "reaction",
            json!({ "reaction": { "message_id": "wamid.x", "emoji": "👍" } }),
        ),
        message(&format!("wamid.new.{wa_id}"), "a_type_from_2027", json!({ "a_type_from_2027": {} })),
        message(&format!("wamid.code.{wa_id}"), "text", json!({ "text": { "body": code } })),
    ];
    let delivery = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "User A" }, "wa_id": wa_id }],
            "messages": messages,
        }}]}],
    });
    let answer = env.raw_delivery(delivery, "valid").await;
    assert_eq!(answer["webhook_status"], 200, "{answer}");
    let status = status_of(&env, &id).await;
    assert_eq!((status["status"].as_str(), status["verified_via"].as_str()), (Some("verified"), Some("reply")));
    // The number change is counted in the log, masked.
    let mut logged = String::new();
    for _ in 0..50 {
        logged = std::fs::read_to_string(&env.main_log).unwrap_or_default();
        if logged.contains("user_changed_number") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = logged.lines().find(|l| l.contains("\"webhook_system\":\"user_changed_number\"")).expect("logged");
    assert!(line.contains("\"new_phone\":\"+55*********"), "{line}");
    assert!(!line.contains(&new_number[4..]) && !line.contains(&wa_id[4..]), "numbers are masked: {line}");
}

/// workerd's own name for a Durable Object's storage file (its `idFromName`: HMAC of
/// the name under the SHA-256 of the namespace's unique key, then a MAC of that half).
fn object_file(env: &Env, name: &str) -> std::path::PathBuf {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let unique_key = "otp-e2e-main-PhoneGuard";
    let key = Sha256::digest(unique_key.as_bytes());
    let mut first = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    first.update(name.as_bytes());
    let half = first.finalize().into_bytes()[..16].to_vec();
    let mut second = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    second.update(&half);
    let id = [half, second.finalize().into_bytes()[..16].to_vec()].concat();
    env.main_state.join(format!("v3/do/{unique_key}/{}.sqlite", hex::encode(id)))
}

/// Leaves `state` (the guard's stored JSON) in the object named `name`, as the
/// previous version of the worker wrote it: a value the storage API serialises as a
/// V8 string.
fn plant_guard(env: &Env, name: &str, text: &str) {
    assert!(text.is_ascii());
    let mut value = vec![0xff, 0x0f, b'"'];
    let mut n = text.len();
    while n >= 0x80 {
        value.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    value.push(n as u8);
    value.extend_from_slice(text.as_bytes());
    let path = object_file(env, name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert!(!path.exists(), "{name} has no object yet");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
         CREATE TABLE _cf_METADATA (key INTEGER PRIMARY KEY, value BLOB);
         CREATE TABLE __miniflare_do_name (id INTEGER PRIMARY KEY, name TEXT);",
    )
    .unwrap();
    db.execute("INSERT INTO _cf_KV VALUES ('state', ?1)", [value]).unwrap();
    db.execute("INSERT INTO __miniflare_do_name VALUES (1, ?1)", [name]).unwrap();
}

/// A number's guard as the previous version stored it (`kind` first, as it writes it).
fn old_guard(number: &str, opted_out: bool, blocked: Value, keyword_ms: u64) -> String {
    format!(
        r#"{{"v":2,"object":{{"kind":"number","number":"{number}","sends":[],"requests":[],"opted_out":{opted_out},"last_keyword":{{"sent_ms":{keyword_ms},"id":"wamid.old.{number}"}},"idempotency":[],"consecutive_failures":0,"blocked":{blocked}}}}}"#
    )
}

/// Before guards were keyed by the canonical form, a STOP or NOT ME from WhatsApp's
/// spelling of a number landed on a guard under that spelling. Those guards are read
/// when the canonical guard decides for the person: nobody escapes an opt-out or a
/// block by typing the other spelling, and what the person says afterwards counts.
pub async fn guards_under_an_old_spelling_keep_their_opt_out_and_block(env: Arc<Env>) {
    let an_hour_ago = now_ms() - 3_600_000;
    // Brazil: opted out under `55 11 8XXX XXXX` (a STOP from the account's spelling).
    let (typed, wa_id) = brazil_mobile();
    plant_guard(&env, &format!("+{wa_id}"), &old_guard(&format!("+{wa_id}"), true, Value::Null, an_hour_ago));
    let refused = env.request_code(&typed).await;
    assert_eq!((refused.status, refused.code()), (403, "opted_out"), "{}", refused.text);
    assert!(env.inbox(&typed.replace(' ', "")).await.is_empty());

    // Mexico: a NOT ME under `52 1 …` blocks new codes for `+52 …` for the day.
    let national = format!("33{}", random_digits(8));
    let block = json!({ "until_ms": now_ms() + 86_400_000, "reason": "not_me" });
    plant_guard(&env, &format!("+521{national}"), &old_guard(&format!("+521{national}"), false, block, an_hour_ago));
    let refused = env.request_code(&format!("+52 {national}")).await;
    assert_eq!((refused.status, refused.code()), (429, "rate_limited"), "{}", refused.text);
    assert_eq!(refused.body["error"]["reason"], "not_me");

    // Argentina: opted out under `54 9 …`; a START from that spelling today opts the
    // person back in, and the old guard's STOP, read again, is not applied twice.
    let national = format!("11{}", random_digits(8));
    plant_guard(
        &env,
        &format!("+549{national}"),
        &old_guard(&format!("+549{national}"), true, Value::Null, an_hour_ago),
    );
    let refused = env.request_code(&format!("+54{national}")).await;
    assert_eq!((refused.status, refused.code()), (403, "opted_out"), "{}", refused.text);
    assert_eq!(text_from(&env, &format!("549{national}"), "START").await["webhook_status"], 200);
    let allowed = env.request_code(&format!("+54 {national}")).await;
    assert_eq!(allowed.status, 202, "{}", allowed.text);
}
