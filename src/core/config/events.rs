//! The settings of events, callbacks, analytics and the admin routes: `ADMIN_TOKEN`,
//! `CALLBACK_*` and `ANALYTICS_RETENTION_DAYS`. Read like every other setting, but
//! optional as a group: a wrong one turns its feature off instead of the service.

use super::reader::{http_url, Reader};
use crate::core::events::callback::{
    CallbackConfig, CallbackSecret, DEFAULT_CALLBACK_EVENTS, DEFAULT_RETRY_DELAYS, MAX_RETRY_DELAY_S,
};
use crate::core::events::retention::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};
use crate::core::events::spend::parse_prices;
use crate::core::events::EventType;
use crate::core::secret::Secret;

/// An admin token shorter than this is refused (and the admin routes stay off).
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// A wrong setting turns its feature off (named in `problems`, shown by
/// `/healthz`); verification keeps working.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsConfig {
    pub admin_token: Option<Secret>,
    pub callback: Option<CallbackConfig>,
    /// `ANALYTICS_RETENTION_DAYS`: how long raw events and dead letters are kept.
    /// `None` when the setting is wrong: then nothing is deleted (deleting on a
    /// guess could not be undone), and `/healthz` names it.
    pub retention_days: Option<u32>,
    /// `MESSAGE_PRICES`: price per billable message by pricing category, for the
    /// stats' spend estimate; empty (no estimate) when unset or wrong.
    pub message_prices: Vec<(String, f64)>,
    pub problems: Vec<&'static str>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            admin_token: None,
            callback: None,
            retention_days: Some(DEFAULT_RETENTION_DAYS),
            message_prices: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl EventsConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> EventsConfig {
        let mut r = Reader::new(&lookup);
        let admin_token = r
            .optional("ADMIN_TOKEN", |t| t.len() >= MIN_ADMIN_TOKEN_LEN && !t.chars().any(char::is_whitespace))
            .map(Secret::new);
        let events = callback_events(r.get("CALLBACK_EVENTS"), &mut r.problems);
        let retry_delays = retry_delays(r.get("CALLBACK_RETRY_DELAYS"), &mut r.problems);
        let callback = r.get("CALLBACK_URL").and_then(|url| {
            let url_ok = http_url(&url);
            if !url_ok {
                r.problems.push("CALLBACK_URL");
            }
            let secret = r.get("CALLBACK_SECRET").and_then(|s| CallbackSecret::parse(&s));
            if secret.is_none() {
                r.problems.push("CALLBACK_SECRET");
            }
            secret.filter(|_| url_ok).map(|secret| CallbackConfig { url, secret, events, retry_delays })
        });
        let retention_days = match r.get("ANALYTICS_RETENTION_DAYS") {
            None => Some(DEFAULT_RETENTION_DAYS),
            Some(days) => {
                let valid = days.parse::<u32>().ok().filter(|d| (1..=MAX_RETENTION_DAYS).contains(d));
                if valid.is_none() {
                    r.problems.push("ANALYTICS_RETENTION_DAYS");
                }
                valid
            }
        };
        let message_prices = match r.get("MESSAGE_PRICES") {
            None => Vec::new(),
            Some(setting) => parse_prices(&setting).unwrap_or_else(|| {
                r.problems.push("MESSAGE_PRICES");
                Vec::new()
            }),
        };
        EventsConfig { admin_token, callback, retention_days, message_prices, problems: r.finish() }
    }
}

/// `CALLBACK_EVENTS`: a comma list of event types, or `*` for all. Unknown names
/// are a problem and dropped; the known ones still count.
fn callback_events(list: Option<String>, problems: &mut Vec<&'static str>) -> Vec<EventType> {
    let Some(list) = list else {
        return DEFAULT_CALLBACK_EVENTS.to_vec();
    };
    let wanted: Vec<&str> = list.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    if wanted.iter().any(|e| *e != "*" && e.parse::<EventType>().is_err()) {
        problems.push("CALLBACK_EVENTS");
    }
    if wanted.contains(&"*") {
        EventType::ALL.to_vec()
    } else {
        wanted.iter().filter_map(|e| e.parse().ok()).collect()
    }
}

/// `CALLBACK_RETRY_DELAYS`: a comma list of seconds, each within what a Queue
/// accepts. Any wrong one is a problem, and the default schedule applies.
fn retry_delays(list: Option<String>, problems: &mut Vec<&'static str>) -> Vec<u32> {
    let Some(list) = list else {
        return DEFAULT_RETRY_DELAYS.to_vec();
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::tests::{settings, SECRET};
    use crate::core::events::EventType;

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
        assert_eq!(full.admin_token.as_ref().map(Secret::expose), Some("an-admin-token-long-enough"));
        let callback = full.callback.unwrap();
        let names = |events: &[EventType]| events.iter().map(|e| e.as_str()).collect::<Vec<_>>();
        assert_eq!(names(&callback.events), ["verification.verified", "verification.failed", "number.opted_out"]);
        assert_eq!(callback.retry_delays, [5, 30, 120, 600, 1800, 3600]);
        assert!(callback.wants(EventType::Failed) && !callback.wants(EventType::Sent));

        let custom = settings(&[
            ("CALLBACK_URL", "http://127.0.0.1:9/cb"),
            ("CALLBACK_SECRET", SECRET),
            ("CALLBACK_EVENTS", "verification.revoked, verification.verified"),
            ("CALLBACK_RETRY_DELAYS", "1, 2"),
        ]);
        let callback = custom.callback.unwrap();
        assert_eq!(names(&callback.events), ["verification.revoked", "verification.verified"]);
        assert_eq!((callback.retry_delay(1), callback.retry_delay(2), callback.retry_delay(7)), (1, 2, 2));
        assert_eq!(
            settings(&[("CALLBACK_URL", "http://x.example/cb"), ("CALLBACK_SECRET", SECRET), ("CALLBACK_EVENTS", "*")])
                .callback
                .unwrap()
                .events
                .len(),
            EventType::ALL.len()
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
    fn message_prices_are_optional_and_a_wrong_list_is_named() {
        assert_eq!(settings(&[]).message_prices, vec![]);
        let set = settings(&[("MESSAGE_PRICES", "authentication:0.0135")]);
        assert_eq!((set.message_prices, set.problems), (vec![("authentication".to_string(), 0.0135)], vec![]));
        let wrong = settings(&[("MESSAGE_PRICES", "authentication:cheap")]);
        assert_eq!((wrong.message_prices, wrong.problems), (vec![], vec!["MESSAGE_PRICES"]));
    }

    #[test]
    fn retention_defaults_to_90_days_and_a_wrong_value_deletes_nothing() {
        assert_eq!(settings(&[]).retention_days, Some(90));
        assert_eq!(settings(&[("ANALYTICS_RETENTION_DAYS", " 7 ")]).retention_days, Some(7));
        assert_eq!(settings(&[("ANALYTICS_RETENTION_DAYS", "1")]).retention_days, Some(1));
        assert_eq!(settings(&[("ANALYTICS_RETENTION_DAYS", "")]).retention_days, Some(90));
        for wrong in ["0", "-1", "90d", "1.5", "36501", "99999999999", "٩٠"] {
            let read = settings(&[("ANALYTICS_RETENTION_DAYS", wrong)]);
            assert_eq!((read.retention_days, read.problems), (None, vec!["ANALYTICS_RETENTION_DAYS"]), "{wrong:?}");
        }
    }
}
