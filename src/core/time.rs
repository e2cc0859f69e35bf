//! Time as the core sees it: plain milliseconds since the epoch, injected by the caller.

use std::time::{Duration, UNIX_EPOCH};

pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
pub const DAY_MS: u64 = 24 * HOUR_MS;

/// `2026-11-25T17:26:33Z`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `2026-11-26T09:02:11.123Z`.
pub fn rfc3339_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Milliseconds since the epoch of an RFC 3339 time (`Z` or a `±hh:mm` offset).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.len() < 20 || s.len() > 40 {
        return None;
    }
    let (base, offset_s) = match s.strip_suffix(['Z', 'z']) {
        Some(base) => (base, 0),
        None => {
            // Checked: a multi-byte character there is simply not a time.
            let (base, tz) = s.split_at_checked(s.len() - 6)?;
            (base, utc_offset_s(tz)?)
        }
    };
    // humantime reads only `Z` times with an upper-case `T`.
    let base = base.replacen(['t', ' '], "T", 1);
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).ok()?;
    let ms = utc.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64 - offset_s * 1000;
    u64::try_from(ms).ok()
}

/// `+hh:mm` or `-hh:mm` in seconds east of UTC.
fn utc_offset_s(tz: &str) -> Option<i64> {
    let sign = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = tz[1..].split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Whole seconds from `now` until `then`, rounded up, never negative.
pub fn secs_until(now_ms: u64, then_ms: u64) -> u64 {
    then_ms.saturating_sub(now_ms).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_151_200_000; // 2025-11-26T10:00:00Z

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_091_593_999), "2025-11-25T17:26:33Z");
    }

    #[test]
    fn rfc3339_round_trips_and_takes_offsets() {
        assert_eq!(rfc3339_millis(NOW + 123), "2025-11-26T10:00:00.123Z");
        assert_eq!(parse_rfc3339("2025-11-26T10:00:00.123Z"), Some(NOW + 123));
        assert_eq!(parse_rfc3339("2025-11-26T10:00:00Z"), Some(NOW));
        assert_eq!(parse_rfc3339("2025-11-26T12:00:00+02:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2025-11-26T05:30:00-04:30"), Some(NOW));
        assert_eq!(parse_rfc3339("2025-11-26t10:00:00z"), Some(NOW));
        for bad in
            ["", "yesterday", "2025-11-26", "2025-11-26T10:00:00", "2025-11-26T10:00:00+2:00", "2025-13-26T10:00:00Z"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("2025-11-26T10:00:00.0000é00000"), None, "not a char boundary");
    }

    #[test]
    fn rounds_up() {
        assert_eq!(secs_until(1000, 1000), 0);
        assert_eq!(secs_until(1000, 1001), 1);
        assert_eq!(secs_until(5000, 1000), 0);
        assert_eq!(secs_until(0, 30_000), 30);
    }
}
