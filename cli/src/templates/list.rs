//! `otpctl templates list`: the account's templates (paged, on the same API base
//! only), with each language's review status and why a rejected one was rejected.

use std::process::ExitCode;

use serde_json::Value;

use super::args::Args;
use super::settings::{self, Settings};
use super::{explain, graph, usage_error};

/// One row of the listing.
#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    language: String,
    category: String,
    status: String,
    reason: Option<String>,
    id: String,
}

fn rows(data: &[Value]) -> Vec<Row> {
    let s = |t: &Value, k: &str| t[k].as_str().unwrap_or("").to_string();
    let mut rows: Vec<Row> = data
        .iter()
        .map(|t| Row {
            name: s(t, "name"),
            language: s(t, "language"),
            category: s(t, "category"),
            status: s(t, "status"),
            reason: t["rejected_reason"].as_str().filter(|r| *r != "NONE").map(str::to_string),
            id: s(t, "id"),
        })
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    rows
}

fn render(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "No templates.".into();
    }
    let status_text = |r: &Row| match (&r.status[..], &r.reason) {
        ("REJECTED", Some(reason)) => format!("REJECTED: {reason} ({})", explain::rejected_reason(reason)),
        ("REJECTED", None) => "REJECTED (no reason given)".to_string(),
        (st, _) => st.to_string(),
    };
    let wn = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
    let wl = rows.iter().map(|r| r.language.len()).max().unwrap_or(0).max(8);
    let wc = rows.iter().map(|r| r.category.len()).max().unwrap_or(0).max(8);
    let mut out = format!("{:wn$}  {:wl$}  {:wc$}  {:16}  STATUS\n", "NAME", "LANGUAGE", "CATEGORY", "ID");
    for r in rows {
        out.push_str(&format!(
            "{:wn$}  {:wl$}  {:wc$}  {:16}  {}\n",
            r.name,
            r.language,
            r.category,
            r.id,
            status_text(r)
        ));
    }
    out.trim_end().to_string()
}

pub(super) fn list(args: &Args, s: &Settings) -> ExitCode {
    let (base, token) = match (s.templates_url(), s.token()) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    let mut url = format!("{base}?fields=name,language,status,category,rejected_reason,id&limit=100");
    if let Some(name) = &args.name {
        if !settings::valid_template_name(name) {
            return usage_error(&format!(
                "--name '{name}': template names are lowercase letters, digits and underscores"
            ));
        }
        url.push_str(&format!("&name={name}"));
    }
    let mut data = Vec::new();
    for _ in 0..50 {
        let a = match graph::get(&url, token) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("otpctl: {e}");
                return ExitCode::from(1);
            }
        };
        if !(200..300).contains(&a.status) {
            println!("{}", explain::explain(a.status, &a.body));
            return ExitCode::from(1);
        }
        let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        data.extend(v["data"].as_array().cloned().unwrap_or_default());
        // Follow paging only on the same API base: the token goes nowhere else.
        match v["paging"]["next"].as_str() {
            Some(next) if next.starts_with(&s.api_base) => url = next.to_string(),
            _ => break,
        }
    }
    if let Some(name) = &args.name {
        data.retain(|t| t["name"].as_str() == Some(name));
    }
    if args.json {
        println!("{}", Value::Array(data));
    } else {
        println!("{}", render(&rows(&data)));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_statuses_with_rejection_reasons() {
        let data: Vec<Value> = serde_json::from_str(
            r#"[{"name":"otp_code","language":"es","category":"AUTHENTICATION","status":"REJECTED","rejected_reason":"PROMOTIONAL","id":"2"},
                {"name":"otp_code","language":"en_US","category":"AUTHENTICATION","status":"APPROVED","rejected_reason":"NONE","id":"1"}]"#,
        )
        .unwrap();
        let r = rows(&data);
        assert_eq!(r[0].language, "en_US");
        assert_eq!(r[0].reason, None);
        let text = render(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"));
        assert!(lines[1].contains("en_US") && lines[1].ends_with("APPROVED"));
        assert!(lines[2].ends_with("REJECTED: PROMOTIONAL (promotional content in an authentication template)"));
        assert_eq!(render(&[]), "No templates.");
    }
}
