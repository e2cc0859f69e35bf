//! The template lifecycle: the built `otpctl` run as a process against the stand-in's
//! Graph API, and the `lifecycle` worker whose sends depend on the template's review.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{digits, random_phone, Env, LIFECYCLE_TEMPLATE};
use crate::harness::{artifact, root, ACCESS_TOKEN, BUSINESS_ACCOUNT_ID};

e2e_tests! {
    otpctl_creates_a_template_that_sends_once_approved,
    otpctl_shows_metas_refusals_in_words,
    otpctl_refuses_one_tap_without_the_app,
    otpctl_reads_settings_from_dev_vars_and_wrangler_toml,
    a_scripted_rejection_is_listed_with_its_reason,
}

/// One finished `otpctl` run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A fresh folder for one `otpctl` run (it reads `.dev.vars` and `wrangler.toml` there).
fn work_dir(name: &str) -> PathBuf {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = root().join(format!("target/e2e/otpctl/{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("otpctl work dir");
    dir
}

/// Runs `otpctl` in `dir` with only `vars` in its environment (no proxies, nothing inherited).
async fn otpctl_in(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = Command::new(artifact("target/release/otpctl"));
    command.args(args).current_dir(dir).env_clear();
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("otpctl runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The settings an operator would export, pointing at the stand-in.
fn settings(env: &Env, template: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WHATSAPP_API_BASE", env.standin.clone()),
        ("WHATSAPP_API_VERSION", "v23.0".into()),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", BUSINESS_ACCOUNT_ID.into()),
        ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("WHATSAPP_TEMPLATE_NAME", template.into()),
        ("OTP_TTL_SECONDS", "300".into()),
    ]
}

async fn otpctl(env: &Env, name: &str, template: &str, args: &[&str]) -> Run {
    let vars = settings(env, template);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = otpctl_in(&work_dir(name), args, &vars).await;
    assert!(!run.all().contains(ACCESS_TOKEN), "otpctl printed the token:\n{}", run.all());
    run
}

/// The listing's status column for `template` in `language` (`None` when not listed).
async fn listed_status(env: &Env, template: &str, language: &str) -> Option<String> {
    let run = otpctl(env, "list", template, &["templates", "list", "--name", template]).await;
    assert_eq!(run.code, Some(0), "list failed:\n{}", run.all());
    run.stdout.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.first() == Some(&template) && cols.get(1) == Some(&language)).then(|| cols[4..].join(" "))
    })
}

