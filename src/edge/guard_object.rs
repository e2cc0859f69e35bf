//! `PhoneGuard`: the Durable Object that owns one guard object's state (a number,
//! an address, a message link or the day's budget). It only loads the state, runs
//! one command of the core's protocol, stores the result, hands what changed to the
//! event hook and schedules the alarm.

use std::cell::{Cell, RefCell};

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::clock::now_ms;
use crate::core::guard::protocol::{self as p, GuardCall};
use crate::core::guard::stored::{self, GuardObject};
use crate::core::guard::wire::{self, WireError, WIRE_CONTENT_TYPE, WIRE_VERSION};

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
    /// Not generic: one copy of the load-run-store path serves every command.
    async fn update(&self, always_store: bool, change: &mut dyn FnMut(&mut GuardObject)) -> Result<()> {
        self.load().await?;
        let (snapshot, changes) = {
            let mut cache = self.cache.borrow_mut();
            let object = cache.get_or_insert_with(GuardObject::default);
            let before = object.clone();
            change(object);
            let changes = (object.take_changes(), object.test_request_ids());
            let snapshot = (always_store || *object != before)
                .then(|| (stored::save(object), object.is_empty(), object.next_wakeup()));
            if snapshot.as_ref().is_some_and(|(_, empty, _)| *empty) {
                // Memory holds what storage holds: an object whose storage is deleted
                // answers the same whether it stays in memory or is evicted.
                *object = GuardObject::Empty;
            }
            (snapshot, changes)
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
        let ((number, changes), test_ids) = changes;
        if !changes.is_empty() {
            super::events::publish(&self.env, &number, changes, &test_ids);
        }
        Ok(())
    }

    /// Runs one parsed command and answers with its reply.
    async fn serve(&self, op: &str, run: Run) -> Result<Response> {
        let mut run = Some(run);
        let mut reply = None;
        self.update(false, &mut |object| reply = run.take().and_then(|run| run(object))).await?;
        match reply {
            Some(bytes) => {
                let mut response = Response::from_bytes(bytes)?;
                response.headers_mut().set("Content-Type", WIRE_CONTENT_TYPE)?;
                Ok(response)
            }
            None => Response::error(format!("{op} sent to another kind of object"), 409),
        }
    }
}

/// A parsed command, ready to run once on an object: its encoded reply, or `None`
/// when the object is of another kind. Only parsing is per command; running,
/// storing and answering are one path for all of them.
type Run = Box<dyn FnOnce(&mut GuardObject) -> Option<Vec<u8>>>;

fn parse<C: GuardCall + 'static>(body: &[u8]) -> std::result::Result<Run, WireError> {
    let command: C = wire::decode(body)?;
    Ok(Box::new(move |object: &mut GuardObject| {
        let reply = p::execute(object, command, now_ms()).ok()?;
        // Postcard fails only on shapes it cannot carry (unknown lengths, "any"
        // values); the wire tests encode every reply type.
        Some(wire::encode(&reply).unwrap_or_default())
    }))
}

impl DurableObject for PhoneGuard {
    fn new(state: State, env: Env) -> Self {
        PhoneGuard { state, env, cache: RefCell::new(None), alarm_at: Cell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        // A caller of another wire version gets 404 and answers 503: never a misread.
        let Some(op) =
            path.strip_prefix('/').and_then(|p| p.strip_prefix(WIRE_VERSION)).and_then(|p| p.strip_prefix('/'))
        else {
            return Response::error(format!("unknown guard wire {path}"), 404);
        };
        let body = req.bytes().await?;
        let parsed = match op {
            p::Reserve::OP => parse::<p::Reserve>(&body),
            p::Settle::OP => parse::<p::Settle>(&body),
            p::Attempt::OP => parse::<p::Attempt>(&body),
            p::FindForPhone::OP => parse::<p::FindForPhone>(&body),
            p::ChatCandidates::OP => parse::<p::ChatCandidates>(&body),
            p::Status::OP => parse::<p::Status>(&body),
            p::Delivery::OP => parse::<p::Delivery>(&body),
            p::Keyword::OP => parse::<p::Keyword>(&body),
            p::ReadOtherSpelling::OP => parse::<p::ReadOtherSpelling>(&body),
            p::AddressHit::OP => parse::<p::AddressHit>(&body),
            p::LinkMessage::OP => parse::<p::LinkMessage>(&body),
            p::ResolveMessage::OP => parse::<p::ResolveMessage>(&body),
            p::SpendBudget::OP => parse::<p::SpendBudget>(&body),
            p::RefundBudget::OP => parse::<p::RefundBudget>(&body),
            p::SettleSms::OP => parse::<p::SettleSms>(&body),
            p::SmsStatus::OP => parse::<p::SmsStatus>(&body),
            other => return Response::error(format!("unknown guard command {other}"), 404),
        };
        match parsed {
            Ok(run) => self.serve(op, run).await,
            Err(e) => Response::error(format!("bad guard command: {e}"), 400),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // Stored even when nothing aged out, so the next alarm is always set. Requests
        // whose WhatsApp message saw no `delivered`/`read` in time get their SMS: each
        // claimed here, in the same synchronous step as the pruning, so a request that
        // ended (verified, expired, ...) is never claimed and none is claimed twice.
        self.alarm_at.set(None);
        let settings = super::isolate::settings(&self.env);
        let mut jobs = Vec::new();
        self.update(true, &mut |object| {
            let now = now_ms();
            object.prune(now);
            jobs = object.take_due_fallbacks(now);
        })
        .await?;
        for job in jobs {
            let result = super::sms::run_job(&self.env, settings.config.as_ref().ok(), &job).await;
            self.update(false, &mut |object| {
                if let Ok(state) = object.number(&job.number) {
                    state.settle_sms(&job.request_id, result.clone(), now_ms());
                }
            })
            .await?;
        }
        Response::ok("pruned")
    }
}
