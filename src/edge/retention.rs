//! The daily cron trigger: folds every whole UTC day older than
//! `ANALYTICS_RETENTION_DAYS` that still has raw events into the daily rollups and
//! deletes its raw events (one D1 batch per day: one transaction), oldest first, then
//! deletes dead letters as old. One log line says what it did.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use worker::{event, D1Database, D1Result, Env, ScheduleContext, ScheduledEvent};

use super::analytics::batch;
use crate::core::events::analytics::Param;
use crate::core::events::retention::{
    cutoff_ms, day_start, fold_day, RetentionRun, MAX_DAYS_PER_RUN, OLDEST_EVENT_BEFORE, PRUNE_DEAD_LETTERS,
};
use crate::core::time::rfc3339;
use crate::edge::isolate::{settings, DB_BINDING};

#[derive(Deserialize)]
struct Oldest {
    at_ms: Option<u64>,
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let Ok(db) = env.d1(DB_BINDING) else {
        return; // No analytics, nothing to keep bounded.
    };
    let Some(days) = settings(&env).events.retention_days else {
        worker::console_error!(
            "{}",
            json!({ "retention": "skipped: ANALYTICS_RETENTION_DAYS is wrong, nothing deleted", "cron": event.cron() })
        );
        return;
    };
    // The time the run was scheduled for (a cron's own minute, or the test route's `time`).
    let now_ms = event.schedule() as u64;
    let cutoff = cutoff_ms(now_ms, days);
    let (done, error) = match run(&db, cutoff).await {
        Ok(done) => (done, None),
        Err((done, e)) => (done, Some(e.to_string())),
    };
    let line = json!({
        "retention": if error.is_some() { "stopped" } else { "done" },
        "cron": event.cron(),
        "retention_days": days,
        "cutoff": rfc3339(cutoff),
        "days_folded": done.days_folded.iter().map(|d| rfc3339(*d)[..10].to_string()).collect::<Vec<_>>(),
        "events_deleted": done.events_deleted,
        "rollup_rows": done.rollup_rows,
        "dead_letters_deleted": done.dead_letters_deleted,
        "more_left": done.more_left,
        "error": error,
    });
    if error.is_some() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Folds day after day until none older than `cutoff` has raw events (or
/// `MAX_DAYS_PER_RUN`), then prunes dead letters. On an error, what was done so far
/// stands (each day is its own transaction) and the next run goes on from there.
async fn run(db: &D1Database, cutoff: u64) -> Result<RetentionRun, (RetentionRun, worker::Error)> {
    let mut done = RetentionRun::default();
    let cutoff_param = || vec![Param::Int(cutoff as i64)];
    loop {
        let oldest = match batch(db, &[(OLDEST_EVENT_BEFORE, cutoff_param())]).await {
            Ok(results) => first_row::<Oldest>(&results).and_then(|o| o.at_ms),
            Err(e) => return Err((done, e)),
        };
        let Some(oldest) = oldest else { break };
        if done.days_folded.len() == MAX_DAYS_PER_RUN {
            done.more_left = true;
            break;
        }
        let day = day_start(oldest);
        let results = match batch(db, &fold_day(day)).await {
            Ok(results) => results,
            Err(e) => return Err((done, e)),
        };
        let changes: Vec<u64> = results.iter().map(changes).collect();
        if let Some((deleted, folded)) = changes.split_last() {
            done.events_deleted += deleted;
            done.rollup_rows += folded.iter().sum::<u64>();
        }
        done.days_folded.push(day);
    }
    match batch(db, &[(PRUNE_DEAD_LETTERS, cutoff_param())]).await {
        Ok(results) => done.dead_letters_deleted = results.first().map_or(0, changes),
        Err(e) => return Err((done, e)),
    }
    Ok(done)
}

fn first_row<T: DeserializeOwned>(results: &[D1Result]) -> Option<T> {
    results.first()?.results::<T>().ok()?.into_iter().next()
}

/// Rows a statement changed (D1's `meta.changes`).
fn changes(result: &D1Result) -> u64 {
    result.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64
}
