//! ITU-T E.164 country calling codes: which ones belong to a country or territory,
//! which ones are shared or satellite ranges, and which are not assigned at all.
//!
//! Calling codes are prefix-free (no code is the start of another), so the first
//! 1, 2 or 3 digits of a number that match the table are its calling code.

/// Calling codes assigned to a country or territory (geographic), sorted.
/// Zone 1 (North America) and zone 7 (Russia, Kazakhstan) are one digit.
const GEOGRAPHIC: &[&str] = &[
    "1", "20", "211", "212", "213", "216", "218", "220", "221", "222", "223", "224", "225", "226", "227", "228", "229",
    "230", "231", "232", "233", "234", "235", "236", "237", "238", "239", "240", "241", "242", "243", "244", "245",
    "246", "247", "248", "249", "250", "251", "252", "253", "254", "255", "256", "257", "258", "260", "261", "262",
    "263", "264", "265", "266", "267", "268", "269", "27", "290", "291", "297", "298", "299", "30", "31", "32", "33",
    "34", "350", "351", "352", "353", "354", "355", "356", "357", "358", "359", "36", "370", "371", "372", "373",
    "374", "375", "376", "377", "378", "380", "381", "382", "383", "385", "386", "387", "389", "39", "40", "41", "420",
    "421", "423", "43", "44", "45", "46", "47", "48", "49", "500", "501", "502", "503", "504", "505", "506", "507",
    "508", "509", "51", "52", "53", "54", "55", "56", "57", "58", "590", "591", "592", "593", "594", "595", "596",
    "597", "598", "599", "60", "61", "62", "63", "64", "65", "66", "670", "672", "673", "674", "675", "676", "677",
    "678", "679", "680", "681", "682", "683", "685", "686", "687", "688", "689", "690", "691", "692", "7", "81", "82",
    "84", "850", "852", "853", "855", "856", "86", "880", "886", "90", "91", "92", "93", "94", "95", "960", "961",
    "962", "963", "964", "965", "966", "967", "968", "970", "971", "972", "973", "974", "975", "976", "977", "98",
    "992", "993", "994", "995", "996", "998",
];

/// Assigned but not to a country: shared codes, global services and satellite
/// networks (Inmarsat 870, GMSS 881, international networks 882 and 883, OCHA 888,
/// premium rate 979, freephone 800, shared cost 808, UPT 878, trials 991, the
/// European shared code 388). Numbers here cost far more than a country's, and
/// sending codes to them is the classic toll-fraud pattern.
const SHARED: &[&str] = &["388", "800", "808", "870", "878", "881", "882", "883", "888", "979", "991"];

fn digits(e164: &str) -> &str {
    e164.trim_start_matches('+')
}

fn find(e164: &str, table: &'static [&'static str]) -> Option<&'static str> {
    let digits = digits(e164);
    (1..=3).filter_map(|len| digits.get(..len)).find_map(|prefix| table.binary_search(&prefix).ok().map(|i| table[i]))
}

/// The country calling code of an E.164 number (`+447700900123` → `"44"`), or `None`
/// when the number is in a shared or satellite range or its code is not assigned.
pub fn country_code(e164: &str) -> Option<&'static str> {
    find(e164, GEOGRAPHIC)
}

/// The shared or satellite range an E.164 number is in (`+88212345678` → `"882"`).
pub fn shared_range(e164: &str) -> Option<&'static str> {
    find(e164, SHARED)
}

/// Whether `code` (digits, no `+`) is an assigned calling code, geographic or shared.
pub fn is_calling_code(code: &str) -> bool {
    GEOGRAPHIC.binary_search(&code).is_ok() || SHARED.binary_search(&code).is_ok()
}

/// Any assigned calling code, geographic or shared: what masking may show.
pub fn calling_code(e164: &str) -> Option<&'static str> {
    country_code(e164).or_else(|| shared_range(e164))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_prefix_free() {
        for table in [GEOGRAPHIC, SHARED] {
            assert!(table.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        }
        let all: Vec<&str> = GEOGRAPHIC.iter().chain(SHARED).copied().collect();
        for a in &all {
            assert!((1..=3).contains(&a.len()) && !a.starts_with('0'), "{a}");
            for b in &all {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn finds_one_two_and_three_digit_codes() {
        assert_eq!(country_code("+14155550123"), Some("1"));
        assert_eq!(country_code("+79161234567"), Some("7"));
        assert_eq!(country_code("+447700900123"), Some("44"));
        assert_eq!(country_code("+4412345678"), Some("44"));
        assert_eq!(country_code("+33612345678"), Some("33"));
        assert_eq!(country_code("+353851234567"), Some("353"));
        assert_eq!(country_code("+2348031234567"), Some("234"));
        assert_eq!(country_code("+383441234567"), Some("383"));
        assert_eq!(country_code("+9989012345678"), Some("998"));
        assert_eq!(country_code("16505551234"), Some("1"), "bare digits too");
    }

    #[test]
    fn shared_and_satellite_ranges_have_no_country() {
        for (number, range) in [
            ("+870773123456", "870"),
            ("+8816123456789", "881"),
            ("+88212345678", "882"),
            ("+883510012345", "883"),
            ("+88812345678", "888"),
            ("+97912345678", "979"),
            ("+80012345678", "800"),
            ("+3883123456789", "388"),
        ] {
            assert_eq!(country_code(number), None, "{number}");
            assert_eq!(shared_range(number), Some(range), "{number}");
            assert_eq!(calling_code(number), Some(range), "{number}");
        }
    }

    #[test]
    fn unassigned_codes_are_nothing() {
        for number in ["+21012345678", "+2801234567", "+42212345678", "+6711234567", "+8351234567", "+99912345678"] {
            assert_eq!(calling_code(number), None, "{number}");
        }
        assert_eq!(calling_code(""), None);
        assert!(is_calling_code("44") && is_calling_code("882") && is_calling_code("1"));
        assert!(!is_calling_code("4") && !is_calling_code("441") && !is_calling_code("210") && !is_calling_code(""));
        assert_eq!(calling_code("+"), None);
    }
}
