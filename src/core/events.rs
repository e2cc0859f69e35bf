//! Events, analytics and callbacks, the pure part: what an event looks like, how a
//! guard's state change becomes events, how a callback is signed (Standard Webhooks),
//! when it is retried, the analytics schema, and the stats queries with the shaping
//! of their results. The edge (`edge::events`, `edge::consumer`, `handlers::admin`)
//! only moves these between the Queue, D1 and HTTP.

use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::crypto::hmac_sha256;
pub use super::guard::Change;
use super::guard::{DeliveryStatus, Mode, VerifiedVia};
use super::phone::{mask_phone, wa_digits};

pub const REQUESTED: &str = "verification.requested";
pub const SENT: &str = "verification.sent";
pub const DELIVERED: &str = "verification.delivered";
pub const READ: &str = "verification.read";
pub const FAILED: &str = "verification.failed";
pub const VERIFIED: &str = "verification.verified";
pub const EXPIRED: &str = "verification.expired";
pub const LOCKED: &str = "verification.locked";
pub const REVOKED: &str = "verification.revoked";
pub const OPTED_OUT: &str = "number.opted_out";
pub const OPTED_IN: &str = "number.opted_in";
pub const BUDGET_WARNING: &str = "budget.warning";

pub const EVENT_TYPES: [&str; 12] =
    [REQUESTED, SENT, DELIVERED, READ, FAILED, VERIFIED, EXPIRED, LOCKED, REVOKED, OPTED_OUT, OPTED_IN, BUDGET_WARNING];

pub const DEFAULT_CALLBACK_EVENTS: [&str; 3] = [VERIFIED, FAILED, OPTED_OUT];
/// Seconds before each callback retry: about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h.
pub const DEFAULT_RETRY_DELAYS: [u32; 6] = [5, 30, 120, 600, 1800, 3600];
/// The longest delay a Queue accepts for a retry (12 hours).
const MAX_RETRY_DELAY_S: u32 = 43_200;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// The dashboard's hourly series covers at most this many hours.
pub const MAX_SERIES_HOURS: u64 = 24 * 31;

/// `{"id":"evt_…","type","at","request_id"?,"country_code"?,"data":{…}}`: never a
/// code, a secret or a full number (the masked form and the calling code only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// `2026-11-26T09:02:11.123Z`.
pub fn rfc3339_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Milliseconds since the epoch of an RFC 3339 time (`Z` or a `±hh:mm` offset).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.len() < 20 || s.len() > 40 {
        return None;
    }
    let (base, offset_s): (String, i64) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (b.to_string(), 0)
    } else {
        let (b, tz) = s.split_at(s.len() - 6);
        let sign = match tz.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = tz[1..].split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        if h > 23 || m > 59 {
            return None;
        }
        (b.to_string(), sign * (h * 3600 + m * 60))
    };
    let base = base.replacen(['t', ' '], "T", 1);
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).ok()?;
    let ms = utc.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64 - offset_s * 1000;
    u64::try_from(ms).ok()
}

/// The calling code of an E.164 number (`+447700900123` → `44`), by ITU zone:
/// `1` and `7` alone, the two-digit codes listed, three digits otherwise.
pub fn calling_code(e164: &str) -> Option<String> {
    const TWO_DIGIT: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
        "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
        "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    let digits = wa_digits(e164);
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let len = match digits.as_bytes()[0] {
        b'1' | b'7' => 1,
        _ if TWO_DIGIT.contains(&&digits[..2]) => 2,
        _ => 3,
    };
    Some(digits[..len].to_string())
}

fn via_str(via: VerifiedVia) -> &'static str {
    match via {
        VerifiedVia::Code => "code",
        VerifiedVia::Reply => "reply",
        VerifiedVia::Inbound => "inbound",
    }
}

