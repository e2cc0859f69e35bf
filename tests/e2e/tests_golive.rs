//! Going live, and staying live: test numbers (`TEST_NUMBERS` on the main worker,
//! see `client::TEST_NUMBERS`), `otpctl doctor` against a stand-in of its own and the
//! main worker, `otpctl smoke`, and the one-command deploy's dry run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::client::{decode_token, wrong, Env};
use crate::harness::{
    artifact, root, StandIn, ACCESS_TOKEN, APP_SECRET, BUSINESS_ACCOUNT_ID, BUSINESS_NUMBER, PHONE_NUMBER_ID,
    TOKEN_SECRET, VERIFY_TOKEN,
};

e2e_tests! {
    a_test_number_gets_nothing_and_its_fixed_code_verifies,
    a_test_number_past_its_date_is_ordinary_and_warned_masked,
    a_wrong_code_on_a_test_number_still_counts_attempts,
    doctor_passes_a_healthy_set_up_and_fails_exactly_what_is_broken,
    doctor_refuses_bad_usage_and_missing_settings,
    smoke_passes_with_a_test_number_and_fails_with_a_wrong_code,
    // Builds the worker again in a copy of the tree (release wasm, LTO): alone, so it
    // slows no other test, and with room for a busy machine.
    deploy_dry_run_from_a_clean_copy_builds_the_worker.alone().limit(900),
}

pub async fn a_test_number_gets_nothing_and_its_fixed_code_verifies(env: Arc<Env>) {
    let phone = "+15550100001";
    let resp = env.request_code(phone).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    // The 202 comes after the send would have: nothing reached the stand-in.
    assert!(env.inbox(phone).await.is_empty(), "a message went to a test number");
    assert!(!resp.text.contains("135790"), "the fixed code is not handed out");
    let status = env.status(&env.main, &id).await;
    assert_eq!(status.body["status"], "pending", "{}", status.text);
    assert!(status.body.get("delivery").is_none_or(|d| d["status"] == "accepted"), "{}", status.text);

    let verified = env.verify(&env.main, &id, "135790").await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    let claims = decode_token(verified.body["token"].as_str().unwrap());
    assert_eq!((&claims["test"], &claims["sub"], &claims["jti"]), (&json!(true), &json!(phone), &json!(id)));
    // Collected again through the status route, the token still says so.
    let again = env.status_with_token(&env.main, &id).await;
    assert_eq!(decode_token(again.body["token"].as_str().unwrap())["test"], true, "{}", again.text);
    assert!(env.inbox(phone).await.is_empty(), "a message went to a test number");
}

pub async fn a_test_number_past_its_date_is_ordinary_and_warned_masked(env: Arc<Env>) {
    let phone = "+15550100002";
    let (id, code) = env.issue(phone).await;
    assert_ne!(code, "246802", "the expired entry's code was used");
    let fixed = env.verify(&env.main, &id, "246802").await;
    assert_eq!((fixed.status, fixed.code()), (400, "invalid_code"), "{}", fixed.text);
    let verified = env.verify(&env.main, &id, &code).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert!(decode_token(verified.body["token"].as_str().unwrap()).get("test").is_none());

    let health = env.get(&format!("{}/healthz", env.main)).await;
    assert_eq!((health.status, &health.body["ok"]), (200, &json!(true)), "{}", health.text);
    // Other warnings (risky settings of the test profile) may stand beside it.
    let test_warnings: Vec<&Value> = health.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w.as_str().unwrap().starts_with("TEST_NUMBERS"))
        .collect();
    assert_eq!(test_warnings, [&json!("TEST_NUMBERS: +1********02 expired on 2020-01-01")], "{}", health.text);
    for secret in ["246802", "135790", "5550100002", "5550100001"] {
        assert!(!health.text.contains(secret), "/healthz shows {secret}");
    }
}

pub async fn a_wrong_code_on_a_test_number_still_counts_attempts(env: Arc<Env>) {
    let phone = "+15550100003";
    let resp = env.request_code(phone).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let id = resp.body["request_id"].as_str().unwrap().to_string();
    for left in (0..5).rev() {
        let bad = env.verify(&env.main, &id, &wrong("112233")).await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_code"), "{}", bad.text);
        assert_eq!(bad.body["error"]["attempts_left"], left, "{}", bad.text);
    }
    // Locked: the fixed code no longer helps.
    let right = env.verify(&env.main, &id, "112233").await;
    assert_eq!((right.status, right.code()), (429, "too_many_attempts"), "{}", right.text);
    // And the number's send limits hold too: the cooldown applies to a test number.
    let again = env.request_code(phone).await;
    assert_eq!((again.status, again.code()), (429, "rate_limited"), "{}", again.text);
}

