//! `./bench`: the release worker in workerd beside the stand-in, under concurrent
//! load. Prints the wasm size (raw and gzip) and, for `/healthz` (the baseline),
//! `POST /v1/otp/request` and `POST /v1/otp/verify`: requests per second and
//! p50/p99 latency. Numbers are printed, never asserted.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use harness::{free_port, root, run_dir, wait_until_up, StandIn, Worker};

const CONCURRENCY: usize = 32;
const HEALTH_REQUESTS: usize = 2000;
const OTP_REQUESTS: usize = 400;

struct Stats {
    name: &'static str,
    count: usize,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn print(&self) {
        println!(
            "{:<20} {:>6} {:>7} {:>10.0} {:>9.1} {:>9.1}",
            self.name,
            self.count,
            self.errors,
            self.count as f64 / self.wall.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.99)
        );
    }
}

/// Runs `count` calls, `CONCURRENCY` at a time; a call yields whether it succeeded.
async fn load<F, Fut>(name: &'static str, count: usize, call: F) -> Stats
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let results: Vec<(bool, Duration)> = stream::iter(0..count)
        .map(|i| {
            let fut = call(i);
            async move {
                let t = Instant::now();
                let ok = fut.await;
                (ok, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.1).collect();
    latencies.sort();
    Stats { name, count, errors: results.iter().filter(|r| !r.0).count(), wall, latencies }
}

fn gzip_size(path: &std::path::Path) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import gzip,sys; print(len(gzip.compress(open(sys.argv[1],'rb').read(), 9)))"])
        .arg(path)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let wasm = root().join("build/index_bg.wasm");
    let raw = std::fs::metadata(&wasm).expect("build/index_bg.wasm: run ./bench").len();
    println!("wasm: {raw} bytes raw, {} bytes gzip -9", gzip_size(&wasm));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = run_dir();
        let port = free_port();
        let mut standin = StandIn::start(&dir, &format!("http://127.0.0.1:{port}/webhook"));
        // No cooldown, so the same numbers can ask again for the warm run.
        let vars = [
            ("IP_MAX_REQUESTS_PER_HOUR", "1000000"),
            ("RESEND_COOLDOWN_SECONDS", "0"),
            ("MAX_SENDS_PER_HOUR", "1000"),
            ("MAX_SENDS_PER_DAY", "1000"),
        ];
        let mut worker = Worker::start(&dir, "bench", port, &standin.url, &vars, &[]);
        let http = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
        wait_until_up(&http, &format!("{}/healthz", worker.url), &worker.service).await;
        let base = worker.url.clone();
        // Warm-up: the first requests compile the wasm and start the Durable Object namespace.
        for _ in 0..20 {
            let _ = http.get(format!("{base}/healthz")).send().await;
        }

        let health = load("GET /healthz", HEALTH_REQUESTS, |_| {
            let req = http.get(format!("{base}/healthz"));
            async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
        })
        .await;

        let phones: Vec<String> = (0..OTP_REQUESTS).map(|i| format!("+1555{:07}", 3_000_000 + i)).collect();
        let ids = std::sync::Mutex::new(HashMap::new());
        let request_run = |name: &'static str| {
            load(name, OTP_REQUESTS, |i| {
                // Distinct client addresses, as real traffic has: one address is one
                // `ip:` guard object, which would serialise the whole run.
                let req = http
                    .post(format!("{base}/v1/otp/request"))
                    .header("CF-Connecting-IP", format!("10.0.{}.{}", i / 250, i % 250 + 1))
                    .json(&json!({ "phone": phones[i] }));
                let ids = &ids;
                let phone = phones[i].clone();
                async move {
                    let Ok(resp) = req.send().await else { return false };
                    let ok = resp.status() == 202;
                    if let Ok(body) = resp.json::<Value>().await {
                        if let Some(id) = body["request_id"].as_str() {
                            ids.lock().unwrap().insert(phone.trim_start_matches('+').to_string(), id.to_string());
                        }
                    }
                    ok
                }
            })
        };
        // New numbers and addresses: each request also creates two Durable Objects.
        let request = request_run("POST request (new)").await;

        let inbox: Value =
            http.get(format!("{}/control/inbox", standin.url)).send().await.unwrap().json().await.unwrap();
        let pairs: Vec<(String, String)> = {
            let ids = ids.lock().unwrap();
            inbox["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| Some((ids.get(m["to"].as_str()?)?.clone(), m["code"].as_str()?.to_string())))
                .collect()
        };
        let verify = load("POST verify", pairs.len(), |i| {
            let (id, code) = &pairs[i];
            let req = http.post(format!("{base}/v1/otp/verify")).json(&json!({ "request_id": id, "code": code }));
            async move { req.send().await.map(|r| r.status() == 200).unwrap_or(false) }
        })
        .await;
        // The same numbers again: their guard objects exist now.
        let request_warm = request_run("POST request (warm)").await;

        println!("\nconcurrency {CONCURRENCY}, one wrangler dev (workerd) on loopback, local KV and Durable Objects");
        println!("{:<20} {:>6} {:>7} {:>10} {:>9} {:>9}", "route", "count", "errors", "req/s", "p50 ms", "p99 ms");
        for stats in [&health, &request, &verify, &request_warm] {
            stats.print();
        }
        worker.service.stop();
        standin.service.stop();
    });
}
