//! Analytics: the D1 schema, the rows events and dead letters become, and the
//! stats and series queries with the shaping of their results. The edge only runs
//! these statements and hands the rows back.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::event::{is_test, Event, EventType};
use crate::core::guard::{Leg, VerifiedVia};
use crate::core::time::{parse_rfc3339, rfc3339, DAY_MS, HOUR_MS};

/// The migrations `wrangler d1 migrations apply` runs, in order; the worker also runs
/// them once per isolate (every statement is idempotent), so the files are the only copy.
const MIGRATIONS: [&str; 3] = [
    include_str!("../../../migrations/0001_init.sql"),
    include_str!("../../../migrations/0002_daily_rollups.sql"),
    include_str!("../../../migrations/0003_dead_letter_resends.sql"),
];

/// The dashboard's hourly series covers at most this many hours.
pub const MAX_SERIES_HOURS: u64 = 24 * 31;

/// The migrations' statements, one by one (D1 prepares one statement at a time).
/// Comments there are whole lines starting with `--`, and may contain `;`.
pub fn schema() -> Vec<String> {
    let sql: Vec<&str> =
        MIGRATIONS.iter().flat_map(|m| m.lines()).filter(|l| !l.trim_start().starts_with("--")).collect();
    sql.join("\n").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

pub const INSERT_EVENT: &str = "INSERT OR IGNORE INTO events \
    (id, type, at_ms, request_id, country_code, error_code, verified_via, seconds_to_verify, pricing_category, data) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

pub const INSERT_DEAD_LETTER: &str = "INSERT OR IGNORE INTO dead_letters \
    (message_id, event_id, type, dead_at_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)";

pub const LIST_DEAD_LETTERS: &str = "SELECT message_id, event_id, type, dead_at_ms, body \
    FROM dead_letters ORDER BY dead_at_ms DESC LIMIT 100";

/// One value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Null,
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

/// The row an event becomes: `INSERT_EVENT`'s ten parameters. `None` when the
/// event is unusable (an id not ours, a time that does not parse).
pub fn event_row(event: &Event) -> Option<Vec<Param>> {
    if !event.id.starts_with("evt_") {
        return None;
    }
    let at_ms = parse_rfc3339(&event.at)?;
    let text = |key: &str| event.data.get(key).and_then(Value::as_str).map(str::to_string);
    let int = |key: &str| event.data.get(key).and_then(Value::as_i64);
    Some(vec![
        Param::Text(event.id.clone()),
        Param::Text(row_type(event)),
        Param::Int(at_ms as i64),
        event.request_id.clone().into(),
        event.country_code.clone().into(),
        int("error_code").into(),
        text("verified_via").into(),
        int("seconds_to_verify").into(),
        text("pricing_category").into(),
        Param::Text(serde_json::to_string(&event.data).unwrap_or_else(|_| "{}".into())),
    ])
}

/// Prefixed to the stored type of a test number's events (`test.verification.verified`):
/// every funnel query names the plain types, so test numbers stay out of the funnel
/// (and out of its daily rollups) without a clause in each, and are still counted
/// apart (`test_verifications`).
pub const TEST_TYPE_PREFIX: &str = "test.";

/// The `type` column of an event's row.
pub fn row_type(event: &Event) -> String {
    match is_test(event) {
        true => format!("{TEST_TYPE_PREFIX}{}", event.kind.as_str()),
        false => event.kind.as_str().to_string(),
    }
}

/// A message the dead-letter queue handed back: one row of `dead_letters`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<EventType>,
    pub dead_at_ms: u64,
    /// The message as received, kept whole even when it is no event.
    pub body: String,
}

impl DeadLetter {
    pub fn new(message_id: &str, body: &str, now_ms: u64) -> Self {
        let event: Option<Event> = serde_json::from_str(body).ok();
        DeadLetter {
            message_id: message_id.to_string(),
            event_id: event.as_ref().map(|e| e.id.clone()),
            kind: event.map(|e| e.kind),
            dead_at_ms: now_ms,
            body: body.to_string(),
        }
    }

    /// `INSERT_DEAD_LETTER`'s five parameters.
    pub fn params(&self) -> Vec<Param> {
        vec![
            Param::Text(self.message_id.clone()),
            self.event_id.clone().into(),
            self.kind.map(|k| k.as_str().to_string()).into(),
            Param::Int(self.dead_at_ms as i64),
            Param::Text(self.body.clone()),
        ]
    }
}

/// The body of `GET /v1/admin/dead-letters`: the newest 100, each with its event.
pub fn shape_dead_letters(rows: &[DeadLetter]) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "event_id": r.event_id,
                "type": r.kind,
                "dead_at": rfc3339(r.dead_at_ms),
                "event": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({ "dead_letters": items })
}

