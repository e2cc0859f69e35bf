//! Meta's answers in words: what a refusal means and what to do about it.

use serde_json::Value;

/// The parts of a Graph API error an operator needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphError {
    pub http_status: u16,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub message: Option<String>,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    pub details: Option<String>,
    pub fbtrace_id: Option<String>,
}

/// Reads `{"error":{…}}`; `None` when the body is not a Graph API error at all.
pub fn parse_error(http_status: u16, body: &str) -> Option<GraphError> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?.as_object()?;
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    Some(GraphError {
        http_status,
        code: e.get("code").and_then(Value::as_i64),
        subcode: e.get("error_subcode").and_then(Value::as_i64),
        message: s("message"),
        user_title: s("error_user_title"),
        user_msg: s("error_user_msg"),
        details: e.get("error_data").and_then(|d| d.get("details")).and_then(Value::as_str).map(str::to_string),
        fbtrace_id: s("fbtrace_id"),
    })
}

/// What to do, by Meta's code and subcode.
pub fn advice(code: Option<i64>, subcode: Option<i64>, http_status: u16) -> &'static str {
    match (code, subcode) {
        (Some(100), Some(2_388_024)) => {
            "This template name already has content in that language. Run `otpctl templates list` to see its status; \
             to change it, edit or delete it in WhatsApp Manager (a deleted name cannot be reused for 30 days), \
             or create it under another --name and set WHATSAPP_TEMPLATE_NAME to match."
        }
        (Some(100), Some(2_388_046)) => {
            "Template names take lowercase letters, digits and underscores only: fix --name or WHATSAPP_TEMPLATE_NAME."
        }
        (Some(100), Some(2_388_040)) => "A text is longer than Meta allows (button labels: 25 characters): shorten it.",
        (Some(100), Some(2_388_047)) => {
            "Authentication templates take no header: Meta writes the text around the code itself."
        }
        (Some(100), Some(33)) => {
            "Meta does not know this business account, or the token cannot see it: check WHATSAPP_BUSINESS_ACCOUNT_ID \
             (the WhatsApp Business Account id, not the phone number id or the app id) and that the system user \
             is assigned to that account."
        }
        (Some(100), _) => {
            "Meta refused a parameter: the message above names it. Authentication templates take only Meta's preset \
             text (no URLs, media or emojis), one OTP button, and an expiry of 1 to 90 minutes."
        }
        (Some(190), _) => {
            "The access token is invalid or expired. Create a new system user token (Business settings > Users > \
             System users > Generate token) with whatsapp_business_management and whatsapp_business_messaging, \
             then update WHATSAPP_ACCESS_TOKEN (and the worker's secret)."
        }
        (Some(0 | 3 | 10), _) | (Some(200..=299), _) => {
            "The token lacks a permission: give the system user the whatsapp_business_management permission and \
             assign it to this WhatsApp Business Account with full control, then generate a new token."
        }
        (Some(4 | 17 | 32 | 613 | 80_007 | 130_429), _) => {
            "Meta's rate limit for this account: wait a few minutes and run the command again."
        }
        (Some(368), _) => {
            "The business account is blocked for a policy violation: see Account quality in WhatsApp Manager; \
             nothing can be created until it is resolved."
        }
        (Some(2500), _) => {
            "Meta does not know this path: check WHATSAPP_API_VERSION (like v23.0) and WHATSAPP_API_BASE."
        }
        (Some(1 | 2 | 131_000 | 131_016), _) => "A temporary problem at Meta: run the command again in a minute.",
        _ if http_status >= 500 => "A temporary problem at Meta: run the command again in a minute.",
        _ => "See Meta's error codes page for this code; the trace id helps Meta's support.",
    }
}

