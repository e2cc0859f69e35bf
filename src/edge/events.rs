//! The hook every guard change goes through. Today: one structured log line per
//! change (masked number, never a code). Events on a queue plug in here.

use serde_json::json;
use worker::Env;

use crate::core::guard::Change;
use crate::core::phone::mask_phone;

pub fn publish(_env: &Env, number: &str, changes: Vec<Change>) {
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    for change in changes {
        worker::console_log!("{}", json!({ "guard_change": change, "phone": masked }));
    }
}
