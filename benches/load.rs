//! `./bench`: the release worker and the floor (`benches/floor`, a minimal JavaScript
//! worker making only the same storage and network round trips) in workerd, side by
//! side against one Cloud API stand-in, under the same concurrent load.
//!
//! Prints the wasm size (raw and gzip), each worker's start-up (from `wrangler dev`
//! to the first `/healthz` answer, then the first code request's latency: the cold
//! path), and per route the median req/s, p50/p99 latency and the ratio to the floor
//! over alternating runs (worker first, then floor first, and so on), with the spread,
//! and the CPU time each side's workerd spent per answered request (read from /proc:
//! steadier than req/s, and what the edge bills). Numbers are printed, never asserted:
//! the machine is shared and runs are noisy.
//!
//! `BENCH_SECONDS` (default 5) per run, `BENCH_REPEATS` (default 3) runs per route and
//! worker, `BENCH_CONNECTIONS` (default 16) concurrent connections, `BENCH_ONLY=healthz`
//! for the fixed cost per request alone.

#[path = "delivery/mod.rs"]
mod delivery;
#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use harness::{free_port, root, run_dir, Service, StandIn, Worker, ACCESS_TOKEN, PHONE_NUMBER_ID};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One timed run: how many answers were as expected, how many not, and latencies.
struct Run {
    ok: usize,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    /// CPU time the target's workerd spent on the run (see `workerd_cpu`).
    cpu: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64()
    }

    /// Milliseconds of workerd CPU per answered request.
    fn cpu_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.ok.max(1) as f64
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

/// What a call to the target yields: whether it was the expected answer, and the
/// (phone, request id) it created, if any.
type Outcome = (bool, Option<(String, String)>);

/// Calls `call(i)` from `connections` loops until `duration` passes or `limit` calls
/// were started. Returns the run and what the calls created.
async fn load<F, Fut>(connections: usize, duration: Duration, limit: usize, call: F) -> (Run, Vec<(String, String)>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit || Instant::now() >= deadline {
                    return seen;
                }
                let t = Instant::now();
                let (ok, created) = call(i).await;
                seen.push((ok, t.elapsed(), created));
            }
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.extend(task.await.expect("load task"));
    }
    let wall = started.elapsed();
    let mut latencies: Vec<Duration> = results.iter().filter(|r| r.0).map(|r| r.1).collect();
    latencies.sort();
    let ok = results.iter().filter(|r| r.0).count();
    let errors = results.len() - ok;
    let created = results.into_iter().filter_map(|r| r.2).collect();
    (Run { ok, errors, wall, latencies, cpu: Duration::ZERO }, created)
}

