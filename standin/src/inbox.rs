//! Shared state (inbox, scripted failures, webhook log) and the inbox HTML page.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Map, Value};

use crate::templates::Template;
use crate::util::html_escape;
use crate::validate::Accepted;
use crate::webhook::Business;

/// Settings from flags and environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub access_token: String,
    pub app_secret: String,
    pub webhook_url: Option<String>,
    pub phone_number_id: Option<String>,
    pub auto_status: bool,
    /// The business account id template routes accept; `None`: any.
    pub waba_id: Option<String>,
    /// Templates that exist APPROVED from the start: (name, languages).
    pub seed_templates: Vec<(String, Vec<String>)>,
    /// How long a created template stays PENDING.
    pub review_ms: u64,
}

pub const DEFAULT_REVIEW_MS: u64 = 3000;
pub const DEFAULT_WABA_ID: &str = "102290129340398";
pub const DEFAULT_DISPLAY_PHONE_NUMBER: &str = "15550783881";
pub const DEFAULT_PHONE_NUMBER_ID: &str = "106540352242922";
/// Oldest webhook log entries are dropped past this many.
pub const MAX_WEBHOOK_LOG: usize = 1000;

/// One accepted message, as the send endpoint took it.
#[derive(Debug, Clone)]
pub struct InboxMessage {
    pub id: String,
    pub received_at_ms: u64,
    pub version: String,
    pub phone_number_id: String,
    pub message: Accepted,
    /// The WhatsApp account Meta resolved `to` to (digits): `to` itself unless
    /// `/control/wa-id` said otherwise. Statuses and replies come from it.
    pub wa_id: String,
}

impl InboxMessage {
    /// The recipient as digits (the inbox's `to`).
    pub fn to(&self) -> &str {
        &self.message.to_digits
    }

    pub fn to_json(&self) -> Value {
        let a = &self.message;
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("received_at".into(), json!(crate::util::rfc3339_ms(self.received_at_ms)));
        m.insert("received_at_ms".into(), json!(self.received_at_ms));
        m.insert("version".into(), json!(self.version));
        m.insert("phone_number_id".into(), json!(self.phone_number_id));
        m.insert("to".into(), json!(a.to_digits));
        m.insert("wa_id".into(), json!(self.wa_id));
        m.insert("type".into(), json!(a.kind));
        m.insert("text".into(), json!(a.text));
        m.insert("code".into(), json!(a.code));
        m.insert("button_code".into(), json!(a.button_code));
        if let Some(t) = &a.template_name {
            m.insert("template_name".into(), json!(t));
        }
        if let Some(l) = &a.language {
            m.insert("language".into(), json!(l));
        }
        if let Some(b) = &a.biz_opaque_callback_data {
            m.insert("biz_opaque_callback_data".into(), json!(b));
        }
        m.insert("payload".into(), a.payload.clone());
        Value::Object(m)
    }

    /// Pricing/conversation category Meta would report for this message.
    pub fn category(&self) -> &'static str {
        if self.message.kind == "template" {
            "authentication"
        } else {
            "service"
        }
    }
}

/// One scripted outcome for a coming send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// Only sends to this recipient (digits) take the script; `None`: any send.
    pub to: Option<String>,
    pub delay_ms: Option<u64>,
    pub code: Option<i64>,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub details: Option<String>,
    pub raw_body: Option<String>,
}

impl Script {
    pub fn applies_to(&self, recipient: Option<&str>) -> bool {
        self.to.is_none() || self.to.as_deref() == recipient
    }

    /// True when the script makes the send fail (not just slow).
    pub fn fails(&self) -> bool {
        self.code.is_some() || self.http_status.is_some() || self.raw_body.is_some()
    }
}

