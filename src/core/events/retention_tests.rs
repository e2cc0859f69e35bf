//! Retention on SQLite (the engine under D1): a fold leaves the stats of every
//! range of whole days as they were, deletes what it folded and nothing else, and
//! counts once however often it runs.

use rusqlite::{params_from_iter, Connection};
use serde_json::{json, Value};

use super::analytics::{Window, INSERT_DEAD_LETTER};
use super::event::events_from_changes;
use super::refused::RefusalTally;
use super::retention::*;
use super::tests::{db, fell_back, ids, insert, scripted, stats, to_sql, NOW};
use super::{Event, EventType};
use crate::core::guard::{Change, VerifiedVia};
use crate::core::time::{DAY_MS, HOUR_MS};

/// The event with its event and request ids made unique by `tag`.
fn tagged(mut e: Event, tag: &str) -> Event {
    e.id = format!("{}{tag}", e.id);
    e.request_id = e.request_id.map(|r| format!("{r}-{tag}"));
    e
}

/// `scripted`'s day at `at`, its ids made unique by `tag`.
fn day_of_events(at: u64, tag: &str) -> Vec<Event> {
    scripted(at).into_iter().map(|e| tagged(e, tag)).collect()
}

/// What the scheduled handler does (`edge::retention`), on SQLite: each old day
/// folded in a transaction of its own, then dead letters pruned.
fn run(conn: &mut Connection, now_ms: u64, retention_days: u32) -> RetentionRun {
    let cutoff = cutoff_ms(now_ms, retention_days);
    let mut done = RetentionRun::default();
    loop {
        let oldest: Option<i64> = conn.query_row(OLDEST_EVENT_BEFORE, [cutoff as i64], |r| r.get(0)).unwrap();
        let Some(oldest) = oldest else { break };
        if done.days_folded.len() == MAX_DAYS_PER_RUN {
            done.more_left = true;
            break;
        }
        let day = day_start(oldest as u64);
        let tx = conn.transaction().unwrap();
        for (i, (sql, params)) in fold_day(day).into_iter().enumerate() {
            let changed = tx.execute(sql, params_from_iter(to_sql(params))).unwrap() as u64;
            if sql == DELETE_DAY {
                done.events_deleted += changed;
            } else {
                assert!(i < FOLD_DAY.len());
                done.rollup_rows += changed;
            }
        }
        tx.commit().unwrap();
        done.days_folded.push(day);
    }
    done.dead_letters_deleted = conn.execute(PRUNE_DEAD_LETTERS, [cutoff as i64]).unwrap() as u64;
    done
}

fn raw_events(conn: &Connection, since: u64, until: u64) -> u64 {
    let sql = "SELECT COUNT(*) FROM events WHERE at_ms >= ?1 AND at_ms < ?2";
    conn.query_row(sql, [since as i64, until as i64], |r| r.get::<_, i64>(0)).unwrap() as u64
}

fn window(since_ms: u64, until_ms: u64) -> Window {
    Window { since_ms, until_ms }
}

#[test]
fn the_cutoff_is_the_start_of_the_day_retention_days_ago() {
    // NOW is 2025-11-26T10:00:00Z.
    let today = day_start(NOW);
    assert_eq!(today, NOW - 10 * HOUR_MS);
    assert_eq!(cutoff_ms(NOW, 1), today - DAY_MS, "yesterday is kept whole; the day before is folded");
    assert_eq!(cutoff_ms(NOW, 90), today - 90 * DAY_MS);
    assert_eq!(cutoff_ms(today, 1), today - DAY_MS, "at midnight the day that just ended a day ago goes");
    assert_eq!(cutoff_ms(5 * HOUR_MS, 90), 0, "nothing before the epoch");
}