/// The events one batch of changes to `number`'s guard produces, at `now_ms`;
/// `new_id` gives each its `evt_…` id. `number` is empty for objects that are not
/// a phone number's (the day's send budget).
pub fn events_from_changes(
    number: &str,
    changes: &[Change],
    now_ms: u64,
    mut new_id: impl FnMut() -> String,
) -> Vec<Event> {
    let country_code = calling_code(number);
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    changes
        .iter()
        .filter_map(|change| {
            let mut data = Map::new();
            if let Some(masked) = &masked {
                data.insert("phone".into(), masked.clone().into());
            }
            let (kind, request_id) = match change {
                Change::Requested { request_id, mode } => {
                    data.insert("mode".into(), if *mode == Mode::Inbound { "inbound" } else { "outbound" }.into());
                    (REQUESTED, Some(request_id))
                }
                Change::Sent { request_id, .. } => (SENT, Some(request_id)),
                Change::Delivery { request_id, status, error_code, pricing_category } => {
                    let kind = match status {
                        // The accept already said `sent`; Meta's own `sent` adds only pricing.
                        DeliveryStatus::Accepted => return None,
                        DeliveryStatus::Sent => SENT,
                        DeliveryStatus::Delivered => DELIVERED,
                        DeliveryStatus::Read => READ,
                        DeliveryStatus::Failed => FAILED,
                    };
                    if *status == DeliveryStatus::Failed {
                        data.insert("error_code".into(), json!(error_code));
                    }
                    if let Some(category) = pricing_category {
                        data.insert("pricing_category".into(), category.clone().into());
                    }
                    (kind, Some(request_id))
                }
                Change::Verified { request_id, via, seconds } => {
                    data.insert("verified_via".into(), via_str(*via).into());
                    data.insert("seconds_to_verify".into(), (*seconds).into());
                    (VERIFIED, Some(request_id))
                }
                Change::Locked { request_id } => (LOCKED, Some(request_id)),
                Change::Expired { request_id } => (EXPIRED, Some(request_id)),
                // The token's `jti` is its request id.
                Change::Revoked { request_id } => {
                    data.insert("jti".into(), request_id.clone().into());
                    (REVOKED, Some(request_id))
                }
                Change::OptedOut => (OPTED_OUT, None),
                Change::OptedIn => (OPTED_IN, None),
                Change::BudgetWarning { sends, max } => {
                    data.insert("sent_today".into(), (*sends).into());
                    data.insert("limit".into(), (*max).into());
                    (BUDGET_WARNING, None)
                }
            };
            let country_code = if kind == BUDGET_WARNING { None } else { country_code.clone() };
            Some(Event {
                id: new_id(),
                kind: kind.to_string(),
                at: rfc3339_millis(now_ms),
                request_id: request_id.cloned(),
                country_code,
                data,
            })
        })
        .collect()
}

/// `evt_` and 22 url-safe characters from 16 random bytes.
pub fn event_id(random: [u8; 16]) -> String {
    format!("evt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

// ---------------------------------------------------------------------------
// Settings

/// The Standard Webhooks key: `whsec_` + base64 of the raw key.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackSecret(Vec<u8>);

impl std::fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSecret(..)")
    }
}

impl CallbackSecret {
    pub fn parse(s: &str) -> Option<Self> {
        let key = B64.decode(s.trim().strip_prefix("whsec_")?).ok()?;
        (key.len() >= 16).then_some(CallbackSecret(key))
    }

    /// `v1,<base64 HMAC-SHA256("id.timestamp.body")>`.
    pub fn sign(&self, msg_id: &str, timestamp_s: u64, body: &str) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(format!("{msg_id}.{timestamp_s}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallbackConfig {
    pub url: String,
    pub secret: CallbackSecret,
    pub events: Vec<String>,
    pub retry_delays: Vec<u32>,
}

impl CallbackConfig {
    pub fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == kind)
    }

