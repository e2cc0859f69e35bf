//! One person, one number: the spellings WhatsApp uses for a number beside the E.164
//! form its owner types, and the canonical form the guard is keyed by.
//!
//! Meta's `wa_id` for a number is the form the account was registered under, which in
//! three large markets differs from the number as dialled today. Each rule below folds
//! the two spellings into one, and only where the numbering plan guarantees that both
//! spellings name the same subscriber: numbers that merely look alike are left alone.
//!
//! - **Brazil (+55)**: Anatel's numbering plan (Resolution 553/2010, rolled out area by
//!   area from 2012 to 2016) put a ninth digit, a `9`, in front of every mobile number.
//!   Before it, mobiles had 8 digits starting with 6, 7, 8 or 9; landlines have 8 digits
//!   starting with 2 to 5 and never changed. WhatsApp accounts registered before the
//!   change keep a `wa_id` without the ninth digit (`55 AA XXXX XXXX`), newer ones have
//!   it. Canonical: **with** the ninth digit, the form people type today.
//! - **Mexico (+52)**: the IFT's numbering plan dropped the `1` that international calls
//!   to Mexican mobiles used to need after `+52` (in force since 3 August 2019: every
//!   number is 10 digits, dialled alike). WhatsApp `wa_id`s commonly keep it
//!   (`52 1 XXXXXXXXXX`). Canonical: **without** the `1`.
//! - **Argentina (+54)**: under ENACOM's plan a mobile is dialled `0 AA 15 XXXX…` at
//!   home and `+54 9 AA XXXX…` from abroad; a national number (area code plus subscriber
//!   number) is 10 digits either way, and one national number is a mobile or a landline,
//!   never both. WhatsApp writes mobiles `54 9 …`, people type `+54 AA …`. Canonical:
//!   **without** the `9`. The domestic `15` is not an international spelling (a typed
//!   `+54 AA 15 …` is kept as typed; the `wa_id` Meta returns for it ties replies that
//!   quote our message back to the request).
//!
//! Meta documents that the `wa_id` in a send's answer (`contacts[].wa_id`) and in
//! webhooks may differ from the number sent to (`contacts[].input`); the worker keeps
//! it with the request.

/// Brazil's 67 area codes (DDD), Anatel's list: both digits 1–9, not all pairs in use.
const BRAZIL_AREA_CODES: [u8; 67] = [
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    91, 92, 93, 94, 95, 96, 97, 98, 99,
];

fn brazil_area(digits: &str) -> bool {
    digits.get(..2).and_then(|d| d.parse::<u8>().ok()).is_some_and(|ddd| BRAZIL_AREA_CODES.contains(&ddd))
}

/// An 8-digit Brazilian subscriber number in the old mobile ranges (6–9).
fn brazil_old_mobile(subscriber: &str) -> bool {
    subscriber.len() == 8 && matches!(subscriber.as_bytes()[0], b'6'..=b'9')
}

/// A Mexican national number: 10 digits, the area code never starting with 0 or 1.
fn mexico_national(national: &str) -> bool {
    national.len() == 10 && matches!(national.as_bytes()[0], b'2'..=b'9')
}

/// An Argentine national number: 10 digits, area codes start with 1, 2 or 3.
fn argentina_national(national: &str) -> bool {
    national.len() == 10 && matches!(national.as_bytes()[0], b'1'..=b'3')
}

/// The canonical digits (no `+`) for digits of any spelling.
fn canonical_digits(digits: &str) -> String {
    if let Some(rest) = digits.strip_prefix("55") {
        // 55 AA XXXX XXXX, a mobile registered before the ninth digit → 55 AA 9XXXX XXXX.
        if rest.len() == 10 && brazil_area(rest) && brazil_old_mobile(&rest[2..]) {
            return format!("55{}9{}", &rest[..2], &rest[2..]);
        }
    } else if let Some(rest) = digits.strip_prefix("521") {
        if mexico_national(rest) {
            return format!("52{rest}");
        }
    } else if let Some(rest) = digits.strip_prefix("549") {
        if argentina_national(rest) {
            return format!("54{rest}");
        }
    }
    digits.to_string()
}

