//! `otpctl templates [create]`: one Graph API call per language (or the bodies
//! printed with --dry-run), each answer explained.

use std::process::ExitCode;

use serde_json::Value;

use super::args::Args;
use super::plan::plan;
use super::settings::Settings;
use super::{explain, graph, payload, usage_error};

/// Creates the template in each language; exit status 1 when any language failed.
pub(super) fn create(args: &Args, s: &Settings) -> ExitCode {
    let (spec, languages, warnings) = match plan(args, s) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    for w in &warnings {
        eprintln!("otpctl: note: {w}");
    }
    if args.dry_run {
        for lang in &languages {
            println!("{}", payload::build(&spec, lang));
        }
        return ExitCode::SUCCESS;
    }
    let (url, token) = match (s.templates_url(), s.token()) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    println!(
        "Creating authentication template '{}' ({}, code expires in {} min, message TTL {} s) in {}",
        spec.name,
        spec.button.otp_type(),
        spec.code_expiration_minutes,
        spec.message_send_ttl_seconds,
        languages.join(", ")
    );
    let mut failed = 0;
    for lang in &languages {
        match graph::post_json(&url, token, &payload::build(&spec, lang)) {
            Ok(a) if (200..300).contains(&a.status) => {
                let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                let status = v["status"].as_str().unwrap_or("unknown");
                let id = v["id"].as_str().unwrap_or("?");
                println!("{lang}: created (id {id}), status {status}");
            }
            Ok(a) => {
                failed += 1;
                println!("{lang}: {}", explain::explain(a.status, &a.body));
            }
            Err(e) => {
                failed += 1;
                println!("{lang}: {e}");
            }
        }
    }
    if failed == 0 {
        println!("Meta reviews new templates (usually minutes); `otpctl templates list` shows each language's status.");
        ExitCode::SUCCESS
    } else {
        println!("{failed} of {} language(s) failed.", languages.len());
        ExitCode::from(1)
    }
}
