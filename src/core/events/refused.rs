//! Refused code requests, counted by reason so an operator sees what the protections
//! turn away (a limit, the country list, the captcha, the day's budget).
//!
//! One event per refusal would let anyone with a phone number and a loop make the
//! worker write a queue message and a D1 row per refused request, and push the events
//! that matter (a verification and its callback) behind them. So each isolate tallies
//! its refusals and puts at most one `verification.refused` event per reason on the
//! queue per [`FLUSH_AFTER_MS`], carrying how many refusals it stands for
//! (`data.count`), and per calling code when the number was read far enough to have
//! one (not for `invalid_phone`). The stats add the counts up.

use serde_json::{json, Map};

use super::event::{Event, EventType};
use crate::core::error::{ApiError, ErrorCode};
use crate::core::guard::LimitReason;
use crate::core::time::rfc3339_millis;

/// How long an isolate gathers refusals before it sends what it counted.
pub const FLUSH_AFTER_MS: u64 = 1_000;

/// A flush still pending this long after it was due was lost (the isolate's
/// background work was cut off): the next refusal schedules another.
const FLUSH_LOST_AFTER_MS: u64 = 30_000;

/// Every reason a refusal is counted under: the limits' own reasons (the `reason` of
/// `429 rate_limited`), then the error codes of the other protections.
pub const REFUSAL_REASONS: [&str; 11] = [
    "resend_cooldown",
    "hourly_limit",
    "daily_limit",
    "ip_limit",
    "too_many_failures",
    "not_me",
    "country_not_allowed",
    "captcha_failed",
    "opted_out",
    "daily_budget_exhausted",
    "invalid_phone",
];

/// The reason a code request's error is counted under, `None` for errors that are no
/// refusal (a malformed body, a failed send, our own faults).
pub fn refusal_reason(error: &ApiError) -> Option<&'static str> {
    match error.code {
        ErrorCode::RateLimited => {
            let reason = error.extra.get("reason").and_then(|r| r.as_str())?;
            LimitReason::ALL.into_iter().map(LimitReason::as_str).find(|known| *known == reason)
        }
        ErrorCode::CountryNotAllowed
        | ErrorCode::CaptchaFailed
        | ErrorCode::OptedOut
        | ErrorCode::DailyBudgetExhausted
        | ErrorCode::InvalidPhone => Some(error.code.as_str()),
        _ => None,
    }
}

/// The refusals of one reason and calling code counted since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    reason: &'static str,
    country_code: Option<String>,
    first_ms: u64,
    count: u64,
}

/// One isolate's refusals not yet on the queue.
#[derive(Debug, Default)]
pub struct RefusalTally {
    counted: Vec<Counted>,
    /// When the scheduled flush is due; `None` when none is scheduled.
    flush_due_ms: Option<u64>,
}

impl RefusalTally {
    /// Counts one refusal at `now_ms`, of a number of `country_code` when known.
    /// `true` when the caller must schedule a flush ([`RefusalTally::take`]) in
    /// [`FLUSH_AFTER_MS`]: the first refusal since the last flush, or one after a
    /// flush that never came.
    pub fn add(&mut self, reason: &'static str, country_code: Option<&str>, now_ms: u64) -> bool {
        match self.counted.iter_mut().find(|c| c.reason == reason && c.country_code.as_deref() == country_code) {
            Some(counted) => counted.count += 1,
            None => self.counted.push(Counted {
                reason,
                country_code: country_code.map(str::to_string),
                first_ms: now_ms,
                count: 1,
            }),
        }
        let schedule = match self.flush_due_ms {
            None => true,
            Some(due) => now_ms > due + FLUSH_LOST_AFTER_MS,
        };
        if schedule {
            self.flush_due_ms = Some(now_ms + FLUSH_AFTER_MS);
        }
        schedule
    }

