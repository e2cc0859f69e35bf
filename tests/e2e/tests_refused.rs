//! Refused code requests on the `analytics` worker: an attacker's flood of refused
//! requests is counted exactly, by reason, yet costs the queue and D1 a handful of
//! events rather than one each (`verification.refused` carries a count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

use crate::client::{into_resp, Env, ADMIN_TOKEN};
use crate::tests_retention::d1_file;

e2e_tests! {
    a_flood_of_refused_requests_is_counted_in_a_few_events,
}

/// How many refused requests the flood sends at once.
const FLOOD: u64 = 150;

/// `invalid_phone` refusals in the stats of the last hour (and the next, for clocks).
async fn refused_invalid_phones(env: &Env) -> u64 {
    let now = std::time::SystemTime::now();
    let since = humantime::format_rfc3339_seconds(now - Duration::from_secs(3600));
    let until = humantime::format_rfc3339_seconds(now + Duration::from_secs(3600));
    let url = format!("{}/v1/admin/stats?since={since}&until={until}", env.analytics);
    let resp = into_resp(env.http.get(url).bearer_auth(ADMIN_TOKEN).send().await.expect("GET")).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body: Value = resp.body;
    body["refused"]["invalid_phone"].as_u64().unwrap_or(0)
}

/// The `verification.refused` rows for `invalid_phone` in the worker's D1, read from
/// its SQLite file (read-only: workerd keeps writing it).
fn refused_rows(env: &Env) -> u64 {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(d1_file(env), flags).expect("D1's SQLite file");
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let sql = "SELECT COUNT(*) FROM events WHERE type = 'verification.refused' \
               AND json_extract(data, '$.reason') = 'invalid_phone'";
    db.query_row(sql, [], |r| r.get::<_, i64>(0)).expect("count") as u64
}

/// 150 requests at once for numbers that are no numbers (a probe needs no more): every
/// one is refused, the stats count exactly 150 more `invalid_phone` refusals, and D1
/// holds about one event per second of the flood, not one per request.
pub async fn a_flood_of_refused_requests_is_counted_in_a_few_events(env: Arc<Env>) {
    let env = env.as_ref();
    let (counted_before, rows_before) = (refused_invalid_phones(env).await, refused_rows(env));
    let started = Instant::now();
    let answers =
        join_all((0..FLOOD).map(|i| env.request(&env.analytics, json!({ "phone": format!("+999{i}") })))).await;
    let flood_s = started.elapsed().as_secs_f64();
    for resp in &answers {
        assert_eq!((resp.status, resp.code()), (400, "invalid_phone"), "{}", resp.text);
    }

    // Each flush comes about a second after the refusals it counts, then the queue's batch.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut counted = refused_invalid_phones(env).await;
    while counted < counted_before + FLOOD && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        counted = refused_invalid_phones(env).await;
    }
    assert_eq!(counted, counted_before + FLOOD, "every refusal counted once");
    let rows = refused_rows(env) - rows_before;
    // One isolate, one event per reason per second of refusals: the flood's seconds,
    // plus one for a flush that straddles its start.
    let bound = flood_s.ceil() as u64 + 1;
    println!("refused: {FLOOD} refusals in {flood_s:.1} s became {rows} events");
    assert!(rows >= 1 && rows <= bound, "{rows} events for {FLOOD} refusals in {flood_s:.1} s (at most {bound})");
}
