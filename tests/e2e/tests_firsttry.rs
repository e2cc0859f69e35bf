//! Every user's first try: `/healthz` that says when sends fail for the operator,
//! regional locales onto approved template languages, the README's quick starts run
//! against `./dev` itself, and the client installed as a package.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{digits, random_phone, send, Env, Resp};
use crate::commands::{ok_or_show, run};
use crate::harness::{free_port, root, Service, Worker, ACCESS_TOKEN, BUSINESS_ACCOUNT_ID, TOKEN_SECRET};

e2e_tests! {
    healthz_is_degraded_while_the_template_is_paused,
    a_regional_locale_is_sent_in_its_base_language,
    the_client_package_installs_imports_and_type_checks,
    readme_quick_starts_run_against_dev.limit(300),
    hs256_snippets_check_a_workers_token,
}

async fn healthz(env: &Env, worker: &str) -> Resp {
    let resp = env.get(&format!("{worker}/healthz")).await;
    assert_eq!((resp.status, &resp.body["ok"]), (200, &json!(true)), "a degraded worker stays up: {}", resp.text);
    resp
}

/// Polls `/healthz` until `done` holds (the state is recorded after the response).
async fn healthz_until(env: &Env, worker: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = healthz(env, worker).await;
        if done(&resp.body) {
            return resp.body;
        }
        assert!(Instant::now() < deadline, "/healthz never got there: {}", resp.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn review(env: &Env, name: &str, status: &str) {
    let body = json!({ "name": name, "language": "en_US", "status": status });
    let resp = env.post(&format!("{}/control/templates/review", env.standin), &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
}

/// A worker of this test's own, stopped when dropped (even when the test panics).
struct Own(Service);

impl Drop for Own {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The template of a worker of its own at the shared stand-in is paused (as Meta
/// pauses a template for low quality): one send fails with 132015, `/healthz` stays
/// 200 but says `degraded` with the cause; approved again, the next send clears it.
pub async fn healthz_is_degraded_while_the_template_is_paused(env: Arc<Env>) {
    const TEMPLATE: &str = "otp_health_paused";
    let create = env
        .http
        .post(format!("{}/v23.0/{BUSINESS_ACCOUNT_ID}/message_templates", env.standin))
        .bearer_auth(ACCESS_TOKEN)
        .json(&json!({
            "name": TEMPLATE, "language": "en_US", "category": "AUTHENTICATION", "message_send_ttl_seconds": 300,
            "components": [
                {"type": "BODY", "add_security_recommendation": true},
                {"type": "FOOTER", "code_expiration_minutes": 5},
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}
            ]
        }));
    let created = send(create).await;
    assert_eq!(created.status, 200, "{}", created.text);
    review(&env, TEMPLATE, "PAUSED").await;
    let vars = [("WHATSAPP_TEMPLATE_NAME", TEMPLATE), ("MAX_SENDS_PER_DAY_GLOBAL", "1000")];
    let worker = Worker::start(&env.run_dir, "degraded", free_port(), &env.standin, &vars, &[]).ready(&env.http).await;
    let url = worker.url.clone();
    let _own = Own(worker.service);
    let before = healthz(&env, &url).await;
    assert!(before.body.get("degraded").is_none(), "{}", before.text);

    let phone = random_phone();
    let resp = env.request(&url, json!({ "phone": phone })).await;
    assert_eq!((resp.status, resp.code()), (502, "whatsapp_rejected"), "{}", resp.text);
    assert_eq!(resp.body["error"]["whatsapp_code"], 132015);
    let body = healthz_until(&env, &url, |b| b.get("degraded").is_some()).await;
    let degraded = &body["degraded"][0];
    assert_eq!(
        (&degraded["cause"], &degraded["whatsapp_code"]),
        (&json!("whatsapp_rejected"), &json!(132015)),
        "{body}"
    );
    assert!(degraded["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{body}");
    // A recipient's own problem says nothing about the service: still degraded, same cause.
    let not_on_whatsapp = random_phone();
    env.script_failure(json!({ "code": 131026, "to": digits(&not_on_whatsapp) })).await;
    let resp = env.request(&url, json!({ "phone": not_on_whatsapp })).await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(healthz(&env, &url).await.body["degraded"], body["degraded"]);

    review(&env, TEMPLATE, "APPROVED").await;
    let resp = env.request(&url, json!({ "phone": random_phone() })).await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let body = healthz_until(&env, &url, |b| b.get("degraded").is_none()).await;
    assert_eq!(body["ok"], true);
}

/// `de-DE` when the template is approved in `de` (not `de_DE`): sent in `de`, and the
/// 202 says so; `es-419` goes in `es`.
pub async fn a_regional_locale_is_sent_in_its_base_language(env: Arc<Env>) {
    for (locale, used) in [("de-DE", "de"), ("es-419", "es"), ("pt-BR", "pt_BR")] {
        let phone = random_phone();
        let resp = env.request(&env.main, json!({ "phone": phone, "locale": locale })).await;
        assert_eq!(resp.status, 202, "{}", resp.text);
        assert_eq!(resp.body["locale"], used, "{locale}: {}", resp.text);
        let inbox = env.wait_for_messages(&phone, 1).await;
        assert_eq!(inbox.len(), 1, "one message, in the language found: {inbox:?}");
        assert_eq!(inbox[0]["payload"]["template"]["language"]["code"], used, "{locale}");
    }
}

/// A scratch project with the client installed from the tarball `npm pack` makes of
/// `clients/js` (offline: the package has no dependencies).
async fn install_client(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut pack = Command::new("npm");
    pack.args(["pack", "--silent", "--pack-destination"]).arg(dir).current_dir(root().join("clients/js"));
    let tarball = ok_or_show(&run(pack).await, "npm pack").trim().lines().last().unwrap_or_default().to_string();
    let tarball = dir.join(tarball);
    assert!(tarball.exists(), "npm pack made no {}", tarball.display());
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("package.json"), r#"{"name":"scratch-app","private":true,"type":"module"}"#).unwrap();
    let mut install = Command::new("npm");
    install
        .args(["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"])
        .arg(&tarball)
        .current_dir(&app);
    ok_or_show(&run(install).await, "npm install of the tarball");
    app
}

pub async fn the_client_package_installs_imports_and_type_checks(env: Arc<Env>) {
    let app = install_client(&env.run_dir.join("client-package")).await;
    let installed = app.join("node_modules/whatsapp-otp-client");
    for file in ["index.js", "index.d.ts", "server.js", "server.d.ts", "README.md", "package.json"] {
        assert!(installed.join(file).exists(), "{file} is not in the package");
    }
    assert!(!installed.join("test").exists(), "the tests stay out of the package");
    std::fs::write(
        app.join("check.ts"),
        r#"import { createClient, OtpError, FINAL_STATUSES, type RequestResult } from "whatsapp-otp-client";
import { verifyToken, verifyCallback, VerificationError, type TokenClaims } from "whatsapp-otp-client/server";

const otp = createClient({ baseUrl: "https://otp.example.com" });
export async function start(phone: string): Promise<string> {
  const sent: RequestResult = await otp.request(phone, { locale: "de-DE" });
  return sent.requestId;
}
export async function phoneOf(token: string): Promise<string> {
  const claims: TokenClaims = await verifyToken(token, { jwksUrl: "https://otp.example.com/.well-known/jwks.json" });
  return claims.sub;
}
export const kinds = [OtpError, VerificationError, verifyCallback, FINAL_STATUSES.length] as const;
"#,
    )
    .unwrap();
    std::fs::write(
        app.join("tsconfig.json"),
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"module":"nodenext","moduleResolution":"nodenext","target":"es2022","lib":["es2022","dom"],"skipLibCheck":false},"files":["check.ts"]}"#,
    )
    .unwrap();
    let mut tsc = Command::new(root().join("node_modules/.bin/tsc"));
    tsc.args(["-p", "tsconfig.json"]).current_dir(&app);
    ok_or_show(&run(tsc).await, "tsc on a project using the package");
    // A type error is caught (the check above could not pass vacuously).
    std::fs::write(
        app.join("check.ts"),
        "import { createClient } from \"whatsapp-otp-client\";\ncreateClient({ baseUrl: 42 });\n",
    )
    .unwrap();
    let mut tsc = Command::new(root().join("node_modules/.bin/tsc"));
    tsc.args(["-p", "tsconfig.json"]).current_dir(&app);
    assert!(!run(tsc).await.status.success(), "tsc accepted a number as baseUrl");

    let mut node = Command::new("node");
    node.args([
        "--input-type=module",
        "-e",
        "const c = await import('whatsapp-otp-client'); const s = await import('whatsapp-otp-client/server'); \
         console.log(typeof c.createClient, typeof s.verifyToken, typeof s.verifyCallback)",
    ])
    .current_dir(&app);
    let out = ok_or_show(&run(node).await, "importing the package");
    assert_eq!(out.trim(), "function function function");
}

/// A README code block, found by its `<!-- snippet:NAME` marker.
fn snippet(name: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find(&format!("<!-- snippet:{name} ")).unwrap_or_else(|| panic!("no {name} snippet"));
    let block = &readme[start..];
    let code = &block[block.find("```").unwrap()..];
    let code = &code[code.find('\n').unwrap() + 1..];
    code[..code.find("\n```").unwrap()].to_string()
}

/// `./dev` as a newcomer runs it (its own `.dev.vars`, `scripts/dev-settings.sh`, a
/// stand-in of its own), on free ports and a fresh state folder (so its dev signing
/// key is generated on the way); stopped when dropped.
struct Dev {
    service: Service,
    worker: String,
    standin: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.service.stop();
    }
}

async fn start_dev(env: &Env) -> Dev {
    let dir = env.run_dir.join("dev");
    std::fs::create_dir_all(&dir).unwrap();
    let (worker_port, standin_port) = (free_port(), free_port());
    let mut command = Command::new(root().join("dev"));
    command
        .current_dir(root())
        .env("WORKER_PORT", worker_port.to_string())
        .env("STANDIN_PORT", standin_port.to_string())
        .env("DEV_STATE_DIR", dir.join("state"))
        // Built already by this run (./test builds first).
        .env("DEV_SKIP_BUILD", "1")
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("dev.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("dev.err.log")).unwrap());
    let service = Service::spawn("./dev", command, dir.join("dev.err.log"));
    let dev = Dev {
        service,
        worker: format!("http://127.0.0.1:{worker_port}"),
        standin: format!("http://127.0.0.1:{standin_port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // ./dev announces itself once both answer.
        let log = std::fs::read_to_string(dir.join("dev.log")).unwrap_or_default();
        if log.contains("is running") {
            break;
        }
        assert!(Instant::now() < deadline, "./dev did not come up:\n{}", dev.service.log_tail(40));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    dev
}

/// Runs lines `lines` of a README shell block against `dev`: its ports in place of
/// 8787/8788, `code` in place of `<the code>`. Returns what each line printed.
async fn shell_lines(dev: &Dev, name: &str, code: &str, lines: std::ops::Range<usize>) -> Vec<String> {
    let block = snippet(name).replace("\\\n", " ");
    let all: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut outputs = Vec::new();
    // One command a line, each run on its own so its output is its own.
    for line in &all[lines] {
        let line = line
            .replace("http://127.0.0.1:8787", &dev.worker)
            .replace("http://127.0.0.1:8788", &dev.standin)
            .replace("<the code>", code);
        let mut sh = Command::new("bash");
        sh.args(["-euo", "pipefail", "-c", &line]).current_dir(root());
        outputs.push(ok_or_show(&run(sh).await, &format!("README {name}: {line}")));
    }
    outputs
}

fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("PYTHON_TOOLS").map_or_else(|| root().join(".tools/venv/bin"), PathBuf::from);
    dir.join(name)
}

/// Runs the README's Node and Python token snippets named `node_name`/`python_name`
/// on `token`, with `vars` in their environment; returns what each printed.
async fn token_snippets(dir: &Path, names: [&str; 2], token: &str, vars: &[(&str, &str)]) -> [String; 2] {
    std::fs::create_dir_all(dir).unwrap();
    let node_file = dir.join(format!("{}.mjs", names[0]));
    std::fs::write(
        &node_file,
        format!("{}\n\nconsole.log(await verifiedPhone(process.argv[2]));\n", snippet(names[0])),
    )
    .unwrap();
    let python_file = dir.join(format!("{}.py", names[1].replace('-', "_")));
    let python = format!("{}\n\nimport sys\n\nprint(verified_phone(sys.argv[1]))\n", snippet(names[1]));
    std::fs::write(&python_file, python).unwrap();
    // `jose` resolves from the project's node_modules.
    let mut node = Command::new("node");
    node.arg(&node_file).arg(token).current_dir(root()).envs(vars.iter().copied());
    let mut python = Command::new(tool("python"));
    python.arg(&python_file).arg(token).envs(vars.iter().copied());
    let (node, python) = tokio::join!(run(node), run(python));
    [ok_or_show(&node, names[0]).trim().to_string(), ok_or_show(&python, names[1]).trim().to_string()]
}

/// The three quick starts as the README writes them, against `./dev` as shipped: the
/// frontend snippet through the installed package, the backend's curl lines and its
/// ES256 snippets (jose, PyJWT) on the token, the operator's lines.
pub async fn readme_quick_starts_run_against_dev(env: Arc<Env>) {
    let dev = start_dev(&env).await;
    let dir = env.run_dir.join("quick-starts");

    // Backend: request, read the code, verify by phone, the JWKS.
    let phone = "+14155550123";
    let outputs = shell_lines(&dev, "backend-sh", "", 0..2).await;
    let accepted: Value = serde_json::from_str(&outputs[0]).expect("the request's 202 body");
    assert!(accepted["request_id"].as_str().is_some_and(|id| id.starts_with("otp_")), "{accepted}");
    let inbox: Value = serde_json::from_str(&outputs[1]).expect("the inbox");
    let code = inbox["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["code"].as_str()).expect("a code");
    let outputs = shell_lines(&dev, "backend-sh", code, 2..4).await;
    let verified: Value = serde_json::from_str(&outputs[0]).expect("the verify body");
    assert_eq!(verified["verified"], true, "{verified}");
    let token = verified["token"].as_str().unwrap();
    let jwks: Value = serde_json::from_str(&outputs[1]).expect("the JWKS");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1), "./dev signs ES256 with its dev key: {jwks}");
    let worker_url = [("OTP_WORKER_URL", dev.worker.as_str())];
    let [node, python] = token_snippets(&dir, ["node", "python"], token, &worker_url).await;
    assert_eq!((node.as_str(), python.as_str()), (phone, phone), "README's jose and PyJWT snippets");

    // Frontend: the snippet imports the installed package and talks to ./dev.
    let app = install_client(&dir.join("frontend")).await;
    std::fs::write(app.join("otp.mjs"), snippet("frontend").replace("http://127.0.0.1:8787", &dev.worker)).unwrap();
    let second = "+14155550124";
    let script = format!(
        "import {{ sendCode, checkCode }} from './otp.mjs';\n\
         import {{ verifyToken }} from 'whatsapp-otp-client/server';\n\
         const {{ requestId }} = await sendCode('{second}');\n\
         let code;\n\
         for (let i = 0; i < 100 && !code; i++) {{\n\
           const {{ messages }} = await (await fetch('{standin}/control/inbox?to={digits}')).json();\n\
           code = messages.at(-1)?.code;\n\
           if (!code) await new Promise((r) => setTimeout(r, 100));\n\
         }}\n\
         const wrong = await checkCode(requestId, code === '000000' ? '111111' : '000000').then(() => 'accepted', (e) => e.message);\n\
         const token = await checkCode(requestId, code);\n\
         const claims = await verifyToken(token, {{ jwksUrl: '{worker}/.well-known/jwks.json', audience: 'my-backend' }});\n\
         console.log(JSON.stringify({{ wrong, sub: claims.sub }}));\n",
        standin = dev.standin,
        digits = digits(second),
        worker = dev.worker,
    );
    std::fs::write(app.join("frontend.mjs"), script).unwrap();
    let mut node = Command::new("node");
    node.arg("frontend.mjs").current_dir(&app);
    let out: Value = serde_json::from_str(ok_or_show(&run(node).await, "the frontend quick start").trim()).unwrap();
    assert_eq!(out["sub"], second, "{out}");
    assert!(out["wrong"].as_str().is_some_and(|w| w.starts_with("Wrong code, 4 tries left")), "{out}");

    // Operator: health (with the dev settings' warnings), the template, the stats.
    let outputs = shell_lines(&dev, "operator-sh", "", 0..3).await;
    let health: Value = serde_json::from_str(&outputs[0]).expect("/healthz");
    assert_eq!(health["ok"], true, "{health}");
    let warnings: Vec<&str> = health["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(warnings.iter().any(|w| w.starts_with("ALLOWED_ORIGINS: ")), "./dev allows every origin: {health}");
    let template: Value = serde_json::from_str(outputs[1].trim()).expect("the template otpctl would create");
    assert_eq!((&template["name"], &template["category"]), (&json!("otp_code"), &json!("AUTHENTICATION")));
    let stats: Value = serde_json::from_str(&outputs[2]).expect("the stats");
    assert!(stats["requested"].as_u64().is_some(), "{stats}");
}

/// The README's HS256 snippets (jose, PyJWT) on a token from the main worker (HS256,
/// its own `TOKEN_SECRET` and audience).
pub async fn hs256_snippets_check_a_workers_token(env: Arc<Env>) {
    let phone = random_phone();
    let (id, code) = env.issue(&phone).await;
    let resp = env.verify(&env.main, &id, &code).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let token = resp.body["token"].as_str().unwrap();
    let vars = [("TOKEN_SECRET", TOKEN_SECRET), ("TOKEN_AUDIENCE", "e2e-backend")];
    let dir = env.run_dir.join("hs256-snippets");
    let [node, python] = token_snippets(&dir, ["node-hs256", "python-hs256"], token, &vars).await;
    assert_eq!((node.as_str(), python.as_str()), (phone.as_str(), phone.as_str()));
}
