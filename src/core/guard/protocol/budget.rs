//! Commands for the day's send budget object (`MAX_SENDS_PER_DAY_GLOBAL`).

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendBudget {
    pub max: u32,
}

impl GuardCall for SpendBudget {
    const OP: &'static str = "spend_budget";
    type Reply = BudgetOutcome;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<BudgetOutcome, WrongObject> {
        object.budget_spend(self.max, now_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundBudget {}

impl GuardCall for RefundBudget {
    const OP: &'static str = "refund_budget";
    type Reply = ();
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<(), WrongObject> {
        object.budget_refund(now_ms)
    }
}