/// The window a stats query covers, in milliseconds: `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_ms: u64,
    pub until_ms: u64,
}

/// The query parameter that makes a window wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// Not a time, or not before `until`.
    Since,
    /// Not a time.
    Until,
}

impl WindowError {
    pub fn field(self) -> &'static str {
        match self {
            Self::Since => "since",
            Self::Until => "until",
        }
    }
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.field())
    }
}

/// `since`/`until` as RFC 3339, both optional (default: the 24 hours up to now).
pub fn parse_window(since: Option<&str>, until: Option<&str>, now_ms: u64) -> Result<Window, WindowError> {
    let until_ms = match until {
        Some(u) => parse_rfc3339(u).ok_or(WindowError::Until)?,
        None => now_ms,
    };
    let since_ms = match since {
        Some(s) => parse_rfc3339(s).ok_or(WindowError::Since)?,
        None => until_ms.saturating_sub(DAY_MS),
    };
    if since_ms >= until_ms {
        return Err(WindowError::Since);
    }
    Ok(Window { since_ms, until_ms })
}

/// The channel an event of `alias` (a row of `events`) counts for: a send's or a
/// delivery's own `data.channel` (events from before SMS have none: WhatsApp); a
/// verification's is the channel of the request's latest leg when it was verified,
/// that is the `to` of its latest `verification.fallback` before it, else WhatsApp.
/// (A verification whose fallback lies in an already folded day finds no fallback
/// left and counts for WhatsApp; the fallback window is minutes, so only one just
/// after midnight UTC can.)
macro_rules! channel_of_event {
    ($alias:literal) => {
        concat!(
            "CASE WHEN ",
            $alias,
            ".type = 'verification.verified' THEN COALESCE((SELECT json_extract(f.data, '$.to') \
               FROM events f WHERE f.request_id = ",
            $alias,
            ".request_id AND f.type = 'verification.fallback' \
               AND f.at_ms <= ",
            $alias,
            ".at_ms ORDER BY f.at_ms DESC LIMIT 1), 'whatsapp') \
             ELSE COALESCE(json_extract(",
            $alias,
            ".data, '$.channel'), 'whatsapp') END"
        )
    };
}
pub(crate) use channel_of_event;

