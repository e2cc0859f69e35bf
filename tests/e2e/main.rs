//! End-to-end tests: the built worker inside workerd (real local KV and Durable
//! Objects) and the Cloud API stand-in, driven over HTTP on loopback.
//!
//! Run by libtest-mimic (`harness = false`), so the tests are cargo-visible:
//! `cargo test --test e2e -- --list`, `--exact NAME`, `--skip X`, substring filters.
//! The services start once per run, and only when a selected test runs; every test
//! then runs against them concurrently, and teardown always runs, pass or fail.

/// Registers a `tests_*.rs` module's tests, in the order listed, each optionally
/// followed by [`Test`]'s options (`.alone()`, `.limit(360)`). A test left out is
/// never called, so the `dead_code` lint (an error under the lint gate) names it.
macro_rules! e2e_tests {
    ($($name:ident $(.$option:ident($($arg:expr),*))*),* $(,)?) => {
        /// This module's tests, for the runner.
        pub fn tests() -> Vec<crate::Test> {
            vec![$(
                crate::Test::new(module_path!(), stringify!($name), |env| Box::pin($name(env)))
                    $(.$option($($arg),*))*
            ),*]
        }
    };
}

mod client;
mod commands;
mod conformance;
mod harness;
mod receiver;
mod tests_abuse;
mod tests_browser;
mod tests_contract;
mod tests_events;
mod tests_firsttry;
mod tests_foundation;
mod tests_golive;
mod tests_hardening;
mod tests_numbers;
mod tests_openapi;
mod tests_otp;
mod tests_platform;
mod tests_refused;
mod tests_retention;
mod tests_sms;
mod tests_templates;
mod tests_webhook;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use client::Env;

