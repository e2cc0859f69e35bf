//! `otpctl doctor [--worker URL] [--json]`: checks a deployment against Meta and the
//! worker, each check by name with what it saw and, on failure, what to do.
//!
//! Settings are read like `otpctl templates` reads them (environment, `.dev.vars`,
//! `wrangler.toml` `[vars]`) and validated by the worker's own reader
//! (`Config::meta_from_lookup`). The token travels in the `Authorization` header of
//! every Graph call and, because Meta takes it nowhere else, as `debug_token`'s
//! `input_token`; nothing printed ever holds a secret (each is masked from the output
//! as a last guard).

pub mod checks;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use whatsapp_otp_worker::core::config::{Config, MetaSettings};
use whatsapp_otp_worker::core::crypto::hmac_sha256;

use crate::net;
use crate::settings_layers;
use checks::Check;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The deployed worker's URL: adds worker_health, webhook_handshake, webhook_signature.
    #[arg(long, value_name = "URL")]
    pub worker: Option<String>,
    /// {"ok":bool,"checks":[{"name","ok","detail","fix"?,"warnings"?}]} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What the checks need, read and validated.
struct Setup {
    meta: MetaSettings,
    ttl_s: u64,
    waba: String,
}

fn read_setup() -> Result<Setup, String> {
    let layers = settings_layers();
    for w in &layers.warnings {
        eprintln!("otpctl: note: {w}");
    }
    let lookup = |k: &str| layers.get(k).map(|(v, _)| v);
    let (meta, ttl_s) = Config::meta_from_lookup(lookup).map_err(|problems| {
        format!("missing or invalid settings (as the worker would see them): {}", problems.join(", "))
    })?;
    let waba = match layers.get("WHATSAPP_BUSINESS_ACCOUNT_ID") {
        Some((v, _)) if v.bytes().all(|b| b.is_ascii_digit()) => v,
        Some((_, src)) => return Err(format!("WHATSAPP_BUSINESS_ACCOUNT_ID (from {src}) must be digits")),
        None => return Err("WHATSAPP_BUSINESS_ACCOUNT_ID is not set: the WhatsApp Business Account id".into()),
    };
    Ok(Setup { meta, ttl_s, waba })
}

pub fn run(args: DoctorArgs) -> ExitCode {
    let setup = match read_setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("otpctl doctor: {e}");
            return ExitCode::from(2);
        }
    };
    let worker = args.worker.as_deref().map(|w| w.trim_end_matches('/').to_string());
    if let Some(w) = &worker {
        if !(w.starts_with("https://") || w.starts_with("http://")) {
            eprintln!("otpctl doctor: --worker must be an http(s) URL");
            return ExitCode::from(2);
        }
    }
    let checks = run_checks(&setup, worker.as_deref());
    let secrets = [setup.meta.access_token.expose(), setup.meta.app_secret.expose(), setup.meta.verify_token.expose()];
    let ok = checks.iter().all(|c| c.ok);
    let output = if args.json { to_json(&checks).to_string() } else { render(&checks) };
    println!("{}", mask(&output, &secrets));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn answer(result: &Result<net::Answer, String>) -> checks::Answer<'_> {
    result.as_ref().ok().map(|a| (a.status, a.body.as_str()))
}

fn run_checks(s: &Setup, worker: Option<&str>) -> Vec<Check> {
    let m = &s.meta;
    let graph = format!("{}/{}", m.api_base, m.api_version);
    let bearer = format!("Bearer {}", m.access_token.expose());
    let auth = [("Authorization", bearer.as_str())];
    let encode = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();

    let token = net::get(&format!("{graph}/debug_token?input_token={}", encode(m.access_token.expose())), &auth);
    let phone = net::get(&format!("{graph}/{}?fields={}", m.phone_number_id, checks::PHONE_FIELDS), &auth);
    let apps = net::get(&format!("{graph}/{}/subscribed_apps", s.waba), &auth);
    let fields = "name,language,status,category,components,rejected_reason";
    let templates = net::get(
        &format!("{graph}/{}/message_templates?name={}&fields={fields}&limit=100", s.waba, encode(&m.template_name)),
        &auth,
    );
    let mut out = vec![
        checks::token(answer(&token), &m.api_base, now_s()),
        checks::phone_number(answer(&phone), &m.api_base, m.business_number.as_deref()),
        checks::webhook_subscription(answer(&apps), &m.api_base),
        checks::template(answer(&templates), &m.api_base, &m.template_name, &m.template_language, s.ttl_s),
    ];
    if let Some(w) = worker {
        out.extend(worker_checks(m, w));
    }
    out
}

fn worker_checks(m: &MetaSettings, worker: &str) -> Vec<Check> {
    let health = net::get(&format!("{worker}/healthz"), &[]);
    let mut random = [0u8; 12];
    let challenge = match getrandom::fill(&mut random) {
        Ok(()) => random.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        Err(_) => format!("{}", now_s()),
    };
    let encode = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
    let handshake = net::get(
        &format!(
            "{worker}/webhook?hub.mode=subscribe&hub.verify_token={}&hub.challenge={challenge}",
            encode(m.verify_token.expose())
        ),
        &[],
    );
    // An empty delivery: what Meta sends looks like this, with entries.
    let body = r#"{"object":"whatsapp_business_account","entry":[]}"#;
    let signature = signature(m.app_secret.expose(), body.as_bytes());
    let json_type = ("Content-Type", "application/json");
    let signed = net::post(&format!("{worker}/webhook"), &[json_type, ("X-Hub-Signature-256", &signature)], body);
    let unsigned = net::post(&format!("{worker}/webhook"), &[json_type], body);
    vec![
        checks::worker_health(answer(&health), worker),
        checks::webhook_handshake(answer(&handshake), &challenge),
        checks::webhook_signature(answer(&signed), answer(&unsigned)),
    ]
}

/// `sha256=<hex>` as Meta signs a delivery.
fn signature(app_secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac_sha256(app_secret.as_bytes());
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn to_json(checks: &[Check]) -> Value {
    let items: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut item = json!({ "name": c.name, "ok": c.ok, "detail": c.detail });
            if let Some(fix) = &c.fix {
                item["fix"] = fix.clone().into();
            }
            if !c.warnings.is_empty() {
                item["warnings"] = json!(c.warnings);
            }
            item
        })
        .collect();
    json!({ "ok": checks.iter().all(|c| c.ok), "checks": items })
}

fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = if c.ok { "✔" } else { "✘" };
        out.push_str(&format!("{mark} {:width$}  {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("  {:width$}  what to do: {fix}\n", ""));
        }
        for w in &c.warnings {
            out.push_str(&format!("  {:width$}  ⚠ {w}\n", ""));
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    match failed {
        0 => out.push_str(&format!("All {} checks passed.", checks.len())),
        n => out.push_str(&format!("{n} of {} checks failed.", checks.len())),
    }
    out
}

/// Every secret's value replaced, whatever printed it.
fn mask(text: &str, secrets: &[&str]) -> String {
    secrets.iter().filter(|s| s.len() >= 4).fold(text.to_string(), |t, s| t.replace(s, "•••"))
}

#[cfg(test)]
mod tests;
