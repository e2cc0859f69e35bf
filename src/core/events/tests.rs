//! The analytics SQL, run on SQLite (the engine under D1), over events made the
//! real way; and the helpers the submodules' tests share.

use rusqlite::{params_from_iter, Connection};
use serde_json::{json, Value};

use super::analytics::*;
use super::event::{event_id, events_from_changes, mark_test_events, Event, EventType};
use crate::core::config::EventsConfig;
use crate::core::guard::{Change, DeliveryStatus, Mode, VerifiedVia};
use crate::core::time::{DAY_MS, HOUR_MS};

pub(super) const NOW: u64 = 1_764_151_200_000; // 2025-11-26T10:00:00Z

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(super) fn ids() -> impl FnMut() -> String {
    let mut n = 0u8;
    move || {
        n += 1;
        event_id([n; 16])
    }
}

pub(crate) fn settings(pairs: &[(&str, &str)]) -> EventsConfig {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    EventsConfig::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn windows_default_to_the_last_day() {
    assert_eq!(parse_window(None, None, NOW), Ok(Window { since_ms: NOW - DAY_MS, until_ms: NOW }));
    assert_eq!(
        parse_window(Some("2025-11-26T09:00:00Z"), None, NOW),
        Ok(Window { since_ms: NOW - HOUR_MS, until_ms: NOW })
    );
    assert_eq!(
        parse_window(None, Some("2025-11-25T10:00:00Z"), NOW),
        Ok(Window { since_ms: NOW - 2 * DAY_MS, until_ms: NOW - DAY_MS })
    );
    let field = |w: Result<Window, WindowError>| w.map_err(WindowError::field);
    assert_eq!(field(parse_window(Some("yesterday"), None, NOW)), Err("since"));
    assert_eq!(field(parse_window(None, Some("1700000000"), NOW)), Err("until"));
    assert_eq!(field(parse_window(Some("2025-11-26T10:00:00Z"), Some("2025-11-26T10:00:00Z"), NOW)), Err("since"));
}

pub(super) fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for _ in 0..2 {
        // Twice: the schema is idempotent.
        for statement in schema() {
            conn.execute(&statement, []).unwrap();
        }
    }
    conn
}

pub(super) fn to_sql(params: Vec<Param>) -> Vec<rusqlite::types::Value> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(s) => rusqlite::types::Value::Text(s),
            Param::Int(i) => rusqlite::types::Value::Integer(i),
            Param::Null => rusqlite::types::Value::Null,
        })
        .collect()
}

pub(super) fn insert(conn: &Connection, events: &[Event]) {
    for event in events {
        conn.execute(INSERT_EVENT, params_from_iter(to_sql(event_row(event).unwrap()))).unwrap();
    }
}

pub(super) fn n(row: &rusqlite::Row, i: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, i64>(i)? as u64)
}

