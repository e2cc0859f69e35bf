//! A request's `locale` onto Meta's template language codes: the exact code when Meta
//! has the template in it, else the base language, else `WHATSAPP_TEMPLATE_LANGUAGE`.

/// Meta's spelling of a locale: `de-DE`, `de_de` → `de_DE`; `es-419` → `es_419`;
/// `de` stays `de`.
pub fn meta_code(locale: &str) -> String {
    let locale = locale.replace('-', "_");
    match locale.split_once('_') {
        Some((language, region)) => format!("{}_{}", language.to_ascii_lowercase(), region.to_ascii_uppercase()),
        None => locale.to_ascii_lowercase(),
    }
}

/// The base language of a locale (`pt_BR` → `pt`).
pub fn base_language(locale: &str) -> &str {
    locale.split(['_', '-']).next().unwrap_or(locale)
}

/// The template languages to try, in order, for a request that asked for `asked`:
/// the exact code, its base language, then `default`; no language twice. Meta answers
/// 132001 for a language the template is not approved in, and the next one is tried.
pub fn template_languages(asked: Option<&str>, default: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(3);
    if let Some(asked) = asked {
        let exact = meta_code(asked);
        let base = base_language(&exact).to_string();
        out.push(exact);
        out.push(base);
    }
    out.push(default.to_string());
    let mut seen: Vec<String> = Vec::with_capacity(out.len());
    out.retain(|l| {
        let first = !seen.contains(l);
        seen.push(l.clone());
        first
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_base_then_default() {
        assert_eq!(template_languages(Some("de-DE"), "en_US"), ["de_DE", "de", "en_US"]);
        assert_eq!(template_languages(Some("es-419"), "en_US"), ["es_419", "es", "en_US"]);
        assert_eq!(template_languages(Some("pt_BR"), "en_US"), ["pt_BR", "pt", "en_US"]);
        assert_eq!(template_languages(Some("pt-br"), "en_US"), ["pt_BR", "pt", "en_US"]);
    }

    #[test]
    fn no_language_twice() {
        assert_eq!(template_languages(Some("de"), "en_US"), ["de", "en_US"]);
        assert_eq!(template_languages(Some("en_US"), "en_US"), ["en_US", "en"]);
        assert_eq!(template_languages(Some("en"), "en"), ["en"]);
        assert_eq!(template_languages(Some("es_ES"), "es"), ["es_ES", "es"]);
        assert_eq!(template_languages(None, "en_US"), ["en_US"]);
    }

    #[test]
    fn spelling() {
        assert_eq!(meta_code("zh-hk"), "zh_HK");
        assert_eq!(meta_code("FR"), "fr");
        assert_eq!(base_language("ar_EG"), "ar");
    }
}
