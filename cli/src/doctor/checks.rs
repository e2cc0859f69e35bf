//! Each check of `otpctl doctor` as a pure judgement over what Meta or the worker
//! answered: what it saw, and on failure what to do, in one sentence. Meta's fields
//! are read leniently (anything Meta adds is ignored; a missing one is "unknown").

use serde_json::Value;

use crate::templates::explain::{advice, parse_error};

/// A token expiring sooner than this fails the `token` check.
pub const TOKEN_MARGIN_S: u64 = 7 * 86_400;
pub const SCOPES: [&str; 2] = ["whatsapp_business_messaging", "whatsapp_business_management"];
/// What `phone_number` asks Graph for (`messaging_limit_tier` is deprecated in favour
/// of `whatsapp_business_manager_messaging_limit`; `account_mode` tells test numbers).
pub const PHONE_FIELDS: &str = "display_phone_number,verified_name,name_status,quality_rating,platform_type,\
status,health_status,account_mode,whatsapp_business_manager_messaging_limit";

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
    /// Reported, never failing: the messaging limit's and quality's consequences.
    pub warnings: Vec<String>,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, ok: true, detail: detail.into(), fix: None, warnings: Vec::new() }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, ok: false, detail: detail.into(), fix: Some(fix.into()), warnings: Vec::new() }
    }
}

/// An HTTP answer as the checks see it; `None` for no answer at all.
pub type Answer<'a> = Option<(u16, &'a str)>;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("unknown")
}

