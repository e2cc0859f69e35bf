//! The documents' settings lists against the worker's own: going live's production
//! list cannot drift from the README's settings table, the required settings and the
//! settings `/healthz` warns about.

use super::Config;
use crate::core::health::warnings;

/// The backquoted names in the first column of the markdown table rows of `text`
/// whose `column`th cell holds them.
fn names_in_tables(text: &str, column: usize) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| l.split('|').nth(column + 1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>())
        .filter(|n| n.len() > 2 && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
        .collect()
}

fn section<'a>(text: &'a str, heading: &str, next: &str) -> &'a str {
    let start = text.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &text[start..];
    &rest[..rest.find(next).unwrap_or(rest.len())]
}

#[test]
fn going_live_lists_every_production_setting() {
    let readme = include_str!("../../../README.md");
    let table = names_in_tables(section(readme, "## Settings", "Settings are validated"), 0);
    let going_live = include_str!("../../../docs/going-live.md");
    let listed = names_in_tables(section(going_live, "## 7. The worker's settings", "Deploy again"), 1);
    assert!(listed.len() > 20, "{listed:?}");
    for name in &listed {
        assert!(table.contains(name), "going-live lists {name}, which the README's settings table does not have");
    }
    // What the worker refuses to start without.
    let Err(required) = Config::from_lookup(|_| None) else { panic!("a config without settings") };
    // What /healthz warns about when set the risky way (or left unset).
    let risky = [
        ("ALLOWED_ORIGINS", "*"),
        ("WHATSAPP_API_BASE", "http://127.0.0.1:1"),
        ("DEMO_PAGE", "true"),
        ("OTP_MAX_ATTEMPTS", "9"),
    ];
    let mut settings = super::tests::full();
    for (k, v) in risky {
        settings.insert(k, v.to_string());
    }
    let config = Config::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let warned: Vec<String> = warnings(&config).iter().map(|w| w.split(':').next().unwrap().to_string()).collect();
    assert!(warned.len() >= 5, "{warned:?}");
    for name in required.iter().map(|n| n.to_string()).chain(warned) {
        assert!(listed.contains(&name), "going-live's production settings lack {name}");
    }
    // And the ones first-time operators missed.
    for name in
        ["TOKEN_SIGNING_KEY", "TOKEN_AUDIENCE", "SERVICE_NAME", "ALLOWED_COUNTRY_CODES", "ADMIN_TOKEN", "CALLBACK_URL"]
    {
        assert!(listed.iter().any(|n| n == name), "going-live's production settings lack {name}");
    }
}