    /// Seconds to wait before retrying after failed attempt `attempt` (1 = the first);
    /// past the schedule, its last delay.
    pub fn retry_delay(&self, attempt: u32) -> u32 {
        retry_delay(&self.retry_delays, attempt)
    }

    /// The request a receiver gets: the body and the Standard Webhooks headers.
    pub fn request(&self, event: &Event, timestamp_s: u64) -> (String, Vec<(&'static str, String)>) {
        let body = serde_json::to_string(event).unwrap_or_default();
        let signature = self.secret.sign(&event.id, timestamp_s, &body);
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", "whatsapp-otp-worker".to_string()),
            ("webhook-id", event.id.clone()),
            ("webhook-timestamp", timestamp_s.to_string()),
            ("webhook-signature", signature),
        ];
        (body, headers)
    }
}

pub fn retry_delay(delays: &[u32], attempt: u32) -> u32 {
    let index = (attempt.max(1) - 1) as usize;
    delays.get(index).or(delays.last()).copied().unwrap_or(DEFAULT_RETRY_DELAYS[0])
}

/// The settings of this part: `ADMIN_TOKEN`, `CALLBACK_*`. A wrong one turns its
/// feature off (named in `problems`, shown by `/healthz`); verification keeps working.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventsConfig {
    pub admin_token: Option<String>,
    pub callback: Option<CallbackConfig>,
    pub problems: Vec<&'static str>,
}

/// An admin token shorter than this is refused (and the admin routes stay off).
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl EventsConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> EventsConfig {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let admin_token = get("ADMIN_TOKEN");
        let admin_token = match admin_token {
            Some(t) if t.len() < MIN_ADMIN_TOKEN_LEN || t.chars().any(char::is_whitespace) => {
                problems.push("ADMIN_TOKEN");
                None
            }
            other => other,
        };
        let events = match get("CALLBACK_EVENTS") {
            None => DEFAULT_CALLBACK_EVENTS.iter().map(|e| e.to_string()).collect(),
            Some(list) => {
                let wanted: Vec<String> =
                    list.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
                if wanted.iter().any(|e| e != "*" && !EVENT_TYPES.contains(&e.as_str())) {
                    problems.push("CALLBACK_EVENTS");
                }
                if wanted.iter().any(|e| e == "*") {
                    EVENT_TYPES.iter().map(|e| e.to_string()).collect()
                } else {
                    wanted.into_iter().filter(|e| EVENT_TYPES.contains(&e.as_str())).collect()
                }
            }
        };
        let retry_delays = match get("CALLBACK_RETRY_DELAYS") {
            None => DEFAULT_RETRY_DELAYS.to_vec(),
            Some(list) => {
                let parsed: Option<Vec<u32>> =
                    list.split(',').map(|d| d.trim().parse::<u32>().ok().filter(|d| *d <= MAX_RETRY_DELAY_S)).collect();
                match parsed {
                    Some(delays) if !delays.is_empty() => delays,
                    _ => {
                        problems.push("CALLBACK_RETRY_DELAYS");
                        DEFAULT_RETRY_DELAYS.to_vec()
                    }
                }
            }
        };
        let callback = match get("CALLBACK_URL") {
            None => None,
            Some(url) => {
                let url_ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.len() > 8
                    && !url.contains(char::is_whitespace);
                if !url_ok {
                    problems.push("CALLBACK_URL");
                }
                let secret = get("CALLBACK_SECRET").and_then(|s| CallbackSecret::parse(&s));
                if secret.is_none() {
                    problems.push("CALLBACK_SECRET");
                }
                match secret {
                    Some(secret) if url_ok => Some(CallbackConfig { url, secret, events, retry_delays }),
                    _ => None,
                }
            }
        };
        EventsConfig { admin_token, callback, problems }
    }
}

/// `Authorization: Bearer <token>` against the admin token, in constant time (both
/// sides hashed first, so neither length nor content leaks through timing).
pub fn bearer_matches(authorization: Option<&str>, expected: &str) -> bool {
    let presented = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or("");
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && !presented.is_empty()
}

