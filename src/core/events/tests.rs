use super::*;

use rusqlite::{params_from_iter, Connection};

const NOW: u64 = 1_764_151_200_000; // 2025-11-26T10:00:00Z

fn ids() -> impl FnMut() -> String {
    let mut n = 0u8;
    move || {
        n += 1;
        event_id([n; 16])
    }
}

#[test]
fn calling_codes_by_zone() {
    assert_eq!(calling_code("+14155550123").as_deref(), Some("1"));
    assert_eq!(calling_code("+79161234567").as_deref(), Some("7"));
    assert_eq!(calling_code("+447700900123").as_deref(), Some("44"));
    assert_eq!(calling_code("+4915123456789").as_deref(), Some("49"));
    assert_eq!(calling_code("+5511987654321").as_deref(), Some("55"));
    assert_eq!(calling_code("+353861234567").as_deref(), Some("353"));
    assert_eq!(calling_code("+2348031234567").as_deref(), Some("234"));
    assert_eq!(calling_code("+9715012345678").as_deref(), Some("971"));
    assert_eq!(calling_code("+12"), None);
    assert_eq!(calling_code("+0123456789"), None);
}

#[test]
fn rfc3339_round_trips_and_takes_offsets() {
    assert_eq!(rfc3339_millis(NOW + 123), "2025-11-26T10:00:00.123Z");
    assert_eq!(parse_rfc3339("2025-11-26T10:00:00.123Z"), Some(NOW + 123));
    assert_eq!(parse_rfc3339("2025-11-26T10:00:00Z"), Some(NOW));
    assert_eq!(parse_rfc3339("2025-11-26T12:00:00+02:00"), Some(NOW));
    assert_eq!(parse_rfc3339("2025-11-26T05:30:00-04:30"), Some(NOW));
    assert_eq!(parse_rfc3339("2025-11-26t10:00:00z"), Some(NOW));
    for bad in
        ["", "yesterday", "2025-11-26", "2025-11-26T10:00:00", "2025-11-26T10:00:00+2:00", "2025-13-26T10:00:00Z"]
    {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
}

#[test]
fn changes_become_events_without_the_full_number() {
    let changes = vec![
        Change::Requested { request_id: "otp_a".into(), mode: Mode::Outbound },
        Change::Sent { request_id: "otp_a".into(), message_id: Some("wamid.1".into()) },
        Change::Delivery {
            request_id: "otp_a".into(),
            status: DeliveryStatus::Delivered,
            error_code: None,
            pricing_category: Some("authentication".into()),
        },
        Change::Delivery {
            request_id: "otp_a".into(),
            status: DeliveryStatus::Failed,
            error_code: Some(131026),
            pricing_category: None,
        },
        Change::Delivery {
            request_id: "otp_a".into(),
            status: DeliveryStatus::Accepted,
            error_code: None,
            pricing_category: None,
        },
        Change::Verified { request_id: "otp_a".into(), via: VerifiedVia::Reply, seconds: 42 },
        Change::Revoked { request_id: "otp_a".into() },
        Change::OptedOut,
    ];
    let events = events_from_changes("+447700900123", &changes, NOW, ids());
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, [REQUESTED, SENT, DELIVERED, FAILED, VERIFIED, REVOKED, OPTED_OUT]);
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    for event in &events {
        assert!(event.id.starts_with("evt_") && event.id.len() == 26, "{}", event.id);
        assert_eq!(event.at, "2025-11-26T10:00:00.000Z");
        assert_eq!(event.country_code.as_deref(), Some("44"));
        let text = serde_json::to_string(event).unwrap();
        assert!(!text.contains("447700900123"), "full number in {text}");
        let masked = crate::core::phone::mask_phone("+447700900123");
        assert!(masked.contains('*') && text.contains(&masked), "masked number missing in {text}");
    }
    assert_eq!(events[0].data["mode"], "outbound");
    assert_eq!(events[2].data["pricing_category"], "authentication");
    assert_eq!(events[3].data["error_code"], 131026);
    assert_eq!(events[4].data["verified_via"], "reply");
    assert_eq!(events[4].data["seconds_to_verify"], 42);
    assert_eq!(events[5].data["jti"], "otp_a");
    assert_eq!(events[6].request_id, None);
    let json: Value = serde_json::to_value(&events[4]).unwrap();
    assert_eq!(json["type"], "verification.verified");
    assert_eq!(json["request_id"], "otp_a");
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, events[4]);
}

#[test]
fn budget_warning_has_no_number() {
    let events = events_from_changes("", &[Change::BudgetWarning { sends: 80, max: 100 }], NOW, ids());
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["type"], "budget.warning");
    assert_eq!(json["data"], json!({ "sent_today": 80, "limit": 100 }));
    assert!(json.get("request_id").is_none() && json.get("country_code").is_none());
}

