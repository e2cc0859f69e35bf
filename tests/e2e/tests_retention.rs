//! Analytics retention on the `analytics` worker (`ANALYTICS_RETENTION_DAYS=3`):
//! events dated days ago are written into its local D1 (the SQLite file workerd keeps
//! it in), then the daily cron trigger is fired through workerd's own scheduled route
//! (`/cdn-cgi/handler/scheduled`, which `wrangler dev` always enables; the
//! `/__scheduled` of `--test-scheduled` is a middleware bundled into the worker).

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::client::{into_resp, Env, ADMIN_TOKEN};

e2e_tests! {
    // It writes D1's SQLite file from outside workerd: nothing may touch it meanwhile.
    old_events_fold_into_rollups_and_the_stats_stay_the_same.alone(),
    a_wrong_retention_is_named_by_healthz,
}

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// The analytics profile's `ANALYTICS_RETENTION_DAYS`.
const RETENTION_DAYS: i64 = 3;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)).to_string()
}

/// The analytics worker's D1 database: the one SQLite file of its D1 objects.
pub(crate) fn d1_file(env: &Env) -> PathBuf {
    let dir = env.run_dir.join("analytics/state/v3/d1/miniflare-D1DatabaseObject");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sqlite") && !p.ends_with("metadata.sqlite"))
        .collect();
    assert_eq!(files.len(), 1, "one D1 database file: {files:?}");
    files[0].clone()
}

async fn admin(env: &Env, path: &str) -> Value {
    let request = env.http.get(format!("{}{path}", env.analytics)).bearer_auth(ADMIN_TOKEN);
    let resp = into_resp(request.send().await.expect("GET")).await;
    assert_eq!(resp.status, 200, "{path}: {}", resp.text);
    resp.body
}

fn window(since: i64, until: i64) -> String {
    format!("since={}&until={}", rfc3339(since), rfc3339(until))
}

/// Fires the cron trigger in workerd; its answer is workerd's, not the worker's
/// (so not recorded for the OpenAPI check).
async fn run_cron(env: &Env) {
    let url = format!("{}/cdn-cgi/handler/scheduled?cron=17+3+*+*+*", env.analytics);
    let resp = env.http.get(url).send().await.expect("scheduled route");
    let status = resp.status().as_u16();
    assert_eq!((status, resp.text().await.unwrap_or_default()), (200, "ok".to_string()), "the scheduled run");
}

/// The retention lines the worker logged, once there are `n` (its console reaches
/// wrangler's log a moment after the run's answer).
async fn retention_log(env: &Env, n: usize) -> Vec<Value> {
    let path = env.run_dir.join("analytics/wrangler.log");
    for _ in 0..100 {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| l.contains("\"retention\""))
            .filter_map(|l| serde_json::from_str(&l[l.find('{').unwrap_or(0)..]).ok())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} retention lines in {}", path.display());
}

fn raw_events(db: &Connection, since: i64, until: i64) -> i64 {
    let sql = "SELECT COUNT(*) FROM events WHERE at_ms >= ?1 AND at_ms < ?2";
    db.query_row(sql, [since, until], |r| r.get(0)).unwrap()
}

/// One scripted day of twelve requests (US and UK: verified by code and by reply
/// with different times, failed with and without Meta's code, expired, one
/// locked) and an opt-out, as the consumer would have written them.
fn write_day(db: &Connection, day_start: i64, tag: &str) -> i64 {
    let mut n = 0;
    let mut add = |kind: &str, at: i64, request: Option<&str>, country: &str, extra: (Option<i64>, Option<&str>)| {
        n += 1;
        let (number, text) = extra;
        let (error_code, verified_via, seconds, pricing) = match kind {
            "verification.failed" => (number, None, None, None),
            "verification.verified" => (None, text, number, None),
            _ => (None, None, None, text),
        };
        db.execute(
            "INSERT INTO events (id, type, at_ms, request_id, country_code, error_code, verified_via, \
             seconds_to_verify, pricing_category, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '{}')",
            rusqlite::params![
                format!("evt_rt{tag}{n}"),
                kind,
                at,
                request,
                country,
                error_code,
                verified_via,
                seconds,
                pricing
            ],
        )
        .unwrap();
    };
    for i in 0..12i64 {
        let request = format!("otp_rt{tag}{i}");
        let r = Some(request.as_str());
        let country = if i % 3 == 0 { "44" } else { "1" };
        let at = day_start + 9 * HOUR_MS + i * 600_000;
        add("verification.requested", at, r, country, (None, None));
        add("verification.sent", at + 1_000, r, country, (None, None));
        match i % 4 {
            0 => {
                add("verification.delivered", at + 3_000, r, country, (None, Some("authentication")));
                add("verification.read", at + 4_000, r, country, (None, Some("authentication")));
                add("verification.verified", at + 9_000, r, country, (Some(5 + i), Some("code")));
            }
            1 => {
                add("verification.delivered", at + 3_000, r, country, (None, Some("authentication")));
                add("verification.verified", at + 30_000, r, country, (Some(20 + i), Some("reply")));
            }
            2 => add("verification.failed", at + 2_000, r, country, (if i == 2 { Some(131_026) } else { None }, None)),
            _ if i == 7 => add("verification.locked", at + 60_000, r, country, (None, None)),
            _ => add("verification.expired", at + 300_000, r, country, (None, None)),
        }
    }
    add("number.opted_out", day_start + 20 * HOUR_MS, None, "44", (None, None));
    n
}