// ---------------------------------------------------------------------------
// Storage (D1)

/// The analytics schema; the worker runs it once per isolate, and the same text
/// ships as `migrations/0001_init.sql`.
pub const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS events (\
       id TEXT PRIMARY KEY, \
       type TEXT NOT NULL, \
       at_ms INTEGER NOT NULL, \
       request_id TEXT, \
       country_code TEXT, \
       error_code INTEGER, \
       verified_via TEXT, \
       seconds_to_verify INTEGER, \
       pricing_category TEXT, \
       data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_by_time ON events (at_ms, type)",
    "CREATE INDEX IF NOT EXISTS events_by_request ON events (request_id, type)",
    "CREATE TABLE IF NOT EXISTS dead_letters (\
       message_id TEXT PRIMARY KEY, \
       event_id TEXT, \
       type TEXT, \
       dead_at_ms INTEGER NOT NULL, \
       body TEXT NOT NULL)",
];

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
/// event is unusable (unknown type, a time that does not parse).
pub fn event_row(event: &Event) -> Option<Vec<Param>> {
    if !EVENT_TYPES.contains(&event.kind.as_str()) || !event.id.starts_with("evt_") {
        return None;
    }
    let at_ms = parse_rfc3339(&event.at)?;
    let text = |key: &str| event.data.get(key).and_then(Value::as_str).map(str::to_string);
    let int = |key: &str| event.data.get(key).and_then(Value::as_i64);
    Some(vec![
        Param::Text(event.id.clone()),
        Param::Text(event.kind.clone()),
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

/// The row a message from the dead-letter queue becomes (`INSERT_DEAD_LETTER`).
pub fn dead_letter_row(message_id: &str, body: &str, now_ms: u64) -> Vec<Param> {
    let event: Option<Event> = serde_json::from_str(body).ok();
    vec![
        Param::Text(message_id.to_string()),
        event.as_ref().map(|e| e.id.clone()).into(),
        event.as_ref().map(|e| e.kind.clone()).into(),
        Param::Int(now_ms as i64),
        Param::Text(body.to_string()),
    ]
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeadLetterRow {
    pub message_id: String,
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub dead_at_ms: u64,
    pub body: String,
}

/// The body of `GET /v1/admin/dead-letters`: the newest 100, each with its event.
pub fn shape_dead_letters(rows: &[DeadLetterRow]) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "event_id": r.event_id,
                "type": r.kind,
                "dead_at": super::time::rfc3339(r.dead_at_ms),
                "event": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({ "dead_letters": items })
}

// ---------------------------------------------------------------------------
// Stats

/// The window a stats query covers, in milliseconds: `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_ms: u64,
    pub until_ms: u64,
}

/// `since`/`until` as RFC 3339, both optional (default: the 24 hours up to now).
/// `Err` names the parameter that is wrong.
pub fn parse_window(since: Option<&str>, until: Option<&str>, now_ms: u64) -> Result<Window, &'static str> {
    let until_ms = match until {
        Some(u) => parse_rfc3339(u).ok_or("until")?,
        None => now_ms,
    };
    let since_ms = match since {
        Some(s) => parse_rfc3339(s).ok_or("since")?,
        None => until_ms.saturating_sub(DAY_MS),
    };
    if since_ms >= until_ms {
        return Err("since");
    }
    Ok(Window { since_ms, until_ms })
}

/// Every query binds `?1` = since and `?2` = until (milliseconds); each counts
/// distinct requests (events without a request count themselves).
pub const STATS_QUERIES: [&str; 6] = [
    // 0: per event type
    "SELECT type AS key, COUNT(DISTINCT COALESCE(request_id, id)) AS n FROM events \
     WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY type",
    // 1: verified by channel
    "SELECT verified_via AS key, COUNT(DISTINCT request_id) AS n FROM events \
     WHERE type = 'verification.verified' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY verified_via",
    // 2: failed deliveries by Meta error code
    "SELECT COALESCE(CAST(error_code AS TEXT), 'unknown') AS key, COUNT(DISTINCT request_id) AS n FROM events \
     WHERE type = 'verification.failed' AND at_ms >= ?1 AND at_ms < ?2 GROUP BY key",
    // 3: seconds to verify, nearest-rank percentiles over distinct requests
    "WITH v AS (SELECT request_id, MIN(seconds_to_verify) AS s FROM events \
       WHERE type = 'verification.verified' AND seconds_to_verify IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
       GROUP BY request_id), \
     r AS (SELECT s, ROW_NUMBER() OVER (ORDER BY s) AS rn, COUNT(*) OVER () AS total FROM v) \
     SELECT MIN(CASE WHEN rn * 100 >= total * 50 THEN s END) AS p50, \
            MIN(CASE WHEN rn * 100 >= total * 95 THEN s END) AS p95 FROM r",
    // 4: by country
    "SELECT country_code, \
       COUNT(DISTINCT CASE WHEN type = 'verification.requested' THEN request_id END) AS requested, \
       COUNT(DISTINCT CASE WHEN type = 'verification.verified' THEN request_id END) AS verified, \
       COUNT(DISTINCT CASE WHEN type = 'verification.failed' THEN request_id END) AS failed \
     FROM events WHERE country_code IS NOT NULL AND request_id IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 \
     GROUP BY country_code ORDER BY requested DESC, country_code",
    // 5: billed messages by Meta's pricing category
    "SELECT pricing_category AS key, COUNT(DISTINCT request_id) AS n FROM events \
     WHERE pricing_category IS NOT NULL AND at_ms >= ?1 AND at_ms < ?2 GROUP BY pricing_category",
];