/// The example of the Standard Webhooks specification's reference libraries.
#[test]
fn signature_matches_the_standard_webhooks_test_vector() {
    let secret = CallbackSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = r#"{"test": 2432232314}"#;
    assert_eq!(
        secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn secrets_must_be_whsec_base64() {
    assert!(CallbackSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    assert!(CallbackSecret::parse("whsec_not base64!").is_none());
    assert!(CallbackSecret::parse("whsec_c2hvcnQ=").is_none(), "a 5-byte key is too short");
    assert_eq!(
        format!("{:?}", CallbackSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()),
        "CallbackSecret(..)"
    );
}

fn settings(pairs: &[(&str, &str)]) -> EventsConfig {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    EventsConfig::from_lookup(|name| map.get(name).cloned())
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn settings_default_and_validate() {
    let none = settings(&[]);
    assert_eq!(none, EventsConfig::default());

    let full = settings(&[
        ("ADMIN_TOKEN", "an-admin-token-long-enough"),
        ("CALLBACK_URL", "https://backend.example/hooks/otp"),
        ("CALLBACK_SECRET", SECRET),
    ]);
    assert!(full.problems.is_empty(), "{:?}", full.problems);
    assert_eq!(full.admin_token.as_deref(), Some("an-admin-token-long-enough"));
    let callback = full.callback.unwrap();
    assert_eq!(callback.events, ["verification.verified", "verification.failed", "number.opted_out"]);
    assert_eq!(callback.retry_delays, [5, 30, 120, 600, 1800, 3600]);
    assert!(callback.wants("verification.failed") && !callback.wants("verification.sent"));

    let custom = settings(&[
        ("CALLBACK_URL", "http://127.0.0.1:9/cb"),
        ("CALLBACK_SECRET", SECRET),
        ("CALLBACK_EVENTS", "verification.revoked, verification.verified"),
        ("CALLBACK_RETRY_DELAYS", "1, 2"),
    ]);
    let callback = custom.callback.unwrap();
    assert_eq!(callback.events, ["verification.revoked", "verification.verified"]);
    assert_eq!((callback.retry_delay(1), callback.retry_delay(2), callback.retry_delay(7)), (1, 2, 2));
    assert_eq!(
        settings(&[("CALLBACK_URL", "http://x.example/cb"), ("CALLBACK_SECRET", SECRET), ("CALLBACK_EVENTS", "*")])
            .callback
            .unwrap()
            .events
            .len(),
        EVENT_TYPES.len()
    );

    let wrong = settings(&[
        ("ADMIN_TOKEN", "short"),
        ("CALLBACK_URL", "https://backend.example/cb"),
        ("CALLBACK_SECRET", "plain-secret"),
        ("CALLBACK_EVENTS", "verification.verified,verification.bogus"),
        ("CALLBACK_RETRY_DELAYS", "5,soon"),
    ]);
    assert_eq!(wrong.admin_token, None);
    assert_eq!(wrong.callback, None);
    assert_eq!(wrong.problems, ["ADMIN_TOKEN", "CALLBACK_EVENTS", "CALLBACK_RETRY_DELAYS", "CALLBACK_SECRET"]);
    assert_eq!(settings(&[("CALLBACK_URL", "ftp://x"), ("CALLBACK_SECRET", SECRET)]).problems, ["CALLBACK_URL"]);
    assert_eq!(settings(&[("CALLBACK_RETRY_DELAYS", "50000")]).problems, ["CALLBACK_RETRY_DELAYS"]);
}

#[test]
fn retry_schedule_grows_then_holds() {
    let delays: Vec<u32> = (1..=8).map(|a| retry_delay(&DEFAULT_RETRY_DELAYS, a)).collect();
    assert_eq!(delays, [5, 30, 120, 600, 1800, 3600, 3600, 3600]);
    assert_eq!(retry_delay(&DEFAULT_RETRY_DELAYS, 0), 5);
    assert_eq!(retry_delay(&[], 3), 5);
}

#[test]
fn callback_request_carries_standard_webhooks_headers() {
    let config = settings(&[("CALLBACK_URL", "https://backend.example/cb"), ("CALLBACK_SECRET", SECRET)]);
    let callback = config.callback.unwrap();
    let event = events_from_changes("+14155550123", &[Change::OptedOut], NOW, ids()).remove(0);
    let (body, headers) = callback.request(&event, 1_764_151_200);
    let header = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(header("webhook-id"), event.id);
    assert_eq!(header("webhook-timestamp"), "1764151200");
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("webhook-signature"), callback.secret.sign(&event.id, 1_764_151_200, &body));
    assert_eq!(serde_json::from_str::<Event>(&body).unwrap(), event);
}

#[test]
fn bearer_tokens_compare_exactly() {
    let token = "an-admin-token-long-enough";
    assert!(bearer_matches(Some("Bearer an-admin-token-long-enough"), token));
    assert!(bearer_matches(Some("bearer  an-admin-token-long-enough "), token));
    for wrong in [None, Some(""), Some("Bearer"), Some("Bearer "), Some("Basic an-admin-token-long-enough")] {
        assert!(!bearer_matches(wrong, token), "{wrong:?}");
    }
    assert!(!bearer_matches(Some("Bearer an-admin-token-long-enougH"), token));
    assert!(!bearer_matches(Some("Bearer an-admin-token-long-enough2"), token));
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
    assert_eq!(parse_window(Some("yesterday"), None, NOW), Err("since"));
    assert_eq!(parse_window(None, Some("1700000000"), NOW), Err("until"));
    assert_eq!(parse_window(Some("2025-11-26T10:00:00Z"), Some("2025-11-26T10:00:00Z"), NOW), Err("since"));
}

// ---------------------------------------------------------------------------
// The SQL, run on SQLite (the engine under D1).

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    for _ in 0..2 {
        // Twice: the schema is idempotent.
        for statement in SCHEMA {
            conn.execute(statement, []).unwrap();
        }
    }
    conn
}

fn to_sql(params: Vec<Param>) -> Vec<rusqlite::types::Value> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(s) => rusqlite::types::Value::Text(s),
            Param::Int(i) => rusqlite::types::Value::Integer(i),
            Param::Null => rusqlite::types::Value::Null,
        })
        .collect()
}

