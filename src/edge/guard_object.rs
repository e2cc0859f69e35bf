//! `PhoneGuard`: the Durable Object that owns one guard object's state (a number,
//! an address, a message link or the day's budget). It only loads the state, runs
//! one command of the core's protocol, stores the result, hands what changed to the
//! event hook and schedules the alarm.

use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::now_ms;
use crate::core::guard::protocol::{self as p, GuardCall};
use crate::core::guard::stored::{self, GuardObject};

const STATE_KEY: &str = "state";

#[durable_object]
pub struct PhoneGuard {
    state: State,
    env: Env,
    /// The stored state, loaded on first use. Borrowed only between awaits.
    cache: RefCell<Option<GuardObject>>,
    /// When the alarm is known to be set for; `None` after eviction or firing.
    alarm_at: Cell<Option<u64>>,
}

impl PhoneGuard {
    async fn load(&self) -> Result<()> {
        if self.cache.borrow().is_some() {
            return Ok(());
        }
        let loaded = match self.state.storage().get::<String>(STATE_KEY).await? {
            None => GuardObject::Empty,
            // A state this code cannot read is refused loudly, never reset: the
            // opt-outs and limits in it must survive.
            Some(text) => stored::load(&text).map_err(|e| {
                worker::console_error!("{}", serde_json::json!({ "guard_state": "refused", "error": e.to_string() }));
                worker::Error::RustError(e.to_string())
            })?,
        };
        // Another request may have loaded it while we awaited: keep theirs.
        let mut cache = self.cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(loaded);
        }
        Ok(())
    }

    /// Runs `change` on the object synchronously (the whole check-and-update), then
    /// persists what it left behind.
    async fn update<T>(&self, always_store: bool, change: impl FnOnce(&mut GuardObject) -> T) -> Result<T> {
        self.load().await?;
        let (result, snapshot, changes) = {
            let mut cache = self.cache.borrow_mut();
            let object = cache.get_or_insert_with(GuardObject::default);
            let before = object.clone();
            let result = change(object);
            let changes = object.take_changes();
            let snapshot = (always_store || *object != before)
                .then(|| (stored::save(object), object.is_empty(), object.next_wakeup()));
            (result, snapshot, changes)
        };
        if let Some((text, empty, wakeup)) = snapshot {
            let storage = self.state.storage();
            if empty {
                storage.delete_all().await?;
                storage.delete_alarm().await?;
                self.alarm_at.set(None);
            } else {
                storage.put(STATE_KEY, text).await?;
                // An alarm that fires early only prunes and re-arms, so it is moved
                // only when something must happen sooner.
                if let Some(at) = wakeup.filter(|at| self.alarm_at.get().is_none_or(|set| *at < set)) {
                    let at = at.max(now_ms() + 1000);
                    storage.set_alarm(at.saturating_sub(now_ms()) as i64).await?;
                    self.alarm_at.set(Some(at));
                }
            }
        }
        let (number, changes) = changes;
        if !changes.is_empty() {
            super::events::publish(&self.env, &number, changes);
        }
        Ok(result)
    }

    async fn serve<C: GuardCall + DeserializeOwned>(&self, mut req: Request) -> Result<Response> {
        let command: C = match req.json().await {
            Ok(command) => command,
            Err(e) => return Response::error(format!("bad guard command: {e}"), 400),
        };
        match self.update(false, |object| p::execute(object, command, now_ms())).await? {
            Ok(reply) => Response::from_json(&reply),
            Err(_) => Response::error(format!("{} sent to another kind of object", C::OP), 409),
        }
    }
}

impl DurableObject for PhoneGuard {
    fn new(state: State, env: Env) -> Self {
        PhoneGuard { state, env, cache: RefCell::new(None), alarm_at: Cell::new(None) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        match path.trim_start_matches('/') {
            p::Reserve::OP => self.serve::<p::Reserve>(req).await,
            p::Settle::OP => self.serve::<p::Settle>(req).await,
            p::Attempt::OP => self.serve::<p::Attempt>(req).await,
            p::FindForPhone::OP => self.serve::<p::FindForPhone>(req).await,
            p::ChatCandidates::OP => self.serve::<p::ChatCandidates>(req).await,
            p::Status::OP => self.serve::<p::Status>(req).await,
            p::Delivery::OP => self.serve::<p::Delivery>(req).await,
            p::Keyword::OP => self.serve::<p::Keyword>(req).await,
            p::AddressHit::OP => self.serve::<p::AddressHit>(req).await,
            p::LinkMessage::OP => self.serve::<p::LinkMessage>(req).await,
            p::ResolveMessage::OP => self.serve::<p::ResolveMessage>(req).await,
            p::SpendBudget::OP => self.serve::<p::SpendBudget>(req).await,
            p::RefundBudget::OP => self.serve::<p::RefundBudget>(req).await,
            other => Response::error(format!("unknown guard command {other}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // Stored even when nothing aged out, so the next alarm is always set.
        self.alarm_at.set(None);
        self.update(true, |object| object.prune(now_ms())).await?;
        Response::ok("pruned")
    }
}
