//! The integrator's contract: the OpenAPI document (served, valid 3.1, and the worker
//! fuzzed against it), ES256 tokens checked from the JWKS URL alone by the README's
//! own backend snippets, and rotating every secret across a worker restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::client::{digits, random_phone, send, Env, Resp, ADMIN_TOKEN};
use crate::commands::run;
use crate::harness::{
    deliver_webhooks_to, free_port, root, Service, StandIn, Worker, APP_SECRET, OTP_SECRET, TOKEN_SECRET,
};

e2e_tests! {
    openapi_document_is_served_and_valid,
    jwks_is_404_while_tokens_are_hs256,
    a_signing_key_that_cannot_sign_is_named,
    secrets_rotate_across_a_restart,
    schemathesis_finds_no_contract_breach,
}

const INCOMING: &str = include_str!("../fixtures/incoming-text.json");
/// The audience the README's snippets expect.
const AUDIENCE: &str = "my-backend";

/// A worker this test started; stopped when dropped, even when the test panics.
struct Own(Option<Worker>);

impl Own {
    async fn start(env: &Env, name: &str, vars: &[(&str, &str)], secrets: &[(&str, Option<&str>)]) -> Own {
        let worker = Worker::start(&env.run_dir, name, free_port(), &env.standin, vars, secrets).ready(&env.http).await;
        Own(Some(worker))
    }

    fn url(&self) -> &str {
        &self.0.as_ref().expect("running").url
    }

