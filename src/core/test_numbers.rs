//! Test numbers (`TEST_NUMBERS`): numbers for app-store reviewers and smoke tests
//! that get no message, only a fixed code, until a date. Entries are
//! `+<number>:<code>:<YYYY-MM-DD>`, separated by commas. From its date on (00:00
//! UTC) an entry is ignored — the number is an ordinary number again — and
//! `/healthz` lists it, masked, under `warnings`.

use std::time::UNIX_EPOCH;

use super::guard::Mode;
use super::phone::{canonical_phone, mask_phone, normalize_phone};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestNumber {
    /// The canonical form, as the number's guard goes by it.
    pub phone: String,
    /// The fixed code: `OTP_LENGTH` digits.
    pub code: String,
    /// The first moment (00:00 UTC of its date) the entry no longer applies.
    pub until_ms: u64,
    /// The date as written, for the warning.
    pub until: String,
}

/// Every entry of `TEST_NUMBERS`; `Debug` never shows a code.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TestNumbers(pub Vec<TestNumber>);

impl std::fmt::Debug for TestNumbers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestNumbers({} entries)", self.0.len())
    }
}

/// `YYYY-MM-DD` → milliseconds at 00:00 UTC that day; anything else (or a day the
/// calendar lacks) is `None`.
fn parse_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let at = humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

impl TestNumbers {
    /// The setting's value, or `None` when an entry is malformed: a number that is
    /// not E.164, a code that is not `code_length` digits, a date that is not a date.
    pub fn parse(value: &str, code_length: usize) -> Option<TestNumbers> {
        let mut entries = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut parts = entry.split(':').map(str::trim);
            let (Some(number), Some(code), Some(date), None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return None;
            };
            let phone = canonical_phone(&normalize_phone(number)?);
            if code.len() != code_length || !code.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let until_ms = parse_date(date)?;
            entries.push(TestNumber { phone, code: code.to_string(), until_ms, until: date.to_string() });
        }
        Some(TestNumbers(entries))
    }

    /// The fixed code of a request for `phone` (canonical) in `mode` at `now_ms`:
    /// `Some` means nothing is sent, by any channel. Inbound requests send nothing
    /// anyway and prove the number by its own message, so they stay ordinary.
    pub fn fixed_code(&self, phone: &str, mode: Mode, now_ms: u64) -> Option<&str> {
        if mode != Mode::Outbound {
            return None;
        }
        self.0.iter().find(|t| t.phone == phone && now_ms < t.until_ms).map(|t| t.code.as_str())
    }

    /// `/healthz` `warnings` for entries past their date, numbers masked, codes never.
    pub fn warnings(&self, now_ms: u64) -> Vec<String> {
        self.0
            .iter()
            .filter(|t| now_ms >= t.until_ms)
            .map(|t| format!("TEST_NUMBERS: {} expired on {}", mask_phone(&t.phone), t.until))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    /// 2026-12-01T00:00:00Z.
    const DEC_1: u64 = 1_796_083_200_000;

    #[test]
    fn entries_are_read_and_canonical() {
        let t =
            TestNumbers::parse(" +1 415 555 0100:123456:2026-12-01 , +5511987654321:000000:2027-01-31,", 6).unwrap();
        assert_eq!(t.0.len(), 2);
        assert_eq!(t.0[0].phone, "+14155550100");
        assert_eq!(t.0[0].until_ms, DEC_1);
        assert_eq!(t.0[1].code, "000000");
        assert_eq!(TestNumbers::parse("", 6), Some(TestNumbers::default()));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "+14155550100:12345:2026-12-01",
            "+14155550100:1234567:2026-12-01",
            "+14155550100:12a456:2026-12-01",
            "+14155550100:123456:2026-13-01",
            "+14155550100:123456:2026-02-30",
            "+14155550100:123456:01-12-2026",
            "+14155550100:123456:tomorrow",
            "+14155550100:123456",
            "+14155550100:123456:2026-12-01:x",
            "14155550100:123456:2026-12-01",
            "+1:123456:2026-12-01",
        ] {
            assert_eq!(TestNumbers::parse(bad, 6), None, "{bad}");
        }
        assert!(TestNumbers::parse("+14155550100:12345678:2026-12-01", 8).is_some());
    }

    #[test]
    fn an_entry_applies_until_its_date_then_warns_masked() {
        let t = TestNumbers::parse("+14155550100:123456:2026-12-01", 6).unwrap();
        assert_eq!(t.fixed_code("+14155550100", Mode::Outbound, DEC_1 - 1), Some("123456"));
        assert_eq!(t.fixed_code("+14155550100", Mode::Inbound, DEC_1 - 1), None);
        assert_eq!(t.fixed_code("+14155550101", Mode::Outbound, DEC_1 - 1), None);
        assert!(t.warnings(DEC_1 - 1).is_empty());
        assert_eq!(t.fixed_code("+14155550100", Mode::Outbound, DEC_1), None);
        let warnings = t.warnings(DEC_1 + DAY);
        assert_eq!(warnings, ["TEST_NUMBERS: +1********00 expired on 2026-12-01"]);
        assert!(!warnings[0].contains("123456") && !warnings[0].contains("4155550100"));
        assert!(!format!("{t:?}").contains("123456"));
    }
}