/// `YYYY-MM-DD` of a Unix time in seconds.
fn date(s: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

/// Meta's "object does not exist" for the business account id.
const WRONG_BUSINESS_ACCOUNT_ID: &str =
    "WHATSAPP_BUSINESS_ACCOUNT_ID must be the WhatsApp Business Account id, not the phone number id or the app id.";

/// Graph's answer as JSON when it is a 200; else the failed check [`graph_failure`] makes.
fn graph_body(name: &'static str, answer: Answer, base: &str, wrong_id: &str) -> Result<Value, Check> {
    match answer {
        Some((200, body)) => Ok(json(body)),
        _ => Err(graph_failure(name, answer, base, wrong_id)),
    }
}

/// A Graph refusal (or no answer) as a failed check; `wrong_id` is the sentence for
/// Meta's "object does not exist" (100, subcode 33), which names the setting to fix.
fn graph_failure(name: &'static str, answer: Answer, base: &str, wrong_id: &str) -> Check {
    let Some((status, body)) = answer else {
        return Check::fail(
            name,
            format!("no answer from {base}"),
            "Check WHATSAPP_API_BASE (https://graph.facebook.com) and this machine's network, then run again.",
        );
    };
    let Some(e) = parse_error(status, body) else {
        return Check::fail(
            name,
            format!("HTTP {status} without a Graph error"),
            "Run again; if it persists, check WHATSAPP_API_BASE.",
        );
    };
    let said = format!(
        "Meta refused: HTTP {status}, code {}{}: {}",
        e.code.map_or("?".into(), |c| c.to_string()),
        e.subcode.map_or(String::new(), |s| format!("/{s}")),
        e.message.as_deref().unwrap_or("no message")
    );
    let fix = match (e.code, e.subcode) {
        (Some(190), _) => "The token is invalid or expired: create a system user's token with expiry Never (Business settings > System users > Generate new token) and set WHATSAPP_ACCESS_TOKEN.".to_string(),
        (Some(0 | 3 | 10 | 200..=299), _) => "The token lacks a permission: give the system user the app and the WhatsApp Business Account as assets, then generate a new token with whatsapp_business_messaging and whatsapp_business_management.".to_string(),
        (Some(100), Some(33)) => wrong_id.to_string(),
        (code, subcode) => advice(code, subcode, status).to_string(),
    };
    Check::fail(name, said, fix)
}

/// `token`: `GET /{version}/debug_token?input_token=…`.
pub fn token(answer: Answer, base: &str, now_s: u64) -> Check {
    const NAME: &str = "token";
    let new_token =
        "Create a system user's token with expiry Never (Business settings > System users > Generate new token, \
                     with whatsapp_business_messaging and whatsapp_business_management) and set WHATSAPP_ACCESS_TOKEN.";
    let body = match graph_body(NAME, answer, base, new_token) {
        Ok(body) => body,
        Err(failed) => return failed,
    };
    let data = &body["data"];
    if data["is_valid"] != Value::Bool(true) {
        let why = data["error"]["message"].as_str().unwrap_or("no reason given");
        return Check::fail(NAME, format!("Meta says the token is not valid ({why})"), new_token);
    }
    let expires_at = data["expires_at"].as_u64().unwrap_or(0);
    let scopes: Vec<&str> = data["scopes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let missing: Vec<&str> = SCOPES.into_iter().filter(|s| !scopes.contains(s)).collect();
    let expiry = match expires_at {
        0 => "never expires".to_string(),
        at => format!("expires on {} (in {} days)", date(at), at.saturating_sub(now_s) / 86_400),
    };
    if expires_at != 0 && expires_at <= now_s + TOKEN_MARGIN_S {
        return Check::fail(NAME, format!("valid, but {expiry}"), new_token);
    }
    if !missing.is_empty() {
        return Check::fail(
            NAME,
            format!("valid, {expiry}, but without {}", missing.join(" and ")),
            "Give the system user the app and the WhatsApp Business Account as assets, then generate a new token with \
             whatsapp_business_messaging and whatsapp_business_management.",
        );
    }
    Check::pass(NAME, format!("valid, {expiry}, scopes {}", SCOPES.join(", ")))
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// `phone_number`: `GET /{version}/{WHATSAPP_PHONE_NUMBER_ID}?fields=…`.
pub fn phone_number(answer: Answer, base: &str, business_number: Option<&str>) -> Check {
    const NAME: &str = "phone_number";
    let wrong_id = "WHATSAPP_PHONE_NUMBER_ID must be the phone number id of the App Dashboard's API Setup page, \
                    not the number itself nor the business account id.";
    let p = match graph_body(NAME, answer, base, wrong_id) {
        Ok(body) => body,
        Err(failed) => return failed,
    };
    let health = &p["health_status"];
    let can_send = text(health, "can_send_message");
    let limit = text(&p, "whatsapp_business_manager_messaging_limit");
    let saw = format!(
        "{} ({}, name {}), {} on {}, can send: {can_send}; messaging limit {limit}, quality {}",
        text(&p, "display_phone_number"),
        text(&p, "verified_name"),
        text(&p, "name_status"),
        text(&p, "status"),
        text(&p, "platform_type"),
        text(&p, "quality_rating"),
    );
    let problems: Vec<String> = health["entities"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["errors"].as_array().into_iter().flatten().map(move |x| (e, x)))
        .map(|(e, x)| format!("{} {}: {}", text(e, "entity_type"), x["error_code"], text(x, "error_description")))
        .collect();
    let first_solution = health["entities"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["errors"].as_array().into_iter().flatten())
        .find_map(|x| x["possible_solution"].as_str());
    let mut check = if text(&p, "status") != "CONNECTED" {
        Check::fail(
            NAME,
            saw,
            "The number is not connected: register it with the Cloud API again (WhatsApp Manager > Phone numbers, \
             or POST /{version}/{phone-number-id}/register with its two-step PIN).",
        )
    } else if text(&p, "platform_type") != "CLOUD_API" {
        Check::fail(
            NAME,
            saw,
            "The number is not on the Cloud API: migrate it, or register a number with the Cloud API.",
        )
    } else if can_send == "BLOCKED" {
        let fix =
            first_solution.unwrap_or("Meta blocks sends from this number: see WhatsApp Manager > Account quality.");
        Check::fail(NAME, format!("{saw}; {}", problems.join("; ")), fix)
    } else if let Some(expected) = business_number.filter(|b| digits(b) != digits(text(&p, "display_phone_number"))) {
        Check::fail(
            NAME,
            format!("{saw}; WHATSAPP_BUSINESS_NUMBER is {expected}"),
            "Set WHATSAPP_BUSINESS_NUMBER to this number's digits (inbound codes are sent to it), or leave it empty.",
        )
    } else {
        Check::pass(NAME, saw)
    };
    if limit == "TIER_250" || limit == "TIER_50" {
        check.warnings.push(
            "the business can reach only 250 new people a day: complete business verification \
             (Business settings > Security center) to lift it"
                .into(),
        );
    }
    if text(&p, "account_mode") == "SANDBOX" {
        check.warnings.push(
            "this is a test number: it reaches only the recipients on its allow-list (error 131030) and cannot hold an \
             authentication template; register your own number before going live"
                .into(),
        );
    }
    if can_send == "LIMITED" {
        // Why, in Meta's words: each entity's errors and `additional_info`.
        let info = health["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["additional_info"].as_array().into_iter().flatten().filter_map(Value::as_str))
            .map(str::to_string);
        let why: Vec<String> = problems.iter().cloned().chain(info).collect();
        check.warnings.push(format!("Meta limits sends: {}", why.join("; ")).trim_end_matches(": ").to_string());
    }
    if matches!(text(&p, "quality_rating"), "YELLOW" | "RED") {
        check
            .warnings
            .push(format!("quality rating {}: users block or report these messages", text(&p, "quality_rating")));
    }
    check
}

/// `webhook_subscription`: `GET /{version}/{WABA}/subscribed_apps`.
pub fn webhook_subscription(answer: Answer, base: &str) -> Check {
    const NAME: &str = "webhook_subscription";
    let body = match graph_body(NAME, answer, base, WRONG_BUSINESS_ACCOUNT_ID) {
        Ok(body) => body,
        Err(failed) => return failed,
    };
    let apps: Vec<String> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let d = &a["whatsapp_business_api_data"];
            format!("{} ({})", text(d, "name"), text(d, "id"))
        })
        .collect();
    if apps.is_empty() {
        return Check::fail(
            NAME,
            "no app is subscribed to the business account's webhooks: Meta delivers nothing",
            "Subscribe your app: POST /{version}/{WHATSAPP_BUSINESS_ACCOUNT_ID}/subscribed_apps with the token (see \
             docs/going-live.md), and tick the `messages` webhook field in the App Dashboard.",
        );
    }
    Check::pass(NAME, format!("subscribed: {}", apps.join(", ")))
}

/// `template`: `GET /{version}/{WABA}/message_templates?name=…`: the worker's
/// template, in its language, approved, an authentication one with an OTP button and
/// an expiry no shorter than the code's life.
pub fn template(answer: Answer, base: &str, name: &str, language: &str, ttl_s: u64) -> Check {
    const NAME: &str = "template";
    let body = match graph_body(NAME, answer, base, WRONG_BUSINESS_ACCOUNT_ID) {
        Ok(body) => body,
        Err(failed) => return failed,
    };
    let all: Vec<&Value> = body["data"].as_array().into_iter().flatten().filter(|t| t["name"] == name).collect();
    let Some(t) = all.iter().find(|t| t["language"] == language) else {
        let languages: Vec<&str> = all.iter().map(|t| text(t, "language")).collect();
        return Check::fail(
            NAME,
            format!(
                "no template '{name}' in {language} (has: {})",
                if languages.is_empty() { "none".into() } else { languages.join(", ") }
            ),
            format!("Create it: otpctl templates --name {name} --languages {language}"),
        );
    };
    let status = text(t, "status");
    let category = text(t, "category");
    let components: Vec<&Value> = t["components"].as_array().into_iter().flatten().collect();
    let otp_button = components
        .iter()
        .filter(|c| c["type"] == "BUTTONS")
        .flat_map(|c| c["buttons"].as_array().into_iter().flatten())
        .find(|b| b["type"] == "OTP");
    let minutes = components.iter().find_map(|c| c["code_expiration_minutes"].as_u64());
    let saw = format!(
        "'{name}' in {language}: {category}, {status}, button {}, code expiry {}",
        otp_button.map_or("none".into(), |b| format!("OTP {}", text(b, "otp_type"))),
        minutes.map_or("not stated".into(), |m| format!("{m} min"))
    );
    if category != "AUTHENTICATION" {
        return Check::fail(NAME, saw, format!("The worker sends authentication templates only: create one under another name with otpctl templates --name <new> --languages {language}."));
    }
    match status {
        "APPROVED" => {}
        "PENDING" | "IN_APPEAL" => {
            return Check::fail(
                NAME,
                saw,
                "Wait for Meta's review (usually minutes, at most a day); `otpctl templates list` shows it.",
            )
        }
        "REJECTED" => {
            let reason = t["rejected_reason"].as_str().unwrap_or("no reason given");
            return Check::fail(NAME, format!("{saw}, reason {reason}"), format!("Fix the cause, then edit it in WhatsApp Manager or create it under a new name: otpctl templates --name <new> --languages {language}."));
        }
        _ => {
            return Check::fail(
                NAME,
                saw,
                "WhatsApp Manager > Message templates shows why it is not usable; create a new one if it stays so.",
            )
        }
    }
    if otp_button.is_none() {
        return Check::fail(NAME, saw, format!("An authentication template needs a one-time-password button: create one with otpctl templates --name <new> --languages {language}."));
    }
    if let Some(m) = minutes.filter(|m| m * 60 < ttl_s) {
        return Check::fail(
            NAME,
            format!("{saw}, but codes live {ttl_s} s"),
            format!("The template tells users the code expires after {m} min: create it again for OTP_TTL_SECONDS={ttl_s}, or lower OTP_TTL_SECONDS."),
        );
    }
    Check::pass(NAME, saw)
}

/// `worker_health`: `GET {worker}/healthz`.
pub fn worker_health(answer: Answer, worker: &str) -> Check {
    const NAME: &str = "worker_health";
    let Some((status, body)) = answer else {
        return Check::fail(
            NAME,
            format!("no answer from {worker}"),
            "Check --worker; deploy with `npx wrangler deploy`.",
        );
    };
    let v = json(body);
    let mut check = match (status, v["ok"].as_bool()) {
        (200, Some(true)) => Check::pass(NAME, format!("ok, version {}", text(&v, "version"))),
        (503, Some(false)) => {
            let names: Vec<&str> = v["problems"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            Check::fail(
                NAME,
                format!("misconfigured: {}", names.join(", ")),
                "Set each named setting (`npx wrangler secret put NAME`, or [vars] in wrangler.toml; bindings in wrangler.toml), then deploy again.",
            )
        }
        _ => Check::fail(
            NAME,
            format!("HTTP {status} from {worker}/healthz"),
            "Check --worker: it must be the worker's own URL.",
        ),
    };
    check.warnings.extend(v["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
    check
}

/// `webhook_handshake`: Meta's `GET /webhook?hub.mode=subscribe…` with a random challenge.
pub fn webhook_handshake(answer: Answer, challenge: &str) -> Check {
    const NAME: &str = "webhook_handshake";
    match answer {
        Some((200, body)) if body == challenge => Check::pass(NAME, "the verify token is accepted and the challenge echoed"),
        Some((403, _)) => Check::fail(
            NAME,
            "the worker refused WHATSAPP_VERIFY_TOKEN (403): Meta's webhook set-up would fail the same way",
            "Use one value for the worker's secret WHATSAPP_VERIFY_TOKEN, this machine's, and the App Dashboard's webhook verify token.",
        ),
        Some((status, _)) => Check::fail(NAME, format!("HTTP {status} without the challenge"), "Check --worker: the webhook lives at /webhook of the worker."),
        None => Check::fail(NAME, "no answer", "Check --worker and the network."),
    }
}

/// `webhook_signature`: a delivery with no entries, signed with the app secret, then unsigned.
pub fn webhook_signature(signed: Answer, unsigned: Answer) -> Check {
    const NAME: &str = "webhook_signature";
    match (signed.map(|a| a.0), unsigned.map(|a| a.0)) {
        (Some(200), Some(401)) => Check::pass(NAME, "a delivery signed with WHATSAPP_APP_SECRET is taken (200), an unsigned one refused (401)"),
        (Some(401), _) => Check::fail(
            NAME,
            "a delivery signed with WHATSAPP_APP_SECRET was refused (401): every delivery of Meta's would be too",
            "Copy the app secret (App Dashboard > App settings > Basic) into the worker's secret WHATSAPP_APP_SECRET and this machine's.",
        ),
        (Some(200), Some(status)) => Check::fail(NAME, format!("an unsigned delivery got HTTP {status}, not 401"), "Deploy the current worker: it must refuse unsigned deliveries."),
        (signed, _) => Check::fail(
            NAME,
            format!("a signed delivery got {}", signed.map_or("no answer".into(), |s| format!("HTTP {s}"))),
            "Check --worker and `/healthz`; the webhook lives at /webhook.",
        ),
    }
}
