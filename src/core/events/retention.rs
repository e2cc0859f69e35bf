//! Retention: raw events are kept `ANALYTICS_RETENTION_DAYS`; every older whole UTC
//! day is then folded into `daily_rollups` (what the stats need of it) and its raw
//! events deleted, both in one D1 batch, which is one transaction: a day is either
//! still raw or folded, never both and never half. The daily cron trigger runs it.
//!
//! Folding adds to a day's rollup rows instead of replacing them, so a late event
//! (one that reached D1 after its day was folded) is added at the next run; and a
//! run repeated for the same day finds no raw rows left, so it adds nothing.

use super::analytics::{channel_of_event, Param};
use crate::core::time::DAY_MS;

/// How long raw events and dead letters are kept when `ANALYTICS_RETENTION_DAYS`
/// is unset.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// A hundred years: anything longer is a typo, not a policy.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Days folded per run at most. A steady state folds one a day; a backlog (the first
/// run over a year of events) catches up over a few runs rather than in one
/// invocation that could outlast its limits. Each day stands alone, so a run cut
/// short loses nothing.
pub const MAX_DAYS_PER_RUN: usize = 31;

/// The `channel` column of rollup rows that count requests across channels (every
/// facet but `channel`, whose rows carry the channel their events count for:
/// `analytics::channel_of_event`). A request that fell back to SMS is one request
/// in those, as in the raw stats.
pub const ALL_CHANNELS: &str = "*";

/// The first millisecond kept: the start of the UTC day `retention_days` before
/// `now_ms`. Every day that ends at or before `now - retention` is folded.
pub fn cutoff_ms(now_ms: u64, retention_days: u32) -> u64 {
    let keep_from = now_ms.saturating_sub(u64::from(retention_days) * DAY_MS);
    day_start(keep_from)
}

/// The start of the UTC day `at_ms` falls in.
pub fn day_start(at_ms: u64) -> u64 {
    at_ms - at_ms % DAY_MS
}

/// `?1` = cutoff: the oldest raw event before it (`at_ms`, NULL when none).
pub const OLDEST_EVENT_BEFORE: &str = "SELECT MIN(at_ms) AS at_ms FROM events WHERE at_ms < ?1";

/// `?1` = cutoff.
pub const PRUNE_DEAD_LETTERS: &str = "DELETE FROM dead_letters WHERE dead_at_ms < ?1";

/// Adds to a rollup row, or makes it.
macro_rules! fold_into_rollups {
    ($select:literal) => {
        concat!(
            "INSERT INTO daily_rollups (day_ms, country_code, channel, type, facet, value, n) ",
            $select,
            " ON CONFLICT (day_ms, country_code, channel, type, facet, value) DO UPDATE SET n = n + excluded.n"
        )
    };
}

/// Each binds `?1` = the day's start, `?2` = its end, and counts
/// what the matching stats query counts (`analytics::STATS_QUERIES`), for that day.
/// (Each `SELECT` has a `WHERE`: SQLite's upsert needs one to parse `ON CONFLICT`.)
pub const FOLD_DAY: [&str; 8] = [
    // '': each type's distinct requests (events without a request count themselves)
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), '*', type, '', '', COUNT(DISTINCT COALESCE(request_id, id)) \
         FROM events WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY country_code, type"
    ),
    // via: verified requests by the way they were verified
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), '*', type, 'via', COALESCE(verified_via, ''), \
         COUNT(DISTINCT request_id) FROM events \
         WHERE type = 'verification.verified' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY country_code, verified_via"
    ),
    // error_code: failed deliveries by Meta's code
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), '*', type, 'error_code', \
         COALESCE(CAST(error_code AS TEXT), 'unknown') AS code, COUNT(DISTINCT request_id) FROM events \
         WHERE type = 'verification.failed' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY country_code, code"
    ),
    // seconds: a histogram of seconds to verify, one count per second value, so the
    // percentiles over folded days stay exact; for all countries together (only the
    // whole is reported), which bounds it by the code's lifetime in rows per day
    fold_into_rollups!(
        "SELECT ?1, '', '*', 'verification.verified', 'seconds', CAST(s AS TEXT), COUNT(*) FROM ( \
           SELECT MIN(seconds_to_verify) AS s FROM events \
           WHERE type = 'verification.verified' AND seconds_to_verify IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
           GROUP BY request_id) \
         WHERE true GROUP BY s"
    ),
    // pricing: billed requests by Meta's pricing category, across every type (`*`)
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), '*', '*', 'pricing', pricing_category, COUNT(DISTINCT request_id) \
         FROM events WHERE pricing_category IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
         GROUP BY country_code, pricing_category"
    ),
    // channel: sent, delivered and verified requests by the channel each counts for
    concat!(
        "INSERT INTO daily_rollups (day_ms, country_code, channel, type, facet, value, n) \
         SELECT ?1, COALESCE(country_code, ''), channel, type, 'channel', '', COUNT(DISTINCT request_id) FROM ( \
           SELECT country_code, request_id, type, ",
        channel_of_event!("e"),
        " AS channel FROM events e \
           WHERE type IN ('verification.sent', 'verification.delivered', 'verification.verified') \
             AND at_ms >= ?1 AND at_ms < ?2) \
         WHERE true GROUP BY country_code, channel, type \
         ON CONFLICT (day_ms, country_code, channel, type, facet, value) DO UPDATE SET n = n + excluded.n"
    ),
    // reason: fallbacks by reason, under the channel they went to
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), COALESCE(json_extract(data, '$.to'), 'sms'), type, 'reason', \
         COALESCE(json_extract(data, '$.reason'), 'unknown') AS reason, COUNT(DISTINCT request_id) FROM events \
         WHERE type = 'verification.fallback' AND at_ms >= ?1 AND at_ms < ?2 \
         GROUP BY country_code, json_extract(data, '$.to'), reason"
    ),
    // refused: refused code requests by reason, each event counting `data.count`
    fold_into_rollups!(
        "SELECT ?1, COALESCE(country_code, ''), '*', type, 'refused', \
         COALESCE(json_extract(data, '$.reason'), 'unknown') AS reason, \
         SUM(COALESCE(json_extract(data, '$.count'), 1)) FROM events \
         WHERE type = 'verification.refused' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY country_code, reason"
    ),
];

/// `?1` = the day's start, `?2` = its end: the raw events just folded.
pub const DELETE_DAY: &str = "DELETE FROM events WHERE at_ms >= ?1 AND at_ms < ?2";

/// The statements that fold the day starting at `day_ms` and delete its raw events,
/// to run as one batch (one transaction), `DELETE_DAY` last.
pub fn fold_day(day_ms: u64) -> Vec<(&'static str, Vec<Param>)> {
    let (start, end) = (Param::Int(day_ms as i64), Param::Int((day_ms + DAY_MS) as i64));
    let mut statements: Vec<(&'static str, Vec<Param>)> =
        FOLD_DAY.iter().map(|sql| (*sql, vec![start.clone(), end.clone()])).collect();
    statements.push((DELETE_DAY, vec![start, end]));
    statements
}

/// What a run did, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// The start of each day folded, oldest first.
    pub days_folded: Vec<u64>,
    pub events_deleted: u64,
    /// Rollup rows made or added to.
    pub rollup_rows: u64,
    pub dead_letters_deleted: u64,
    /// Raw events older than the cutoff may remain (the run stopped at
    /// `MAX_DAYS_PER_RUN`, or on an error).
    pub more_left: bool,
}