/// One finished `otpctl` run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the built `otpctl` in a fresh folder with only `vars` in its environment.
async fn otpctl(args: &[&str], vars: &[(&str, String)]) -> Run {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root().join(format!("target/e2e/golive/{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("otpctl work dir");
    let mut command = Command::new(artifact("target/release/otpctl"));
    command.args(args).current_dir(&dir).env_clear();
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("otpctl runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, TOKEN_SECRET] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "otpctl printed a secret:\n{}",
            run.stdout
        );
    }
    run
}

/// A stand-in of the doctor's own, so breaking it disturbs no other test; stopped on drop.
struct OwnStandIn(StandIn);

impl Drop for OwnStandIn {
    fn drop(&mut self) {
        self.0.service.stop();
    }
}

/// What an operator would have exported for the doctor.
fn doctor_settings(api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WHATSAPP_API_BASE", api.to_string()),
        ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("WHATSAPP_APP_SECRET", APP_SECRET.into()),
        ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", BUSINESS_ACCOUNT_ID.into()),
        ("WHATSAPP_BUSINESS_NUMBER", BUSINESS_NUMBER.into()),
        ("WHATSAPP_TEMPLATE_NAME", "otp_code".into()),
    ]
}

const ALL_CHECKS: [&str; 7] = [
    "token",
    "phone_number",
    "webhook_subscription",
    "template",
    "worker_health",
    "webhook_handshake",
    "webhook_signature",
];

/// `doctor --json`: its exit code and the names of the failed checks (each with a fix).
async fn doctor_json(env: &Env, vars: &[(&str, String)]) -> (Option<i32>, Vec<String>, Value) {
    let run = otpctl(&["doctor", "--worker", &env.main, "--json"], vars).await;
    let report: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {}{}", run.stdout, run.stderr));
    let checks = report["checks"].as_array().expect("checks").clone();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ALL_CHECKS, "{report}");
    let mut failed = Vec::new();
    for c in &checks {
        assert!(c["detail"].as_str().is_some_and(|d| !d.is_empty()), "{c}");
        if c["ok"] == false {
            assert!(c["fix"].as_str().is_some_and(|f| f.len() > 10), "a failed check without a fix: {c}");
            failed.push(c["name"].as_str().unwrap().to_string());
        } else {
            assert!(c.get("fix").is_none(), "{c}");
        }
    }
    assert_eq!(report["ok"], failed.is_empty(), "{report}");
    (run.code, failed, report)
}

pub async fn doctor_passes_a_healthy_set_up_and_fails_exactly_what_is_broken(env: Arc<Env>) {
    let dir = env.run_dir.join("doctor");
    std::fs::create_dir_all(&dir).expect("stand-in dir");
    let standin = OwnStandIn(StandIn::start(&dir, &format!("{}/webhook", env.main)));
    let api = standin.0.url.clone();
    let healthy = doctor_settings(&api);
    let run = otpctl(&["doctor", "--worker", &env.main], &healthy).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    for name in ALL_CHECKS {
        assert!(run.stdout.lines().any(|l| l.starts_with(&format!("✔ {name} "))), "{name} not passed:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("All 7 checks passed."), "{}", run.stdout);
    let (code, failed, _) = doctor_json(&env, &healthy).await;
    assert_eq!((code, failed), (Some(0), Vec::<String>::new()));

    let post = |path: &str, body: Value| {
        let (env, url) = (env.clone(), format!("{api}{path}"));
        async move {
            let resp = env.post(&url, &body).await;
            assert_eq!(resp.status, 200, "{url}: {}", resp.text);
        }
    };
    let breaks: [(&str, Value, &str); 4] = [
        ("/control/account", json!({"subscribed": false}), "webhook_subscription"),
        (
            "/control/templates/review",
            json!({"name": "otp_code", "language": "en_US", "status": "PENDING"}),
            "template",
        ),
        ("/control/account", json!({"token_expires_in_days": 2}), "token"),
        ("/control/account", json!({"status": "DISCONNECTED"}), "phone_number"),
    ];
    for (path, body, check) in breaks {
        post(path, body.clone()).await;
        let (code, failed, report) = doctor_json(&env, &healthy).await;
        assert_eq!((code, failed), (Some(1), vec![check.to_string()]), "after {body}: {report}");
        post("/control/reset", json!({})).await;
    }
    for (setting, value, check) in [
        ("WHATSAPP_APP_SECRET", "another-app-secret-0123456789", "webhook_signature"),
        ("WHATSAPP_VERIFY_TOKEN", "another-verify-token-012345", "webhook_handshake"),
    ] {
        let vars: Vec<(&str, String)> =
            healthy.iter().map(|(k, v)| (*k, if *k == setting { value.to_string() } else { v.clone() })).collect();
        let (code, failed, report) = doctor_json(&env, &vars).await;
        assert_eq!((code, failed), (Some(1), vec![check.to_string()]), "with another {setting}: {report}");
        assert!(!report.to_string().contains(value), "the wrong {setting} was printed");
    }

    // Limited to 250 new people a day, on a test number: reported, never failing.
    post("/control/account", json!({"messaging_limit_tier": "TIER_250", "account_mode": "SANDBOX"})).await;
    let (code, failed, report) = doctor_json(&env, &healthy).await;
    assert_eq!((code, failed), (Some(0), Vec::<String>::new()), "{report}");
    let warnings = report["checks"][1]["warnings"].to_string();
    assert!(warnings.contains("250") && warnings.contains("test number"), "{report}");
    let run = otpctl(&["doctor"], &healthy).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains("⚠") && run.stdout.contains("All 4 checks passed."), "{}", run.stdout);
}

pub async fn doctor_refuses_bad_usage_and_missing_settings(env: Arc<Env>) {
    let healthy = doctor_settings(&env.standin);
    let run = otpctl(&["doctor", "--bogus"], &healthy).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let without_token: Vec<(&str, String)> =
        healthy.iter().filter(|(k, _)| *k != "WHATSAPP_ACCESS_TOKEN").cloned().collect();
    let run = otpctl(&["doctor"], &without_token).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("WHATSAPP_ACCESS_TOKEN"), "{}", run.stderr);
    // The worker's own rules: an app secret it would refuse is refused here too.
    let weak: Vec<(&str, String)> = healthy
        .iter()
        .map(|(k, v)| (*k, if *k == "WHATSAPP_APP_SECRET" { "short".to_string() } else { v.clone() }))
        .collect();
    let run = otpctl(&["doctor"], &weak).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("WHATSAPP_APP_SECRET") && !run.stderr.contains("short"), "{}", run.stderr);
}

