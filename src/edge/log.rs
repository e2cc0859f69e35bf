//! One structured line per request: route, outcome, request id, masked phone,
//! latency, and what Meta answered as fields. Never a code, a secret or a full number.

use serde_json::{json, Map, Value};

use crate::core::phone::mask_phone;

pub struct RequestLog {
    pub route: &'static str,
    pub phone: Option<String>,
    pub outcome: Option<String>,
    pub detail: Vec<String>,
    pub request_id: Option<String>,
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
            outcome: None,
            detail: Vec::new(),
            request_id: None,
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
    }

    pub fn request_id(&mut self, id: &str) {
        self.request_id = Some(id.to_string());
    }

    pub fn field(&mut self, name: &str, value: impl Into<Value>) {
        self.fields.insert(name.to_string(), value.into());
    }

    pub fn note(&mut self, detail: impl Into<String>) {
        self.detail.push(detail.into());
    }

    /// Takes in what a part of the request noted on its own log (a lane of a webhook
    /// delivery): its notes, and its request id when this log has none yet.
    pub fn absorb(&mut self, part: RequestLog) {
        self.detail.extend(part.detail);
        if self.request_id.is_none() {
            self.request_id = part.request_id;
        }
    }

    pub fn emit(&self, method: &str, status: u16) {
        let elapsed_ms = crate::edge::clock::now_ms().saturating_sub(self.started_ms);
        let mut line = json!({
            "route": self.route,
            "method": method,
            "status": status,
            "outcome": self.outcome.as_deref().unwrap_or(if status < 400 { "ok" } else { "error" }),
            "request_id": self.request_id,
            "phone": self.phone,
            "ms": elapsed_ms,
        });
        for (name, value) in &self.fields {
            line[name] = value.clone();
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