/// Every query binds `?1` = since and `?2` = until (milliseconds); each counts
/// distinct requests (events without a request count themselves). Each reads the
/// raw events of the window plus the daily rollups (`crate::core::events::retention`)
/// of the days whose start lies in it: a day's raw events are deleted in the same
/// transaction that folds them, so nothing is counted twice.
pub const STATS_QUERIES: [&str; 10] = [
    // 0: per event type
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT type AS key, COUNT(DISTINCT COALESCE(request_id, id)) AS n FROM events \
       WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY type \
       UNION ALL SELECT type, n FROM daily_rollups WHERE facet = '' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 1: verified by channel
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT verified_via AS key, COUNT(DISTINCT request_id) AS n FROM events \
       WHERE type = 'verification.verified' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY verified_via \
       UNION ALL SELECT NULLIF(value, ''), n FROM daily_rollups \
       WHERE facet = 'via' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 2: failed deliveries by Meta error code
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT COALESCE(CAST(error_code AS TEXT), 'unknown') AS key, COUNT(DISTINCT request_id) AS n FROM events \
       WHERE type = 'verification.failed' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY key \
       UNION ALL SELECT value, n FROM daily_rollups WHERE facet = 'error_code' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 3: seconds to verify, nearest-rank percentiles over distinct requests (a
    // folded day contributes its histogram: each second value with its count)
    "WITH v AS ( \
       SELECT MIN(seconds_to_verify) AS s, 1 AS w FROM events \
       WHERE type = 'verification.verified' AND seconds_to_verify IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
       GROUP BY request_id \
       UNION ALL SELECT CAST(value AS INTEGER), n FROM daily_rollups \
       WHERE facet = 'seconds' AND day_ms >= ?1 AND day_ms < ?2), \
     r AS (SELECT s, SUM(w) OVER (ORDER BY s ROWS UNBOUNDED PRECEDING) AS upto, SUM(w) OVER () AS total FROM v) \
     SELECT MIN(CASE WHEN upto * 100 >= total * 50 THEN s END) AS p50, \
            MIN(CASE WHEN upto * 100 >= total * 95 THEN s END) AS p95 FROM r",
    // 4: by country (`verification.*` are exactly the types that carry a request)
    "SELECT country_code, SUM(requested) AS requested, SUM(verified) AS verified, SUM(failed) AS failed FROM ( \
       SELECT country_code, \
         COUNT(DISTINCT CASE WHEN type = 'verification.requested' THEN request_id END) AS requested, \
         COUNT(DISTINCT CASE WHEN type = 'verification.verified' THEN request_id END) AS verified, \
         COUNT(DISTINCT CASE WHEN type = 'verification.failed' THEN request_id END) AS failed \
       FROM events WHERE country_code IS NOT NULL AND request_id IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
       GROUP BY country_code \
       UNION ALL SELECT country_code, \
         SUM(CASE WHEN type = 'verification.requested' THEN n ELSE 0 END), \
         SUM(CASE WHEN type = 'verification.verified' THEN n ELSE 0 END), \
         SUM(CASE WHEN type = 'verification.failed' THEN n ELSE 0 END) \
       FROM daily_rollups WHERE facet = '' AND country_code != '' AND type LIKE 'verification.%' \
         AND day_ms >= ?1 AND day_ms < ?2 \
       GROUP BY country_code \
     ) GROUP BY country_code ORDER BY requested DESC, country_code",
    // 5: billed messages by Meta's pricing category
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT pricing_category AS key, COUNT(DISTINCT request_id) AS n FROM events \
       WHERE pricing_category IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 GROUP BY pricing_category \
       UNION ALL SELECT value, n FROM daily_rollups WHERE facet = 'pricing' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 6: sent, delivered and verified requests per channel (`CHANNEL_OF_EVENT`)
    concat!(
        "SELECT channel, type, SUM(n) AS n FROM ( \
           SELECT ",
        channel_of_event!("e"),
        " AS channel, type, COUNT(DISTINCT request_id) AS n FROM events e \
           WHERE type IN ('verification.sent', 'verification.delivered', 'verification.verified') \
             AND at_ms >= ?1 AND at_ms < ?2 GROUP BY channel, type \
           UNION ALL SELECT channel, type, n FROM daily_rollups \
           WHERE facet = 'channel' AND day_ms >= ?1 AND day_ms < ?2 \
         ) GROUP BY channel, type"
    ),
    // 7: fallbacks by reason
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT json_extract(data, '$.reason') AS key, COUNT(DISTINCT request_id) AS n FROM events \
       WHERE type = 'verification.fallback' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY key \
       UNION ALL SELECT value, n FROM daily_rollups WHERE facet = 'reason' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 8: refused code requests by reason: each event stands for `data.count` of them
    // (`crate::core::events::refused`)
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT json_extract(data, '$.reason') AS key, SUM(COALESCE(json_extract(data, '$.count'), 1)) AS n \
       FROM events WHERE type = 'verification.refused' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY key \
       UNION ALL SELECT value, n FROM daily_rollups WHERE facet = 'refused' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
    // 9: refused code requests by calling code (numbers that did not parse have none)
    "SELECT key, SUM(n) AS n FROM ( \
       SELECT country_code AS key, SUM(COALESCE(json_extract(data, '$.count'), 1)) AS n FROM events \
       WHERE type = 'verification.refused' AND country_code IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
       GROUP BY country_code \
       UNION ALL SELECT country_code, n FROM daily_rollups \
       WHERE facet = 'refused' AND country_code != '' AND day_ms >= ?1 AND day_ms < ?2 \
     ) GROUP BY key",
];

/// Requests and verifications per hour, for the dashboard's conversion chart: raw
/// events only (rollups are per day), so the hours of folded days read as zeros.
pub const SERIES_QUERY: &str = "SELECT at_ms / 3600000 AS hour, \
       COUNT(DISTINCT CASE WHEN type = 'verification.requested' THEN request_id END) AS requested, \
       COUNT(DISTINCT CASE WHEN type = 'verification.verified' THEN request_id END) AS verified \
     FROM events WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY hour ORDER BY hour";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KeyCount {
    pub key: Option<String>,
    pub n: u64,
}

/// One row of the per-channel query: a channel, an event type, its requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChannelCount {
    pub channel: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CountryRow {
    pub country_code: String,
    pub requested: u64,
    pub verified: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HourRow {
    pub hour: u64,
    pub requested: u64,
    pub verified: u64,
}

/// The results of `STATS_QUERIES`, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsRows {
    pub by_type: Vec<KeyCount>,
    pub by_via: Vec<KeyCount>,
    pub failures: Vec<KeyCount>,
    pub percentiles: Percentiles,
    pub countries: Vec<CountryRow>,
    pub billable: Vec<KeyCount>,
    pub by_channel: Vec<ChannelCount>,
    pub fallbacks: Vec<KeyCount>,
    pub refused: Vec<KeyCount>,
    pub refused_by_country: Vec<KeyCount>,
}

