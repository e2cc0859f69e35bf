//! `POST /v1/otp/request`, `POST /v1/otp/verify`, `GET /v1/otp/status/{id}` and
//! `POST /v1/otp/status`.

use serde_json::Value;
use worker::{Context, Env, Request};

use crate::core::api::{
    accepted_body, attempt_error, channel_off, expired, idempotency_scope, invalid_code_by_phone,
    parse_idempotency_key, parse_otp_request, parse_status_request, parse_verify_request, reserve_error, reserved,
    status_body, verified_body, wa_link, OtpRequest, VerifyTarget, API_BODY_LIMIT,
};
use crate::core::cloud_api::{otp_message, SendFailure};
use crate::core::code::{code_matches, generate_code, generate_request_id, hash_code, OsRandom};
use crate::core::config::{Config, MessageMode};
use crate::core::error::ApiError;
use crate::core::guard::address::Allowance;
use crate::core::guard::budget::BudgetOutcome;
use crate::core::guard::number::{AttemptOutcome, SendResult};
use crate::core::guard::protocol::{
    AddressHit, AddressReply, Attempt, FindForPhone, FindForPhoneReply, LinkMessage, RefundBudget, Reserve,
    ReserveReply, Settle, SpendBudget, Status, StatusReply,
};
use crate::core::guard::{Change, Channel, LimitReason, LinkState, Mode, RequestStatus, RequestView, RETENTION_MS};
use crate::core::net::address_key;
use crate::core::phone::mask_phone;
use crate::core::record::CodeRecord;
use crate::edge::guard_client::{address_object, budget_object, call, link_object};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{codes, events, now_ms, outbound, tokens};

fn random_failure(e: String) -> ApiError {
    worker::console_error!("random source failed: {e}");
    ApiError::storage_unavailable()
}

/// The caller's allowance key. Cloudflare always sets `CF-Connecting-IP`; without
/// it a request would be unlimited, so it is refused.
fn client_address(req: &Request) -> Result<String, ApiError> {
    header(req, "CF-Connecting-IP").and_then(|ip| address_key(&ip)).ok_or_else(|| {
        ApiError::new(403, "forbidden", "The client address is unknown; requests must come through Cloudflare.")
    })
}

/// Draws one call on the address's allowance.
async fn charge_address(env: &Env, address: &str, allowance: Allowance, max_per_hour: u32) -> Result<(), ApiError> {
    match call(env, &address_object(address), &AddressHit { allowance, max_per_hour }).await? {
        AddressReply::Allowed => Ok(()),
        AddressReply::Limited { retry_after_s } => Err(ApiError::rate_limited(retry_after_s, LimitReason::IpLimit)),
    }
}