fn insert(conn: &Connection, events: &[Event]) {
    for event in events {
        conn.execute(INSERT_EVENT, params_from_iter(to_sql(event_row(event).unwrap()))).unwrap();
    }
}

fn n(row: &rusqlite::Row, i: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, i64>(i)? as u64)
}

fn key_counts(conn: &Connection, sql: &str, w: Window) -> Vec<KeyCount> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([w.since_ms as i64, w.until_ms as i64], |r| Ok(KeyCount { key: r.get(0)?, n: n(r, 1)? }))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn stats(conn: &Connection, w: Window) -> Value {
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
    };
    shape_stats(w, &rows)
}

/// A scripted day: US and UK numbers, every channel, a failure, a lock, an expiry.
fn scripted(at: u64) -> Vec<Event> {
    let mut next = ids();
    let mut all = Vec::new();
    let mut add = |number: &str, offset_s: u64, changes: Vec<Change>| {
        all.extend(events_from_changes(number, &changes, at + offset_s * 1000, &mut next));
    };
    let req = |id: &str| Change::Requested { request_id: id.into(), mode: Mode::Outbound };
    let sent = |id: &str| Change::Sent { request_id: id.into(), message_id: None };
    let delivered = |id: &str| Change::Delivery {
        request_id: id.into(),
        status: DeliveryStatus::Delivered,
        error_code: None,
        pricing_category: Some("authentication".into()),
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
    });
    assert_eq!(stats(&conn, window), expected);

    // The same events delivered again (a queue retry) change nothing.
    insert(&conn, &events);
    assert_eq!(stats(&conn, window), expected);
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
    event.kind = "verification.bogus".into();
    assert!(event_row(&event).is_none());
    event.kind = OPTED_IN.into();
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
    let file = include_str!("../../../migrations/0001_init.sql");
    let normalise = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").replace("( ", "(").replace(" )", ")");
    let statements: Vec<String> = file
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(normalise)
        .filter(|s| !s.is_empty())
        .collect();
    let schema: Vec<String> = SCHEMA.iter().map(|s| normalise(s)).collect();
    assert_eq!(statements, schema);
}

#[test]
fn dead_letters_keep_their_event() {
    let conn = db();
    let event = events_from_changes("+14155550123", &[Change::OptedOut], NOW, ids()).remove(0);
    let body = serde_json::to_string(&event).unwrap();
    for _ in 0..2 {
        conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(dead_letter_row("msg-1", &body, NOW)))).unwrap();
    }
    conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(dead_letter_row("msg-2", "not json", NOW + 1)))).unwrap();
    let mut stmt = conn.prepare(LIST_DEAD_LETTERS).unwrap();
    let rows: Vec<DeadLetterRow> = stmt
        .query_map([], |r| {
            Ok(DeadLetterRow {
                message_id: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
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