/// verified / requested, to four decimals; 0 when nothing was requested.
pub fn conversion_rate(verified: u64, requested: u64) -> f64 {
    if requested == 0 {
        return 0.0;
    }
    (verified as f64 / requested as f64 * 10_000.0).round() / 10_000.0
}

fn key_map(rows: &[KeyCount]) -> Map<String, Value> {
    rows.iter().filter_map(|r| r.key.clone().map(|k| (k, json!(r.n)))).collect()
}

fn count_of(rows: &[KeyCount], key: &str) -> u64 {
    rows.iter().find(|r| r.key.as_deref() == Some(key)).map_or(0, |r| r.n)
}

/// `{"whatsapp":{"sent","delivered","verified"},"sms":{…}}`, every count present.
fn by_channel(rows: &[ChannelCount]) -> Value {
    let count = |leg: Leg, kind: EventType| {
        rows.iter()
            .filter(|r| r.channel.as_deref() == Some(leg.as_str()) && r.kind == kind.as_str())
            .map(|r| r.n)
            .sum::<u64>()
    };
    let channels: Map<String, Value> = [Leg::WhatsApp, Leg::Sms]
        .into_iter()
        .map(|leg| {
            let counts = json!({
                "sent": count(leg, EventType::Sent),
                "delivered": count(leg, EventType::Delivered),
                "verified": count(leg, EventType::Verified),
            });
            (leg.as_str().to_string(), counts)
        })
        .collect();
    Value::Object(channels)
}

/// The body of `GET /v1/admin/stats`.
pub fn shape_stats(window: Window, rows: &StatsRows) -> Value {
    let count = |kind: EventType| count_of(&rows.by_type, kind.as_str());
    let (requested, verified) = (count(EventType::Requested), count(EventType::Verified));
    let verified_via: Map<String, Value> = [VerifiedVia::Code, VerifiedVia::Reply, VerifiedVia::Inbound]
        .into_iter()
        .map(|via| (via.as_str().to_string(), json!(count_of(&rows.by_via, via.as_str()))))
        .collect();
    let seconds = |v: Option<f64>| v.map(|s| json!(s.round() as u64)).unwrap_or(Value::Null);
    json!({
        "since": rfc3339(window.since_ms),
        "until": rfc3339(window.until_ms),
        "requested": requested,
        "sent": count(EventType::Sent),
        "delivered": count(EventType::Delivered),
        "read": count(EventType::Read),
        "failed": count(EventType::Failed),
        "verified": verified,
        "expired": count(EventType::Expired),
        "locked": count(EventType::Locked),
        "opted_out": count(EventType::OptedOut),
        "conversion_rate": conversion_rate(verified, requested),
        "verified_via": verified_via,
        "failures": key_map(&rows.failures),
        "seconds_to_verify": { "p50": seconds(rows.percentiles.p50), "p95": seconds(rows.percentiles.p95) },
        "by_country": rows.countries.iter().map(|c| json!({
            "country_code": c.country_code,
            "requested": c.requested,
            "verified": c.verified,
            "failed": c.failed,
            "conversion_rate": conversion_rate(c.verified, c.requested),
        })).collect::<Vec<_>>(),
        "billable": key_map(&rows.billable),
        "by_channel": by_channel(&rows.by_channel),
        "fallbacks": key_map(&rows.fallbacks),
        "refused": key_map(&rows.refused),
        "refused_by_country": key_map(&rows.refused_by_country),
        "test_verifications": count_of(&rows.by_type, &format!("{TEST_TYPE_PREFIX}{}", EventType::Verified.as_str())),
    })
}

/// The body of `GET /v1/admin/series`: every hour of the window (the last
/// `MAX_SERIES_HOURS` at most), hours without events as zeros.
pub fn shape_series(window: Window, rows: &[HourRow]) -> Value {
    let last = (window.until_ms - 1) / HOUR_MS;
    let first = (window.since_ms / HOUR_MS).max(last.saturating_sub(MAX_SERIES_HOURS - 1));
    let hours: Vec<Value> = (first..=last)
        .map(|hour| {
            let row = rows.iter().find(|r| r.hour == hour);
            let (requested, verified) = row.map_or((0, 0), |r| (r.requested, r.verified));
            json!({
                "hour": rfc3339(hour * HOUR_MS),
                "requested": requested,
                "verified": verified,
                "conversion_rate": conversion_rate(verified, requested),
            })
        })
        .collect();
    json!({
        "since": rfc3339(window.since_ms),
        "until": rfc3339(window.until_ms),
        "hours": hours,
    })
}