pub async fn request(req: &mut Request, env: &Env, ctx: &Context, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let otp = parse_otp_request(header(req, "Content-Type").as_deref(), &body, config)?;
    log.phone(&otp.phone);
    let idempotency_key = parse_idempotency_key(header(req, "Idempotency-Key").as_deref())?;
    let business_number = match (otp.mode, &config.business_number) {
        (Mode::Inbound, _) if !config.verify_via.inbound => {
            return Err(ApiError::invalid_request("mode", "Inbound verification is turned off on this service."))
        }
        (Mode::Inbound, None) => return Err(ApiError::misconfigured(&["WHATSAPP_BUSINESS_NUMBER"])),
        (_, number) => number.clone(),
    };
    let address = client_address(req)?;
    guard_against_abuse(config, &otp, &address, req, env, log).await?;

    let request_id = generate_request_id(&mut OsRandom).map_err(random_failure)?;
    log.request_id(&request_id);
    let idempotency = idempotency_key.map(|key| idempotency_scope(&key, &address, &otp));
    let reserve = Reserve {
        number: otp.phone.clone(),
        request_id: request_id.clone(),
        mode: otp.mode,
        locale: otp.language.clone(),
        policy: config.send_policy(),
        idempotency: idempotency.clone(),
    };
    let reply = call(env, &otp.phone, &reserve).await?;
    if let ReserveReply::Replay { response } = reply {
        log.note("idempotent replay");
        return Ok(Reply::Json(202, response));
    }
    if let Some(refusal) = reserve_error(&reply) {
        return Err(refusal);
    }
    let Some(reservation) = reserved(&reply) else {
        return Err(ApiError::storage_unavailable());
    };
    log.step("reserve");
    // From here on the guard holds a reservation: every exit settles it.
    let pending = Pending {
        env,
        phone: &otp.phone,
        request_id: &request_id,
        slot: idempotency.map(|i| i.slot),
        budget_spent: false,
    };
    let mut pending = pending;
    if otp.mode == Mode::Outbound {
        if let Some(max) = config.max_sends_per_day_global {
            match spend_budget(ctx, env, &otp.phone, max).await {
                Ok(()) => pending.budget_spent = true,
                Err(e) => return Err(pending.fail(true, None, e).await),
            }
        }
    }

    let code = match generate_code(config.otp_length, &mut OsRandom) {
        Ok(code) => code,
        Err(e) => return Err(pending.fail(true, None, random_failure(e)).await),
    };
    let now = now_ms();
    let record = CodeRecord {
        phone: otp.phone.clone(),
        code_hash: hash_code(&config.otp_secret, &request_id, &code),
        created_ms: now,
        expires_ms: reservation.expires_ms,
        mode: otp.mode,
        locale: otp.language.clone(),
    };
    if let Err(e) = codes::put(env, &request_id, &record, config.ttl_s).await {
        return Err(pending.fail(true, None, e).await);
    }
    log.step("kv");

    let mut body =
        accepted_body(&request_id, reservation.expires_ms, reservation.resend_after_s, reservation.attempts_left, now);
    let message_id = match (otp.mode, business_number) {
        (Mode::Inbound, Some(number)) => {
            body["wa_link"] = wa_link(&number, &config.service_name, &code).into();
            body["code"] = code.into();
            None
        }
        _ => match send_code(config, &otp, &code, &request_id, log).await {
            Ok((message_id, locale)) => {
                if config.message_mode == MessageMode::Template {
                    body["locale"] = locale.into();
                }
                Some(message_id)
            }
            Err(failure) => {
                log.field("whatsapp_code", failure.meta_code);
                log.field("http_status", failure.http_status);
                let refund = !failure.costs_the_user();
                return Err(pending.fail(refund, failure.meta_code, failure.api_error()).await);
            }
        },
    };
    log.step("send");
    pending.accept(ctx, message_id, reservation.expires_ms, body.clone()).await;
    Ok(Reply::Json(202, body))
}

/// Sends the code in the request's language; when Meta has no approved translation
/// in it (132001), once more in the default language. Returns the message id and
/// the language used.
async fn send_code(
    config: &Config,
    otp: &OtpRequest,
    code: &str,
    request_id: &str,
    log: &mut RequestLog,
) -> Result<(String, String), SendFailure> {
    let asked = otp.language.clone().unwrap_or_else(|| config.template_language.clone());
    let message = otp_message(config, &otp.phone, code, request_id, Some(&asked));
    match outbound::send_message(config, &message).await {
        Ok(id) => Ok((id, asked)),
        Err(failure) if failure.is_missing_translation() && asked != config.template_language => {
            log.field("locale_fallback", asked);
            let fallback = otp_message(config, &otp.phone, code, request_id, Some(&config.template_language));
            let id = outbound::send_message(config, &fallback).await?;
            Ok((id, config.template_language.clone()))
        }
        Err(failure) => Err(failure),
    }
}

async fn spend_budget(ctx: &Context, env: &Env, phone: &str, max: u32) -> Result<(), ApiError> {
    match call(env, &budget_object(now_ms()), &SpendBudget { max }).await? {
        BudgetOutcome::Allowed { sends, warn } => {
            if warn {
                worker::console_warn!("{}", serde_json::json!({ "budget_warning": { "sends": sends, "max": max } }));
                events::publish_during(ctx, env, phone, vec![Change::BudgetWarning { sends, max }]);
            }
            Ok(())
        }
        BudgetOutcome::Exhausted { retry_after_s } => Err(ApiError::new(
            503,
            "daily_budget_exhausted",
            "The service has sent as many codes as it may today; try again tomorrow.",
        )
        .retry_after(retry_after_s)),
    }
}