/// The form a number's guard, limits, opt-out, logs and tokens go by, for an E.164
/// number (`+` and digits, as `normalize_phone` makes it). Idempotent; numbers outside
/// Brazil, Mexico and Argentina, and those that only look alike, come back unchanged.
pub fn canonical_phone(e164: &str) -> String {
    match e164.strip_prefix('+') {
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => format!("+{}", canonical_digits(digits)),
        _ => e164.to_string(),
    }
}

/// The one other spelling WhatsApp may use for a canonical number, if it has one: the
/// key its guard had before guards were keyed by the canonical form.
pub fn other_spelling(canonical: &str) -> Option<String> {
    let digits = canonical.strip_prefix('+')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(rest) = digits.strip_prefix("55") {
        // 55 AA 9 + an old mobile number → 55 AA + the old number.
        let subscriber = rest.get(3..).unwrap_or("");
        if rest.len() == 11 && brazil_area(rest) && rest.as_bytes()[2] == b'9' && brazil_old_mobile(subscriber) {
            return Some(format!("+55{}{subscriber}", &rest[..2]));
        }
    } else if let Some(rest) = digits.strip_prefix("52") {
        if mexico_national(rest) {
            return Some(format!("+521{rest}"));
        }
    } else if let Some(rest) = digits.strip_prefix("54") {
        if argentina_national(rest) {
            return Some(format!("+549{rest}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (a spelling, its canonical form): real-shaped numbers, both ways round.
    const TABLE: &[(&str, &str)] = &[
        // Brazil: São Paulo, Rio, Belo Horizonte, Salvador, Manaus mobiles, both spellings.
        ("+5511987654321", "+5511987654321"),
        ("+551187654321", "+5511987654321"),
        ("+5521998765432", "+5521998765432"),
        ("+552198765432", "+5521998765432"),
        ("+553196543210", "+5531996543210"),
        ("+557176543210", "+5571976543210"),
        ("+559261234567", "+5592961234567"),
        // Brazil: landlines (2–5) keep 8 digits; a 9-digit number is already canonical.
        ("+551132104321", "+551132104321"),
        ("+552125551234", "+552125551234"),
        ("+554135551234", "+554135551234"),
        ("+556145551234", "+556145551234"),
        ("+5511953214321", "+5511953214321"),
        // Brazil look-alikes: area codes that do not exist (10, 20, 23, 30, 50), too short.
        ("+551087654321", "+551087654321"),
        ("+552087654321", "+552087654321"),
        ("+552387654321", "+552387654321"),
        ("+553087654321", "+553087654321"),
        ("+555087654321", "+555087654321"),
        ("+55118765432", "+55118765432"),
        // Mexico: Mexico City, Guadalajara, Monterrey, with and without the old `1`.
        ("+5215512345678", "+525512345678"),
        ("+525512345678", "+525512345678"),
        ("+5213398765432", "+523398765432"),
        ("+528112345678", "+528112345678"),
        // Mexico look-alikes: a national number cannot start with 0 or 1; wrong lengths.
        ("+5210512345678", "+5210512345678"),
        ("+5211512345678", "+5211512345678"),
        ("+52155123456789", "+52155123456789"),
        ("+521551234567", "+521551234567"),
        // Argentina: Buenos Aires, Córdoba, Rosario; mobiles as WhatsApp writes them.
        ("+5491123456789", "+541123456789"),
        ("+541123456789", "+541123456789"),
        ("+5493515551234", "+543515551234"),
        ("+5493414123456", "+543414123456"),
        ("+542214123456", "+542214123456"),
        // Argentina look-alikes: no area code starts with 0 or 4–9; wrong lengths; the
        // domestic 15 stays as typed.
        ("+5499123456789", "+5499123456789"),
        ("+5494123456789", "+5494123456789"),
        ("+549112345678", "+549112345678"),
        ("+54111512345678", "+54111512345678"),
        // Other countries, including codes that start like these three.
        ("+14155550123", "+14155550123"),
        ("+447700900123", "+447700900123"),
        ("+551", "+551"),
        ("+5511", "+5511"),
        ("+3491123456789", "+3491123456789"),
        ("+15491123456789", "+15491123456789"),
        ("+351912345678", "+351912345678"),
        ("+4915112345678", "+4915112345678"),
        ("+9112345678901", "+9112345678901"),
        ("+886912345678", "+886912345678"),
    ];

    #[test]
    fn every_spelling_of_the_table_meets_its_canonical_form() {
        for (spelling, canonical) in TABLE {
            assert_eq!(canonical_phone(spelling), *canonical, "{spelling}");
            assert_eq!(canonical_phone(canonical), *canonical, "{canonical} is a fixed point");
            if spelling != canonical {
                assert_eq!(other_spelling(canonical).as_deref(), Some(*spelling), "{canonical}");
            }
        }
    }

    #[test]
    fn landlines_and_look_alikes_have_no_other_spelling() {
        for number in ["+551132104321", "+5511953214321", "+552087654321", "+14155550123", "+5211512345678"] {
            assert_eq!(other_spelling(number), None, "{number}");
        }
        assert_eq!(other_spelling("+5494123456789"), None);
        assert_eq!(canonical_phone("not a number"), "not a number");
        assert_eq!(other_spelling("+55abc"), None);
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, n).prop_map(|d| d.into_iter().map(|x| char::from(b'0' + x)).collect())
    }

    /// One number of the three markets, as (the typed spelling, WhatsApp's spelling).
    fn two_spellings() -> impl Strategy<Value = (String, String)> {
        let brazil = (proptest::sample::select(BRAZIL_AREA_CODES.to_vec()), 6u8..10, digits(7))
            .prop_map(|(ddd, first, rest)| (format!("+55{ddd}9{first}{rest}"), format!("+55{ddd}{first}{rest}")));
        let mexico = (2u8..10, digits(9)).prop_map(|(a, rest)| (format!("+52{a}{rest}"), format!("+521{a}{rest}")));
        let argentina = (1u8..4, digits(9)).prop_map(|(a, rest)| (format!("+54{a}{rest}"), format!("+549{a}{rest}")));
        prop_oneof![brazil, mexico, argentina]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn two_spellings_of_one_number_always_meet((typed, whatsapp) in two_spellings()) {
            prop_assert_eq!(canonical_phone(&typed), typed.clone());
            prop_assert_eq!(canonical_phone(&whatsapp), typed.clone());
            prop_assert_eq!(other_spelling(&typed), Some(whatsapp));
        }

        #[test]
        fn canonicalization_is_idempotent(number in (8usize..16).prop_flat_map(digits)) {
            let e164 = format!("+{number}");
            let once = canonical_phone(&e164);
            prop_assert_eq!(canonical_phone(&once), once.clone());
            // The other spelling of a canonical number leads back to it, never elsewhere.
            if let Some(other) = other_spelling(&once) {
                prop_assert_ne!(&other, &once);
                prop_assert_eq!(canonical_phone(&other), once);
            }
        }

        #[test]
        fn a_canonical_number_has_at_most_the_spellings_that_meet_it(a in (8usize..16).prop_flat_map(digits), b in (8usize..16).prop_flat_map(digits)) {
            let (a, b) = (format!("+{a}"), format!("+{b}"));
            // Two different numbers meet only when one is the other's WhatsApp spelling.
            if a != b && canonical_phone(&a) == canonical_phone(&b) {
                let canonical = canonical_phone(&a);
                let other = other_spelling(&canonical);
                prop_assert!(other.as_deref() == Some(a.as_str()) || other.as_deref() == Some(b.as_str()));
            }
        }
    }
}
