//! One client address (an IPv4 address or an IPv6 /64): how many requests and how
//! many checks (verify, status) it made in the last hour.

use serde::{Deserialize, Serialize};

use super::{HOUR_MS, MINUTE_MS};

/// Which allowance a call draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowance {
    /// Code requests and verify by phone: `IP_MAX_REQUESTS_PER_HOUR`.
    Requests,
    /// Verify by `request_id` and status: `IP_MAX_CHECKS_PER_HOUR`.
    Checks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    pub minute: u64,
    pub count: u32,
}

/// A sliding hour in per-minute buckets: at most 60 entries, however high the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default)]
    pub minutes: Vec<MinuteCount>,
}

impl Window {
    fn prune(&mut self, now_ms: u64) {
        self.minutes.retain(|m| (m.minute + 1) * MINUTE_MS + HOUR_MS > now_ms);
    }

    /// Counts one hit unless the hour is full; `Err(seconds)` until there is room.
    fn hit(&mut self, max_per_hour: u32, now_ms: u64) -> Result<(), u64> {
        let total: u64 = self.minutes.iter().map(|m| u64::from(m.count)).sum();
        if total >= u64::from(max_per_hour) {
            // Free once enough of the oldest minutes have aged out of the hour.
            let mut excess = total + 1 - u64::from(max_per_hour);
            let mut free_at = now_ms + HOUR_MS;
            for m in &self.minutes {
                excess = excess.saturating_sub(u64::from(m.count));
                if excess == 0 {
                    free_at = (m.minute + 1) * MINUTE_MS + HOUR_MS;
                    break;
                }
            }
            return Err(free_at.saturating_sub(now_ms).div_ceil(1000).max(1));
        }
        let minute = now_ms / MINUTE_MS;
        match self.minutes.last_mut() {
            Some(last) if last.minute == minute => last.count += 1,
            _ => self.minutes.push(MinuteCount { minute, count: 1 }),
        }
        Ok(())
    }

    fn next_wakeup(&self) -> Option<u64> {
        self.minutes.iter().map(|m| (m.minute + 1) * MINUTE_MS + HOUR_MS).min()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressState {
    #[serde(default)]
    pub requests: Window,
    #[serde(default)]
    pub checks: Window,
}

impl AddressState {
    pub fn prune(&mut self, now_ms: u64) {
        self.requests.prune(now_ms);
        self.checks.prune(now_ms);
    }

    pub fn hit(&mut self, allowance: Allowance, max_per_hour: u32, now_ms: u64) -> Result<(), u64> {
        match allowance {
            Allowance::Requests => self.requests.hit(max_per_hour, now_ms),
            Allowance::Checks => self.checks.hit(max_per_hour, now_ms),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requests.minutes.is_empty() && self.checks.minutes.is_empty()
    }

    pub fn next_wakeup(&self) -> Option<u64> {
        self.requests.next_wakeup().into_iter().chain(self.checks.next_wakeup()).min()
    }
}
