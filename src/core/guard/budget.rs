//! All sends of one UTC day, against `MAX_SENDS_PER_DAY_GLOBAL` (toll-fraud cap).

use serde::{Deserialize, Serialize};

use super::DAY_MS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetState {
    /// Days since the epoch (UTC).
    pub day: u64,
    pub sends: u32,
    /// The 80 % warning went out for this day.
    pub warned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetOutcome {
    /// `warn`: this send crossed 80 % of the day's budget.
    Allowed {
        sends: u32,
        warn: bool,
    },
    Exhausted {
        retry_after_s: u64,
    },
}

impl BudgetState {
    pub fn spend(&mut self, max: u32, now_ms: u64) -> BudgetOutcome {
        let day = now_ms / DAY_MS;
        if self.day != day {
            *self = BudgetState { day, sends: 0, warned: false };
        }
        if self.sends >= max {
            return BudgetOutcome::Exhausted { retry_after_s: ((day + 1) * DAY_MS - now_ms).div_ceil(1000) };
        }
        self.sends += 1;
        let warn = !self.warned && u64::from(self.sends) * 5 >= u64::from(max) * 4;
        self.warned |= warn;
        BudgetOutcome::Allowed { sends: self.sends, warn }
    }

    /// A send that never went out (our or Meta's failure) gives its place back.
    pub fn refund(&mut self, now_ms: u64) {
        if self.day == now_ms / DAY_MS {
            self.sends = self.sends.saturating_sub(1);
        }
    }

    pub fn next_wakeup(&self) -> Option<u64> {
        Some((self.day + 2) * DAY_MS)
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= (self.day + 2) * DAY_MS
    }
}