/// Events older than the retention are folded into daily rollups and deleted by the
/// scheduled run; the stats of every range are what they were; recent events stay
/// raw; dead letters as old go too; a second run changes nothing.
pub async fn old_events_fold_into_rollups_and_the_stats_stay_the_same(env: Arc<Env>) {
    let env = env.as_ref();
    // Any admin query makes the worker create its tables.
    admin(env, "/v1/admin/stats").await;
    let now = now_ms();
    let today = now - now % DAY_MS;
    let cutoff = today - RETENTION_DAYS * DAY_MS;
    let (old_a, old_b) = (today - 6 * DAY_MS, today - 5 * DAY_MS);
    // Recent, yet outside the last 24 h the other analytics tests count.
    let recent = now - 50 * HOUR_MS;
    let recent_day = recent - recent % DAY_MS;
    let tag = format!("{}", now % 1_000_000);
    let db = Connection::open(d1_file(env)).expect("D1's SQLite file");
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let old_written = write_day(&db, old_a, &format!("{tag}a")) + write_day(&db, old_b, &format!("{tag}b"));
    // The recent day's events, at `recent` and in the hours after it.
    let recent_written = write_day(&db, recent - 9 * HOUR_MS, &format!("{tag}r"));
    let dead_event = json!({ "id": format!("evt_rt{tag}dead"), "type": "number.opted_out", "at": rfc3339(old_a),
                             "country_code": "44", "data": {} });
    db.execute(
        "INSERT INTO dead_letters (message_id, event_id, type, dead_at_ms, body) \
         VALUES (?1, ?2, 'number.opted_out', ?3, ?4)",
        rusqlite::params![format!("msg-rt{tag}"), dead_event["id"].as_str(), old_a + HOUR_MS, dead_event.to_string()],
    )
    .unwrap();
    assert_eq!(raw_events(&db, 0, cutoff), old_written);
    let windows = [
        window(old_a, old_b + DAY_MS),
        window(old_a, old_a + DAY_MS),
        window(old_b, old_b + DAY_MS),
        window(old_a - 30 * DAY_MS, now - 25 * HOUR_MS),
        window(recent_day, now - 25 * HOUR_MS),
    ];
    let mut before = Vec::new();
    for w in &windows {
        before.push(admin(env, &format!("/v1/admin/stats?{w}")).await);
    }
    assert_eq!((&before[0]["requested"], &before[0]["verified"]), (&json!(24), &json!(12)), "{}", before[0]);
    assert_eq!(before[0]["failures"], json!({ "131026": 2, "unknown": 4 }), "{}", before[0]);
    assert_eq!(before[3]["requested"], 36, "{}", before[3]);
    let old_hours = admin(env, &format!("/v1/admin/series?{}", windows[1])).await;
    let requested_in = |series: &Value| {
        series["hours"].as_array().unwrap().iter().map(|h| h["requested"].as_u64().unwrap()).sum::<u64>()
    };
    assert_eq!(requested_in(&old_hours), 12);
    assert_eq!(admin(env, "/v1/admin/dead-letters").await["dead_letters"].as_array().map(Vec::len), Some(1));

    run_cron(env).await;
    assert_eq!(raw_events(&db, 0, cutoff), 0, "no raw event older than the retention is left");
    assert_eq!(raw_events(&db, cutoff, now + DAY_MS), recent_written, "recent events untouched");
    let rollups: i64 = db.query_row("SELECT COUNT(*) FROM daily_rollups", [], |r| r.get(0)).unwrap();
    assert!(rollups > 0);
    for (w, expected) in windows.iter().zip(&before) {
        assert_eq!(&admin(env, &format!("/v1/admin/stats?{w}")).await, expected, "stats for {w}");
    }
    // The hourly series reads raw events only: the folded day's hours are zeros now.
    assert_eq!(requested_in(&admin(env, &format!("/v1/admin/series?{}", windows[1])).await), 0);
    assert_eq!(admin(env, "/v1/admin/dead-letters").await["dead_letters"], json!([]));
    let logged = retention_log(env, 1).await;
    let first = &logged[0];
    assert_eq!(first["retention"], "done", "{first}");
    assert_eq!(first["events_deleted"], old_written, "{first}");
    assert_eq!(first["days_folded"], json!([&rfc3339(old_a)[..10], &rfc3339(old_b)[..10]]), "{first}");
    assert_eq!((&first["dead_letters_deleted"], &first["retention_days"]), (&json!(1), &json!(RETENTION_DAYS)));

    // Again: nothing left to fold, nothing counted twice.
    run_cron(env).await;
    for (w, expected) in windows.iter().zip(&before) {
        assert_eq!(&admin(env, &format!("/v1/admin/stats?{w}")).await, expected, "stats for {w} after a second run");
    }
    let logged = retention_log(env, 2).await;
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!((&logged[1]["events_deleted"], &logged[1]["rollup_rows"]), (&json!(0), &json!(0)), "{}", logged[1]);
}

/// A retention that is no whole number of days ≥ 1 is named by `/healthz` (and the
/// scheduled run deletes nothing); verification is unaffected.
pub async fn a_wrong_retention_is_named_by_healthz(env: Arc<Env>) {
    let resp = env.get(&format!("{}/healthz", env.lenient)).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["features"]["problems"], json!(["ANALYTICS_RETENTION_DAYS"]), "{}", resp.text);
    assert!(!resp.text.contains("90d"), "a setting is named, never valued");
}
