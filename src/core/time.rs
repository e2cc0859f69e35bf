//! Time as the core sees it: plain milliseconds since the epoch, injected by the caller.

use std::time::{Duration, UNIX_EPOCH};

/// `2026-11-25T17:26:33Z`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Whole seconds from `now` until `then`, rounded up, never negative.
pub fn secs_until(now_ms: u64, then_ms: u64) -> u64 {
    then_ms.saturating_sub(now_ms).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_091_593_999), "2025-11-25T17:26:33Z");
    }

    #[test]
    fn rounds_up() {
        assert_eq!(secs_until(1000, 1000), 0);
        assert_eq!(secs_until(1000, 1001), 1);
        assert_eq!(secs_until(5000, 1000), 0);
        assert_eq!(secs_until(0, 30_000), 30);
    }
}
