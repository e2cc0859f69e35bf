//! `PhoneGuard`: the Durable Object that owns one number's mutable state. It only
//! loads `GuardState`, applies a command from the core, stores the result and
//! schedules the alarm that clears it once nothing is worth keeping.

use std::cell::{Cell, RefCell};

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::now_ms;
use crate::core::guard::{GuardCommand, GuardState};

const STATE_KEY: &str = "state";

#[durable_object]
pub struct PhoneGuard {
    state: State,
    /// The stored state, loaded on first use. Borrowed only between awaits.
    cache: RefCell<Option<GuardState>>,
    /// When the alarm is known to be set for; `None` after eviction or firing.
    alarm_at: Cell<Option<u64>>,
}

impl PhoneGuard {
    async fn load(&self) -> Result<()> {
        if self.cache.borrow().is_some() {
            return Ok(());
        }
        let stored = self.state.storage().get::<String>(STATE_KEY).await?;
        let loaded = stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        // Another request may have loaded it while we awaited: keep theirs.
        let mut cache = self.cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(loaded);
        }
        Ok(())
    }

    /// Runs `change` on the state synchronously (the whole check-and-update),
    /// then persists what it left behind.
    async fn update<T>(&self, always_store: bool, change: impl FnOnce(&mut GuardState) -> T) -> Result<T> {
        self.load().await?;
        let (result, snapshot) = {
            let mut cache = self.cache.borrow_mut();
            let state = cache.get_or_insert_with(GuardState::default);
            let before = state.clone();
            let result = change(state);
            let snapshot = if always_store || *state != before {
                Some((serde_json::to_string(&*state)?, state.is_empty(), state.next_wakeup()))
            } else {
                None
            };
            (result, snapshot)
        };
        if let Some((json, empty, wakeup)) = snapshot {
            let storage = self.state.storage();
            if empty {
                storage.delete_all().await?;
                storage.delete_alarm().await?;
                self.alarm_at.set(None);
            } else {
                storage.put(STATE_KEY, json).await?;
                // An alarm that fires early only prunes and re-arms, so it is
                // moved only when something must be pruned sooner.
                if let Some(at) = wakeup.filter(|at| self.alarm_at.get().is_none_or(|set| *at < set)) {
                    let at = at.max(now_ms() + 1000);
                    storage.set_alarm(at.saturating_sub(now_ms()) as i64).await?;
                    self.alarm_at.set(Some(at));
                }
            }
        }
        Ok(result)
    }
}

impl DurableObject for PhoneGuard {
    fn new(state: State, _env: Env) -> Self {
        PhoneGuard { state, cache: RefCell::new(None), alarm_at: Cell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let command: GuardCommand = match req.json().await {
            Ok(command) => command,
            Err(e) => return Response::error(format!("bad guard command: {e}"), 400),
        };
        let reply = self.update(false, |state| state.apply(command, now_ms())).await?;
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        // Stored even when nothing aged out, so the next alarm is always set.
        self.alarm_at.set(None);
        self.update(true, |state| state.prune(now_ms())).await?;
        Response::ok("pruned")
    }
}
