//! The browser client package and the reference page, against the same services as
//! every other test: `/client.js` checked here, the package's own tests run with
//! `node --test`, and the page driven in a real headless Chromium (chromedriver).

use std::process::Command;
use std::sync::Arc;

use crate::client::Env;
use crate::harness::root;

e2e_tests! {
    client_js_is_the_package_module,
    client_package_tests_pass,
    reference_page_in_chromium_at_1280px.limit(360),
    reference_page_in_chromium_at_390px.limit(360),
    reference_page_shows_the_sms_fallback.limit(240),
}

/// The package's module file, which the worker must serve unchanged.
const CLIENT_JS: &str = include_str!("../../clients/js/index.js");

pub async fn client_js_is_the_package_module(env: Arc<Env>) {
    for base in [&env.main, &env.strict] {
        let resp = env.get(&format!("{base}/client.js")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(resp.header("cache-control"), Some("public, max-age=300"));
        assert!(resp.text == CLIENT_JS, "/client.js differs from clients/js/index.js");
        let head = env.http.head(format!("{base}/client.js")).send().await.expect("HEAD");
        assert_eq!(head.status(), 200);
        assert!(head.bytes().await.expect("body").is_empty());
    }
    // The page and its scripts exist only where the page is on.
    for path in ["/", "/page.js", "/qr.js"] {
        assert_eq!(env.get(&format!("{}{path}", env.main)).await.status, 200, "{path} with the page on");
        assert_eq!(env.get(&format!("{}{path}", env.strict)).await.status, 404, "{path} with the page off");
    }
    let page = env.get(&format!("{}/", env.main)).await;
    assert!(page.text.contains(r#"src="/page.js""#), "the page loads its script");
    let script = env.get(&format!("{}/page.js", env.main)).await;
    assert!(script.text.contains(r#"from "/client.js""#), "the page is built on the client");
    assert!(!script.text.contains("fetch("), "the page makes no calls of its own");
}

pub async fn client_package_tests_pass(env: Arc<Env>) {
    node(&env, &["--test", "clients/js/test/"], &[]).await;
}

/// One Chromium at a time: the machine is small and the other tests share it.
static CHROMIUM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn reference_page_in_chromium_at_1280px(env: Arc<Env>) {
    let _one_at_a_time = CHROMIUM.lock().await;
    node(&env, &["--test", "tests/browser/page.test.js"], &[("OTP_VIEWPORT", "desktop")]).await;
}

pub async fn reference_page_in_chromium_at_390px(env: Arc<Env>) {
    let _one_at_a_time = CHROMIUM.lock().await;
    node(&env, &["--test", "tests/browser/page.test.js"], &[("OTP_VIEWPORT", "phone")]).await;
}

/// The page against the `sms` worker: WhatsApp never delivers, the code goes by SMS,
/// and the page says so while it waits (tests/browser/fallback.test.js).
pub async fn reference_page_shows_the_sms_fallback(env: Arc<Env>) {
    let _one_at_a_time = CHROMIUM.lock().await;
    for viewport in ["desktop", "phone"] {
        node(&env, &["--test", "tests/browser/fallback.test.js"], &[("OTP_VIEWPORT", viewport)]).await;
    }
}

/// Runs node with the services' URLs in its environment; fails with its output when it fails.
async fn node(env: &Env, args: &[&str], vars: &[(&str, &str)]) {
    let mut command = Command::new("node");
    command
        .current_dir(root())
        .arg("--disable-warning=MODULE_TYPELESS_PACKAGE_JSON")
        .args(args)
        .env("OTP_WORKER_URL", &env.main)
        .env("OTP_SHORT_TTL_URL", &env.short_ttl)
        .env("OTP_STANDIN_URL", &env.standin)
        .env("OTP_SMS_URL", &env.sms)
        .env("OTP_SMS_STANDIN_URL", &env.sms_standin)
        .env("SCREENSHOT_DIR", root().join("target/screenshots"))
        .envs(vars.iter().copied());
    let label = args.join(" ");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("node runs")
        .unwrap_or_else(|e| panic!("cannot start node: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.starts_with("# pass") || l.starts_with("# fail")).collect();
    println!("node {label}: {}", summary.join(", "));
    assert!(output.status.success(), "node {label} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(summary.iter().any(|l| l.starts_with("# pass") && l != &"# pass 0"), "node {label} ran no test");
}