#[derive(Debug, Default)]
pub struct Inner {
    pub inbox: Vec<InboxMessage>,
    pub scripts: VecDeque<Script>,
    pub webhooks: Vec<Value>,
    pub last_phone_number_id: Option<String>,
    pub templates: Vec<Template>,
    /// Scripted review outcomes for templates not created yet: (name, language or any, status, reason).
    pub verdicts: Vec<Verdict>,
    /// Where deliveries go: `--webhook-url` at start, `/control/webhook-url` later.
    pub webhook_url: Option<String>,
    /// `/control/wa-id`: recipients (digits) whose WhatsApp account has another
    /// spelling, as Meta resolves Brazilian, Mexican and Argentine numbers.
    pub wa_ids: std::collections::HashMap<String, String>,
    /// What Graph says of the token, the phone number and the webhook subscription.
    pub account: crate::account::Account,
    /// SMS the Twilio endpoint took, and its scripted failures.
    pub sms: Vec<crate::routes::twilio::Sms>,
    pub sms_scripts: VecDeque<crate::routes::twilio::SmsScript>,
    /// `/control/whatsapp/delivery`: recipients (digits) whose WhatsApp messages
    /// stay `sent` or fail.
    pub whatsapp_outcomes: std::collections::HashMap<String, String>,
}

/// A review outcome scripted through `/control/templates/review`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub language: Option<String>,
    pub status: String,
    pub reason: Option<String>,
}

impl Inner {
    /// Ends every review whose time has come; call before reading templates.
    pub fn settle_templates(&mut self, now_ms: u64) {
        for t in &mut self.templates {
            t.settle(now_ms);
        }
    }

    /// Drops created templates and scripted verdicts; the seeded ones come back.
    pub fn reset_templates(&mut self, config: &Config) {
        self.verdicts.clear();
        self.templates.clear();
        for (name, languages) in &config.seed_templates {
            for language in languages {
                self.templates.push(crate::templates::seeded(new_template_id(), name, language));
            }
        }
    }
}

/// A numeric id like Meta's template ids (16 digits).
pub fn new_template_id() -> String {
    let mut b = [0u8; 8];
    crate::util::random_bytes(&mut b);
    format!("{}", 1_000_000_000_000_000 + u64::from_le_bytes(b) % 9_000_000_000_000_000)
}

pub struct AppState {
    pub config: Config,
    pub http: reqwest::Client,
    inner: Mutex<Inner>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let mut inner = Inner::default();
        inner.reset_templates(&config);
        inner.webhook_url = config.webhook_url.clone();
        AppState { config, http: crate::webhook::client(), inner: Mutex::new(inner) }
    }

    /// Short critical sections only: never hold the guard across `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The business the webhooks claim to come from: the configured phone number id,
    /// else the one the worker last sent through, else a fixed default.
    pub fn business(&self) -> Business {
        let pnid = self
            .config
            .phone_number_id
            .clone()
            .or_else(|| self.lock().last_phone_number_id.clone())
            .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_string());
        Business {
            waba_id: self.config.waba_id.clone().unwrap_or_else(|| DEFAULT_WABA_ID.into()),
            display_phone_number: DEFAULT_DISPLAY_PHONE_NUMBER.into(),
            phone_number_id: pnid,
        }
    }

    /// Where webhook deliveries are posted now, if anywhere.
    pub fn webhook_url(&self) -> Option<String> {
        self.lock().webhook_url.clone()
    }

    pub fn log_webhook(&self, entry: Value) {
        let mut inner = self.lock();
        inner.webhooks.push(entry);
        let excess = inner.webhooks.len().saturating_sub(MAX_WEBHOOK_LOG);
        inner.webhooks.drain(..excess);
    }
}

