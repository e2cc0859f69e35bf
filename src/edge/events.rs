//! The hook every guard change goes through. Events on a queue plug in here; until
//! then the changes an operator must see (a budget warning, a revocation) are logged.

use serde_json::json;
use worker::Env;

use crate::core::guard::Change;
use crate::core::phone::mask_phone;

pub fn publish(_env: &Env, number: &str, changes: Vec<Change>) {
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    for change in changes.iter().filter(|c| matches!(c, Change::BudgetWarning { .. } | Change::Revoked { .. })) {
        worker::console_warn!("{}", json!({ "guard_change": change, "phone": masked }));
    }
}
