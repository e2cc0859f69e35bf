//! What an isolate reads from its environment once and keeps: every setting, through
//! one lookup, and what `/healthz` says about the optional features. Settings and
//! bindings do not change within an isolate (a deploy or a secret change starts new ones).

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};
use worker::Env;

use crate::core::config::{Config, EventsConfig, Problems};

pub const CODES_BINDING: &str = "OTP_CODES";
pub const GUARD_BINDING: &str = "PHONE_GUARD";
pub const QUEUE_BINDING: &str = "EVENTS";
pub const DB_BINDING: &str = "ANALYTICS_DB";

pub struct Settings {
    /// The typed configuration, or the names of the settings (and required bindings)
    /// that are wrong.
    pub config: Result<Config, Problems>,
    /// `ADMIN_TOKEN` and `CALLBACK_*`: optional, their problems switch a feature off.
    pub events: EventsConfig,
    /// `/healthz`'s `features`.
    pub features: Value,
}

thread_local! {
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

/// Secrets first, then plain vars (locally both come from `.dev.vars` / `--var`).
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

pub fn settings(env: &Env) -> Rc<Settings> {
    if let Some(cached) = SETTINGS.with(|s| s.borrow().clone()) {
        return cached;
    }
    let read = |name: &str| lookup(env, name);
    let config = with_bindings(Config::from_lookup(read), env);
    let events = EventsConfig::from_lookup(read);
    if !events.problems.is_empty() {
        worker::console_error!("{}", json!({ "events": "settings ignored", "settings": events.problems }));
    }
    let features = features(env, &events);
    let settings = Rc::new(Settings { config, events, features });
    SETTINGS.with(|s| *s.borrow_mut() = Some(settings.clone()));
    settings
}

/// The two required bindings count as settings too: without them nothing works.
fn with_bindings(parsed: Result<Config, Problems>, env: &Env) -> Result<Config, Problems> {
    let missing: Problems =
        [(CODES_BINDING, env.kv(CODES_BINDING).is_err()), (GUARD_BINDING, env.durable_object(GUARD_BINDING).is_err())]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
    match parsed {
        _ if missing.is_empty() => parsed,
        Ok(_) => Err(missing),
        Err(mut problems) => {
            problems.extend(missing);
            Err(problems)
        }
    }
}

fn features(env: &Env, events: &EventsConfig) -> Value {
    let queue = env.queue(QUEUE_BINDING).is_ok();
    let analytics = env.d1(DB_BINDING).is_ok();
    let mut body = json!({
        "events": queue,
        "analytics": queue && analytics,
        "callbacks": queue && events.callback.is_some(),
        "admin": analytics && events.admin_token.is_some(),
    });
    if !events.problems.is_empty() {
        body["problems"] = json!(events.problems);
    }
    // Optional bindings absent (a queue not created, the binding removed), by name.
    let missing: Vec<&str> = [(QUEUE_BINDING, queue), (DB_BINDING, analytics)]
        .into_iter()
        .filter_map(|(name, bound)| (!bound).then_some(name))
        .collect();
    if !missing.is_empty() {
        body["missing"] = json!(missing);
    }
    body
}
