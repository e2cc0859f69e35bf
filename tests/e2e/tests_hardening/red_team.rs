//! The second red-team report: a key that cannot sign, pages without a policy, and
//! operator query parameters. (Short webhook secrets: `weak_settings_are_refused_at_start_up`.)

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{call, Stopping};
use crate::client::{into_resp, random_phone, Env, Resp, ADMIN_TOKEN};
use crate::harness::{free_port, Worker};

/// `TOKEN_SIGNING_KEY` whose private part is not its public half's: `/healthz` said
/// 503, yet codes went out and checks used them up. Now neither a request (outbound
/// or inbound) nor a check gets anywhere, and nothing reaches the number.
pub async fn no_code_is_sent_without_a_key_that_can_sign(env: Arc<Env>) {
    let key = crate::tests_contract::mixed_signing_key().await;
    let vars = [("IP_MAX_REQUESTS_PER_HOUR", "1000000")];
    let secrets = [("TOKEN_SIGNING_KEY", Some(key.as_str()))];
    let worker = Worker::start(&env.run_dir, "mixed-key-attack", free_port(), &env.standin, &vars, &secrets)
        .ready(&env.http)
        .await;
    let (url, _stopping) = (worker.url.clone(), Stopping(worker.service));
    let phone = random_phone();
    let refused = |resp: &Resp, what: &str| {
        assert_eq!((resp.status, resp.code()), (503, "misconfigured"), "{what}: {}", resp.text);
        assert_eq!(resp.body["error"]["settings"], json!(["TOKEN_SIGNING_KEY"]), "{what}");
        assert!(resp.body.get("code").is_none() && resp.body.get("request_id").is_none(), "{what}: {}", resp.text);
    };
    for body in [json!({ "phone": phone }), json!({ "phone": phone, "mode": "inbound" })] {
        let resp = call(&env, Method::POST, &format!("{url}/v1/otp/request"), "198.18.13.1", Some(&body)).await;
        refused(&resp, &body.to_string());
    }
    for body in [
        json!({ "request_id": "otp_00000000000000000000aa", "code": "123456" }),
        json!({ "phone": phone, "code": "123456" }),
    ] {
        let resp = call(&env, Method::POST, &format!("{url}/v1/otp/verify"), "198.18.13.1", Some(&body)).await;
        refused(&resp, &body.to_string());
    }
    // A send would have reached the stand-in before the answer; allow for a slow one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.inbox(&phone).await, Vec::<serde_json::Value>::new(), "a message went out");
}

/// `/` and `/admin` carried no Content-Security-Policy: an injected script would have
/// run, and either page could be framed. Now scripts come only from the worker, the
/// one style block is allowed by its hash, and nothing may frame them.
pub async fn pages_carry_a_content_security_policy(env: Arc<Env>) {
    for url in [format!("{}/", env.main), format!("{}/admin", env.analytics)] {
        let page = into_resp(env.http.get(&url).send().await.expect("GET")).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let policy = page.header("content-security-policy").unwrap_or_else(|| panic!("{url}: no CSP"));
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        for expected in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(directives.contains(&expected), "{url}: {expected} missing from {policy}");
        }
        assert!(!policy.contains("unsafe"), "{url}: {policy}");
        let style = &page.text[page.text.find("<style>").unwrap() + 7..page.text.find("</style>").unwrap()];
        let hash = format!("style-src 'sha256-{}'", STANDARD.encode(Sha256::digest(style.as_bytes())));
        assert!(directives.contains(&hash.as_str()), "{url}: the style block's hash is not {policy}");
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"), "{url}");
        assert!(!page.text.contains("<script>"), "{url}: an inline script");
    }
    let admin = into_resp(env.http.get(format!("{}/admin", env.analytics)).send().await.expect("GET")).await;
    assert!(admin.text.contains(r#"<script src="/admin.js"></script>"#));
    let script = env.get(&format!("{}/admin.js", env.analytics)).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(script.text.contains("sessionStorage") && !script.text.contains(ADMIN_TOKEN));
    // Where the dashboard is absent, so is its script.
    let absent = env.get(&format!("{}/admin.js", env.main)).await;
    assert_eq!((absent.status, absent.code()), (404, "not_found"), "{}", absent.text);
}

/// Multibyte and malformed `since`/`until` (one panicked the isolate once): every
/// answer, with the right token, is a 4xx JSON error.
pub async fn admin_windows_never_answer_5xx(env: Arc<Env>) {
    let long = "2".repeat(10 * 1024);
    let values = [
        "é",
        "２０２６-０１-０１T００:００:００Z",
        "2026-01-01T00:00:00Zé",
        "2026-01-01T00:00:00é",
        "é2026-01-01T00:00:00Z",
        "%FF",
        "%C3",
        "%00",
        "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        "2026-13-45T99:99:99Z",
        "2026-01-01T00:00:00+99:99",
        "-0001-01-01T00:00:00Z",
        "99999999999-01-01T00:00:00Z",
        "",
        &long,
    ];
    for path in ["/v1/admin/stats", "/v1/admin/series"] {
        for value in values {
            for query in [format!("since={value}"), format!("until={value}"), format!("since={value}&until={value}")] {
                let url = format!("{}{path}?{query}", env.analytics);
                let request = env.http.get(&url).bearer_auth(ADMIN_TOKEN);
                let resp = into_resp(request.send().await.unwrap_or_else(|e| panic!("{path}: no answer: {e}"))).await;
                let shown: String = query.chars().take(60).collect();
                assert!(resp.status < 500, "{path}?{shown}: {} {}", resp.status, resp.text);
                // An empty value may read as no value (the default window); anything else is refused.
                if resp.status == 200 && value.is_empty() {
                    continue;
                }
                assert!((400..500).contains(&resp.status), "{path}?{shown}: {} {}", resp.status, resp.text);
                assert!(!resp.code().is_empty(), "{path}?{shown}: not a JSON error: {}", resp.text);
            }
        }
    }
}
