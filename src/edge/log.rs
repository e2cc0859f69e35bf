//! One structured line per request (DESIGN §4.8): route, outcome, masked phone,
//! latency. Never a code, a secret or a full number.

use serde_json::json;

use crate::core::phone::mask_phone;

#[derive(Default)]
pub struct RequestLog {
    pub route: &'static str,
    pub phone: Option<String>,
    pub outcome: Option<String>,
    pub detail: Vec<String>,
}

impl RequestLog {
    pub fn phone(&mut self, e164: &str) {
        self.phone = Some(mask_phone(e164));
    }

    pub fn note(&mut self, detail: impl Into<String>) {
        self.detail.push(detail.into());
    }

    pub fn emit(&self, method: &str, status: u16, elapsed_ms: u64) {
        let mut line = json!({
            "route": self.route,
            "method": method,
            "status": status,
            "outcome": self.outcome.as_deref().unwrap_or(if status < 400 { "ok" } else { "error" }),
            "phone": self.phone,
            "ms": elapsed_ms,
        });
        if !self.detail.is_empty() {
            line["detail"] = json!(self.detail);
        }
        worker::console_log!("{line}");
    }
}