/// CPU time (user + system, all threads) of every `workerd` process in a service's
/// process group. The worker, its Durable Objects, KV, the queue and D1 all run there,
/// so this is the work the edge would bill, and it is far steadier than req/s on a
/// machine where the load generator, the stand-in and wrangler share two cores.
fn workerd_cpu(group: u32) -> Duration {
    static TICKS_PER_SECOND: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let hz = *TICKS_PER_SECOND.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    });
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid pgrp ... utime stime ...`; comm may hold spaces.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        if !head.ends_with("(workerd") {
            continue;
        }
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(group) {
            continue;
        }
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += field(11) + field(12);
    }
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// `work` against `target`, with the CPU its workerd spent meanwhile, plus half a second
/// for what it finishes after answering (`waitUntil`: settling and linking a send).
async fn with_cpu<T>(target: &Target, work: impl std::future::Future<Output = (Run, T)>) -> (Run, T) {
    let before = workerd_cpu(target.service.group());
    let (mut run, made) = work.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.cpu = workerd_cpu(target.service.group()).saturating_sub(before);
    (run, made)
}

fn gzip_size(path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .args(["-c", "import gzip,sys; print(len(gzip.compress(open(sys.argv[1],'rb').read(), 9)))"])
        .arg(path)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The JavaScript floor from `benches/floor`, copied into the run folder (wrangler
/// writes its own files beside the config) and pointed at the stand-in.
fn start_floor(dir: &std::path::Path, port: u16, api_base: &str) -> Launched {
    let dir = dir.join("floor");
    std::fs::create_dir_all(&dir).expect("floor dir");
    for file in ["worker.js", "wrangler.toml"] {
        std::fs::copy(root().join("benches/floor").join(file), dir.join(file)).expect("benches/floor");
    }
    let vars = [
        ("WHATSAPP_API_BASE", api_base),
        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
        ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN),
    ];
    wrangler_dev("floor", &dir, &dir.join("wrangler.toml"), port, &vars)
}

/// The Rust floor (benches/floor-rs, built by ./bench): the same round trips in workers-rs.
fn start_floor_rs(dir: &std::path::Path, port: u16, api_base: &str) -> Launched {
    let dir = dir.join("floor-rs");
    std::fs::create_dir_all(&dir).expect("floor-rs dir");
    let config = root().join("benches/floor-rs/wrangler.toml");
    wrangler_dev("floor-rs", &dir, &config, port, &[("WHATSAPP_API_BASE", api_base)])
}

/// `wrangler dev` for a floor, run in `dir` (its log, state and debug log there).
fn wrangler_dev(
    name: &str,
    dir: &std::path::Path,
    config: &std::path::Path,
    port: u16,
    vars: &[(&str, &str)],
) -> Launched {
    let log = dir.join("wrangler.log");
    let inspector = free_port();
    let out = std::fs::File::options().create(true).append(true).open(&log).expect("log");
    let mut command = Command::new(root().join("node_modules/.bin/wrangler"));
    command.current_dir(dir).arg("dev").arg("--config").arg(config);
    command
        .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
        .args(["--persist-to", "state"]);
    for (key, value) in vars {
        command.args(["--var", &format!("{key}:{value}")]);
    }
    command
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_LOG_PATH", dir.join("wrangler-debug.log"))
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    let service = Service::spawn(&format!("wrangler dev ({name})"), command, log);
    (format!("http://127.0.0.1:{port}"), service, dir.join("wrangler-debug.log"), inspector)
}

/// A started `wrangler dev`: its address, process group, debug log and inspector port.
type Launched = (String, Service, PathBuf, u16);

/// Whether the devtools domains `wrangler dev` enables stay on (`BENCH_DEVTOOLS=1`).
/// Off by default: the edge has no devtools session, and locally it makes every log
/// line and every round trip cost more (see `benches/devtools-off.mjs`).
fn devtools_on() -> bool {
    std::env::var("BENCH_DEVTOOLS").is_ok_and(|v| v == "1")
}

fn devtools_off(name: &str, inspector: u16) {
    let out = Command::new("node")
        .arg(root().join("benches/devtools-off.mjs"))
        .arg(inspector.to_string())
        .output()
        .expect("node");
    assert!(out.status.success(), "{name}: devtools-off failed: {}", String::from_utf8_lossy(&out.stderr));
}

struct Target {
    name: &'static str,
    url: String,
    service: Service,
    /// From `wrangler dev` starting to the first `/healthz` answer.
    startup: Duration,
    /// The first code request after that: compiling, the first objects, the first fetch.
    first_request: Duration,
}

/// A fresh number for each code request: each one is a new guard object in both workers.
static NEXT_PHONE: AtomicUsize = AtomicUsize::new(0);

fn fresh_phone() -> String {
    format!("+1555{:07}", 3_000_000 + NEXT_PHONE.fetch_add(1, Ordering::Relaxed))
}

/// Client addresses cycle through a pool, as real traffic comes from many.
fn address(i: usize) -> String {
    format!("10.{}.{}.{}", (i / 65_536) % 4, (i / 256) % 256, i % 256)
}

async fn code_request(http: &reqwest::Client, url: &str, i: usize) -> Outcome {
    let phone = fresh_phone();
    let sent = http.post(url).header("CF-Connecting-IP", address(i % 1024)).json(&json!({ "phone": phone })).send();
    let Ok(resp) = sent.await else { return (false, None) };
    let ok = resp.status() == 202;
    let id = resp.json::<Value>().await.ok().and_then(|b| b["request_id"].as_str().map(str::to_string));
    (ok, id.map(|id| (phone.trim_start_matches('+').to_string(), id)))
}

/// Starts a worker and times its start-up through `wrangler dev`'s address; the load
/// then goes to workerd directly, as in the end-to-end tests (wrangler's proxy in
/// front of it is a local convenience, absent at the edge, and costs CPU of its own).
async fn start(name: &'static str, http: &reqwest::Client, launch: impl FnOnce() -> Launched) -> Target {
    let t = Instant::now();
    let (url, service, debug_log, inspector) = launch();
    let deadline = t + Duration::from_secs(120);
    while http.get(format!("{url}/healthz")).timeout(Duration::from_secs(2)).send().await.is_err() {
        assert!(Instant::now() < deadline, "{name} did not come up; log:\n{}", service.log_tail(40));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let startup = t.elapsed();
    let url = harness::runtime_url(&debug_log, &service).await;
    if !devtools_on() {
        devtools_off(name, inspector);
    }
    let t = Instant::now();
    let (ok, _) = code_request(http, &format!("{url}/v1/otp/request"), 5000).await;
    assert!(ok, "{name}: the first code request failed; log:\n{}", service.log_tail(40));
    Target { name, url, service, startup, first_request: t.elapsed() }
}

/// `BENCH_PROFILE=1`: the worker alone, one CPU profile per route through workerd's
/// inspector (`benches/profile.mjs`), saved under `target/profile-*.json`.
async fn profile(
    http: &reqwest::Client,
    base: &str,
    inspector: u16,
    standin: &str,
    connections: usize,
    duration: Duration,
) {
    let http = Arc::new(http.clone());
    let mut pairs: Arc<Vec<(String, String)>> = Arc::new(Vec::new());
    for route in ["healthz", "request", "verify", "status"] {
        let out = root().join(format!("target/profile-{route}.json"));
        let profiler = Command::new("node")
            .arg(root().join("benches/profile.mjs"))
            .args([inspector.to_string(), duration.as_secs().to_string(), out.display().to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("node");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let h = http.clone();
        let (run, made) = match route {
            "healthz" => {
                let url = format!("{base}/healthz");
                load(connections, duration, usize::MAX, move |_| {
                    let req = h.get(&url);
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                })
                .await
            }
            "request" => {
                let url = format!("{base}/v1/otp/request");
                load(connections, duration, usize::MAX, move |i| {
                    let (h, url) = (h.clone(), url.clone());
                    async move { code_request(&h, &url, i).await }
                })
                .await
            }
            "verify" => {
                let (url, p) = (format!("{base}/v1/otp/verify"), pairs.clone());
                load(connections, duration, p.len(), move |i| {
                    let (id, code) = &p[i];
                    let req = h
                        .post(&url)
                        .header("CF-Connecting-IP", address(i))
                        .json(&json!({ "request_id": id, "code": code }));
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                })
                .await
            }
            _ => {
                let (base, p) = (format!("{base}/v1/otp/status/"), pairs.clone());
                load(connections, duration, usize::MAX, move |i| {
                    let req =
                        h.get(format!("{base}{}", p[i % p.len()].0)).header("CF-Connecting-IP", address(i % 1024));
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                })
                .await
            }
        };
        let report = profiler.wait_with_output().expect("profiler");
        println!("\n== {route}: {:.0} req/s, {} ok, {} unexpected", run.rate(), run.ok, run.errors);
        println!("{}", String::from_utf8_lossy(&report.stdout));
        if route == "request" {
            let codes = inbox_codes(&http, standin).await;
            pairs =
                Arc::new(made.iter().filter_map(|(phone, id)| Some((id.clone(), codes.get(phone)?.clone()))).collect());
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Every run of one route: per target, its runs in order.
struct RouteRuns {
    route: &'static str,
    round_trips: &'static str,
    runs: Vec<(&'static str, Vec<Run>)>,
}

impl RouteRuns {
    fn runs_of(&self, name: &str) -> Option<&Vec<Run>> {
        self.runs.iter().find(|(n, _)| *n == name).map(|(_, r)| r)
    }

    fn print(&self) {
        println!("\n{}  (each side: {})", self.route, self.round_trips);
        let floor = self.runs_of("floor").unwrap();
        for (name, runs) in &self.runs {
            let mut rates: Vec<f64> = runs.iter().map(Run::rate).collect();
            let mut p50: Vec<f64> = runs.iter().map(|r| r.percentile(0.5)).collect();
            let mut p99: Vec<f64> = runs.iter().map(|r| r.percentile(0.99)).collect();
            let errors: usize = runs.iter().map(|r| r.errors).sum();
            let count: usize = runs.iter().map(|r| r.ok).sum();
            let mut ratios: Vec<f64> = runs.iter().zip(floor).map(|(r, f)| r.rate() / f.rate()).collect();
            let mut cpu: Vec<f64> = runs.iter().map(Run::cpu_per_request).collect();
            // Floor CPU over this side's CPU per request: like the req/s ratio, 1.00 is
            // the floor's cost and lower is dearer.
            let mut cpu_ratios: Vec<f64> =
                runs.iter().zip(floor).map(|(r, f)| f.cpu_per_request() / r.cpu_per_request()).collect();
            println!(
                "  {:<15} {:>6.0} req/s ({}) p50 {:>6.1} ms  p99 {:>6.1} ms  ratio {}  | cpu {:>6.3} ms/req ({})  \
                 cpu ratio {}  | {count} ok, {errors} unexpected",
                name,
                median(&mut rates.clone()),
                spread(&mut rates, 0),
                median(&mut p50),
                median(&mut p99),
                median_and_spread(&mut ratios),
                median(&mut cpu.clone()),
                spread(&mut cpu, 3),
                median_and_spread(&mut cpu_ratios),
            );
        }
        // The worker against the floors that make exactly its round trips (for a code
        // request, with the settle and link after answering), JavaScript and Rust: the
        // Rust one has wasm's fixed costs too, so the gap to it is the worker's own work.
        let Some(worker) = self.runs_of("worker") else { return };
        for like in ["floor+settle", "floor-rs", "floor-rs+settle"] {
            let Some(floor) = self.runs_of(like) else { continue };
            let mut rates: Vec<f64> = worker.iter().zip(floor).map(|(w, f)| w.rate() / f.rate()).collect();
            let mut cpu: Vec<f64> =
                worker.iter().zip(floor).map(|(w, f)| f.cpu_per_request() / w.cpu_per_request()).collect();
            println!(
                "  worker / {like}: req/s {}, cpu {} (per round: median (min–max))",
                median_and_spread(&mut rates),
                median_and_spread(&mut cpu)
            );
        }
    }
}

/// `min–max` with `decimals` places.
fn spread(values: &mut [f64], decimals: usize) -> String {
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    format!("{lo:.decimals$}–{hi:.decimals$}")
}

fn median_and_spread(values: &mut [f64]) -> String {
    format!("{:.2} ({})", median(values), spread(values, 2))
}

fn main() {
    let wasm = root().join("build/index_bg.wasm");
    let raw = std::fs::metadata(&wasm).expect("build/index_bg.wasm: run ./bench").len();
    let seconds = setting("BENCH_SECONDS", 5);
    let repeats = setting("BENCH_REPEATS", 3) as usize;
    let connections = setting("BENCH_CONNECTIONS", 16) as usize;
    let duration = Duration::from_secs(seconds);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = run_dir();
        let port = free_port();
        let mut standin = StandIn::start(&dir, &format!("http://127.0.0.1:{port}/webhook"));
        let http = reqwest::Client::builder().pool_max_idle_per_host(connections * 2).build().unwrap();
        // Limits high enough never to bite, no cooldown: only the work is measured.
        let vars = [
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            ("IP_MAX_CHECKS_PER_HOUR", "1000000"),
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("MAX_SENDS_PER_HOUR", "1000"),
            ("MAX_SENDS_PER_DAY", "1000"),
        ];
        if std::env::var("BENCH_PROFILE").is_ok() {
            let w = Worker::start(&dir, "profile", port, &standin.url, &vars, &[]);
            let mut target = start("worker", &http, || (w.url, w.service, w.debug_log, w.inspector_port)).await;
            profile(&http, &target.url, w.inspector_port, &standin.url, connections, duration).await;
            target.service.stop();
            standin.service.stop();
            return;
        }
        if std::env::var("BENCH_ONLY").is_ok_and(|o| o == "delivery") {
            let w = Worker::start(&dir, "bench", port, &standin.url, &vars, &[]);
            let mut worker = start("worker", &http, || (w.url, w.service, w.debug_log, w.inspector_port)).await;
            large_deliveries(&http, &worker.url, &standin.url, repeats).await;
            worker.service.stop();
            standin.service.stop();
            return;
        }
        // One after the other, so each start-up is measured alone.
        let mut worker = start("worker", &http, || {
            let w = Worker::start(&dir, "bench", port, &standin.url, &vars, &[]);
            (w.url, w.service, w.debug_log, w.inspector_port)
        })
        .await;
        let mut floor = start("floor", &http, || start_floor(&dir, free_port(), &standin.url)).await;
        let mut floor_rs = start("floor-rs", &http, || start_floor_rs(&dir, free_port(), &standin.url)).await;

        let mut results: Vec<RouteRuns> = vec![
            RouteRuns {
                route: "GET /healthz",
                round_trips: "no I/O; `floor+log` also writes the one console.log line per request the worker writes",
                runs: vec![],
            },
            RouteRuns {
                route: "POST /v1/otp/request (new numbers)",
                round_trips: "address DO + number DO + KV put + Cloud API fetch; `floor+settle` and the worker \
                              also settle (number DO) and link the message (DO) after answering, in waitUntil",
                runs: vec![],
            },
            RouteRuns {
                route: "POST /v1/otp/verify (right codes)",
                round_trips: "address DO + KV get + number DO",
                runs: vec![],
            },
            RouteRuns {
                route: "GET /v1/otp/status/{id}",
                round_trips: "address DO + KV get + number DO",
                runs: vec![],
            },
        ];
        for routes in &mut results {
            let names: &[&'static str] = if routes.route.contains("request") {
                &["worker", "floor", "floor+settle", "floor-rs+settle"]
            } else if routes.route.contains("healthz") {
                &["worker", "floor", "floor+log", "floor-rs"]
            } else {
                &["worker", "floor", "floor-rs"]
            };
            routes.runs = names.iter().map(|n| (*n, Vec::new())).collect();
        }
        // `BENCH_ONLY=healthz`: only the fixed cost per request, with more rounds for the same time.
        let only_health = std::env::var("BENCH_ONLY").is_ok_and(|o| o == "healthz");
        if only_health {
            results.truncate(1);
        }
        let http = Arc::new(http);
        for rep in 0..repeats {
            // Alternate who goes first: load from neighbours and the machine's state
            // (caches, SQLite files) lands on both sides equally.
            let mut order: Vec<&Target> = vec![&worker, &floor, &floor_rs];
            order.rotate_left(rep % 3);
            // healthz
            let mut variants: Vec<(&'static str, &Target, &'static str)> = vec![
                ("worker", &worker, ""),
                ("floor", &floor, ""),
                ("floor+log", &floor, "?log=1"),
                ("floor-rs", &floor_rs, ""),
            ];
            variants.rotate_left(rep % 4);
            for (name, target, query) in &variants {
                let (http, url) = (http.clone(), format!("{}/healthz{query}", target.url));
                let work = load(connections, duration, usize::MAX, move |_| {
                    let req = http.get(&url);
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                });
                let (run, _) = with_cpu(target, work).await;
                results[0].runs.iter_mut().find(|(n, _)| n == name).unwrap().1.push(run);
            }
            if only_health {
                eprintln!("[bench] round {}/{repeats} done", rep + 1);
                continue;
            }
            // request, then verify and status on what this run created
            let mut variants: Vec<(&'static str, &Target, &'static str)> = vec![
                ("worker", &worker, ""),
                ("floor", &floor, ""),
                ("floor+settle", &floor, "?settle=1"),
                ("floor-rs+settle", &floor_rs, "?settle=1"),
            ];
            variants.rotate_left(rep % 4);
            let mut created: HashMap<&'static str, Vec<(String, String)>> = HashMap::new();
            for (name, target, query) in &variants {
                let (http, url) = (http.clone(), format!("{}/v1/otp/request{query}", target.url));
                let work = load(connections, duration, usize::MAX, move |i| {
                    let (http, url) = (http.clone(), url.clone());
                    async move { code_request(&http, &url, i).await }
                });
                let (run, made) = with_cpu(target, work).await;
                results[1].runs.iter_mut().find(|(n, _)| n == name).unwrap().1.push(run);
                created.insert(target.name, made);
            }
            let codes = inbox_codes(&http, &standin.url).await;
            for target in &order {
                let pairs: Arc<Vec<(String, String)>> = Arc::new(
                    created[target.name]
                        .iter()
                        .filter_map(|(phone, id)| Some((id.clone(), codes.get(phone)?.clone())))
                        .collect(),
                );
                let (h, url, p) = (http.clone(), format!("{}/v1/otp/verify", target.url), pairs.clone());
                let work = load(connections, duration, pairs.len(), move |i| {
                    let (id, code) = &p[i];
                    let req = h
                        .post(&url)
                        .header("CF-Connecting-IP", address(i % 1024))
                        .json(&json!({ "request_id": id, "code": code }));
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                });
                let (run, _) = with_cpu(target, work).await;
                results[2].runs.iter_mut().find(|(n, _)| *n == target.name).unwrap().1.push(run);
                let (h, base, p) = (http.clone(), format!("{}/v1/otp/status/", target.url), pairs.clone());
                let work = load(connections, duration, usize::MAX, move |i| {
                    let id = &p[i % p.len()].0;
                    let req = h.get(format!("{base}{id}")).header("CF-Connecting-IP", address(i % 1024));
                    async move { (req.send().await.map(|r| r.status() == 200).unwrap_or(false), None) }
                });
                let (run, _) = with_cpu(target, work).await;
                results[3].runs.iter_mut().find(|(n, _)| *n == target.name).unwrap().1.push(run);
            }
            eprintln!("[bench] round {}/{repeats} done", rep + 1);
        }

        println!("\nwasm: {raw} bytes raw, {} bytes gzip -9", gzip_size(&wasm));
        for target in [&worker, &floor, &floor_rs] {
            println!(
                "start-up ({}): {:.2} s from `wrangler dev` to the first /healthz answer, then {:.0} ms for the first \
                 code request (cold path)",
                target.name,
                target.startup.as_secs_f64(),
                target.first_request.as_secs_f64() * 1000.0
            );
        }
        let rs_wasm = root().join("benches/floor-rs/build/index_bg.wasm");
        if let Ok(meta) = std::fs::metadata(&rs_wasm) {
            println!("wasm (floor-rs): {} bytes raw, {} bytes gzip -9", meta.len(), gzip_size(&rs_wasm));
        }
        println!(
            "\n{repeats} alternating runs per route and side, {seconds} s each (verify: at most the codes the \
             run before created), {connections} connections, one `wrangler dev` (workerd) each on loopback, local \
             KV and Durable Objects. Median req/s (min–max), median p50/p99, ratio to the floor of the same round \
             (median, min–max); workerd CPU per answered request (median, min–max) and the floor's CPU per \
             request over it, per round (median, min–max). {}",
            if devtools_on() {
                "wrangler's devtools session on (BENCH_DEVTOOLS=1): every log line and round trip also reported to it."
            } else {
                "wrangler's devtools session quiet (Runtime and Network off), as at the edge; BENCH_DEVTOOLS=1 keeps it on."
            }
        );
        for routes in &results {
            routes.print();
        }
        if !only_health {
            large_deliveries(&http, &worker.url, &standin.url, repeats).await;
        }
        worker.service.stop();
        floor.service.stop();
        floor_rs.service.stop();
        standin.service.stop();
    });
}

/// `repeats` large deliveries, each for requests made just before it; prints the
/// answer times.
async fn large_deliveries(http: &reqwest::Client, worker: &str, standin: &str, repeats: usize) {
    let mut runs = Vec::new();
    for rep in 0..repeats {
        let mut made = Vec::new();
        for i in 0..delivery::REQUESTS_NEEDED {
            if let (true, Some(pair)) = code_request(http, &format!("{worker}/v1/otp/request"), 7_000 + i).await {
                made.push(pair);
            }
        }
        let codes = inbox_codes(http, standin).await;
        let pairs: Vec<(String, String, String)> =
            made.into_iter().filter_map(|(phone, id)| Some((phone.clone(), id, codes.get(&phone)?.clone()))).collect();
        let run = delivery::run(http, worker, &pairs, 8_000_000 + rep as u64 * 1_000).await;
        eprintln!("[bench] large delivery {}/{repeats}: {} in {:.2} s", rep + 1, run.status, run.answer.as_secs_f64());
        runs.push(run);
    }
    let mut times: Vec<f64> = runs.iter().map(|r| r.answer.as_secs_f64()).collect();
    times.sort_by(f64::total_cmp);
    let first = &runs[0];
    println!(
        "\nPOST /webhook, one signed delivery of {} bytes ({} code messages, half of them the right code for a \
         live request): answered in {:.2} s median ({:.2}–{:.2}) over {} runs; statuses {:?}; verified {} of {}",
        first.bytes,
        first.messages,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        runs.len(),
        runs.iter().map(|r| r.status).collect::<Vec<_>>(),
        runs.iter().map(|r| r.verified).sum::<usize>(),
        runs.iter().map(|r| r.expected).sum::<usize>(),
    );
}

/// The newest code the stand-in's inbox holds for each recipient.
async fn inbox_codes(http: &reqwest::Client, standin: &str) -> HashMap<String, String> {
    let inbox: Value = http.get(format!("{standin}/control/inbox")).send().await.unwrap().json().await.unwrap();
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some((m["to"].as_str()?.to_string(), m["code"].as_str()?.to_string())))
        .collect()
}
