//! Small helpers: randomness, Meta-like ids, time formatting, masking, escaping.

use std::time::{SystemTime, UNIX_EPOCH};

/// Fills `buf` with OS randomness. Panics only if the OS has no entropy source,
/// which is not a condition a dev tool can recover from.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("OS random source unavailable");
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
    out
}

/// A fresh message id shaped like Meta's: `wamid.` + base64 of a small
/// length-prefixed record holding the phone digits and 20 random hex chars.
pub fn new_wamid(phone_digits: &str) -> String {
    let digits: String = phone_digits.chars().filter(|c| c.is_ascii_digit()).take(20).collect();
    let mut rnd = [0u8; 10];
    random_bytes(&mut rnd);
    let hex_part = hex::encode_upper(rnd);
    let mut raw = vec![0x1c, 0x18, digits.len() as u8];
    raw.extend_from_slice(digits.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x12, 0x18, hex_part.len() as u8]);
    raw.extend_from_slice(hex_part.as_bytes());
    raw.push(0x00);
    format!("wamid.{}", base64(&raw))
}

/// A trace id like Meta's `fbtrace_id` (e.g. `AXsgnV2Cm3ZMGF3dF_cfYIn`).
pub fn new_fbtrace_id() -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rnd = [0u8; 22];
    random_bytes(&mut rnd);
    let mut s = String::from("A");
    s.extend(rnd.iter().map(|b| ALPHA[(*b & 63) as usize] as char));
    s
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// RFC 3339 in UTC with milliseconds, e.g. `2025-06-08T21:39:43.123Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", sod / 3600, (sod % 3600) / 60, sod % 60, ms % 1000)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Phone digits without one leading '+', 8 to 15 of them (what Meta takes as `to`).
pub fn phone_digits(s: &str) -> Option<String> {
    let d = s.strip_prefix('+').unwrap_or(s);
    ((8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())).then(|| d.to_string())
}

/// `+14155550123` → `+*********23`: only the last 2 digits show.
pub fn mask_phone(s: &str) -> String {
    let d: Vec<char> = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() < 8 {
        return "+****".to_string();
    }
    let tail: String = d[d.len() - 2..].iter().collect();
    format!("+{}{tail}", "*".repeat(d.len() - 2))
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` into key/value pairs.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn wamid_is_meta_like_and_fresh() {
        let a = new_wamid("16505551234");
        let b = new_wamid("16505551234");
        assert_ne!(a, b);
        assert!(a.starts_with("wamid.HBgL"), "{a}");
        let len = a.len() - "wamid.".len();
        assert!((40..=64).contains(&len), "{len}");
    }

    #[test]
    fn fbtrace_shape() {
        let t = new_fbtrace_id();
        assert_eq!(t.len(), 23);
        assert!(t.starts_with('A'));
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_749_416_383_042), "2025-06-08T20:59:43.042Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn phone_digits_rules() {
        assert_eq!(phone_digits("+16505551234").as_deref(), Some("16505551234"));
        assert_eq!(phone_digits("1650"), None);
        assert_eq!(phone_digits("1650555123a"), None);
        assert_eq!(phone_digits("++16505551234"), None);
    }

    #[test]
    fn masks_phone_numbers() {
        assert_eq!(mask_phone("+14155550123"), "+*********23");
        assert_eq!(mask_phone("14155550123"), "+*********23");
        assert_eq!(mask_phone("+4412345678"), "+********78");
        assert_eq!(mask_phone("123"), "+****");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(percent_encode("name,status a&b"), "name%2Cstatus%20a%26b");
    }

    #[test]
    fn decodes_forms() {
        let f = parse_form("secret=s%20x&response=a+b&empty=&bad=%zz%4");
        assert_eq!(f[0], ("secret".into(), "s x".into()));
        assert_eq!(f[1], ("response".into(), "a b".into()));
        assert_eq!(f[2], ("empty".into(), "".into()));
        assert_eq!(f[3], ("bad".into(), "%zz%4".into()));
    }
}