    fn stop(&mut self) {
        if let Some(mut worker) = self.0.take() {
            worker.service.stop();
        }
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("PYTHON_TOOLS").map_or_else(|| root().join(".tools/venv/bin"), PathBuf::from);
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run ./test (scripts/setup.sh installs it)", path.display());
    path
}

/// `otpctl keys generate --kid K`: (private JWK, public JWK).
async fn key_pair(kid: &str) -> (String, String) {
    let mut command = Command::new(root().join("target/release/otpctl"));
    command.args(["keys", "generate", "--kid", kid]);
    let out = run(command).await;
    assert!(out.status.success(), "otpctl failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (lines.next().unwrap().to_string(), lines.next().unwrap().to_string())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Checks an ES256 token the way a backend does: the key named by `kid`, from the JWKS.
fn decode_es256(token: &str, jwks: &Value) -> Result<Value, String> {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    let kid = decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let key =
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap())
        .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&["whatsapp-otp-worker"]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    decode::<Value>(token, &key, &validation).map(|t| t.claims).map_err(|e| e.to_string())
}

/// What a backend that still checks HS256 with `TOKEN_SECRET` would make of `token`.
fn hs256_accepts(token: &str) -> Result<Value, String> {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    let key = DecodingKey::from_secret(TOKEN_SECRET.as_bytes());
    decode::<Value>(token, &key, &validation).map(|t| t.claims).map_err(|e| e.to_string())
}

/// The same claims as HS256 with `TOKEN_SECRET`: what a forger holding that secret could mint.
fn hs256_token(claims: &Value) -> String {
    use jsonwebtoken::{encode, EncodingKey, Header};
    encode(&Header::default(), claims, &EncodingKey::from_secret(TOKEN_SECRET.as_bytes())).unwrap()
}

/// A README code block, found by its `<!-- snippet:NAME` marker.
fn snippet(name: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find(&format!("<!-- snippet:{name}")).unwrap_or_else(|| panic!("no {name} snippet"));
    let block = &readme[start..];
    let code = &block[block.find("```").unwrap()..];
    let code = &code[code.find('\n').unwrap() + 1..];
    code[..code.find("\n```").unwrap()].to_string()
}

/// Runs the README's Node and Python snippets on `token` against `worker`; each
/// returns `Ok(phone)` or `Err(what it printed)`.
async fn backend_snippets(dir: &Path, worker: &str, token: &str) -> [Result<String, String>; 2] {
    std::fs::create_dir_all(dir).unwrap();
    let node_file = dir.join("verify.mjs");
    let node = format!("{}\n\nconsole.log(await verifiedPhone(process.argv[2]));\n", snippet("node"));
    std::fs::write(&node_file, node).unwrap();
    let python_file = dir.join("verify.py");
    let python = format!("{}\n\nimport sys\n\nprint(verified_phone(sys.argv[1]))\n", snippet("python"));
    std::fs::write(&python_file, python).unwrap();

    let mut node = Command::new("node");
    node.arg(&node_file).arg(token).env("OTP_WORKER_URL", worker).current_dir(root());
    let mut python = Command::new(tool("python"));
    python.arg(&python_file).arg(token).env("OTP_WORKER_URL", worker);
    let outcome = |out: Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    let (node, python) = tokio::join!(run(node), run(python));
    [outcome(node), outcome(python)]
}

fn signed(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's sample delivery: a text from `phone`.
fn incoming(phone: &str, text: &str) -> String {
    let mut id = [0u8; 12];
    getrandom::fill(&mut id).unwrap();
    let mut delivery: Value = serde_json::from_str(INCOMING).unwrap();
    let value = &mut delivery["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = digits(phone).into();
    value["messages"][0]["from"] = digits(phone).into();
    value["messages"][0]["id"] = format!("wamid.E2E{}", hex::encode(id)).into();
    value["messages"][0]["text"]["body"] = text.into();
    // Sent now: a message older than the request it would verify never counts.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    value["messages"][0]["timestamp"] = now.to_string().into();
    delivery.to_string()
}

async fn deliver(env: &Env, worker: &str, secret: &str, body: String) -> Resp {
    let signature = signed(secret, &body);
    send(
        env.http
            .post(format!("{worker}/webhook"))
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body),
    )
    .await
}

/// Requests a code on `worker`; returns (request_id, code from the stand-in's inbox).
async fn issue_on(env: &Env, worker: &str, phone: &str) -> (String, String) {
    let resp = env.request(worker, json!({ "phone": phone })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    (resp.body["request_id"].as_str().unwrap().to_string(), env.latest_code(phone).await)
}

async fn verified_token(env: &Env, worker: &str, id: &str, code: &str) -> String {
    let resp = env.verify(worker, id, code).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.body["token"].as_str().unwrap().to_string()
}

pub async fn openapi_document_is_served_and_valid(env: Arc<Env>) {
    let file = std::fs::read(root().join("openapi/openapi.json")).unwrap();
    // Served whatever the configuration, byte for byte.
    for base in [&env.main, &env.broken] {
        let resp = env.get(&format!("{base}/openapi.json")).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text.as_bytes(), file.as_slice(), "GET /openapi.json differs from openapi/openapi.json");
        assert!(resp.header("content-type").unwrap().starts_with("application/json"));
        assert_eq!(resp.header("cache-control"), Some("public, max-age=300"));
    }
    let mut check = Command::new(tool("openapi-spec-validator"));
    check.arg(root().join("openapi/openapi.json"));
    let out = run(check).await;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "not a valid OpenAPI document: {said}");
    let doc: Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // A broken document must fail the same check: the validator really validates.
    let broken = env.run_dir.join("broken-openapi.json");
    let mut bad = doc.clone();
    bad["paths"]["/healthz"]["get"]["responses"]["200"] = json!({ "content": {} });
    std::fs::write(&broken, bad.to_string()).unwrap();
    let mut check = Command::new(tool("openapi-spec-validator"));
    check.arg(&broken);
    assert!(!run(check).await.status.success(), "a response without a description must be refused");
    // Every route of the contract is in it.
    for path in [
        "/v1/otp/request",
        "/v1/otp/verify",
        "/v1/otp/status/{request_id}",
        "/v1/otp/status",
        "/webhook",
        "/healthz",
        "/",
        "/openapi.json",
        "/client.js",
        "/.well-known/jwks.json",
        "/v1/admin/stats",
        "/admin",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}

pub async fn jwks_is_404_while_tokens_are_hs256(env: Arc<Env>) {
    let resp = env.get(&format!("{}/.well-known/jwks.json", env.main)).await;
    assert_eq!((resp.status, resp.code()), (404, "not_found"), "{}", resp.text);
}

/// Well-formed, but the private scalar belongs to another key: only an import shows it.
pub async fn mixed_signing_key() -> String {
    let (private_a, _) = key_pair("a").await;
    let (private_b, _) = key_pair("b").await;
    let mut mixed: Value = serde_json::from_str(&private_a).unwrap();
    mixed["d"] = serde_json::from_str::<Value>(&private_b).unwrap()["d"].clone();
    mixed.to_string()
}

pub async fn a_signing_key_that_cannot_sign_is_named(env: Arc<Env>) {
    let mixed = mixed_signing_key().await;
    let worker = Own::start(&env, "mixed-key", &[], &[("TOKEN_SIGNING_KEY", Some(&mixed))]).await;
    let resp = env.get(&format!("{}/healthz", worker.url())).await;
    assert_eq!(resp.status, 503, "{}", resp.text);
    assert_eq!((&resp.body["ok"], &resp.body["problems"]), (&json!(false), &json!(["TOKEN_SIGNING_KEY"])));
    let d = serde_json::from_str::<Value>(&mixed).unwrap()["d"].as_str().unwrap().to_string();
    assert!(!resp.text.contains(&d));
    // No code is handed out when no token could follow it (tests_hardening performs the attack).
    let resp = env.request(worker.url(), json!({ "phone": random_phone() })).await;
    assert_eq!((resp.status, resp.code()), (503, "misconfigured"), "{}", resp.text);
    assert_eq!(resp.body["error"]["settings"], json!(["TOKEN_SIGNING_KEY"]));
}

/// ES256 with `kid`, keys from the JWKS URL alone (Rust, Node `jose`, Python `PyJWT`),
/// then every secret rotated across a restart on the same state: the previous signing
/// key's tokens, codes hashed with the previous `OTP_SECRET` and webhooks signed with
/// the previous app secret all still work; anything else does not.
pub async fn secrets_rotate_across_a_restart(env: Arc<Env>) {
    let (old_private, old_public) = key_pair("2026-10").await;
    let (new_private, new_public) = key_pair("2026-11").await;
    let new_otp_secret = "e2e-otp-secret-rotated-0123456789abcd";
    let new_app_secret = "e2e-app-secret-rotated";
    let snippets_dir = env.run_dir.join("snippets");

    // Before: signing with the old key (TOKEN_SECRET still set: the key wins).
    let vars = [("TOKEN_AUDIENCE", AUDIENCE), ("RESEND_COOLDOWN_SECONDS", "0")];
    let mut worker = Own::start(&env, "rotation", &vars, &[("TOKEN_SIGNING_KEY", Some(&old_private))]).await;
    let (early_phone, late_phone) = (random_phone(), random_phone());
    let (early_id, early_code) = issue_on(&env, worker.url(), &early_phone).await;
    let (late_id, late_code) = issue_on(&env, worker.url(), &late_phone).await;
    let old_token = verified_token(&env, worker.url(), &early_id, &early_code).await;
    assert_eq!(header_of(&old_token), json!({ "alg": "ES256", "typ": "JWT", "kid": "2026-10" }));
    let jwks = env.get(&format!("{}/.well-known/jwks.json", worker.url())).await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 1);
    assert!(!jwks.text.contains("\"d\""), "never a private part: {}", jwks.text);
    let claims = decode_es256(&old_token, &jwks.body).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["jti"].as_str()), (Some(early_phone.as_str()), Some(early_id.as_str())));
    assert!(hs256_accepts(&old_token).is_err(), "HS256 with TOKEN_SECRET must not verify an ES256 token");
    let [node, python] = backend_snippets(&snippets_dir, worker.url(), &old_token).await;
    assert_eq!(node, Ok(early_phone.clone()), "Node jose");
    assert_eq!(python, Ok(early_phone.clone()), "Python PyJWT");
    // An HS256 token with the right claims, signed with TOKEN_SECRET: refused by both.
    let hs_token = hs256_token(&claims);
    assert!(hs256_accepts(&hs_token).is_ok());
    for outcome in backend_snippets(&snippets_dir, worker.url(), &hs_token).await {
        assert!(outcome.is_err(), "an HS256 token passed a snippet: {outcome:?}");
    }