/// The human-readable inbox, newest first.
pub fn render_html(messages: &[InboxMessage], config: &Config) -> String {
    let mut rows = String::new();
    for msg in messages.iter().rev() {
        let m = &msg.message;
        let headline = m.code.as_ref().or(m.text.as_ref()).map(String::as_str).unwrap_or("(no text)");
        let template = match (&m.template_name, &m.language) {
            (Some(n), Some(l)) => format!("{} ({})", html_escape(n), html_escape(l)),
            (Some(n), None) => html_escape(n),
            _ => "&mdash;".into(),
        };
        rows.push_str(&format!(
            "<tr><td class=\"t\">{time}</td><td>+{to}</td><td>{kind}</td><td>{template}</td>\
             <td><span class=\"code\">{headline}</span>{button}</td><td class=\"id\">{id}{opaque}</td></tr>\n",
            time = html_escape(&crate::util::rfc3339_ms(msg.received_at_ms)),
            to = html_escape(&m.to_digits),
            kind = html_escape(m.kind),
            headline = html_escape(headline),
            button = match &m.button_code {
                Some(b) if Some(b) != m.code.as_ref() => format!("<div class=\"sub\">button: {}</div>", html_escape(b)),
                _ => String::new(),
            },
            id = html_escape(&msg.id),
            opaque = match &m.biz_opaque_callback_data {
                Some(b) => format!("<div class=\"sub\">callback data: {}</div>", html_escape(b)),
                None => String::new(),
            },
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"6\" class=\"empty\">No messages yet. Ask the worker for a code and it shows up here.</td></tr>\n");
    }
    let webhook = match &config.webhook_url {
        Some(u) => html_escape(u),
        None => "none (webhook commands answer 409)".into(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"3\"><title>WhatsApp stand-in inbox</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#111}}\
table{{border-collapse:collapse;width:100%}}th,td{{border-bottom:1px solid #ddd;padding:.5rem;text-align:left;vertical-align:top}}\
th{{background:#f4f4f4}}.code{{font-size:1.6rem;font-weight:700;font-family:ui-monospace,monospace;letter-spacing:.08em}}\
.id,.sub,.t{{font-family:ui-monospace,monospace;font-size:.8rem;color:#555;word-break:break-all}}.empty{{color:#777}}</style>\
</head><body><h1>WhatsApp stand-in inbox</h1>\
<p>{count} message(s), newest first. Webhook: {webhook}. Refreshes every 3 s.</p>\
<table><thead><tr><th>Received (UTC)</th><th>To</th><th>Type</th><th>Template</th><th>Code / text</th><th>Message id</th></tr></thead>\
<tbody>\n{rows}</tbody></table></body></html>\n",
        count = messages.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            access_token: "t".into(),
            app_secret: "s".into(),
            webhook_url: None,
            phone_number_id: None,
            auto_status: false,
            waba_id: None,
            seed_templates: vec![],
            review_ms: DEFAULT_REVIEW_MS,
        }
    }

    fn msg(id: &str, body: Value) -> InboxMessage {
        InboxMessage {
            id: id.into(),
            received_at_ms: 1_749_416_383_000,
            version: "v23.0".into(),
            phone_number_id: "1".into(),
            message: crate::validate::validate(&serde_json::to_vec(&body).unwrap()).unwrap(),
            wa_id: "16505551234".into(),
        }
    }

    fn text_msg(id: &str, text: &str) -> InboxMessage {
        msg(id, json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": text}}))
    }

    #[test]
    fn html_is_escaped_and_newest_first() {
        let html =
            render_html(&[text_msg("wamid.first", "<b>old</b>"), text_msg("wamid.second", "new & shiny")], &config());
        assert!(html.contains("&lt;b&gt;old&lt;/b&gt;"));
        assert!(!html.contains("<b>old"));
        assert!(html.contains("new &amp; shiny"));
        assert!(html.find("wamid.second").unwrap() < html.find("wamid.first").unwrap());
        assert!(html.contains("http-equiv=\"refresh\""));
    }

    #[test]
    fn inbox_json_has_optional_keys_only_when_set() {
        let m = text_msg("wamid.x", "hi");
        let v = m.to_json();
        assert!(v.get("template_name").is_none());
        assert!(v["code"].is_null());
        assert_eq!(v["received_at"], "2025-06-08T20:59:43.000Z");
        assert_eq!(m.category(), "service");
        let m = msg("wamid.y", crate::fixtures::auth_template("123456"));
        let v = m.to_json();
        assert_eq!(v["to"], "16505551234");
        assert_eq!(v["type"], "template");
        assert_eq!(v["template_name"], "otp_auth");
        assert_eq!(v["language"], "en_US");
        assert_eq!(v["code"], "123456");
        assert_eq!(v["biz_opaque_callback_data"], crate::fixtures::OPAQUE);
        assert_eq!(m.category(), "authentication");
    }
}