/// Turnstile (when configured) and the per-address limit, before any send is reserved.
async fn guard_against_abuse(
    config: &Config,
    otp: &OtpRequest,
    address: &str,
    req: &Request,
    env: &Env,
    log: &mut RequestLog,
) -> Result<(), ApiError> {
    if let Some(secret) = &config.turnstile_secret {
        let token = otp.turnstile_token.as_deref().unwrap_or_default();
        let ip = header(req, "CF-Connecting-IP");
        if token.is_empty() || !outbound::turnstile_passes(config, secret, token, ip.as_deref()).await {
            return Err(ApiError::new(403, "captcha_failed", "The captcha check failed; try again."));
        }
    }
    charge_address(env, address, Allowance::Requests, config.ip_max_per_hour).await?;
    log.step("ip");
    Ok(())
}

/// A send the number's guard has reserved, to be settled exactly once.
struct Pending<'a> {
    env: &'a Env,
    phone: &'a str,
    request_id: &'a str,
    slot: Option<String>,
    budget_spent: bool,
}

impl Pending<'_> {
    fn settle(&self, result: SendResult) -> Settle {
        Settle {
            number: self.phone.to_string(),
            request_id: self.request_id.to_string(),
            result,
            idempotency_slot: self.slot.clone(),
        }
    }

    /// Nothing went out: the previous live code stays valid; `refund` when the fault
    /// was ours or Meta's, not the user's.
    async fn fail(self, refund: bool, error_code: Option<i64>, error: ApiError) -> ApiError {
        if let Err(e) = call(self.env, self.phone, &self.settle(SendResult::Failed { refund, error_code })).await {
            worker::console_error!("releasing a failed send failed: {}", e.code);
        }
        if refund && self.budget_spent {
            if let Err(e) = call(self.env, &budget_object(now_ms()), &RefundBudget {}).await {
                worker::console_error!("refunding the day's budget failed: {}", e.code);
            }
        }
        error
    }

    async fn accept(self, ctx: &Context, message_id: Option<String>, expires_ms: u64, response: Value) {
        let link = message_id.clone().map(|id| {
            let state = LinkState {
                number: self.phone.to_string(),
                request_id: self.request_id.to_string(),
                until_ms: expires_ms + RETENTION_MS,
            };
            (id, LinkMessage { link: state })
        });
        let accepted = self.settle(SendResult::Accepted { message_id, response });
        let awaited = self.slot.is_some();
        let (env, phone) = (self.env.clone(), self.phone.to_string());
        let record_send = async move {
            if let Err(e) = call(&env, &phone, &accepted).await {
                // The message is out but the guard did not hear of it: the old code
                // stays live until this one is, and delivery tracking is lost.
                worker::console_error!("settle failed for {}: {}", mask_phone(&phone), e.code);
            }
            if let Some((message_id, link)) = link {
                if let Err(e) = call(&env, &link_object(&message_id), &link).await {
                    worker::console_error!("linking the message failed: {}", e.code);
                }
            }
        };
        if awaited {
            // A retry with the same key must find the answer stored.
            record_send.await;
        } else {
            ctx.wait_until(record_send);
        }
    }
}