    // After: new signing key, the old public key kept; OTP and app secrets rotated; no TOKEN_SECRET.
    worker.stop();
    let previous_keys = format!("[{old_public}]");
    let vars = [
        ("TOKEN_AUDIENCE", AUDIENCE),
        ("RESEND_COOLDOWN_SECONDS", "0"),
        ("TOKEN_PREVIOUS_PUBLIC_KEYS", previous_keys.as_str()),
    ];
    let secrets = [
        ("TOKEN_SIGNING_KEY", Some(new_private.as_str())),
        ("TOKEN_SECRET", None),
        ("OTP_SECRET", Some(new_otp_secret)),
        ("OTP_SECRET_PREVIOUS", Some(OTP_SECRET)),
        ("WHATSAPP_APP_SECRET", Some(new_app_secret)),
        ("WHATSAPP_APP_SECRET_PREVIOUS", Some(APP_SECRET)),
    ];
    let worker = Own::start(&env, "rotation", &vars, &secrets).await;
    let health = env.get(&format!("{}/healthz", worker.url())).await;
    assert_eq!(health.status, 200, "{}", health.text);

    // The code hashed with the previous OTP_SECRET still verifies; the token has the new kid.
    let new_token = verified_token(&env, worker.url(), &late_id, &late_code).await;
    assert_eq!(header_of(&new_token)["kid"], "2026-11");
    let jwks = env.get(&format!("{}/.well-known/jwks.json", worker.url())).await;
    let kids: Vec<&str> = jwks.body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, vec!["2026-11", "2026-10"]);
    assert_eq!(jwks.body["keys"][1], serde_json::from_str::<Value>(&old_public).unwrap());
    assert_eq!(jwks.body["keys"][0], serde_json::from_str::<Value>(&new_public).unwrap());
    for token in [&old_token, &new_token] {
        decode_es256(token, &jwks.body).unwrap_or_else(|e| panic!("JWKS check failed: {e}"));
        let [node, python] = backend_snippets(&snippets_dir, worker.url(), token).await;
        assert!(node.as_ref().is_ok_and(|p| p.starts_with("+1555")), "Node jose: {node:?}");
        assert!(python.as_ref().is_ok_and(|p| p.starts_with("+1555")), "Python PyJWT: {python:?}");
    }
    // A code hashed with a secret that is neither current nor previous: wrong.
    let phone = random_phone();
    let (id, code) = issue_on(&env, worker.url(), &phone).await;
    let wrong_secret_code = if code == "000000" { "111111" } else { "000000" };
    let resp = env.verify(worker.url(), &id, wrong_secret_code).await;
    assert_eq!((resp.status, resp.code()), (400, "invalid_code"), "{}", resp.text);

    // Webhooks: signed with the previous app secret → applied; with the current → applied;
    // with anything else → 401 and nothing changes.
    let forged = deliver(&env, worker.url(), "not-the-app-secret", incoming(&phone, &code)).await;
    assert_eq!((forged.status, forged.code()), (401, "invalid_signature"), "{}", forged.text);
    let status = env.status(worker.url(), &id).await;
    assert_ne!(status.body["status"], "verified");
    let previous = deliver(&env, worker.url(), APP_SECRET, incoming(&phone, &code)).await;
    assert_eq!(previous.status, 200, "{}", previous.text);
    let status = env.status(worker.url(), &id).await;
    assert_eq!(
        (status.body["status"].as_str(), status.body["verified_via"].as_str()),
        (Some("verified"), Some("reply"))
    );
    let current = deliver(&env, worker.url(), new_app_secret, incoming(&phone, "hello")).await;
    assert_eq!(current.status, 200, "{}", current.text);
    assert!(hs256_accepts(&new_token).is_err());
}

