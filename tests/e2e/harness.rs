//! Starts the real things on loopback: the Cloud API stand-in and the built
//! worker inside workerd (`wrangler dev`, local KV and SQLite-backed Durable
//! Objects), each in its own process group so teardown stops every child.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_TOKEN: &str = "e2e-access-token";
pub const APP_SECRET: &str = "e2e-app-secret-0123456789";
pub const VERIFY_TOKEN: &str = "e2e-verify-token";
pub const OTP_SECRET: &str = "e2e-otp-secret-0123456789abcdefghij";
pub const TOKEN_SECRET: &str = "e2e-token-secret-0123456789abcdefghi";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const BUSINESS_NUMBER: &str = "15550783881";
pub const BUSINESS_ACCOUNT_ID: &str = "102290129340398";
/// Approved from the start. `fr_FR` is deliberately absent: a French request falls back to English.
pub const SEED_TEMPLATES: &str = "otp_code:en_US,pt_BR,es,de";
/// How long a template created during the run stays PENDING.
pub const REVIEW_MS: &str = "8000";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nothing listens on now, never one this process handed out before: the system
/// can give a port just picked and released to the next bind, and two services started
/// at once must not be told the same one.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// A child process and everything it starts.
pub struct Service {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Service {
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Service {
        command.process_group(0);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        record_group(child.id(), true);
        Service { name: name.to_string(), child, log }
    }

    /// SIGTERM to the whole group, then SIGKILL if it lingers; returns once no process
    /// of the group is left, so its ports and its persisted state are free again for
    /// whatever starts next (the same worker on the same state, say).
    pub fn stop(&mut self) {
        // Once wrangler is reaped and its group empty, the number is free: PIDs wrap
        // here (pid_max 32768, builds beside), and a signal to it could reach a
        // stranger's group. Stopping twice is a no-op for the same reason.
        if matches!(self.child.try_wait(), Ok(Some(_))) && !group_alive(self.group()) {
            record_group(self.child.id(), false);
            return;
        }
        let group = format!("-{}", self.group());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
        // wrangler is reaped by now, but its workerd processes are not its to wait for:
        // they die of the SIGKILL on their own time.
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(self.group()) {
            if Instant::now() > deadline {
                eprintln!("{}: processes of group {} outlived SIGKILL by 10 s", self.name, self.group());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        record_group(self.child.id(), false);
    }

    /// The process group every process of this service runs in (the benchmark reads
    /// workerd's CPU time from it).
    pub fn group(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Whether any process of `group` still runs (zombies hold no port or file any more,
/// and with no init to reap them they may never go).
fn group_alive(group: u32) -> bool {
    processes().any(|p| p.group == group && p.live)
}

/// Waits, at most 10 s, until the processes of `groups` have been all but idle
/// (under 8% of a core) for half a second.
///
/// For a test that must have the services to itself: the tests before it may have
/// returned with work still going on in workerd (deliveries, `waitUntil`, Durable
/// Object writes), which would then land beside it.
#[allow(dead_code)] // the tests' (main.rs), not the benchmark's
pub fn settle(groups: &[u32]) {
    let cpu = || processes().filter(|p| p.live && groups.contains(&p.group)).map(|p| p.ticks).sum::<u64>();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut last, mut quiet) = (cpu(), 0);
    while quiet < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        let now = cpu();
        // Clock ticks are hundredths of a second: two in 250 ms is 8% of a core.
        quiet = if now.saturating_sub(last) <= 2 { quiet + 1 } else { 0 };
        last = now;
    }
}

/// A process as `/proc/PID/stat` shows it.
struct Process {
    group: u32,
    /// Neither a zombie nor dead.
    live: bool,
    /// CPU time used, user and system, in clock ticks.
    ticks: u64,
}

fn processes() -> impl Iterator<Item = Process> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries.filter_map(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // `pid (comm) state ppid pgrp … utime stime …`; comm may hold spaces and parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        Some(Process {
            group: fields.get(2)?.parse().ok()?,
            live: !matches!(fields.first(), Some(&"Z") | Some(&"X")),
            ticks: tick(11) + tick(12),
        })
    })
}

/// Process groups are listed on disk so `./test` can stop leftovers even if
/// this process is killed before its teardown runs.
fn record_group(pid: u32, alive: bool) {
    let dir = root().join("target/e2e/groups");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(pid.to_string());
    if alive {
        let _ = std::fs::write(file, "");
    } else {
        let _ = std::fs::remove_file(file);
    }
}