pub async fn otpctl_creates_a_template_that_sends_once_approved(env: Arc<Env>) {
    let run = otpctl(&env, "create", LIFECYCLE_TEMPLATE, &["templates", "--languages", "en_US"]).await;
    assert_eq!(run.code, Some(0), "create failed:\n{}", run.all());
    assert!(run.stdout.contains("code expires in 5 min, message TTL 300 s"), "{}", run.stdout);
    assert!(run.stdout.contains("en_US: created (id "), "{}", run.stdout);
    assert!(run.stdout.contains("status PENDING"), "{}", run.stdout);

    // While the template is in review, Meta refuses sends with it (132001): 502 for the client.
    let phone = random_phone();
    let resp = env.request(&env.lifecycle, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 502, "{}", resp.text);
    assert_eq!(resp.code(), "whatsapp_rejected");
    assert_eq!(resp.body["error"]["whatsapp_code"], 132001, "{}", resp.text);
    assert!(env.inbox(&phone).await.is_empty());
    // Listed as PENDING after that send, so the send above happened during the review.
    assert_eq!(listed_status(&env, LIFECYCLE_TEMPLATE, "en_US").await.as_deref(), Some("PENDING"));

    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let status = listed_status(&env, LIFECYCLE_TEMPLATE, "en_US").await;
        if status.as_deref() == Some("APPROVED") {
            break;
        }
        assert_eq!(status.as_deref(), Some("PENDING"), "unexpected review outcome");
        assert!(Instant::now() < deadline, "the template was not approved in time");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let phone = random_phone();
    let resp = env.request(&env.lifecycle, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let messages = env.wait_for_messages(&phone, 1).await;
    assert_eq!(messages[0]["template_name"], LIFECYCLE_TEMPLATE);
    assert_eq!(messages[0]["language"], "en_US");
    assert_eq!(messages[0]["to"], digits(&phone));
    let code = messages[0]["code"].as_str().expect("code").to_string();
    let request_id = resp.body["request_id"].as_str().expect("request_id");
    let verified = env.verify(&env.lifecycle, request_id, &code).await;
    assert_eq!(verified.status, 200, "{}", verified.text);
}

pub async fn otpctl_shows_metas_refusals_in_words(env: Arc<Env>) {
    // A body with a URL: Meta's code, title and sentence, and what to do.
    let run = otpctl(
        &env,
        "url",
        "otp_with_link",
        &["templates", "--body-text", "Your code. Or sign in at https://example.com/login"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("en_US: Meta refused (HTTP 400, code 100): URLs Aren't Allowed"), "{}", run.stdout);
    assert!(run.stdout.contains("Authentication templates can't contain URLs."), "{}", run.stdout);
    assert!(run.stdout.contains("What to do:"), "{}", run.stdout);
    assert_eq!(listed_status(&env, "otp_with_link", "en_US").await, None, "a refused template was stored");

    // The seeded template again in a language it has: 2388024.
    let run = otpctl(&env, "dup", "otp_code", &["templates", "--languages", "de"]).await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("subcode 2388024): Content in This Language Already Exists"), "{}", run.stdout);
    assert!(run.stdout.contains("There is already German content for this template."), "{}", run.stdout);

    // A wrong token: 190, explained, and the token never printed.
    let mut vars = settings(&env, "otp_code");
    vars.retain(|(k, _)| *k != "WHATSAPP_ACCESS_TOKEN");
    vars.push(("WHATSAPP_ACCESS_TOKEN", "e2e-wrong-token-do-not-print".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = otpctl_in(&work_dir("token"), &["templates", "list"], &vars).await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("Meta refused (HTTP 401, code 190)"), "{}", run.stdout);
    assert!(run.stdout.contains("system user token"), "{}", run.stdout);
    assert!(!run.all().contains("e2e-wrong-token-do-not-print"), "{}", run.all());
}

pub async fn otpctl_refuses_one_tap_without_the_app(env: Arc<Env>) {
    let run = otpctl(&env, "onetap", "otp_one_tap", &["templates", "--otp-type", "ONE_TAP"]).await;
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("ONE_TAP needs your Android app: --package-name"), "{}", run.stderr);
    assert_eq!(listed_status(&env, "otp_one_tap", "en_US").await, None);

    let run = otpctl(
        &env,
        "onetap-ok",
        "otp_one_tap",
        &["templates", "--otp-type", "ONE_TAP", "--package-name", "com.example.app", "--signature-hash", "K8a/AINcGX7"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(listed_status(&env, "otp_one_tap", "en_US").await.as_deref(), Some("PENDING"));
}

pub async fn otpctl_reads_settings_from_dev_vars_and_wrangler_toml(env: Arc<Env>) {
    let dir = work_dir("files");
    // wrangler.toml [vars] names a template; .dev.vars overrides it and holds the token.
    std::fs::write(
        dir.join("wrangler.toml"),
        format!(
            "name = \"w\"\nmain = \"x.mjs\"\n[vars]\nWHATSAPP_API_BASE = {:?}\nWHATSAPP_BUSINESS_ACCOUNT_ID = {BUSINESS_ACCOUNT_ID:?}\n\
             WHATSAPP_TEMPLATE_NAME = \"from_wrangler_toml\"\nWHATSAPP_TEMPLATE_LANGUAGE = \"en_US\"\nOTP_TTL_SECONDS = \"90\"\n",
            env.standin
        ),
    )
    .expect("wrangler.toml");
    std::fs::write(
        dir.join(".dev.vars"),
        format!("WHATSAPP_ACCESS_TOKEN={ACCESS_TOKEN}\nWHATSAPP_TEMPLATE_NAME=otp_from_files\n"),
    )
    .expect(".dev.vars");
    let run = otpctl_in(&dir, &["templates", "--languages", "es,pt_BR"], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.all().contains(ACCESS_TOKEN));
    // OTP_TTL_SECONDS=90 from wrangler.toml: 2 minutes (rounded up), message TTL 90 s.
    assert!(
        run.stdout.contains("'otp_from_files' (COPY_CODE, code expires in 2 min, message TTL 90 s) in es, pt_BR"),
        "{}",
        run.stdout
    );

    // The environment wins over both files.
    let run = otpctl_in(&dir, &["templates", "list", "--json"], &[("WHATSAPP_TEMPLATE_NAME", "ignored_by_list")]).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let listed: Value = serde_json::from_str(&run.stdout).expect("list --json prints JSON");
    let ours: Vec<&Value> =
        listed.as_array().expect("array").iter().filter(|t| t["name"] == "otp_from_files").collect();
    let mut languages: Vec<&str> = ours.iter().map(|t| t["language"].as_str().unwrap()).collect();
    languages.sort();
    assert_eq!(languages, ["es", "pt_BR"]);
    assert!(ours.iter().all(|t| t["status"] == "PENDING" && t["category"] == "AUTHENTICATION"));
    let run = otpctl_in(&dir, &["templates", "--dry-run"], &[("WHATSAPP_TEMPLATE_NAME", "from_environment")]).await;
    let body: Value = serde_json::from_str(run.stdout.trim()).expect("dry run prints the body");
    assert_eq!(body["name"], "from_environment");
    assert_eq!(body["components"][1], json!({"type": "FOOTER", "code_expiration_minutes": 2}));
}

pub async fn a_scripted_rejection_is_listed_with_its_reason(env: Arc<Env>) {
    let run = otpctl(&env, "reject", "otp_rejected", &["templates", "--languages", "en_US,es"]).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let resp = env
        .post(
            &format!("{}/control/templates/review", env.standin),
            &json!({"name": "otp_rejected", "language": "es", "status": "REJECTED", "reason": "PROMOTIONAL"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.body["updated"][0]["status"], "REJECTED");
    assert_eq!(
        listed_status(&env, "otp_rejected", "es").await.as_deref(),
        Some("REJECTED: PROMOTIONAL (promotional content in an authentication template)")
    );
    assert_eq!(listed_status(&env, "otp_rejected", "en_US").await.as_deref(), Some("PENDING"));
}
