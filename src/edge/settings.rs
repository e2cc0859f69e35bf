//! Settings read from the environment once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::core::config::{Config, Problems};

thread_local! {
    static CONFIG: RefCell<Option<Rc<Result<Config, Problems>>>> = const { RefCell::new(None) };
}

/// Secrets first, then plain vars (locally both come from `.dev.vars` / `--var`).
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

/// The typed configuration, or the names of the settings (and bindings) that are wrong.
pub fn config(env: &Env) -> Rc<Result<Config, Problems>> {
    if let Some(cached) = CONFIG.with(|c| c.borrow().clone()) {
        return cached;
    }
    let mut parsed = Config::from_lookup(|name| lookup(env, name));
    // The two required bindings count as settings too: without them nothing works.
    let missing: Problems =
        [("OTP_CODES", env.kv("OTP_CODES").is_err()), ("PHONE_GUARD", env.durable_object("PHONE_GUARD").is_err())]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
    if !missing.is_empty() {
        parsed = match parsed {
            Ok(_) => Err(missing),
            Err(mut problems) => {
                problems.extend(missing);
                Err(problems)
            }
        };
    }
    let parsed = Rc::new(parsed);
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    parsed
}
