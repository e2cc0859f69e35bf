//! The SMS itself: short, in the request's language where there is a translation
//! (English otherwise), naming the service, how long the code lives and that it must
//! not be shared; with `SMS_WEBOTP_DOMAIN` its last line is `@domain #code`, so a
//! browser's WebOTP API can fill the code in. And how many SMS segments a text takes.

use crate::core::chat::Lang;

/// The SMS carrying `code` (valid `ttl_s` seconds) for `service`.
pub fn sms_text(locale: Option<&str>, code: &str, service: &str, ttl_s: u64, webotp_domain: Option<&str>) -> String {
    let minutes = ttl_s.div_ceil(60).max(1);
    let body = match Lang::of(locale) {
        Lang::Es => format!("{code} es tu código de {service}. Caduca en {minutes} min. No lo compartas con nadie."),
        Lang::Pt => {
            format!("{code} é seu código do {service}. Expira em {minutes} min. Não o compartilhe com ninguém.")
        }
        Lang::De => format!("{code} ist dein {service}-Code. Gültig {minutes} Min. Gib ihn an niemanden weiter."),
        Lang::Fr => format!("{code} est votre code {service}. Valable {minutes} min. Ne le partagez avec personne."),
        Lang::Id => format!("{code} adalah kode {service} Anda. Berlaku {minutes} menit. Jangan bagikan ke siapa pun."),
        Lang::Hi => format!("{code} आपका {service} कोड है। {minutes} मिनट तक मान्य। इसे किसी से साझा न करें।"),
        Lang::Ar => format!("{code} هو رمز {service} الخاص بك. صالح لمدة {minutes} دقيقة. لا تشاركه مع أحد."),
        Lang::En => format!("{code} is your {service} code. Valid for {minutes} min. Do not share it with anyone."),
    };
    match webotp_domain {
        Some(domain) => format!("{body}\n\n@{domain} #{code}"),
        None => body,
    }
}

/// GSM 03.38's basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: two septets each (escape + character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How many SMS segments `text` takes: GSM-7 when every character is in its
/// alphabet (160 septets alone, 153 per part once split), UCS-2 otherwise (70 UTF-16
/// units alone, 67 per part).
pub fn segments(text: &str) -> usize {
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (units, single, part) = match septets {
        Some(n) => (n, 160, 153),
        None => (text.encode_utf16().count(), 70, 67),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCALES: [&str; 8] = ["en_US", "es", "pt_BR", "de", "fr", "id", "hi", "ar"];

    #[test]
    fn the_text_says_what_it_must() {
        let text = sms_text(None, "123456", "Acme", 300, None);
        assert_eq!(text, "123456 is your Acme code. Valid for 5 min. Do not share it with anyone.");
        assert_eq!(sms_text(None, "123456", "Acme", 61, None).matches("2 min").count(), 1);
        let webotp = sms_text(Some("de"), "123456", "Acme", 300, Some("app.example.com"));
        assert!(webotp.ends_with("\n\n@app.example.com #123456"), "{webotp}");
        for locale in LOCALES {
            let text = sms_text(Some(locale), "654321", "Acme", 600, None);
            assert!(text.starts_with("654321") && text.contains("Acme") && text.contains("10"), "{locale}: {text}");
        }
    }

    /// English must be one segment even with a longish service name, a 10-digit code
    /// and the WebOTP line. Measured, for the README: English, German, French and
    /// Indonesian stay GSM-7 in one segment; Spanish and Portuguese use letters outside
    /// GSM-7 (ó, ã) and so UCS-2: two segments; Hindi and Arabic two as well.
    #[test]
    fn segments_per_language() {
        let service = "Acme Online Banking"; // 19 characters, like the default "whatsapp-otp-worker"
        let expected = [("en_US", 1), ("de", 1), ("fr", 1), ("id", 1), ("es", 2), ("pt_BR", 2), ("hi", 2), ("ar", 2)];
        for (locale, want) in expected {
            let plain = sms_text(Some(locale), "1234567890", service, 600, None);
            let webotp = sms_text(Some(locale), "1234567890", service, 600, Some("login.example.com"));
            assert_eq!(segments(&plain), want, "{locale}: {plain}");
            assert_eq!(segments(&webotp), want, "{locale} with WebOTP: {webotp}");
        }
        assert_eq!(segments(&sms_text(None, "123456", "whatsapp-otp-worker", 300, Some("app.example.com"))), 1);
    }

    #[test]
    fn segment_counting_follows_gsm_03_38() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        // Extension characters take two septets.
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        // One character outside GSM-7 makes the whole text UCS-2.
        assert_eq!(segments(&format!("ó{}", "a".repeat(69))), 1);
        assert_eq!(segments(&format!("ó{}", "a".repeat(70))), 2);
        assert_eq!(segments(&format!("ó{}", "a".repeat(134))), 3);
    }
}