pub async fn verify(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let verify = parse_verify_request(header(req, "Content-Type").as_deref(), &body, config)?;
    if !config.verify_via.code {
        return Err(channel_off("typed code"));
    }
    let address = client_address(req)?;
    match verify.target {
        VerifyTarget::RequestId(request_id) => {
            log.request_id(&request_id);
            charge_address(env, &address, Allowance::Checks, config.ip_max_checks_per_hour).await?;
            let record = codes::get(env, &request_id).await?.ok_or_else(|| ApiError::not_found("request"))?;
            log.phone(&record.phone);
            let correct = code_matches(&config.otp_secrets(), &request_id, &verify.code, &record.code_hash);
            let attempt = Attempt {
                number: record.phone.clone(),
                request_id: request_id.clone(),
                correct,
                channel: Channel::RequestId,
                message: None,
                policy: config.send_policy(),
            };
            let reply = call(env, &record.phone, &attempt).await?;
            match reply.outcome {
                AttemptOutcome::Verified { at_ms, via } => {
                    let token = tokens::issue(config, &record.phone, &request_id, at_ms, via).await?;
                    Ok(Reply::Json(200, verified_body(&request_id, &token)))
                }
                // The guard forgets requests a while after they end; the record remembers.
                AttemptOutcome::NotFound if now_ms() >= record.expires_ms => Err(expired()),
                _ => Err(attempt_error(&reply).unwrap_or_else(ApiError::storage_unavailable)),
            }
        }
        VerifyTarget::Phone(phone) => {
            log.phone(&phone);
            // Guessing by phone needs no request id: it draws on the stricter allowance.
            charge_address(env, &address, Allowance::Requests, config.ip_max_per_hour).await?;
            let FindForPhoneReply::Live { request_id } =
                call(env, &phone, &FindForPhone { number: phone.clone() }).await?
            else {
                return Err(invalid_code_by_phone());
            };
            log.request_id(&request_id);
            let Some(record) = codes::get(env, &request_id).await? else {
                // KV (eventually consistent) has not shown the record here yet.
                return Err(ApiError::storage_unavailable());
            };
            let correct = code_matches(&config.otp_secrets(), &request_id, &verify.code, &record.code_hash);
            let attempt = Attempt {
                number: phone.clone(),
                request_id: request_id.clone(),
                correct,
                channel: Channel::Phone,
                message: None,
                policy: config.send_policy(),
            };
            match call(env, &phone, &attempt).await?.outcome {
                AttemptOutcome::Verified { at_ms, via } => {
                    let token = tokens::issue(config, &phone, &request_id, at_ms, via).await?;
                    Ok(Reply::Json(200, verified_body(&request_id, &token)))
                }
                _ => Err(invalid_code_by_phone()),
            }
        }
    }
}

/// `GET /v1/otp/status/{id}`: never a token (URLs end up in logs).
pub async fn status(request_id: &str, req: &Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    log.request_id(request_id);
    let (view, _) = find_status(request_id, req, env, config).await?;
    Ok(Reply::Json(200, status_body(&view, None)))
}

/// `POST /v1/otp/status {"request_id"}`: the same, plus the token once verified.
pub async fn status_with_token(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let request_id = parse_status_request(header(req, "Content-Type").as_deref(), &body)?;
    log.request_id(&request_id);
    let (view, phone) = find_status(&request_id, req, env, config).await?;
    let token = match view.verified {
        Some((at, via)) => Some(tokens::issue(config, &phone, &request_id, at, via).await?),
        None => None,
    };
    Ok(Reply::Json(200, status_body(&view, token.as_ref())))
}

async fn find_status(
    request_id: &str,
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<(RequestView, String), ApiError> {
    let address = client_address(req)?;
    charge_address(env, &address, Allowance::Checks, config.ip_max_checks_per_hour).await?;
    let record = codes::get(env, request_id).await?.ok_or_else(|| ApiError::not_found("request"))?;
    let command =
        Status { number: record.phone.clone(), request_id: request_id.to_string(), policy: config.send_policy() };
    let view = match call(env, &record.phone, &command).await? {
        StatusReply::Found { view } => view,
        StatusReply::Forgotten => RequestView {
            request_id: request_id.to_string(),
            mode: record.mode,
            status: if now_ms() >= record.expires_ms { RequestStatus::Expired } else { RequestStatus::Pending },
            live: false,
            created_ms: record.created_ms,
            expires_ms: record.expires_ms,
            attempts_left: 0,
            resend_after_s: 0,
            delivery: None,
            verified: None,
            locale: record.locale.clone(),
        },
    };
    Ok((view, record.phone))
}
