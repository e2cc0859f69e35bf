//! Spend estimates for the dashboard: the billable messages of a window (by Meta's
//! pricing category, from the status webhooks) times the price per message the
//! operator set in `MESSAGE_PRICES` (`authentication:0.0135,authentication-international:0.05`,
//! in the currency the WhatsApp account is billed in). An estimate: Meta's invoice
//! is the truth (volume tiers, currency conversion).

use serde_json::{json, Map, Value};

/// `MESSAGE_PRICES`: `category:price` pairs, comma-separated; `None` when any pair is
/// wrong (a price that is not a finite number ≥ 0, an empty category).
pub fn parse_prices(setting: &str) -> Option<Vec<(String, f64)>> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (category, price) = pair.split_once(':')?;
            let price = decimal(price.trim())?;
            let category = category.trim();
            (!category.is_empty()).then(|| (category.to_string(), price))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|prices| !prices.is_empty())
}

/// A non-negative decimal with at most 6 places (`0.0135`), read by hand: `str::parse::<f64>`
/// would ship the general float parser (kilobytes of wasm) for one setting.
fn decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 9 || fraction.len() > 6 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let fraction_value: u64 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
    let micros = whole * 1_000_000 + fraction_value * 10u64.pow(6 - fraction.len() as u32);
    Some(micros as f64 / 1_000_000.0)
}

/// Rounds to a hundredth of a cent, so sums print as people write money.
fn money(amount: f64) -> f64 {
    (amount * 10_000.0).round() / 10_000.0
}

/// `stats.spend`: per category the billable messages, the price set and their
/// product, and the total. A billed category without a price is listed with a
/// `null` price and estimate, so a missing price shows instead of hiding spend.
pub fn estimate(billable: &Value, prices: &[(String, f64)]) -> Value {
    let mut by_category = Map::new();
    let mut total = 0.0;
    let counts = billable.as_object().cloned().unwrap_or_default();
    let mut categories: Vec<&str> = counts.keys().map(String::as_str).collect();
    categories.extend(prices.iter().map(|(c, _)| c.as_str()).filter(|c| !counts.contains_key(*c)));
    for category in categories {
        let messages = counts.get(category).and_then(Value::as_u64).unwrap_or(0);
        let price = prices.iter().find(|(c, _)| c == category).map(|(_, p)| *p);
        let amount = price.map(|p| money(p * messages as f64));
        total += amount.unwrap_or(0.0);
        by_category.insert(category.to_string(), json!({ "messages": messages, "price": price, "estimate": amount }));
    }
    json!({ "by_category": by_category, "total": money(total) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_or_are_refused_whole() {
        assert_eq!(
            parse_prices("authentication:0.0135, authentication-international : 0.05"),
            Some(vec![("authentication".into(), 0.0135), ("authentication-international".into(), 0.05)])
        );
        assert_eq!(parse_prices("a:1,b:0.5,c:.5"), None, "a leading point is refused");
        assert_eq!(parse_prices("a:1,b:0.5"), Some(vec![("a".into(), 1.0), ("b".into(), 0.5)]));
        for wrong in [
            "",
            "authentication",
            "authentication:x",
            "authentication:-1",
            ":0.1",
            "a:0.1,b:NaN",
            "a:inf",
            "a:0.1234567",
            "a:1e3",
        ] {
            assert_eq!(parse_prices(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn spend_is_messages_times_price() {
        let prices = parse_prices("authentication:0.0135,service:0").unwrap();
        let body = estimate(&json!({"authentication": 3, "marketing": 2}), &prices);
        assert_eq!(
            body,
            json!({
                "by_category": {
                    "authentication": {"messages": 3, "price": 0.0135, "estimate": 0.0405},
                    "marketing": {"messages": 2, "price": null, "estimate": null},
                    "service": {"messages": 0, "price": 0.0, "estimate": 0.0}
                },
                "total": 0.0405
            })
        );
    }
}
