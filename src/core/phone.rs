//! Phone numbers: what a person types, normalised to E.164, and the canonical form
//! that makes every spelling of one person's number one identity (`spelling`).

mod spelling;

pub use super::countries::country_code;
use super::countries::{calling_code, shared_range};
pub use spelling::{canonical_phone, other_spelling};

/// Separators a person types between digits; anything else is rejected.
const SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '\u{a0}'];

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    Invalid,
    CountryNotAllowed,
}

/// Normalises `+1 (415) 555-0123` to `+14155550123`.
/// E.164 with a leading `+`, 8 to 15 digits, first digit not 0.
pub fn normalize_phone(input: &str) -> Option<String> {
    let trimmed = input.trim();
    if trimmed.len() > 40 {
        return None;
    }
    let rest = trimmed.strip_prefix('+')?;
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !SEPARATORS.contains(&c) {
            return None;
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return None;
    }
    Some(format!("+{digits}"))
}

/// Webhooks carry numbers as bare digits (`16505551234`), in WhatsApp's spelling.
pub fn from_wa_id(wa_id: &str) -> Option<String> {
    normalize_phone(&format!("+{wa_id}"))
}

/// The digits Meta wants in `to`.
pub fn wa_digits(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

/// `+14155550123` → `+1********23`: the calling code and the last 2 digits, enough
/// to correlate logs, not to identify. A code that is not assigned is hidden too.
pub fn mask_phone(e164: &str) -> String {
    let digits = wa_digits(e164);
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return "****".to_string();
    }
    let head = calling_code(digits).unwrap_or("");
    let tail = &digits[digits.len() - 2..];
    format!("+{head}{}{tail}", "*".repeat(digits.len() - head.len() - 2))
}

/// `allowed` holds calling codes without `+` (e.g. `["1", "44"]`); empty allows every
/// country. Shared and satellite ranges (+870, +881, +882, ...) are allowed only when
/// listed by their own code; unassigned codes never.
pub fn country_allowed(e164: &str, allowed: &[String]) -> bool {
    let listed = |code: &str| allowed.iter().any(|cc| cc == code);
    match (country_code(e164), shared_range(e164)) {
        (Some(code), _) => allowed.is_empty() || listed(code),
        (None, Some(range)) => listed(range),
        (None, None) => false,
    }
}

/// Normalise and apply the country allow-list in one step.
pub fn parse_phone(input: &str, allowed: &[String]) -> Result<String, PhoneError> {
    let phone = normalize_phone(input).ok_or(PhoneError::Invalid)?;
    // An unassigned calling code (+999…) makes no phone number at all: saying its
    // "country" is refused would send the user looking for another country.
    if calling_code(&phone).is_none() {
        return Err(PhoneError::Invalid);
    }
    if country_allowed(&phone, allowed) {
        Ok(phone)
    } else {
        Err(PhoneError::CountryNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_people_type() {
        for input in ["+14155550123", "+1 415 555 0123", "+1 (415) 555-0123", "+1.415.555.0123", "  +1-415-555-0123 "] {
            assert_eq!(normalize_phone(input).as_deref(), Some("+14155550123"), "{input}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for input in [
            "",
            "+",
            "14155550123",
            "+0155550123",
            "+1415555",
            "+1234567890123456",
            "+1415555012a",
            "+1 415 555 0123 ext 4",
            "++14155550123",
            "+1/415/555/0123",
            "+１４１５５５５０１２３",
            "+99999999999999999999999999999999999999999999",
        ] {
            assert_eq!(normalize_phone(input), None, "{input}");
        }
    }

    #[test]
    fn length_bounds_are_inclusive() {
        assert!(normalize_phone("+12345678").is_some());
        assert!(normalize_phone("+123456789012345").is_some());
        assert!(normalize_phone("+1234567").is_none());
    }

    #[test]
    fn masks_show_the_calling_code_and_two_digits() {
        assert_eq!(mask_phone("+14155550123"), "+1********23");
        assert_eq!(mask_phone("+12345678"), "+1*****78");
        assert_eq!(mask_phone("+4412345678"), "+44******78");
        assert_eq!(mask_phone("+447700900123"), "+44********23");
        assert_eq!(mask_phone("+353851234567"), "+353*******67");
        assert_eq!(mask_phone("+88212345678"), "+882******78");
        assert_eq!(mask_phone("+21012345678"), "+*********78", "an unassigned code is not shown");
        assert_eq!(mask_phone("16505551234"), "+1********34");
        assert_eq!(mask_phone("+1"), "****");
        assert_eq!(mask_phone("+1415555abcd"), "****");
        for number in ["+14155550123", "+12345678", "+4412345678", "+79161234567", "+353851234567"] {
            let masked = mask_phone(number);
            let shown = masked.chars().filter(char::is_ascii_digit).count();
            assert!(shown <= country_code(number).unwrap().len() + 2, "{number} → {masked}");
            assert_eq!(masked.len(), number.len(), "{number} → {masked}");
        }
    }

    #[test]
    fn country_allow_list() {
        let allowed = vec!["1".to_string(), "44".to_string()];
        assert_eq!(parse_phone("+14155550123", &allowed), Ok("+14155550123".into()));
        assert_eq!(parse_phone("+447700900123", &allowed), Ok("+447700900123".into()));
        assert_eq!(parse_phone("+33612345678", &allowed), Err(PhoneError::CountryNotAllowed));
        assert_eq!(parse_phone("+33612345678", &[]), Ok("+33612345678".into()));
        assert_eq!(parse_phone("nope", &allowed), Err(PhoneError::Invalid));
        assert_eq!(parse_phone("+1441234567", &allowed), Ok("+1441234567".into()), "44 after 1 is still 1");
    }

    #[test]
    fn toll_fraud_ranges_are_refused_by_default() {
        for number in
            ["+88212345678", "+870773123456", "+8816123456789", "+883510012345", "+88812345678", "+97912345678"]
        {
            assert_eq!(parse_phone(number, &[]), Err(PhoneError::CountryNotAllowed), "{number}");
            assert_eq!(parse_phone(number, &["1".to_string()]), Err(PhoneError::CountryNotAllowed), "{number}");
        }
        for unassigned in ["+21012345678", "+2801234567", "+99912345678"] {
            assert!(!country_allowed(unassigned, &[]), "{unassigned}");
            assert_eq!(parse_phone(unassigned, &[]), Err(PhoneError::Invalid), "{unassigned}: no number at all");
            assert_eq!(parse_phone(unassigned, &["1".to_string()]), Err(PhoneError::Invalid), "{unassigned}");
        }
        // An operator who really wants a shared range names it.
        assert_eq!(parse_phone("+88212345678", &["882".to_string()]), Ok("+88212345678".into()));
        assert_eq!(parse_phone("+88212345678", &["88".to_string()]), Err(PhoneError::CountryNotAllowed));
        assert_eq!(parse_phone("+33612345678", &["3".to_string()]), Err(PhoneError::CountryNotAllowed));
    }

    #[test]
    fn wa_ids_round_trip() {
        assert_eq!(from_wa_id("16505551234").as_deref(), Some("+16505551234"));
        assert_eq!(wa_digits("+16505551234"), "16505551234");
        assert_eq!(from_wa_id("abc"), None);
    }
}
