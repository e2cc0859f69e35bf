//! One structured line per request: route, outcome, request id, masked phone,
//! latency, and what Meta answered as fields. Never a code, a secret or a full number.

use serde_json::{json, Map, Value};

use crate::core::events::event::calling_code;
use crate::core::phone::mask_phone;

/// At most this many request ids on one line.
const MAX_LOGGED_IDS: usize = 50;

pub struct RequestLog {
    pub route: &'static str,
    pub phone: Option<String>,
    /// The calling code of the number the request is about, once known (not logged:
    /// the masked number shows it; refused requests are counted by it).
    pub country_code: Option<String>,
    pub outcome: Option<String>,
    pub detail: Vec<String>,
    /// Every request the line's work touched, in order, each once (a webhook delivery
    /// can touch many); the first is `request_id`, all are `request_ids` when several.
    request_ids: Vec<String>,
    /// Extra facts as fields (`whatsapp_code`, `http_status`, `locale`...).
    fields: Map<String, Value>,
    started_ms: u64,
    /// Milliseconds since the start at which each named step ended.
    steps: Vec<(&'static str, u64)>,
}

impl RequestLog {
    pub fn start(started_ms: u64) -> Self {
        RequestLog {
            route: "unknown",
            phone: None,
            country_code: None,
            outcome: None,
            detail: Vec::new(),
            request_ids: Vec::new(),
            fields: Map::new(),
            started_ms,
            steps: Vec::new(),
        }
    }

    /// Marks the end of a step (`ip`, `reserve`, `kv`, `send`...), for latency breakdowns.
    pub fn step(&mut self, name: &'static str) {
        self.steps.push((name, crate::edge::clock::now_ms().saturating_sub(self.started_ms)));
    }

    pub fn phone(&mut self, e164: &str) {
        self.phone = Some(mask_phone(e164));
        self.country_code = calling_code(e164);
    }

    pub fn request_id(&mut self, id: &str) {
        if !self.request_ids.iter().any(|known| known == id) {
            self.request_ids.push(id.to_string());
        }
    }

    pub fn field(&mut self, name: &str, value: impl Into<Value>) {
        self.fields.insert(name.to_string(), value.into());
    }

    pub fn note(&mut self, detail: impl Into<String>) {
        self.detail.push(detail.into());
    }

    /// Takes in what a part of the request noted on its own log (a lane of a webhook
    /// delivery): its notes and the requests it touched.
    pub fn absorb(&mut self, part: RequestLog) {
        self.detail.extend(part.detail);
        for id in &part.request_ids {
            self.request_id(id);
        }
    }

    pub fn emit(&self, method: &str, status: u16) {
        let elapsed_ms = crate::edge::clock::now_ms().saturating_sub(self.started_ms);
        let mut line = json!({
            "route": self.route,
            "method": method,
            "status": status,
            "outcome": self.outcome.as_deref().unwrap_or(if status < 400 { "ok" } else { "error" }),
            "request_id": self.request_ids.first(),
            "phone": self.phone,
            "ms": elapsed_ms,
        });
        for (name, value) in &self.fields {
            line[name] = value.clone();
        }
        if self.request_ids.len() > 1 {
            // Bounded: one line stays readable (and within Workers Logs' line size)
            // whatever a delivery carried.
            line["request_ids"] = json!(self.request_ids.iter().take(MAX_LOGGED_IDS).collect::<Vec<_>>());
            if self.request_ids.len() > MAX_LOGGED_IDS {
                line["request_ids_more"] = json!(self.request_ids.len() - MAX_LOGGED_IDS);
            }
        }
        if !self.steps.is_empty() {
            line["steps"] = self.steps.iter().map(|(name, ms)| (name.to_string(), json!(ms))).collect();
        }
        if !self.detail.is_empty() {
            line["detail"] = json!(self.detail);
        }
        worker::console_log!("{line}");
    }
}