/// Requests and verifications per hour, for the dashboard's conversion chart.
pub const SERIES_QUERY: &str = "SELECT at_ms / 3600000 AS hour, \
       COUNT(DISTINCT CASE WHEN type = 'verification.requested' THEN request_id END) AS requested, \
       COUNT(DISTINCT CASE WHEN type = 'verification.verified' THEN request_id END) AS verified \
     FROM events WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY hour ORDER BY hour";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KeyCount {
    pub key: Option<String>,
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

/// The body of `GET /v1/admin/stats`.
pub fn shape_stats(window: Window, rows: &StatsRows) -> Value {
    let count = |kind: &str| rows.by_type.iter().find(|r| r.key.as_deref() == Some(kind)).map_or(0, |r| r.n);
    let via = |name: &str| rows.by_via.iter().find(|r| r.key.as_deref() == Some(name)).map_or(0, |r| r.n);
    let (requested, verified) = (count(REQUESTED), count(VERIFIED));
    let seconds = |v: Option<f64>| v.map(|s| json!(s.round() as u64)).unwrap_or(Value::Null);
    json!({
        "since": super::time::rfc3339(window.since_ms),
        "until": super::time::rfc3339(window.until_ms),
        "requested": requested,
        "sent": count(SENT),
        "delivered": count(DELIVERED),
        "read": count(READ),
        "failed": count(FAILED),
        "verified": verified,
        "expired": count(EXPIRED),
        "locked": count(LOCKED),
        "opted_out": count(OPTED_OUT),
        "conversion_rate": conversion_rate(verified, requested),
        "verified_via": { "code": via("code"), "reply": via("reply"), "inbound": via("inbound") },
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
                "hour": super::time::rfc3339(hour * HOUR_MS),
                "requested": requested,
                "verified": verified,
                "conversion_rate": conversion_rate(verified, requested),
            })
        })
        .collect();
    json!({
        "since": super::time::rfc3339(window.since_ms),
        "until": super::time::rfc3339(window.until_ms),
        "hours": hours,
    })
}

#[cfg(test)]
mod tests;