    /// Everything counted so far as events, one per reason and calling code, dated at
    /// its first refusal; the tally starts again empty.
    pub fn take(&mut self, mut new_id: impl FnMut() -> String) -> Vec<Event> {
        self.flush_due_ms = None;
        std::mem::take(&mut self.counted)
            .into_iter()
            .map(|c| {
                let mut data = Map::new();
                data.insert("reason".into(), c.reason.into());
                data.insert("count".into(), json!(c.count));
                Event {
                    id: new_id(),
                    kind: EventType::Refused,
                    at: rfc3339_millis(c.first_ms),
                    request_id: None,
                    country_code: c.country_code,
                    data,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::events::analytics::Window;
    use crate::core::events::tests::{db, ids, insert, scripted, stats, NOW};
    use crate::core::time::HOUR_MS;

    #[test]
    fn protections_are_refusals_and_other_errors_are_not() {
        let limited = |reason| refusal_reason(&ApiError::rate_limited(30, reason));
        for reason in LimitReason::ALL {
            assert_eq!(limited(reason), Some(reason.as_str()));
        }
        assert_eq!(refusal_reason(&ApiError::country_not_allowed()), Some("country_not_allowed"));
        assert_eq!(refusal_reason(&ApiError::captcha_failed()), Some("captcha_failed"));
        assert_eq!(refusal_reason(&ApiError::opted_out()), Some("opted_out"));
        assert_eq!(refusal_reason(&ApiError::daily_budget_exhausted(60)), Some("daily_budget_exhausted"));
        assert_eq!(refusal_reason(&ApiError::invalid_phone()), Some("invalid_phone"));
        for other in [
            ApiError::invalid_json("eof"),
            ApiError::internal(),
            ApiError::storage_unavailable(),
            ApiError::not_on_whatsapp(Some(131026)),
            ApiError::payload_too_large(4096),
        ] {
            assert_eq!(refusal_reason(&other), None, "{:?}", other.code);
        }
        // Every reason a refusal can have is listed, and only those.
        let mut listed: Vec<&str> = LimitReason::ALL.map(LimitReason::as_str).to_vec();
        listed.extend([
            "country_not_allowed",
            "captcha_failed",
            "opted_out",
            "daily_budget_exhausted",
            "invalid_phone",
        ]);
        assert_eq!(listed, REFUSAL_REASONS);
    }

    #[test]
    fn a_burst_becomes_one_event_per_reason_with_its_count() {
        let mut tally = RefusalTally::default();
        assert!(tally.add("ip_limit", None, NOW), "the first refusal schedules the flush");
        for i in 1..500 {
            assert!(!tally.add("ip_limit", None, NOW + i), "one flush at a time");
        }
        assert!(!tally.add("country_not_allowed", Some("33"), NOW + 700));
        let events = tally.take(ids());
        let summary: Vec<_> = events.iter().map(|e| (e.kind, e.at.as_str(), e.data.clone())).collect();
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].0, EventType::Refused);
        assert_eq!(summary[0].1, rfc3339_millis(NOW));
        assert_eq!(serde_json::Value::Object(summary[0].2.clone()), json!({"reason": "ip_limit", "count": 500}));
        assert_eq!(summary[1].1, rfc3339_millis(NOW + 700));
        assert_eq!(
            serde_json::Value::Object(summary[1].2.clone()),
            json!({"reason": "country_not_allowed", "count": 1})
        );
        assert!(events.iter().all(|e| e.request_id.is_none()));
        assert_eq!((events[0].country_code.as_deref(), events[1].country_code.as_deref()), (None, Some("33")));

        // Taken: empty, and the next refusal schedules the next flush.
        assert!(tally.take(ids()).is_empty());
        assert!(tally.add("opted_out", Some("44"), NOW + 2_000));
        assert_eq!(tally.take(ids())[0].data["count"], json!(1));
    }

    #[test]
    fn a_flush_that_never_came_is_scheduled_again() {
        let mut tally = RefusalTally::default();
        assert!(tally.add("hourly_limit", Some("1"), NOW));
        assert!(!tally.add("hourly_limit", Some("1"), NOW + FLUSH_AFTER_MS + FLUSH_LOST_AFTER_MS));
        assert!(tally.add("hourly_limit", Some("1"), NOW + FLUSH_AFTER_MS + FLUSH_LOST_AFTER_MS + 1));
        // Nothing counted was lost meanwhile.
        assert_eq!(tally.take(ids())[0].data["count"], json!(3));
    }

    /// A tally of `counts` (reason, how many) taken at `at`; the ids are unique per `at`.
    fn refusals(at: u64, counts: &[(&'static str, Option<&str>, u64)]) -> Vec<Event> {
        let mut tally = RefusalTally::default();
        for (reason, country, n) in counts {
            for _ in 0..*n {
                tally.add(reason, *country, at);
            }
        }
        let mut n = 0;
        tally.take(|| {
            n += 1;
            format!("evt_refused-{at}-{n}")
        })
    }

    #[test]
    fn the_stats_add_up_the_counts_and_leave_the_funnel_alone() {
        let conn = db();
        insert(&conn, &scripted(NOW));
        let window = Window { since_ms: NOW - HOUR_MS, until_ms: NOW + HOUR_MS };
        let before = stats(&conn, window);
        assert_eq!((&before["refused"], &before["refused_by_country"]), (&json!({}), &json!({})));

        // Two isolates' flushes of the same minute, and a repeated delivery of one.
        let first = refusals(
            NOW + 1_000,
            &[("ip_limit", Some("1"), 30), ("ip_limit", Some("44"), 10), ("country_not_allowed", Some("882"), 2)],
        );
        insert(&conn, &first);
        insert(&conn, &first);
        insert(
            &conn,
            &refusals(
                NOW + 2_000,
                &[("ip_limit", Some("1"), 7), ("resend_cooldown", Some("44"), 1), ("invalid_phone", None, 5)],
            ),
        );
        let after = stats(&conn, window);
        assert_eq!(
            after["refused"],
            json!({ "ip_limit": 47, "country_not_allowed": 2, "resend_cooldown": 1, "invalid_phone": 5 })
        );
        // By calling code: a number that did not parse has none, and counts only by reason.
        assert_eq!(after["refused_by_country"], json!({ "1": 37, "44": 11, "882": 2 }));
        let mut funnel = after.clone();
        funnel["refused"] = json!({});
        funnel["refused_by_country"] = json!({});
        assert_eq!(funnel, before, "refusals are no requests");
    }

    /// The document names the same reasons and the event type: one added on one side
    /// only fails here.
    #[test]
    fn the_openapi_document_names_every_reason() {
        let document: serde_json::Value = serde_json::from_str(include_str!("../../../openapi/openapi.json")).unwrap();
        let schemas = &document["components"]["schemas"];
        let enum_of = |node: &serde_json::Value| -> Vec<String> {
            node["enum"].as_array().expect("an enum").iter().map(|v| v.as_str().unwrap().to_string()).collect()
        };
        assert_eq!(enum_of(&schemas["RefusalReason"]), REFUSAL_REASONS);
        let types = enum_of(&schemas["Event"]["properties"]["type"]);
        assert_eq!(types, EventType::ALL.map(EventType::as_str));
    }
}
