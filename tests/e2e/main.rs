//! End-to-end tests: the built worker inside workerd (real local KV and Durable
//! Objects) and the Cloud API stand-in, driven over HTTP on loopback.
//!
//! A custom runner (`harness = false`) so the services start once, every test
//! runs concurrently against them, and teardown always runs, pass or fail.
//! `cargo test --test e2e -- <substring>` runs only matching tests.

mod client;
mod conformance;
mod harness;
mod receiver;
mod tests_abuse;
mod tests_browser;
mod tests_contract;
mod tests_events;
mod tests_foundation;
mod tests_hardening;
mod tests_otp;
mod tests_platform;
mod tests_templates;
mod tests_webhook;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Env;

type TestFn = fn(Arc<Env>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((concat!(stringify!($module), "::", stringify!($name)), (|env| Box::pin($module::$name(env))) as TestFn)),*]
    };
}

fn all_tests() -> Vec<(&'static str, TestFn)> {
    tests![
        tests_events::funnel_stats_callbacks_and_dead_letters,
        tests_events::admin_routes_need_the_token,
        tests_events::healthz_reports_optional_features,
        tests_foundation::healthz_is_200_with_full_configuration,
        tests_foundation::healthz_is_503_naming_a_missing_secret,
        tests_foundation::unknown_routes_and_methods_get_json_errors,
        tests_foundation::stand_in_inbox_records_an_accepted_message,
        tests_foundation::stand_in_answers_like_meta,
        tests_foundation::signed_delivery_from_the_stand_in_reaches_the_worker,
        tests_foundation::cors_preflight_for_allowed_origins,
        tests_foundation::demo_page_is_served_when_enabled,
        tests_foundation::a_worker_whose_port_was_taken_starts_on_another,
        tests_otp::request_then_verify_yields_a_standard_jwt,
        tests_otp::status_follows_the_request,
        tests_otp::verify_by_phone_uses_the_live_request,
        tests_otp::concurrent_requests_send_one_message,
        tests_otp::concurrent_wrong_codes_count_exactly_max_attempts,
        tests_otp::concurrent_right_codes_verify_once,
        tests_otp::a_new_request_supersedes_the_old_code,
        tests_otp::codes_expire_after_the_ttl,
        tests_otp::meta_errors_map_to_contract_errors,
        tests_otp::transient_failures_are_retried_once,
        tests_otp::our_configuration_failures_do_not_use_the_quota,
        tests_otp::idempotency_key_replays_without_sending_again,
        tests_otp::country_allow_list_is_enforced,
        tests_otp::malformed_requests_get_contract_errors,
        tests_otp::per_ip_limit_applies,
        tests_otp::captcha_is_checked_when_configured,
        tests_otp::text_mode_sends_the_code_as_text,
        tests_otp::logs_carry_no_code_and_no_full_number,
        tests_otp::kv_holds_one_hashed_record_per_code,
        tests_webhook::handshake_echoes_the_challenge_only_for_the_right_token,
        tests_webhook::bad_signatures_are_refused_and_change_nothing,
        tests_webhook::a_reply_with_the_code_verifies,
        tests_webhook::wrong_replies_use_attempts_until_locked,
        tests_webhook::a_retried_delivery_is_processed_once,
        tests_webhook::inbound_mode_verifies_only_from_the_right_number,
        tests_webhook::stop_and_start_toggle_opt_out,
        tests_webhook::delivery_status_never_moves_backwards,
        tests_webhook::failed_status_shows_the_error_code,
        tests_webhook::oversized_and_unparseable_deliveries,
        tests_webhook::a_flood_of_concurrent_deliveries_loses_nothing,
        tests_webhook::deliveries_for_another_business_number_change_nothing,
        tests_webhook::a_record_not_yet_in_kv_asks_for_a_retry,
        tests_abuse::guesses_by_phone_never_lock_the_owner,
        tests_abuse::verify_by_phone_reveals_nothing,
        tests_abuse::inbound_requests_cannot_push_out_the_owner,
        tests_abuse::idempotency_keys_are_scoped,
        tests_abuse::the_token_never_sits_behind_a_url,
        tests_abuse::per_address_limits_cover_ipv6_and_checks,
        tests_abuse::a_hundred_failures_block_new_codes,
        tests_abuse::replayed_and_stale_messages_count_once_or_never,
        tests_abuse::not_me_revokes_and_blocks,
        tests_abuse::meta_failures_never_cost_the_user,
        tests_abuse::operator_switches_channels_and_caps_spend,
        tests_abuse::chat_replies_can_be_turned_off,
        tests_abuse::every_limit_names_its_reason,
        tests_abuse::a_replayed_stop_after_start_keeps_the_number_in,
        tests_abuse::the_token_needs_the_client_secret,
        tests_abuse::the_client_secret_never_leaves_the_202,
        tests_platform::a_message_without_a_number_never_sinks_its_delivery,
        tests_platform::a_username_reply_verifies_only_by_quoting_our_message,
        tests_platform::inbound_never_verifies_without_a_number,
        tests_platform::statuses_are_matched_by_message_id_and_keep_the_billing_category,
        tests_platform::a_missing_translation_falls_back_to_the_default_language,
        tests_hardening::chunked_bodies_are_cut_off_at_the_limit,
        tests_hardening::unknown_methods_get_405_and_head_works_like_get,
        tests_hardening::weak_settings_are_refused_at_start_up,
        tests_hardening::short_numbers_are_masked_to_the_country_code_and_two_digits,
        tests_hardening::shared_and_satellite_ranges_are_refused,
        tests_hardening::storm_of_wrong_codes_counts_exactly_max_attempts,
        tests_hardening::storm_of_requests_for_one_number_sends_one_message,
        tests_hardening::storm_of_right_codes_verifies_once,
        tests_hardening::resend_racing_verify_never_verifies_the_old_code_later,
        tests_hardening::no_code_is_sent_without_a_key_that_can_sign,
        tests_hardening::pages_carry_a_content_security_policy,
        tests_hardening::admin_windows_never_answer_5xx,
        tests_templates::otpctl_creates_a_template_that_sends_once_approved,
        tests_templates::otpctl_shows_metas_refusals_in_words,
        tests_templates::otpctl_refuses_one_tap_without_the_app,
        tests_templates::otpctl_reads_settings_from_dev_vars_and_wrangler_toml,
        tests_templates::a_scripted_rejection_is_listed_with_its_reason,
        tests_contract::openapi_document_is_served_and_valid,
        tests_contract::jwks_is_404_while_tokens_are_hs256,
        tests_contract::a_signing_key_that_cannot_sign_is_named,
        tests_contract::secrets_rotate_across_a_restart,
        tests_contract::schemathesis_finds_no_contract_breach,
        tests_browser::client_js_is_the_package_module,
        tests_browser::client_package_tests_pass,
        tests_browser::reference_page_in_chromium_at_1280px,
        tests_browser::reference_page_in_chromium_at_390px,
    ]
}