#[test]
fn folding_keeps_the_stats_of_whole_days_and_deletes_only_old_raw_events() {
    let mut conn = db();
    let today = day_start(NOW);
    let (old1, old2) = (today - 10 * DAY_MS, today - 9 * DAY_MS);
    insert(&conn, &day_of_events(old1 + 9 * HOUR_MS, "a"));
    insert(&conn, &day_of_events(old1 + 23 * HOUR_MS + 50 * 60_000, "b")); // up to 23:59:59 and one past midnight
    insert(&conn, &day_of_events(old2 + 12 * HOUR_MS, "c"));
    insert(&conn, &day_of_events(NOW - 2 * DAY_MS, "recent"));
    let letter = |id: &str, at: u64| {
        let params = super::analytics::DeadLetter::new(id, "{}", at).params();
        conn.execute(INSERT_DEAD_LETTER, params_from_iter(to_sql(params))).unwrap();
    };
    letter("old", old1 + HOUR_MS);
    letter("new", NOW - HOUR_MS);
    let windows = [
        window(old1, old2 + DAY_MS),
        window(old1, old1 + DAY_MS),
        window(old2, old2 + DAY_MS),
        window(old1 - 30 * DAY_MS, NOW + HOUR_MS),
        window(today - 3 * DAY_MS, NOW),
    ];
    let before: Vec<Value> = windows.iter().map(|w| stats(&conn, *w)).collect();
    assert_eq!(before[0]["requested"], 18, "three scripted days of six requests");
    let recent_raw = raw_events(&conn, today - 3 * DAY_MS, NOW + DAY_MS);

    let done = run(&mut conn, NOW, 5);
    // Day "b" ran past midnight: its opt-out is old2's.
    assert_eq!(done.days_folded, [old1, old2]);
    assert_eq!((done.dead_letters_deleted, done.more_left), (1, false));
    assert!(done.rollup_rows > 0);
    assert_eq!(done.events_deleted, raw_events_inserted() * 3);
    assert_eq!(raw_events(&conn, 0, cutoff_ms(NOW, 5)), 0, "no raw event older than the retention");
    assert_eq!(raw_events(&conn, today - 3 * DAY_MS, NOW + DAY_MS), recent_raw, "recent events untouched");
    let after: Vec<Value> = windows.iter().map(|w| stats(&conn, *w)).collect();
    assert_eq!(after, before);

    // Run again: nothing left to fold, nothing counted twice.
    let again = run(&mut conn, NOW, 5);
    assert_eq!((again.days_folded.len(), again.events_deleted, again.rollup_rows), (0, 0, 0));
    assert_eq!(windows.iter().map(|w| stats(&conn, *w)).collect::<Vec<_>>(), before);
}

#[test]
fn folding_keeps_the_channel_split_the_fallbacks_and_the_refusals() {
    let mut conn = db();
    let old = day_start(NOW) - 10 * DAY_MS;
    insert(&conn, &day_of_events(old + 9 * HOUR_MS, "a"));
    insert(&conn, &fell_back(old + 10 * HOUR_MS));
    let mut tally = RefusalTally::default();
    (0..25).for_each(|_| _ = tally.add("hourly_limit", Some("44"), old + 11 * HOUR_MS));
    tally.add("captcha_failed", None, old + 11 * HOUR_MS);
    let mut n = 0;
    insert(
        &conn,
        &tally.take(|| {
            n += 1;
            format!("evt_refused-old-{n}")
        }),
    );
    let whole = window(old, old + DAY_MS);
    let before = stats(&conn, whole);
    assert_eq!(before["by_channel"]["sms"], json!({ "sent": 1, "delivered": 1, "verified": 1 }));
    assert_eq!(before["fallbacks"], json!({ "not_delivered_in_time": 1 }));
    assert_eq!(before["refused"], json!({ "hourly_limit": 25, "captcha_failed": 1 }));
    assert_eq!(before["refused_by_country"], json!({ "44": 25 }));

    let done = run(&mut conn, NOW, 5);
    assert_eq!(done.days_folded, [old]);
    assert_eq!(raw_events(&conn, old, old + DAY_MS), 0);
    assert_eq!(stats(&conn, whole), before);
    // The rollups carry each channel's own rows; the other facets count across channels.
    let channels: Vec<String> = conn
        .prepare("SELECT DISTINCT channel FROM daily_rollups ORDER BY channel")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(channels, [ALL_CHANNELS, "sms", "whatsapp"]);
    run(&mut conn, NOW, 5);
    assert_eq!(stats(&conn, whole), before, "a second run adds nothing");
}

/// `scripted` makes this many events.
fn raw_events_inserted() -> u64 {
    scripted(NOW).len() as u64
}

#[test]
fn a_late_event_for_a_folded_day_is_added_at_the_next_run() {
    let mut conn = db();
    let old = day_start(NOW) - 10 * DAY_MS;
    insert(&conn, &day_of_events(old + HOUR_MS, "a"));
    let day = window(old, old + DAY_MS);
    let before = stats(&conn, day);
    run(&mut conn, NOW, 5);
    let late = events_from_changes(
        "+14155550199",
        &[Change::Verified { request_id: "late".into(), via: VerifiedVia::Code, seconds: 45 }],
        old + 2 * HOUR_MS,
        ids(),
    );
    let late: Vec<Event> = late.into_iter().map(|e| tagged(e, "late")).collect();
    insert(&conn, &late);
    // Read before the next run: rollup plus the late raw row.
    assert_eq!(stats(&conn, day)["verified"], before["verified"].as_u64().unwrap() + 1);
    run(&mut conn, NOW, 5);
    let after = stats(&conn, day);
    assert_eq!(after["verified"], before["verified"].as_u64().unwrap() + 1);
    assert_eq!(after["verified_via"]["code"], before["verified_via"]["code"].as_u64().unwrap() + 1);
    assert_eq!(after["by_country"][0]["verified"], before["by_country"][0]["verified"].as_u64().unwrap() + 1);
}