/// schemathesis (property-based) against a worker of its own, with its own stand-in:
/// no server errors, and every status, content type and body as the document says.
pub async fn schemathesis_finds_no_contract_breach(env: Arc<Env>) {
    let dir = env.run_dir.join("schemathesis");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let standin = StandIn::start(&dir, &format!("{url}/webhook"));
    let _standin = Stopped(Some(standin.service));
    let (signing_key, _) = key_pair("schemathesis").await;
    let vars = [
        ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
        ("ALLOWED_ORIGINS", "http://localhost:5173"),
        ("TOKEN_AUDIENCE", AUDIENCE),
        ("DEMO_PAGE", "true"),
    ];
    // With the operator's routes on (ADMIN_TOKEN and D1), so they are fuzzed too.
    let secrets = [("TOKEN_SIGNING_KEY", Some(signing_key.as_str())), ("ADMIN_TOKEN", Some(ADMIN_TOKEN))];
    let worker =
        Worker::start_with(&dir, "worker", port, &standin.url, &vars, &secrets, ADMIN_D1).ready(&env.http).await;
    deliver_webhooks_to(&env.http, &standin.url, &worker.url).await;
    let url = worker.url.clone();
    let _worker = Stopped(Some(worker.service));

    // The token goes only to the operations that declare the `adminToken` scheme.
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, format!("[auth.openapi.adminToken]\nbearer = {ADMIN_TOKEN:?}\n")).unwrap();
    let mut command = Command::new(tool("schemathesis"));
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(root().join("openapi/openapi.json"))
        .args(["--url", &url])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "25", "--seed", "20261126", "--workers", "1", "--request-timeout", "30"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--suppress-health-check", "all"])
        .env("NO_COLOR", "1")
        .current_dir(&dir);
    let out = run(command).await;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("schemathesis.log"), &said).unwrap();
    assert!(out.status.success(), "schemathesis found contract breaches:\n{said}");
    assert!(said.contains("passed"), "schemathesis ran no test:\n{said}");
}

/// Just the D1 database the operator's routes read.
const ADMIN_D1: &str = "[[d1_databases]]\nbinding = \"ANALYTICS_DB\"\ndatabase_name = \"otp-analytics\"\ndatabase_id = \"e2e-schemathesis\"\n";

/// A service this test started; stopped when dropped, even when the test panics.
struct Stopped(Option<Service>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut service) = self.0.take() {
            service.stop();
        }
    }
}