/// A refusal in words: a headline with the numbers, Meta's own sentences, and what to do.
pub fn explain(http_status: u16, body: &str) -> String {
    let Some(e) = parse_error(http_status, body) else {
        let snippet: String = body.chars().take(200).collect();
        return format!(
            "HTTP {http_status}, and the answer is not a Graph API error (is WHATSAPP_API_BASE right?): {}",
            if snippet.trim().is_empty() { "(empty body)".to_string() } else { snippet }
        );
    };
    let mut numbers = format!("HTTP {http_status}");
    if let Some(c) = e.code {
        numbers.push_str(&format!(", code {c}"));
    }
    if let Some(s) = e.subcode {
        numbers.push_str(&format!(", subcode {s}"));
    }
    let mut out = format!("Meta refused ({numbers})");
    match (&e.user_title, &e.user_msg) {
        (Some(t), Some(m)) => out.push_str(&format!(": {t}\n    {m}")),
        (Some(t), None) => out.push_str(&format!(": {t}")),
        (None, Some(m)) => out.push_str(&format!(":\n    {m}")),
        (None, None) => {}
    }
    if let Some(m) = &e.message {
        if e.user_msg.is_none() || e.user_title.is_none() {
            out.push_str(&format!("\n    {m}"));
        }
    }
    if let Some(d) = &e.details {
        out.push_str(&format!("\n    details: {d}"));
    }
    out.push_str(&format!("\n  What to do: {}", advice(e.code, e.subcode, http_status)));
    if let Some(t) = &e.fbtrace_id {
        out.push_str(&format!("\n  (fbtrace_id {t})"));
    }
    out
}

/// Meta's `rejected_reason` values in words.
pub fn rejected_reason(reason: &str) -> &'static str {
    match reason {
        "ABUSIVE_CONTENT" => "abusive content",
        "INCORRECT_CATEGORY" => "wrong category for this content",
        "INVALID_FORMAT" => "invalid format",
        "PROMOTIONAL" => "promotional content in an authentication template",
        "SCAM" => "flagged as a scam",
        "TAG_CONTENT_MISMATCH" => "the content does not match the category",
        _ => "no reason given",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_a_template_refusal_with_title_message_and_advice() {
        let body = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2388024,"is_transient":false,"error_user_title":"Content in This Language Already Exists","error_user_msg":"There is already English content for this template. You can create a new template and try again.","fbtrace_id":"AbC"}}"#;
        let text = explain(400, body);
        assert!(text.starts_with(
            "Meta refused (HTTP 400, code 100, subcode 2388024): Content in This Language Already Exists"
        ));
        assert!(text.contains("There is already English content"));
        assert!(text.contains("What to do: This template name already has content"));
        assert!(text.contains("fbtrace_id AbC"));
    }

    #[test]
    fn explains_plain_graph_errors() {
        let body = r#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"X"}}"#;
        let text = explain(401, body);
        assert!(text.starts_with("Meta refused (HTTP 401, code 190)"));
        assert!(text.contains("Invalid OAuth access token"));
        assert!(text.contains("system user token"));
        let text = explain(400, r#"{"error":{"message":"(#100) The parameter name is required.","code":100}}"#);
        assert!(text.contains("(#100) The parameter name is required."));
        assert!(text.contains("Meta refused a parameter"));
        let text = explain(400, r#"{"error":{"message":"Unsupported post request.","code":100,"error_subcode":33}}"#);
        assert!(text.contains("WHATSAPP_BUSINESS_ACCOUNT_ID"));
        let text = explain(503, r#"{"error":{"message":"Service temporarily unavailable","code":2}}"#);
        assert!(text.contains("temporary problem"));
    }

    #[test]
    fn non_graph_answers_say_so() {
        let text = explain(502, "<html>Bad gateway</html>");
        assert!(text.contains("not a Graph API error") && text.contains("<html>Bad gateway"));
        assert!(explain(404, "").contains("(empty body)"));
    }

    #[test]
    fn advice_by_code() {
        assert!(advice(Some(10), None, 403).contains("permission"));
        assert!(advice(Some(80_007), None, 400).contains("rate limit"));
        assert!(advice(Some(368), None, 400).contains("blocked"));
        assert!(advice(Some(2500), None, 400).contains("WHATSAPP_API_VERSION"));
        assert!(advice(None, None, 500).contains("temporary"));
        assert_eq!(rejected_reason("PROMOTIONAL"), "promotional content in an authentication template");
        assert_eq!(rejected_reason("NONE"), "no reason given");
    }
}
