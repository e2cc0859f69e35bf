//! The day's send budget (`MAX_SENDS_PER_DAY_GLOBAL`): every message the worker sends,
//! a code or a chat reply, spends from one counter per UTC day (the toll-fraud cap), and
//! gives its place back when it never went out.

use serde_json::json;
use worker::Env;

use crate::core::error::ApiError;
use crate::core::guard::budget::BudgetOutcome;
use crate::core::guard::protocol::{RefundBudget, SpendBudget};
use crate::core::guard::Change;
use crate::edge::clock::now_ms;
use crate::edge::events;
use crate::edge::guard_client::{budget_object, call};

/// Takes one send from the day's budget for a message to `phone`. The send that
/// crosses 80 % raises the budget warning (log and event) once a day.
pub async fn spend(env: &Env, phone: &str, max: u32) -> Result<(), ApiError> {
    match call(env, &budget_object(now_ms()), &SpendBudget { max }).await? {
        BudgetOutcome::Allowed { sends, warn } => {
            if warn {
                worker::console_warn!("{}", json!({ "budget_warning": { "sends": sends, "max": max } }));
                events::publish_now(env, phone, vec![Change::BudgetWarning { sends, max }]).await;
            }
            Ok(())
        }
        BudgetOutcome::Exhausted { retry_after_s } => Err(ApiError::daily_budget_exhausted(retry_after_s)),
    }
}

/// A message that never went out gives its place back (logged if that fails).
pub async fn refund(env: &Env) {
    if let Err(e) = call(env, &budget_object(now_ms()), &RefundBudget {}).await {
        worker::console_error!("refunding the day's budget failed: {}", e.code);
    }
}
