//! HTTP for `doctor` and `smoke`: a blocking client with a timeout, any status as
//! an answer. A failure is told by its kind only: ureq's own text may quote the URL,
//! and some URLs carry a token or a verify token.

use std::time::{Duration, Instant};

/// Status and body, and how long the call took.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .user_agent(concat!("otpctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::ConnectionFailed | ureq::Error::Io(_) => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        _ => "request failed".into(),
    }
}

/// `GET url` with these headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
    let started = Instant::now();
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().map_err(|e| kind(&e))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().map_err(|e| kind(&e))?;
    Ok(Answer { status, body, elapsed: started.elapsed() })
}

/// `POST url` with these headers and body.
pub fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Result<Answer, String> {
    let started = Instant::now();
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).map_err(|e| kind(&e))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().map_err(|e| kind(&e))?;
    Ok(Answer { status, body, elapsed: started.elapsed() })
}
