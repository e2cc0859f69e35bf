//! Sends SMS through the configured provider (Twilio's Messages API, or the
//! operator's own endpoint with a signed `sms.send`), within `MAX_SMS_PER_DAY_GLOBAL`,
//! with one retry for transient failures; and runs a fallback the guard claimed.
//! The text carries the code: it is never logged.

use serde_json::json;
use worker::{Env, Headers};

use crate::core::config::sms::{SmsProvider, SmsSettings};
use crate::core::config::Config;
use crate::core::guard::budget::BudgetOutcome;
use crate::core::guard::leg::{SmsJob, SmsResult};
use crate::core::guard::protocol::{LinkMessage, RefundBudget, SpendBudget};
use crate::core::guard::{LinkState, RETENTION_MS};
use crate::core::phone::mask_phone;
use crate::core::sms::text::sms_text;
use crate::core::sms::{relay, seal, twilio, SmsFailure};
use crate::core::time::rfc3339;
use crate::edge::clock::now_ms;
use crate::edge::guard_client::{call, link_object};
use crate::edge::outbound::{post, FetchError};

/// One SMS to send.
pub struct Sms<'a> {
    /// E.164, as typed.
    pub to: &'a str,
    pub request_id: &'a str,
    pub code: &'a str,
    pub locale: Option<&'a str>,
    pub expires_ms: u64,
}

/// The day's SMS budget: its own object beside the send budget.
fn budget_object(now_ms: u64) -> String {
    format!("sms-budget:{}", crate::core::time::rfc3339(now_ms).get(..10).unwrap_or("day"))
}

/// Sends `sms`; `Ok`: the provider's message id (Twilio's `SM…`; none from a webhook).
pub async fn send(
    env: &Env,
    config: &Config,
    settings: &SmsSettings,
    sms: &Sms<'_>,
) -> Result<Option<String>, SmsFailure> {
    if let Some(max) = settings.max_per_day_global {
        match call(env, &budget_object(now_ms()), &SpendBudget { max }).await {
            Ok(BudgetOutcome::Allowed { .. }) => {}
            Ok(BudgetOutcome::Exhausted { .. }) => {
                worker::console_warn!("{}", json!({ "sms": "daily budget exhausted", "max": max }));
                return Err(SmsFailure::status(429).not_transient());
            }
            Err(_) => return Err(SmsFailure::network().not_transient()),
        }
    }
    let text = sms_text(
        sms.locale,
        sms.code,
        &config.meta.service_name,
        config.codes.ttl_s,
        settings.webotp_domain.as_deref(),
    );
    let mut tries = 0;
    let outcome = loop {
        tries += 1;
        let outcome = match &settings.provider {
            SmsProvider::Twilio(twilio) => {
                let headers = Headers::new();
                let _ = headers.set("Content-Type", "application/x-www-form-urlencoded");
                let _ = headers.set("Authorization", &twilio::basic_auth(twilio));
                let form = twilio::message_form(twilio, sms.to, &text);
                match post(&twilio.messages_url(), headers, form, twilio::SEND_TIMEOUT_MS).await {
                    Ok((status, body)) => twilio::read_send_response(status, &body).map(Some),
                    Err(e) => Err(fetch_failure(e)),
                }
            }
            SmsProvider::Webhook(hook) => {
                let now = now_ms();
                let send = relay::SmsSend {
                    to: sms.to,
                    text: &text,
                    request_id: sms.request_id,
                    locale: sms.locale,
                    expires_at: &rfc3339(sms.expires_ms),
                };
                let (body, list) = relay::request(&hook.secret, &send, now / 1000, &rfc3339(now));
                let headers = Headers::new();
                for (name, value) in list {
                    let _ = headers.set(name, &value);
                }
                match post(&hook.url, headers, body, twilio::SEND_TIMEOUT_MS).await {
                    Ok((status, _)) if (200..300).contains(&status) => Ok(None),
                    Ok((status, _)) => Err(SmsFailure::status(status)),
                    Err(e) => Err(fetch_failure(e)),
                }
            }
        };
        match outcome {
            Err(failure) if failure.transient && tries < 2 => continue,
            other => break other,
        }
    };
    if let Err(failure) = &outcome {
        worker::console_warn!(
            "{}",
            json!({ "sms": "not sent", "request_id": sms.request_id, "phone": mask_phone(sms.to), "sms_code": failure.error_code, "http_status": failure.http_status, "detail": failure.error_code.map(twilio::describe) })
        );
        if settings.max_per_day_global.is_some() {
            // It never went out: its place in the day's budget is given back.
            let _ = call(env, &budget_object(now_ms()), &RefundBudget {}).await;
        }
    }
    outcome
}

fn fetch_failure(e: FetchError) -> SmsFailure {
    match e {
        FetchError::Timeout => SmsFailure::timeout(),
        FetchError::Network(detail) => {
            worker::console_error!("{}", json!({ "sms": "provider unreachable", "detail": detail }));
            SmsFailure::network()
        }
    }
}

/// Status callbacks name the SMS by its id: the link finds the number's guard.
pub async fn link(env: &Env, sid: &str, number: &str, request_id: &str, expires_ms: u64) {
    let link = LinkMessage {
        link: LinkState {
            number: number.to_string(),
            request_id: request_id.to_string(),
            until_ms: expires_ms + RETENTION_MS,
            wa_id: None,
        },
    };
    if let Err(e) = call(env, &link_object(sid), &link).await {
        worker::console_error!("linking the SMS failed: {}", e.code);
    }
}

/// Sends the SMS of a fallback the guard claimed: opens the sealed code (under
/// `OTP_SECRET`, or `OTP_SECRET_PREVIOUS` during a rotation), sends it to the number,
/// and says how it went, for the caller to record in the guard (`SettleSms`).
pub async fn run_job(env: &Env, config: Option<&Config>, job: &SmsJob) -> SmsResult {
    let failed = SmsResult::Failed { error_code: None };
    let Some((config, settings)) = config.and_then(|c| c.sms.as_ref().map(|s| (c, s))) else {
        worker::console_error!("{}", json!({ "sms": "fallback without SMS settings", "request_id": job.request_id }));
        return failed;
    };
    let Some(code) = seal::open(&config.otp_secrets(), &job.request_id, &job.sealed) else {
        worker::console_error!("{}", json!({ "sms": "sealed code did not open", "request_id": job.request_id }));
        return failed;
    };
    let sms = Sms {
        to: &job.number,
        request_id: &job.request_id,
        code: &code,
        locale: job.locale.as_deref(),
        expires_ms: job.expires_ms,
    };
    match send(env, config, settings, &sms).await {
        Ok(sid) => {
            worker::console_log!(
                "{}",
                json!({ "sms": "fallback sent", "request_id": job.request_id, "phone": mask_phone(&job.number), "reason": job.reason.as_str() })
            );
            if let Some(sid) = &sid {
                link(env, sid, &job.number, &job.request_id, job.expires_ms).await;
            }
            SmsResult::Sent { sid }
        }
        Err(failure) => SmsResult::Failed { error_code: failure.error_code },
    }
}
