//! Commands for a client address's object: its hourly allowances.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressHit {
    pub allowance: Allowance,
    pub max_per_hour: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressReply {
    Allowed,
    Limited { retry_after_s: u64 },
}

impl GuardCall for AddressHit {
    const OP: &'static str = "address_hit";
    type Reply = AddressReply;
    fn apply(self, object: &mut GuardObject, now_ms: u64) -> Result<AddressReply, WrongObject> {
        Ok(match object.address()?.hit(self.allowance, self.max_per_hour, now_ms) {
            Ok(()) => AddressReply::Allowed,
            Err(retry_after_s) => AddressReply::Limited { retry_after_s },
        })
    }
}