type TestFn = fn(Arc<Env>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One end-to-end test, as its module registers it with `e2e_tests!`.
pub struct Test {
    name: String,
    run: TestFn,
    alone: bool,
    limit: Duration,
}

impl Test {
    pub fn new(module: &str, name: &str, run: TestFn) -> Test {
        // `e2e::tests_otp` → `tests_otp::name`: the names are the same in every run.
        let module = module.rsplit("::").next().unwrap_or(module);
        Test { name: format!("{module}::{name}"), run, alone: false, limit: Duration::from_secs(120) }
    }

    /// For tests that load the one local workerd thread so heavily (storms of hundreds
    /// of requests, an upload cut off mid-stream, which wrangler's dev proxy answers for
    /// requests beside it too) that they run with no other test beside them: first,
    /// each once the services have gone quiet.
    pub fn alone(mut self) -> Test {
        self.alone = true;
        self
    }

    /// A longer limit than the usual 120 s (a browser run walks through every state of
    /// the page in one Chromium).
    pub fn limit(mut self, seconds: u64) -> Test {
        self.limit = Duration::from_secs(seconds);
        self
    }
}

fn all_tests() -> Vec<Test> {
    let tests: Vec<Test> = [
        tests_events::tests(),
        tests_refused::tests(),
        tests_retention::tests(),
        tests_foundation::tests(),
        tests_otp::tests(),
        tests_webhook::tests(),
        tests_numbers::tests(),
        tests_abuse::tests(),
        tests_platform::tests(),
        tests_hardening::tests(),
        tests_templates::tests(),
        tests_firsttry::tests(),
        tests_contract::tests(),
        tests_golive::tests(),
        tests_browser::tests(),
        tests_sms::tests(),
        tests_openapi::tests(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // A name listed twice would run twice, racing itself.
    let mut names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        panic!("{} is registered twice", twice[0]);
    }
    tests
}

/// Every response the other tests saw, checked against the OpenAPI document.
///
/// A test of its own rather than a step after the run, so it is listed, counted in the
/// summary and can be skipped by name (`--skip conformance`). It is the last trial
/// handed to libtest-mimic, whose workers take trials in order, so when it starts
/// every other test has started; it then waits for them all to finish. A filter
/// that names other tests does not drop it (it checks their responses): only
/// `--skip` does.
const CONFORMANCE: &str = "conformance::every_response_matches_openapi";

fn main() -> ExitCode {
    let (mut args, filters) = arguments();
    let selected = |name: &str| is_selected(&args, &filters, name);
    let mut tests: Vec<Test> = all_tests().into_iter().filter(|t| selected(&t.name)).collect();
    // The tests that need the services to themselves go first, one by one, on services
    // nothing else has loaded yet. Between other tests' bursts the flood of fifty new
    // numbers lost connections to workerd on a busy machine (3 runs in 4; none since).
    tests.sort_by_key(|t| !t.alone);
    let not_skipped = |name: &str| is_selected(&args, &[], name);
    let check_conformance = selected(CONFORMANCE) || (!tests.is_empty() && not_skipped(CONFORMANCE));
    // The selection above is final: libtest-mimic gets only the chosen trials.
    args.filter = None;
    args.skip.clear();
    // E2E_CONCURRENCY bounds how many tests run at once (libtest-mimic's threads):
    // enough to race requests inside each test, not so many that a 2-core machine
    // starves the dev proxies. `--test-threads` still wins.
    let concurrency = std::env::var("E2E_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(8usize);
    args.test_threads.get_or_insert(concurrency.max(1));

    let runtime = Arc::new(tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime"));
    let env: Arc<OnceLock<Arc<Env>>> = Arc::new(OnceLock::new());
    let unfinished = Arc::new(Unfinished::new(tests.len()));
    // Ordinary tests share this lock; the ones marked `alone` take it alone.
    let turns = Arc::new(tokio::sync::RwLock::new(()));
    let needs_services = !args.list && !tests.is_empty();
    let mut trials: Vec<Trial> = tests
        .into_iter()
        .map(|test| trial(test, runtime.clone(), env.clone(), turns.clone(), unfinished.clone()))
        .collect();
    if check_conformance {
        trials.push(conformance_trial(unfinished));
    }

    // Whatever happens (a service that never comes up, a panic), every process started is stopped.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if needs_services {
            let started = Instant::now();
            let env = env.get_or_init(|| Arc::new(runtime.block_on(Env::start())));
            println!("e2e: stand-in and {} workers up in {:.1}s", env.worker_count(), started.elapsed().as_secs_f64());
        }
        let conclusion = libtest_mimic::run(&args, trials);
        if conclusion.has_failed() {
            if let Some(env) = env.get() {
                env.print_logs();
            }
        }
        conclusion
    }));
    client::stop_all();
    match outcome {
        Ok(conclusion) => conclusion.exit_code(),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// libtest-mimic's arguments, and every filter given: libtest takes any number of
/// filters but libtest-mimic's parser only one, so they are taken out here.
fn arguments() -> (Arguments, Vec<String>) {
    const TAKES_A_VALUE: &[&str] = &["--skip", "--test-threads", "--logfile", "--color", "--format", "-Z"];
    let mut argv = std::env::args();
    let mut rest: Vec<String> = argv.next().into_iter().collect();
    let mut filters = Vec::new();
    let mut value_next = false;
    for arg in argv {
        if value_next || arg.starts_with('-') {
            value_next = !value_next && TAKES_A_VALUE.contains(&arg.as_str());
            rest.push(arg);
        } else {
            filters.push(arg);
        }
    }
    (Arguments::from_iter(rest), filters)
}

/// libtest's rules (`--exact`, `--skip`, `--ignored`, `--bench`), with any number of filters.
fn is_selected(args: &Arguments, filters: &[String], name: &str) -> bool {
    let probe = Trial::test(name, || Ok(()));
    let mut one = args.clone();
    one.filter = None;
    let passes_skips = !one.is_filtered_out(&probe) && !one.is_ignored(&probe);
    passes_skips
        && (filters.is_empty()
            || filters.iter().any(|filter| {
                one.filter = Some(filter.clone());
                !one.is_filtered_out(&probe)
            }))
}

/// A test as libtest-mimic runs it: on a thread of its pool, as a task of the one
/// tokio runtime, within its time limit.
fn trial(
    test: Test,
    runtime: Arc<tokio::runtime::Runtime>,
    env: Arc<OnceLock<Arc<Env>>>,
    turns: Arc<tokio::sync::RwLock<()>>,
    unfinished: Arc<Unfinished>,
) -> Trial {
    let Test { name, run, alone, limit } = test;
    Trial::test(name, move || {
        // Counted as finished even when it panics, or the conformance check would wait forever.
        let _finished = unfinished.finish_on_drop();
        let (_shared, _exclusive) =
            if alone { (None, Some(turns.blocking_write())) } else { (Some(turns.blocking_read()), None) };
        if alone {
            harness::settle(&client::service_groups());
        }
        let env = env.get().expect("the services are up").clone();
        let started = Instant::now();
        let task = runtime.spawn(async move { tokio::time::timeout(limit, run(env)).await.is_ok() });
        match runtime.block_on(task) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("test timed out after {} s", limit.as_secs()).into()),
            Err(failure) => {
                let why = failure.try_into_panic().ok().and_then(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                });
                let why = why.unwrap_or_else(|| "the test's task failed".to_string());
                Err(format!("{why} (after {:.1} s)", started.elapsed().as_secs_f64()).into())
            }
        }
    })
}

fn conformance_trial(unfinished: Arc<Unfinished>) -> Trial {
    Trial::test(CONFORMANCE, move || {
        unfinished.wait();
        // The document cannot drift: every response the tests saw must conform to it.
        let (checked, mut nonconforming) = conformance::check_recorded();
        nonconforming.extend(conformance::check_examples(&conformance::document()));
        if nonconforming.is_empty() {
            println!("e2e: {checked} worker responses conform to openapi/openapi.json");
            return Ok(());
        }
        let lines: Vec<String> = nonconforming.iter().map(|line| format!("  does not conform: {line}")).collect();
        Err(Failed::from(format!("of {checked} worker responses:\n{}", lines.join("\n"))))
    })
}

/// How many ordinary tests have not finished yet.
struct Unfinished {
    count: Mutex<usize>,
    done: Condvar,
}

impl Unfinished {
    fn new(count: usize) -> Unfinished {
        Unfinished { count: Mutex::new(count), done: Condvar::new() }
    }

    fn finish_on_drop(&self) -> Finished<'_> {
        Finished(self)
    }

    fn wait(&self) {
        let count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.done.wait_while(count, |count| *count > 0).unwrap_or_else(|e| e.into_inner()));
    }
}

struct Finished<'a>(&'a Unfinished);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_sub(1);
        self.0.done.notify_all();
    }
}
