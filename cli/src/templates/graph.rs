//! The two Graph API calls, over a small blocking client. The token travels only in
//! the `Authorization` header and never appears in anything printed.

use std::time::Duration;

/// An HTTP answer (any status) or why there was none.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("otpctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn describe(e: ureq::Error, url: &str) -> String {
    format!("no answer from {url}: {e}")
}

pub fn post_json(url: &str, token: &str, body: &serde_json::Value) -> Result<Answer, String> {
    let mut resp = agent()
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map_err(|e| describe(e, url))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().map_err(|e| describe(e, url))?;
    Ok(Answer { status, body })
}

pub fn get(url: &str, token: &str) -> Result<Answer, String> {
    let mut resp =
        agent().get(url).header("Authorization", &format!("Bearer {token}")).call().map_err(|e| describe(e, url))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().map_err(|e| describe(e, url))?;
    Ok(Answer { status, body })
}