/// A fresh folder for this run's configs, logs and persisted state; earlier runs' go.
pub fn run_dir() -> PathBuf {
    let base = root().join("target/e2e");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("run-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("run dir");
    dir
}

pub fn artifact(path: &str) -> PathBuf {
    let p = root().join(path);
    assert!(p.exists(), "{} is missing: run ./test (it builds the worker and the stand-in first)", p.display());
    p
}

pub struct StandIn {
    pub url: String,
    pub service: Service,
}

impl StandIn {
    pub fn start(dir: &Path, webhook_url: &str) -> StandIn {
        let bin = artifact("target/release/meta-standin");
        let log = dir.join("standin.log");
        let mut command = Command::new(bin);
        command
            .args(["--port", "0", "--access-token", ACCESS_TOKEN, "--app-secret", APP_SECRET])
            .args(["--phone-number-id", PHONE_NUMBER_ID, "--webhook-url", webhook_url])
            .args(["--waba-id", BUSINESS_ACCOUNT_ID, "--seed-template", SEED_TEMPLATES, "--review-ms", REVIEW_MS])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut service = Service::spawn("meta-standin", command, log);
        let stdout = service.child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("stand-in announces its port");
        // Keep draining stdout so the stand-in never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected stand-in banner: {line:?}");
        StandIn { url, service }
    }
}

/// Points a stand-in's webhook deliveries at `worker` (`/webhook`).
pub async fn deliver_webhooks_to(client: &reqwest::Client, standin: &str, worker: &str) {
    let body = serde_json::json!({ "url": format!("{worker}/webhook") });
    let response = client.post(format!("{standin}/control/webhook-url")).json(&body).send().await.expect("stand-in");
    assert_eq!(response.status(), 200, "the stand-in took the webhook URL");
}

/// The URL of every worker started in this process (the conformance check reads it).
pub static STARTED_WORKERS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub struct Worker {
    /// Where the tests talk to the worker: workerd itself once [`Worker::ready`] has
    /// run, `wrangler dev`'s proxy before.
    pub url: String,
    /// `wrangler dev`'s own address: a proxy in front of workerd.
    pub proxy_url: String,
    pub service: Service,
    /// wrangler's debug log, which names the port workerd serves the worker on.
    pub debug_log: PathBuf,
    /// workerd's inspector (CPU profiles: `benches/profile.mjs`).
    #[allow(dead_code)] // read by the benchmark's profiler, not by the tests
    pub inspector_port: u16,
    /// Where its configuration, state and logs are (to start it again on new ports).
    dir: PathBuf,
}

impl Worker {
    /// `vars` override the defaults; a secret set to `None` is left out.
    pub fn start(
        dir: &Path,
        name: &str,
        port: u16,
        api_base: &str,
        vars: &[(&str, &str)],
        secrets: &[(&str, Option<&str>)],
    ) -> Worker {
        Worker::start_with(dir, name, port, api_base, vars, secrets, "")
    }

    /// The same, with `bindings` (TOML tables: queues, D1) added to the configuration.
    pub fn start_with(
        dir: &Path,
        name: &str,
        port: u16,
        api_base: &str,
        vars: &[(&str, &str)],
        secrets: &[(&str, Option<&str>)],
        bindings: &str,
    ) -> Worker {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("worker dir");
        let shim = artifact("build/worker/shim.mjs");
        let mut all_vars: Vec<(String, String)> = vec![
            ("WHATSAPP_PHONE_NUMBER_ID".into(), PHONE_NUMBER_ID.into()),
            ("WHATSAPP_BUSINESS_NUMBER".into(), BUSINESS_NUMBER.into()),
            ("WHATSAPP_API_BASE".into(), api_base.into()),
            ("WHATSAPP_TEMPLATE_NAME".into(), "otp_code".into()),
        ];
        for (k, v) in vars {
            all_vars.retain(|(name, _)| name != k);
            all_vars.push((k.to_string(), v.to_string()));
        }
        let vars_toml: String = all_vars.iter().map(|(k, v)| format!("{k} = {v:?}\n")).collect();
        let config = format!(
            "name = \"otp-e2e-{name}\"\nmain = {shim:?}\ncompatibility_date = \"2026-04-01\"\n\
             [[kv_namespaces]]\nbinding = \"OTP_CODES\"\nid = \"e2e\"\n\
             [durable_objects]\nbindings = [{{ name = \"PHONE_GUARD\", class_name = \"PhoneGuard\" }}]\n\
             [[migrations]]\ntag = \"v1\"\nnew_sqlite_classes = [\"PhoneGuard\"]\n{bindings}\n[vars]\n{vars_toml}",
            shim = shim.display().to_string()
        );
        std::fs::write(dir.join("wrangler.toml"), config).expect("wrangler.toml");
        let mut dev_vars = String::new();
        let defaults = [
            ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
            ("OTP_SECRET", OTP_SECRET),
            ("TOKEN_SECRET", TOKEN_SECRET),
        ];
        for (key, value) in defaults {
            let value = secrets.iter().find(|(k, _)| *k == key).map_or(Some(value), |(_, v)| *v);
            if let Some(value) = value {
                dev_vars.push_str(&format!("{key}={value}\n"));
            }
        }
        for (key, value) in secrets.iter().filter(|(k, _)| !defaults.iter().any(|(d, _)| d == k)) {
            if let Some(value) = value {
                dev_vars.push_str(&format!("{key}={value}\n"));
            }
        }
        std::fs::write(dir.join(".dev.vars"), dev_vars).expect(".dev.vars");
        let (service, inspector_port) = launch(&dir, port);
        let url = format!("http://127.0.0.1:{port}");
        Worker {
            url: url.clone(),
            proxy_url: url,
            service,
            debug_log: dir.join("wrangler-debug.log"),
            inspector_port,
            dir,
        }
    }

    /// Waits until the worker answers, then points `url` at workerd itself.
    ///
    /// `wrangler dev` serves a worker through a proxy of its own (a second workerd)
    /// that answers a 503 "Your worker restarted mid-request" of its own whenever its
    /// fetch to the worker's workerd fails ("Network connection lost", seen under
    /// storms of concurrent requests), for any method but GET and HEAD. That proxy is a
    /// development convenience, not part of the edge: the tests skip it and drive the
    /// worker's workerd, with the same local KV, Durable Objects, queues and D1.
    pub async fn ready(mut self, client: &reqwest::Client) -> Worker {
        let (mut port_races, mut stalls) = (0, 0);
        loop {
            match self.answers(client).await {
                Ok(url) => {
                    self.url = url;
                    break;
                }
                // A port found free can be taken by another process before wrangler or
                // workerd binds it (several workers start at once, each binding ports of
                // its own choosing too).
                Err(StartFailure::PortTaken) if port_races < 3 => {
                    port_races += 1;
                    eprintln!("{}: a port was taken while it started; starting it again", self.service.name);
                }
                // A start that stalls (a 2-core machine busy with builds) or ends gets
                // one more chance; its log is shown, since a second failure fails the run.
                Err(failure) if stalls < 1 => {
                    stalls += 1;
                    let log = self.service.log_tail(40);
                    eprintln!("{} {failure}; starting it again on new ports. Its log:\n{log}", self.service.name);
                }
                Err(failure) => panic!("{} {failure}; log:\n{}", self.service.name, self.service.log_tail(40)),
            }
            // The failed start's log is kept aside by `launch`, as wrangler-N.log.
            self.service.stop();
            let port = free_port();
            (self.service, self.inspector_port) = launch(&self.dir, port);
            self.proxy_url = format!("http://127.0.0.1:{port}");
            self.url = self.proxy_url.clone();
        }
        STARTED_WORKERS.lock().unwrap_or_else(|e| e.into_inner()).push(self.url.clone());
        self
    }

    /// workerd's own address, once wrangler's proxy and then workerd answer.
    async fn answers(&mut self, client: &reqwest::Client) -> Result<String, StartFailure> {
        try_until_up(client, &format!("{}/healthz", self.proxy_url), &mut self.service).await?;
        let url = find_runtime_url(&self.debug_log).await.ok_or(StartFailure::NoAddress)?;
        try_until_up(client, &format!("{url}/healthz"), &mut self.service).await?;
        Ok(url)
    }
}

/// `wrangler dev` on the configuration in `dir`, on `port` and a free inspector port.
fn launch(dir: &Path, port: u16) -> (Service, u16) {
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let log = dir.join("wrangler.log");
    let debug_log = dir.join("wrangler-debug.log");
    set_aside(&log, &debug_log);
    // One append-mode handle for both streams, so neither overwrites the other.
    let out = std::fs::File::options().create(true).append(true).open(&log).expect("log");
    let inspector_port = free_port();
    let mut command = Command::new(artifact("node_modules/.bin/wrangler"));
    command
        .current_dir(dir)
        .args(["dev", "--config", "wrangler.toml", "--ip", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--inspector-port", &inspector_port.to_string()])
        .args(["--persist-to", "state"])
        .env("WRANGLER_SEND_METRICS", "false")
        // A registry of its own: wrangler dev instances that share one reload
        // whenever another starts or stops, cutting requests in flight.
        .env("WRANGLER_REGISTRY_PATH", dir.join("registry"))
        .env("WRANGLER_LOG_PATH", &debug_log)
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    (Service::spawn(&format!("wrangler dev ({name})"), command, log), inspector_port)
}

/// Moves an earlier start's logs aside (`wrangler-N.log`, `wrangler-debug-N.log`),
/// so each start reads only its own.
///
/// wrangler appends to both. A worker started again in the same folder (the
/// rotation test restarts one on its persisted state) used to find the previous
/// start's workerd address in the debug log: wrangler's proxy answers as soon as
/// the new workerd is up, but the line naming the new address reaches the debug log
/// later (the inspector proxy logs it through a round trip to wrangler, which
/// appends it asynchronously), so on a busy machine the harness read the old
/// address, now closed, and waited out its deadline there: "did not come up".
fn set_aside(log: &Path, debug_log: &Path) {
    if !log.exists() && !debug_log.exists() {
        return;
    }
    let dir = log.parent().expect("a log folder");
    let n = (1..).find(|n| !dir.join(format!("wrangler-{n}.log")).exists()).expect("a free number");
    let _ = std::fs::rename(log, dir.join(format!("wrangler-{n}.log")));
    let _ = std::fs::rename(debug_log, dir.join(format!("wrangler-debug-{n}.log")));
}

/// The address workerd serves a `wrangler dev` worker on, from wrangler's debug log
/// (`WRANGLER_LOG_PATH`), once wrangler has announced it.
#[allow(dead_code)] // the benchmark's; the tests go through `Worker::ready`
pub async fn runtime_url(debug_log: &Path, service: &Service) -> String {
    match find_runtime_url(debug_log).await {
        Some(url) => url,
        None => panic!("{}: no workerd address in {}", service.name, debug_log.display()),
    }
}

/// The same, or `None` after 30 s.
async fn find_runtime_url(debug_log: &Path) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = runtime_port(&std::fs::read_to_string(debug_log).unwrap_or_default()) {
            return Some(format!("http://127.0.0.1:{port}"));
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The port of the last `userWorkerUrl` wrangler announced to its proxy.
fn runtime_port(debug_log: &str) -> Option<u16> {
    let marker = "\"userWorkerUrl\":{\"protocol\":\"http:\",\"hostname\":\"127.0.0.1\",\"port\":\"";
    let at = debug_log.rfind(marker)? + marker.len();
    debug_log[at..].split('"').next()?.parse().ok()
}

enum StartFailure {
    PortTaken,
    NoAnswer(String),
    NoAddress,
    Exited(std::process::ExitStatus),
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            StartFailure::PortTaken => f.write_str("could not bind a port"),
            StartFailure::NoAnswer(url) => write!(f, "did not come up at {url}"),
            StartFailure::NoAddress => f.write_str("never named workerd's address in its debug log"),
            StartFailure::Exited(status) => write!(f, "ended while starting ({status})"),
        }
    }
}

/// Waits until `url` answers HTTP at all (any status); gives up at once when the log
/// says a port was already taken or the service ended, after 60 s otherwise: a healthy start takes seconds
/// (all eight workers at once, some 20 s on a busy 2-core machine), and a shorter wait
/// leaves a test that restarts a worker time for the retry within its own limit.
async fn try_until_up(client: &reqwest::Client, url: &str, service: &mut Service) -> Result<(), StartFailure> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client.get(url).timeout(Duration::from_secs(2)).send().await.is_ok() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&service.log).unwrap_or_default();
        if log.contains("Address already in use") || log.contains("EADDRINUSE") {
            return Err(StartFailure::PortTaken);
        }
        if let Ok(Some(status)) = service.child.try_wait() {
            return Err(StartFailure::Exited(status));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(StartFailure::NoAnswer(url.to_string()))
}