pub async fn smoke_passes_with_a_test_number_and_fails_with_a_wrong_code(env: Arc<Env>) {
    let vars = vec![("TOKEN_SECRET", TOKEN_SECRET.to_string()), ("TOKEN_AUDIENCE", "e2e-backend".to_string())];
    let run = otpctl(&["smoke", "--worker", &env.main, "--phone", "+15550100004", "--code", "445566"], &vars).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    for step in ["✔ request", "✔ verify", "✔ signature   HS256", "✔ claims", "test: true", "Smoke test passed."]
    {
        assert!(run.stdout.contains(step), "{step} missing:\n{}", run.stdout);
    }
    assert!(run.stdout.lines().filter(|l| l.contains(" ms")).count() >= 2, "latencies:\n{}", run.stdout);
    assert!(env.inbox("+15550100004").await.is_empty(), "smoke sent a message");

    let run = otpctl(&["smoke", "--worker", &env.main, "--phone", "+15550100005", "--code", "000000"], &vars).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("invalid_code") && run.stdout.contains("Smoke test failed."), "{}", run.stdout);
    // A token the backend would refuse: another audience.
    let other = vec![("TOKEN_SECRET", TOKEN_SECRET.to_string()), ("TOKEN_AUDIENCE", "another-backend".to_string())];
    let run = otpctl(&["smoke", "--worker", &env.main, "--phone", "+15550100006", "--code", "990011"], &other).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("aud"), "{}", run.stdout);
}

/// The files of the tree as a fresh clone has them (tracked and new, not ignored).
fn tree_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect()
}

fn copy_tree(to: &Path) {
    for file in tree_files() {
        let from = root().join(&file);
        if !from.is_file() {
            continue;
        }
        let dest = to.join(&file);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
    }
}

pub async fn deploy_dry_run_from_a_clean_copy_builds_the_worker(_env: Arc<Env>) {
    let copy = root().join(format!("target/e2e/clean-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_tree(&copy);
    assert!(!copy.join("build").exists(), "the copy starts without a build");
    // What the set-up leaves (node packages, tools) is shared, and so is cargo's target
    // folder, to save a dependency build; the worker itself is built in the copy.
    for shared in ["node_modules", ".tools"] {
        std::os::unix::fs::symlink(root().join(shared), copy.join(shared)).expect("symlink");
    }
    let out_dir = copy.join("dist");
    let mut command = Command::new(copy.join("node_modules/.bin/wrangler"));
    command
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(&out_dir)
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", root().join("target"))
        .env("WRANGLER_SEND_METRICS", "false")
        .env_remove("OTP_WORKER_PREBUILT");
    let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("wrangler runs");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "wrangler deploy --dry-run failed:\n{log}");
    assert!(log.contains("--dry-run: exiting now."), "{log}");
    let wasm: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .expect("the output folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    assert_eq!(wasm.len(), 1, "one wasm module in {}: {log}", out_dir.display());
    let built = std::fs::read(copy.join("build/index_bg.wasm")).expect("built in the copy");
    assert_eq!(std::fs::read(&wasm[0]).unwrap(), built, "the deployed wasm is the one just built");
    assert!(built.len() > 100_000 && built.starts_with(b"\0asm"));
    let _ = std::fs::remove_dir_all(&copy);
}