/// Tests that load the one local workerd thread so heavily (storms of hundreds of
/// requests, an upload cut off mid-stream, which wrangler's dev proxy answers for
/// requests beside it too) that they run with no other test beside them.
const ALONE: &[&str] = &[
    "tests_webhook::a_flood_of_concurrent_deliveries_loses_nothing",
    "tests_otp::malformed_requests_get_contract_errors",
    "tests_hardening::chunked_bodies_are_cut_off_at_the_limit",
    "tests_hardening::storm_of_wrong_codes_counts_exactly_max_attempts",
    "tests_hardening::storm_of_requests_for_one_number_sends_one_message",
    "tests_hardening::storm_of_right_codes_verifies_once",
    "tests_hardening::resend_racing_verify_never_verifies_the_old_code_later",
];

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<(&str, TestFn)> = all_tests()
        .into_iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        println!("no e2e test matches {filters:?}");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    // Whatever happens (a service that never comes up, a panic), every process started is stopped.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(run(selected))));
    client::stop_all();
    match outcome {
        Ok(0) => {}
        Ok(_) => std::process::exit(1),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Starts the services, runs the selected tests concurrently, reports; returns the failures.
async fn run(selected: Vec<(&'static str, TestFn)>) -> usize {
    let started = Instant::now();
    let env = Arc::new(Env::start().await);
    println!("e2e: stand-in and {} workers up in {:.1}s", env.worker_count(), started.elapsed().as_secs_f64());
    println!("\nrunning {} tests", selected.len());
    // E2E_CONCURRENCY bounds how many tests run at once: enough to race requests
    // inside each test, not so many that a 2-core machine starves the dev proxies.
    let permits = std::env::var("E2E_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let gate = Arc::new(tokio::sync::Semaphore::new(permits.max(1)));
    // Ordinary tests share this lock; the ones in ALONE take it alone.
    let alone = Arc::new(tokio::sync::RwLock::new(()));
    let mut handles = Vec::new();
    for (name, test) in &selected {
        let env = env.clone();
        let test = *test;
        // A browser run walks through every state of the page in one Chromium.
        let limit = if name.starts_with("tests_browser::reference_page") { 360 } else { 120 };
        let gate = gate.clone();
        let alone = alone.clone();
        let exclusive = ALONE.contains(name);
        handles.push((
            *name,
            tokio::spawn(async move {
                let (_shared, _exclusive) = if exclusive {
                    (None, Some(alone.write_owned().await))
                } else {
                    (Some(alone.read_owned().await), None)
                };
                let _permit = gate.acquire_owned().await;
                let t = Instant::now();
                tokio::time::timeout(Duration::from_secs(limit), test(env)).await.expect("test timed out");
                t.elapsed()
            }),
        ));
    }
    let mut failed = Vec::new();
    for (name, handle) in handles {
        match handle.await {
            Ok(elapsed) => println!("test {name} ... ok ({:.1}s)", elapsed.as_secs_f64()),
            Err(e) => {
                println!("test {name} ... FAILED");
                failed.push((name, Some(e)));
            }
        }
    }
    // The document cannot drift: every response the tests saw must conform to it.
    let (checked, mut nonconforming) = conformance::check_recorded();
    nonconforming.extend(conformance::check_examples(&conformance::document()));
    if nonconforming.is_empty() {
        println!("test conformance::every_response_matches_openapi ... ok ({checked} worker responses)");
    } else {
        println!("test conformance::every_response_matches_openapi ... FAILED");
        for line in &nonconforming {
            println!("  does not conform: {line}");
        }
        failed.push(("conformance::every_response_matches_openapi", None));
    }
    if !failed.is_empty() {
        env.print_logs();
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.1}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() + 1 - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    failed.len()
}