fn key_counts(conn: &Connection, sql: &str, w: Window) -> Vec<KeyCount> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([w.since_ms as i64, w.until_ms as i64], |r| Ok(KeyCount { key: r.get(0)?, n: n(r, 1)? }))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn channel_counts(conn: &Connection, w: Window) -> Vec<ChannelCount> {
    let mut stmt = conn.prepare(STATS_QUERIES[6]).unwrap();
    let rows = stmt
        .query_map([w.since_ms as i64, w.until_ms as i64], |r| {
            Ok(ChannelCount { channel: r.get(0)?, kind: r.get(1)?, n: n(r, 2)? })
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

pub(super) fn stats(conn: &Connection, w: Window) -> Value {
    let p = [w.since_ms as i64, w.until_ms as i64];
    let percentiles =
        conn.query_row(STATS_QUERIES[3], p, |r| Ok(Percentiles { p50: r.get(0)?, p95: r.get(1)? })).unwrap();
    let mut stmt = conn.prepare(STATS_QUERIES[4]).unwrap();
    let countries = stmt
        .query_map(p, |r| {
            Ok(CountryRow { country_code: r.get(0)?, requested: n(r, 1)?, verified: n(r, 2)?, failed: n(r, 3)? })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rows = StatsRows {
        by_type: key_counts(conn, STATS_QUERIES[0], w),
        by_via: key_counts(conn, STATS_QUERIES[1], w),
        failures: key_counts(conn, STATS_QUERIES[2], w),
        percentiles,
        countries,
        billable: key_counts(conn, STATS_QUERIES[5], w),
        by_channel: channel_counts(conn, w),
        fallbacks: key_counts(conn, STATS_QUERIES[7], w),
        refused: key_counts(conn, STATS_QUERIES[8], w),
        refused_by_country: key_counts(conn, STATS_QUERIES[9], w),
    };
    shape_stats(w, &rows)
}

/// A scripted day: US and UK numbers, every channel, a failure, a lock, an expiry.
pub(super) fn scripted(at: u64) -> Vec<Event> {
    let mut next = ids();
    let mut all = Vec::new();
    let mut add = |number: &str, offset_s: u64, changes: Vec<Change>| {
        all.extend(events_from_changes(number, &changes, at + offset_s * 1000, &mut next));
    };
    let req = |id: &str| Change::Requested { request_id: id.into(), mode: Mode::Outbound };
    let sent =
        |id: &str| Change::Sent { request_id: id.into(), message_id: None, channel: crate::core::guard::Leg::WhatsApp };
    let delivered = |id: &str| Change::Delivery {
        request_id: id.into(),
        status: DeliveryStatus::Delivered,
        error_code: None,
        pricing_category: Some("authentication".into()),
        channel: crate::core::guard::Leg::WhatsApp,
    };
    let verified = |id: &str, via, seconds| Change::Verified { request_id: id.into(), via, seconds };
    // US: typed (10 s), replied (30 s), a failed delivery, a lock.
    add("+14155550101", 0, vec![req("r1"), sent("r1")]);
    add("+14155550101", 5, vec![delivered("r1")]);
    add("+14155550101", 10, vec![verified("r1", VerifiedVia::Code, 10)]);
    add("+14155550102", 20, vec![req("r2"), sent("r2")]);
    add(
        "+14155550102",
        30,
        vec![
            delivered("r2"),
            Change::Delivery {
                request_id: "r2".into(),
                status: DeliveryStatus::Read,
                error_code: None,
                pricing_category: Some("authentication".into()),
                channel: crate::core::guard::Leg::WhatsApp,
            },
        ],
    );
    add("+14155550102", 50, vec![verified("r2", VerifiedVia::Reply, 30)]);
    add("+14155550103", 60, vec![req("r3"), sent("r3")]);
    add(
        "+14155550103",
        61,
        vec![Change::Delivery {
            request_id: "r3".into(),
            status: DeliveryStatus::Failed,
            error_code: Some(131026),
            pricing_category: None,
            channel: crate::core::guard::Leg::WhatsApp,
        }],
    );
    add("+14155550104", 70, vec![req("r4"), sent("r4")]);
    add("+14155550104", 80, vec![Change::Locked { request_id: "r4".into() }]);
    // UK: inbound (60 s), an expiry, an opt-out.
    add("+447700900201", 100, vec![Change::Requested { request_id: "r5".into(), mode: Mode::Inbound }]);
    add("+447700900201", 160, vec![verified("r5", VerifiedVia::Inbound, 60)]);
    add("+447700900202", 200, vec![req("r6"), sent("r6")]);
    add("+447700900202", 500, vec![Change::Expired { request_id: "r6".into() }]);
    add("+447700900203", 600, vec![Change::OptedOut]);
    all
}

/// A request whose WhatsApp message was not delivered in time: the same code went by
/// SMS, was delivered there and typed in 40 s after the request.
pub(super) fn fell_back(at: u64) -> Vec<Event> {
    use crate::core::guard::{FallbackReason, Leg};
    let mut n = 100u8;
    let mut next = move || {
        n += 1;
        event_id([n; 16])
    };
    let id = || "f1".to_string();
    let number = "+14155550105";
    let steps = [
        (0, vec![Change::Requested { request_id: id(), mode: Mode::Outbound }]),
        (0, vec![Change::Sent { request_id: id(), message_id: None, channel: Leg::WhatsApp }]),
        (
            30,
            vec![
                Change::Fallback {
                    request_id: id(),
                    from: Leg::WhatsApp,
                    to: Leg::Sms,
                    reason: FallbackReason::NotDeliveredInTime,
                },
                Change::Sent { request_id: id(), message_id: None, channel: Leg::Sms },
            ],
        ),
        (
            35,
            vec![Change::Delivery {
                request_id: id(),
                status: DeliveryStatus::Delivered,
                error_code: None,
                pricing_category: None,
                channel: Leg::Sms,
            }],
        ),
        (40, vec![Change::Verified { request_id: id(), via: VerifiedVia::Code, seconds: 40 }]),
    ];
    steps.into_iter().flat_map(|(s, changes)| events_from_changes(number, &changes, at + s * 1000, &mut next)).collect()
}

#[test]
fn stats_split_by_channel_and_count_fallbacks_by_reason() {
    let conn = db();
    insert(&conn, &scripted(NOW));
    let window = Window { since_ms: NOW - HOUR_MS, until_ms: NOW + HOUR_MS };
    let before = stats(&conn, window);
    assert_eq!(
        before["by_channel"],
        json!({
            "whatsapp": { "sent": 5, "delivered": 2, "verified": 3 },
            "sms": { "sent": 0, "delivered": 0, "verified": 0 },
        })
    );
    assert_eq!(before["fallbacks"], json!({}));

    insert(&conn, &fell_back(NOW + 700_000));
    let after = stats(&conn, window);
    // The WhatsApp leg was sent, the SMS leg delivered and verified.
    assert_eq!(
        after["by_channel"],
        json!({
            "whatsapp": { "sent": 6, "delivered": 2, "verified": 3 },
            "sms": { "sent": 1, "delivered": 1, "verified": 1 },
        })
    );
    assert_eq!(after["fallbacks"], json!({ "not_delivered_in_time": 1 }));
    // The request is one request in the totals, though its code went twice.
    assert_eq!((after["requested"].as_u64(), after["sent"].as_u64()), (Some(7), Some(6)));
    assert_eq!((after["delivered"].as_u64(), after["verified"].as_u64()), (Some(3), Some(4)));

    // A verification before the fallback counts for WhatsApp: only a fallback at or
    // before it moves it.
    let early = stats(&conn, Window { since_ms: NOW + 700_000, until_ms: NOW + 720_000 });
    assert_eq!(early["by_channel"]["whatsapp"]["sent"], 1);
    assert_eq!(early["fallbacks"], json!({}));
}

#[test]
fn stats_count_the_scripted_day_exactly() {
    let conn = db();
    let events = scripted(NOW);
    insert(&conn, &events);
    let window = Window { since_ms: NOW - HOUR_MS, until_ms: NOW + HOUR_MS };
    let expected = json!({
        "since": "2025-11-26T09:00:00Z",
        "until": "2025-11-26T11:00:00Z",
        "requested": 6, "sent": 5, "delivered": 2, "read": 1, "failed": 1, "verified": 3,
        "expired": 1, "locked": 1, "opted_out": 1,
        "conversion_rate": 0.5,
        "verified_via": { "code": 1, "reply": 1, "inbound": 1 },
        "failures": { "131026": 1 },
        "seconds_to_verify": { "p50": 30, "p95": 60 },
        "by_country": [
            { "country_code": "1", "requested": 4, "verified": 2, "failed": 1, "conversion_rate": 0.5 },
            { "country_code": "44", "requested": 2, "verified": 1, "failed": 0, "conversion_rate": 0.5 },
        ],
        "billable": { "authentication": 2 },
        "by_channel": {
            "whatsapp": { "sent": 5, "delivered": 2, "verified": 3 },
            "sms": { "sent": 0, "delivered": 0, "verified": 0 },
        },
        "fallbacks": {},
        "refused": {},
        "refused_by_country": {},
        "test_verifications": 0,
    });
    assert_eq!(stats(&conn, window), expected);

    // The same events delivered again (a queue retry) change nothing.
    insert(&conn, &events);
    assert_eq!(stats(&conn, window), expected);
}

#[test]
fn test_numbers_are_counted_apart_and_never_in_the_funnel() {
    let conn = db();
    insert(&conn, &scripted(NOW));
    let window = Window { since_ms: NOW - HOUR_MS, until_ms: NOW + HOUR_MS };
    let before = stats(&conn, window);
    // Ids of their own: the scripted day's start at 1.
    let mut n = 200u8;
    let mut next = move || {
        n += 1;
        event_id([n; 16])
    };
    let mut test_events = Vec::new();
    for (i, id) in ["t1", "t2"].into_iter().enumerate() {
        let changes = [
            Change::Requested { request_id: id.into(), mode: Mode::Outbound },
            Change::Verified { request_id: id.into(), via: VerifiedVia::Code, seconds: 3 },
        ];
        let mut events = events_from_changes("+14155550109", &changes, NOW + i as u64, &mut next);
        mark_test_events(&mut events, &["t1".into(), "t2".into(), "other".into()]);
        test_events.extend(events);
    }
    assert!(test_events.iter().all(|e| e.data["test"] == true));
    // Events of other requests are not marked.
    let mut plain = events_from_changes("+14155550109", &[Change::OptedIn], NOW, &mut next);
    mark_test_events(&mut plain, &["t1".into()]);
    assert!(plain[0].data.get("test").is_none());
    insert(&conn, &test_events);
    let mut after = stats(&conn, window);
    assert_eq!(after["test_verifications"], 2);
    after["test_verifications"] = 0.into();
    assert_eq!(after, before, "test numbers changed the funnel");
}

#[test]
fn stats_respect_the_window_and_empty_windows_are_zero() {
    let conn = db();
    insert(&conn, &scripted(NOW));
    // Only the first 55 seconds: r1 and r2 requested and verified.
    let early = stats(&conn, Window { since_ms: NOW, until_ms: NOW + 55_000 });
    assert_eq!((early["requested"].as_u64(), early["verified"].as_u64()), (Some(2), Some(2)));
    assert_eq!(early["conversion_rate"], 1.0);
    assert_eq!(early["seconds_to_verify"], json!({ "p50": 10, "p95": 30 }));
    // `until` is exclusive.
    let before = stats(&conn, Window { since_ms: NOW - HOUR_MS, until_ms: NOW });
    assert_eq!(before["requested"], 0);
    assert_eq!(before["conversion_rate"], 0.0);
    assert_eq!(before["seconds_to_verify"], json!({ "p50": null, "p95": null }));
    assert_eq!(before["by_country"], json!([]));
    assert_eq!(before["failures"], json!({}));
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let conn = db();
    let mut next = ids();
    let mut events = Vec::new();
    for (i, seconds) in (1..=20u64).enumerate() {
        let id = format!("p{i}");
        events.extend(events_from_changes(
            "+14155550111",
            &[Change::Verified { request_id: id, via: VerifiedVia::Code, seconds }],
            NOW,
            &mut next,
        ));
    }
    insert(&conn, &events);
    let s = stats(&conn, Window { since_ms: NOW, until_ms: NOW + 1 });
    assert_eq!(s["seconds_to_verify"], json!({ "p50": 10, "p95": 19 }));
}

#[test]
fn unusable_events_are_not_rows() {
    let mut event = events_from_changes("+14155550123", &[Change::OptedIn], NOW, ids()).remove(0);
    assert!(event_row(&event).is_some());
    // An unknown type is no `Event` at all, so it never gets this far.
    let bogus = serde_json::to_string(&event).unwrap().replace("number.opted_in", "verification.bogus");
    assert!(serde_json::from_str::<Event>(&bogus).is_err());
    event.kind = EventType::OptedIn;
    event.at = "later".into();
    assert!(event_row(&event).is_none());
}

#[test]
fn series_fills_every_hour() {
    let conn = db();
    insert(&conn, &scripted(NOW));
    let window = Window { since_ms: NOW - 2 * HOUR_MS, until_ms: NOW + HOUR_MS };
    let mut stmt = conn.prepare(SERIES_QUERY).unwrap();
    let rows: Vec<HourRow> = stmt
        .query_map([window.since_ms as i64, window.until_ms as i64], |r| {
            Ok(HourRow { hour: n(r, 0)?, requested: n(r, 1)?, verified: n(r, 2)? })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let series = shape_series(window, &rows);
    let hours = series["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 3);
    assert_eq!(
        hours[0],
        json!({ "hour": "2025-11-26T08:00:00Z", "requested": 0, "verified": 0, "conversion_rate": 0.0 })
    );
    assert_eq!(
        hours[2],
        json!({ "hour": "2025-11-26T10:00:00Z", "requested": 6, "verified": 3, "conversion_rate": 0.5 })
    );
    let long = shape_series(Window { since_ms: 0, until_ms: NOW }, &[]);
    assert_eq!(long["hours"].as_array().unwrap().len() as u64, MAX_SERIES_HOURS);
}

#[test]
fn the_migration_file_is_the_schema() {
    // The file's comments (one holds a `;`) are not statements.
    let heads: Vec<String> =
        schema().iter().map(|s| s.split_whitespace().take(6).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        heads,
        [
            "CREATE TABLE IF NOT EXISTS events",
            "CREATE INDEX IF NOT EXISTS events_by_time",
            "CREATE INDEX IF NOT EXISTS events_by_request",
            "CREATE TABLE IF NOT EXISTS dead_letters",
            "CREATE TABLE IF NOT EXISTS daily_rollups",
            "CREATE INDEX IF NOT EXISTS dead_letters_by_time",
            "CREATE TABLE IF NOT EXISTS dead_letter_resends",
        ]
    );
    assert!(schema().iter().all(|s| !s.contains("--")));
}

#[test]
fn dead_letters_keep_their_event() {
    let conn = db();
    let event = events_from_changes("+14155550123", &[Change::OptedOut], NOW, ids()).remove(0);
    let body = serde_json::to_string(&event).unwrap();
    for _ in 0..2 {
        conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(DeadLetter::new("msg-1", &body, NOW).params())))
            .unwrap();
    }
    let not_json = DeadLetter::new("msg-2", "not json", NOW + 1);
    assert_eq!((&not_json.event_id, not_json.kind), (&None, None));
    conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(not_json.params()))).unwrap();
    let mut stmt = conn.prepare(LIST_DEAD_LETTERS).unwrap();
    let rows: Vec<DeadLetter> = stmt
        .query_map([], |r| {
            let kind: Option<String> = r.get(2)?;
            Ok(DeadLetter {
                message_id: r.get(0)?,
                event_id: r.get(1)?,
                kind: kind.map(|k| k.parse().unwrap()),
                dead_at_ms: n(r, 3)?,
                body: r.get(4)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let shaped = shape_dead_letters(&rows);
    let items = shaped["dead_letters"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one row per queue message");
    assert_eq!(items[0]["event"], Value::Null);
    assert_eq!(items[1]["event_id"], event.id.as_str());
    assert_eq!(items[1]["type"], "number.opted_out");
    assert_eq!(items[1]["dead_at"], "2025-11-26T10:00:00Z");
    assert_eq!(items[1]["event"], serde_json::to_value(&event).unwrap());
}

#[test]
fn a_dead_letter_is_resent_once() {
    use super::resend::{claim_params, decide, LetterRow, Resend, CLAIM, FIND, LIST_RESENDS, RELEASE};
    let conn = db();
    let letter = DeadLetter::new("msg-1", r#"{"x":1}"#, NOW);
    conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(letter.params()))).unwrap();
    let find = |id: &str| -> Option<LetterRow> {
        conn.query_row(FIND, [id], |r| {
            Ok(LetterRow {
                message_id: r.get(0)?,
                event_id: r.get(1)?,
                body: r.get(2)?,
                resent_at_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                claim: r.get(4)?,
            })
        })
        .ok()
    };
    let claim = |id: &str, at: u64, token: &str| {
        conn.execute(CLAIM, params_from_iter(to_sql(claim_params(id, at, token)))).unwrap()
    };
    assert_eq!(claim("msg-1", NOW, "a"), 1);
    assert_eq!(decide(find("msg-1").as_ref(), "a"), Resend::Queue { body: r#"{"x":1}"#.into() });
    assert_eq!(claim("msg-1", NOW + 5, "b"), 0, "the second call claims nothing");
    assert_eq!(decide(find("msg-1").as_ref(), "b"), Resend::Done);
    assert_eq!(find("msg-1").unwrap().resent_at_ms, Some(NOW), "the first resend's time stays");
    assert_eq!(claim("msg-9", NOW, "c"), 0);
    assert_eq!(decide(find("msg-9").as_ref(), "c"), Resend::Unknown);
    let listed: Vec<(String, i64)> = conn
        .prepare(LIST_RESENDS)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(listed, [("msg-1".to_string(), NOW as i64)]);
    // A queue that refused the event gives the claim back, so a retry can send it.
    conn.execute(RELEASE, ["msg-1", "b"]).unwrap();
    assert_eq!(find("msg-1").unwrap().claim.as_deref(), Some("a"), "only the holder releases");
    conn.execute(RELEASE, ["msg-1", "a"]).unwrap();
    assert_eq!(find("msg-1").unwrap().claim, None);
    assert_eq!(claim("msg-1", NOW + 9, "d"), 1);
}