#[test]
fn percentiles_over_folded_and_raw_days_stay_exact() {
    let mut conn = db();
    let today = day_start(NOW);
    let mut next = ids();
    let mut events = Vec::new();
    // Seconds 1..=40: the odd ones on a day to be folded, the even ones recent,
    // with repeats so the histogram holds counts above one.
    for seconds in (1..=40u64).chain([3, 3, 3, 38]) {
        let at = if seconds % 2 == 1 { today - 20 * DAY_MS } else { today - DAY_MS };
        let id = format!("p{seconds}-{}", events.len());
        events.extend(events_from_changes(
            "+14155550111",
            &[Change::Verified { request_id: id, via: VerifiedVia::Code, seconds }],
            at,
            &mut next,
        ));
    }
    let events: Vec<Event> = events.into_iter().enumerate().map(|(i, e)| tagged(e, &i.to_string())).collect();
    insert(&conn, &events);
    let all = window(today - 30 * DAY_MS, NOW);
    let before = stats(&conn, all);
    assert_eq!(before["verified"], 44);
    run(&mut conn, NOW, 5);
    assert_eq!(raw_events(&conn, 0, today - 5 * DAY_MS), 0);
    assert_eq!(stats(&conn, all), before);
    assert_eq!(stats(&conn, all)["seconds_to_verify"], json!({ "p50": 19, "p95": 38 }));
}

#[test]
fn folded_days_count_in_windows_that_hold_their_start() {
    let mut conn = db();
    let old = day_start(NOW) - 10 * DAY_MS;
    insert(&conn, &day_of_events(old + 12 * HOUR_MS, "a"));
    let noon = old + 12 * HOUR_MS;
    let raw_half = |conn: &Connection| stats(conn, window(old, noon + HOUR_MS))["requested"].as_u64();
    assert_eq!(raw_half(&conn), Some(6));
    assert_eq!(stats(&conn, window(noon - HOUR_MS, old + DAY_MS))["requested"], 6);
    run(&mut conn, NOW, 5);
    // The day's start lies in [old, noon + 1 h): the whole day counts there…
    assert_eq!(raw_half(&conn), Some(6));
    assert_eq!(stats(&conn, window(old, old + 1))["requested"], 6);
    // …and not in a window that starts after midnight, though its events did.
    assert_eq!(stats(&conn, window(noon - HOUR_MS, old + DAY_MS))["requested"], 0);
    // Adjacent windows still add up to their union.
    let (a, b) = (stats(&conn, window(old - DAY_MS, noon)), stats(&conn, window(noon, old + 2 * DAY_MS)));
    assert_eq!(a["requested"].as_u64().unwrap() + b["requested"].as_u64().unwrap(), 6);
}

/// The documented approximation: distinct requests are counted per folded day, so
/// a request with events of one type either side of midnight counts once a day.
#[test]
fn a_request_across_midnight_counts_once_per_folded_day() {
    let mut conn = db();
    let old = day_start(NOW) - 10 * DAY_MS;
    let mut next = ids();
    let sent = |at: u64, next: &mut dyn FnMut() -> String| {
        events_from_changes(
            "+14155550101",
            &[Change::Sent {
                request_id: "r-midnight".into(),
                message_id: None,
                channel: crate::core::guard::Leg::WhatsApp,
            }],
            at,
            next,
        )
    };
    let mut events = sent(old + DAY_MS - 1000, &mut next);
    events.extend(sent(old + DAY_MS + 1000, &mut next));
    insert(&conn, &events);
    let both = window(old, old + 2 * DAY_MS);
    assert_eq!(stats(&conn, both)["sent"], 1);
    run(&mut conn, NOW, 5);
    assert_eq!(stats(&conn, both)["sent"], 2);
    assert_eq!(events[0].kind, EventType::Sent);
}

#[test]
fn a_backlog_is_folded_over_several_runs() {
    let mut conn = db();
    let today = day_start(NOW);
    for d in 0..40u64 {
        insert(&conn, &day_of_events(today - (100 + d) * DAY_MS, &format!("d{d}")));
    }
    let all = window(today - 200 * DAY_MS, NOW);
    let before = stats(&conn, all);
    let first = run(&mut conn, NOW, 90);
    assert_eq!((first.days_folded.len(), first.more_left), (MAX_DAYS_PER_RUN, true));
    assert_eq!(first.days_folded[0], today - 139 * DAY_MS, "oldest first");
    let second = run(&mut conn, NOW, 90);
    assert_eq!((second.days_folded.len(), second.more_left), (40 - MAX_DAYS_PER_RUN, false));
    assert_eq!(stats(&conn, all), before);
}

#[test]
fn fold_statements_bind_what_they_use() {
    let statements = fold_day(DAY_MS * 3);
    assert_eq!(statements.len(), FOLD_DAY.len() + 1);
    for (sql, params) in &statements {
        let highest = (1..=9).rev().find(|i| sql.contains(&format!("?{i}"))).unwrap();
        assert_eq!(params.len(), highest, "{sql}");
    }
    assert_eq!(statements.last().map(|(sql, _)| *sql), Some(DELETE_DAY));
}
