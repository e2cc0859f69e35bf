//! `POST /v1/otp/request`: reserve a send in the number's guard, make the code, keep
//! its record, send it (or hand it over for an inbound request), settle the guard.

use serde_json::Value;
use worker::{Context, Env, Request};

use crate::core::api::{
    accepted_body, idempotency_scope, parse_idempotency_key, parse_otp_request, reserve_error, reserved,
    typed_calling_code, wa_link, OtpRequest, API_BODY_LIMIT,
};
use crate::core::cloud_api::{otp_message, SendFailure, SentMessage};
use crate::core::code::{
    generate_client_secret, generate_code, generate_request_id, hash_client_secret, hash_code, OsRandom,
    RandomUnavailable,
};
use crate::core::config::{Config, MessageMode};
use crate::core::error::{ApiError, ErrorCode};
use crate::core::guard::address::Allowance;
use crate::core::guard::leg::{FallbackArm, SmsSent};
use crate::core::guard::number::{ReserveOk, SendResult};
use crate::core::guard::protocol::{LinkMessage, Reserve, ReserveReply, Settle};
use crate::core::guard::{LinkState, Mode, RETENTION_MS};
use crate::core::locale::template_languages;
use crate::core::phone::{canonical_phone, mask_phone};
use crate::core::record::CodeRecord;
use crate::core::sms::{reason_of_refusal, route, seal, Route};
use crate::core::verification::inbound_business_number;
use crate::edge::clock::now_ms;
use crate::edge::guard_client::{call, link_object, other_spelling_state};
use crate::edge::handlers::caller::{charge_address, client_address};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{budget, codes, degraded, outbound, sms, tokens};

fn random_failure(e: RandomUnavailable) -> ApiError {
    worker::console_error!("{}", serde_json::json!({ "random": "failed", "error": e.to_string() }));
    ApiError::internal()
}

pub async fn request(req: &mut Request, env: &Env, ctx: &Context, config: &Config, log: &mut RequestLog) -> Handled {
    tokens::require_usable_key(config).await?;
    let body = read_body(req, API_BODY_LIMIT).await?;
    let otp = parse_otp_request(header(req, "Content-Type").as_deref(), &body, config).inspect_err(|e| {
        // A number refused for its country is counted under it (`edge::refusals`).
        if e.code == ErrorCode::CountryNotAllowed {
            log.country_code = typed_calling_code(&body);
        }
    })?;
    log.phone(&otp.phone);
    let idempotency_key = parse_idempotency_key(header(req, "Idempotency-Key").as_deref())?;
    let business_number = inbound_business_number(otp.mode, config)?;
    let route = route(config, otp.channel, otp.mode, &otp.recipient)?;
    let address = client_address(req)?;
    guard_against_abuse(config, &otp, &address, req, env, log).await?;

    let request_id = generate_request_id(&mut OsRandom).map_err(random_failure)?;
    log.request_id(&request_id);
    // Made before the reservation, so its failure has nothing to settle. Never logged.
    let client_secret = generate_client_secret(&mut OsRandom).map_err(random_failure)?;
    let idempotency = idempotency_key.map(|key| idempotency_scope(&key, &address, &otp));
    // A test number (`TEST_NUMBERS`): its fixed code, and nothing sent by any channel.
    let fixed_code = config.codes.test_numbers.fixed_code(&otp.phone, otp.mode, now_ms()).map(str::to_string);
    let reserve = Reserve {
        number: otp.phone.clone(),
        request_id: request_id.clone(),
        mode: otp.mode,
        locale: chat_locale(config, &otp),
        policy: config.send_policy(),
        idempotency: idempotency.clone(),
        other_spelling: other_spelling_state(env, &otp.phone).await?,
        test: fixed_code.is_some(),
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
    let issue = Issue {
        config,
        otp: &otp,
        request_id: &request_id,
        client_secret,
        reservation,
        business_number,
        fixed_code,
        route,
    };
    issue.run(ctx, pending, log).await
}

/// A reserved request, from the day's budget to the code on its way.
struct Issue<'a> {
    config: &'a Config,
    otp: &'a OtpRequest,
    request_id: &'a str,
    client_secret: String,
    reservation: ReserveOk,
    business_number: Option<String>,
    fixed_code: Option<String>,
    route: Route,
}

impl Issue<'_> {
    async fn run(self, ctx: &Context, mut pending: Pending<'_>, log: &mut RequestLog) -> Handled {
        let (config, otp, env) = (self.config, self.otp, pending.env);
        if otp.mode == Mode::Outbound && self.fixed_code.is_none() {
            if let Some(max) = config.limits.max_sends_per_day_global {
                match budget::spend(env, &otp.phone, max).await {
                    Ok(()) => pending.budget_spent = true,
                    Err(e) => return Err(pending.fail(true, None, e).await),
                }
            }
        }
        let code = match self.fixed_code.clone().map_or_else(|| generate_code(config.codes.length, &mut OsRandom), Ok) {
            Ok(code) => code,
            Err(e) => return Err(pending.fail(true, None, random_failure(e)).await),
        };
        let now = now_ms();
        let record = CodeRecord {
            phone: otp.phone.clone(),
            code_hash: hash_code(config.codes.otp_secret.expose(), self.request_id, &code),
            created_ms: now,
            expires_ms: self.reservation.expires_ms,
            mode: otp.mode,
            locale: otp.language.clone(),
            client_secret_hash: Some(hash_client_secret(
                config.codes.otp_secret.expose(),
                self.request_id,
                &self.client_secret,
            )),
            test: self.fixed_code.is_some(),
        };
        if let Err(e) = codes::put(env, self.request_id, &record, config.codes.ttl_s).await {
            return Err(pending.fail(true, None, e).await);
        }
        log.step("kv");
        let r = self.reservation;
        let mut body = accepted_body(self.request_id, r.expires_ms, r.resend_after_s, r.attempts_left, now);
        // Only here (and in the guard's stored copy for an idempotent replay, which no
        // event or log line carries): whoever holds it may collect the token.
        body["client_secret"] = self.client_secret.clone().into();
        let mut by_sms: Option<SmsSent> = None;
        let sent = match (&self.business_number, self.route) {
            _ if self.fixed_code.is_some() => {
                log.note("test number: nothing sent");
                None
            }
            (Some(number), _) => {
                body["wa_link"] = wa_link(number, &config.meta.service_name, &code).into();
                body["code"] = code.clone().into();
                None
            }
            (None, Route::Sms) => match self.send_sms(env, &code).await {
                Ok(sid) => {
                    by_sms = Some(SmsSent { sid, reason: None, whatsapp_error: None });
                    None
                }
                Err(failure) => {
                    log.field("sms_code", failure.error_code);
                    // The provider's or our fault costs the person nothing.
                    let refund = !failure.about_recipient;
                    let error = ApiError::sms_unavailable(failure.error_code);
                    return Err(pending.fail(refund, failure.error_code, error).await);
                }
            },
            (None, Route::WhatsApp { fallback }) => {
                match send_and_report(config, otp, self.request_id, ctx, env, &code, log).await {
                    Ok((sent, locale)) => {
                        if config.meta.message_mode == MessageMode::Template {
                            body["locale"] = locale.into();
                        }
                        if sent.wa_id.as_deref().is_some_and(|w| canonical_phone(w) != otp.phone) {
                            // Meta resolved the number to a spelling our rules do not fold into
                            // the typed one: replies quoting the message still find it (the link
                            // keeps the wa_id), others would reach another guard. Worth knowing.
                            log.field("wa_id_differs", sent.wa_id.as_deref().map(mask_phone));
                        }
                        Some(sent)
                    }
                    Err(failure) => {
                        log.field("whatsapp_code", failure.meta_code);
                        log.field("http_status", failure.http_status);
                        // Meta refused it: the same code goes by SMS at once, where it may.
                        let fallen_back = match fallback {
                            true => self.send_sms(env, &code).await.ok(),
                            false => None,
                        };
                        let Some(sid) = fallen_back else {
                            let refund = !failure.costs_the_user();
                            return Err(pending.fail(refund, failure.meta_code, failure.api_error()).await);
                        };
                        let reason = reason_of_refusal(&failure);
                        log.field("fallback_reason", reason.as_str());
                        body["fallback_reason"] = reason.as_str().into();
                        by_sms = Some(SmsSent { sid, reason: Some(reason), whatsapp_error: failure.meta_code });
                        None
                    }
                }
            }
        };
        if self.business_number.is_none() {
            body["channel"] = if by_sms.is_some() { "sms" } else { "whatsapp" }.into();
        }
        // Only a message WhatsApp took may still fall back (later, by the guard).
        let fallback = match (self.route, &sent, &config.sms) {
            (Route::WhatsApp { fallback: true }, Some(_), Some(settings)) => Some(FallbackArm {
                sealed: seal::seal(config.codes.otp_secret.expose(), self.request_id, &code),
                due_ms: now_ms() + settings.fallback_after_s * 1000,
            }),
            _ => None,
        };
        log.step("send");
        pending.accept(ctx, sent, r.expires_ms, body.clone(), by_sms, fallback).await;
        Ok(Reply::Json(202, body))
    }

    /// The code by SMS, to the number as typed: `Ok` with the provider's message id.
    async fn send_sms(&self, env: &Env, code: &str) -> Result<Option<String>, crate::core::sms::SmsFailure> {
        let Some(settings) = &self.config.sms else {
            return Err(crate::core::sms::SmsFailure::timeout());
        };
        let sms = sms::Sms {
            to: &self.otp.recipient,
            request_id: self.request_id,
            code,
            locale: self.otp.language.as_deref(),
            expires_ms: self.reservation.expires_ms,
        };
        sms::send(env, self.config, settings, &sms).await
    }
}

/// Sends the code, and notes the outcome for `/healthz`'s `degraded` after the response.
async fn send_and_report(
    config: &Config,
    otp: &OtpRequest,
    request_id: &str,
    ctx: &Context,
    env: &Env,
    code: &str,
    log: &mut RequestLog,
) -> Result<(SentMessage, String), SendFailure> {
    let outcome = send_code(config, otp, code, request_id, log).await;
    ctx.wait_until(degraded::record_send(env.clone(), outcome.as_ref().err().cloned()));
    outcome
}

/// The language the owner's chat texts use until the send settles it: an inbound
/// request sends no template, so the service's default template language.
fn chat_locale(config: &Config, otp: &OtpRequest) -> Option<String> {
    match otp.mode {
        Mode::Inbound => Some(config.meta.template_language.clone()),
        Mode::Outbound => otp.language.clone(),
    }
}

/// Sends the code, to the number as typed, in the request's language: the exact
/// code, else its base language, else the default (`core::locale`), moving on only
/// when Meta has no approved translation in one (132001). Returns the message (id
/// and `wa_id`) and the language used.
async fn send_code(
    config: &Config,
    otp: &OtpRequest,
    code: &str,
    request_id: &str,
    log: &mut RequestLog,
) -> Result<(SentMessage, String), SendFailure> {
    let mut languages = template_languages(otp.language.as_deref(), &config.meta.template_language).into_iter();
    let mut language = languages.next().unwrap_or_else(|| config.meta.template_language.clone());
    loop {
        let message = otp_message(config, &otp.recipient, code, request_id, Some(&language));
        match outbound::send_message(config, &message).await {
            Ok(sent) => return Ok((sent, language)),
            Err(failure) if failure.is_missing_translation() => match languages.next() {
                Some(next) => {
                    log.field("locale_fallback", std::mem::replace(&mut language, next));
                }
                None => return Err(failure),
            },
            Err(failure) => return Err(failure),
        }
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
    if let Some(secret) = &config.web.turnstile_secret {
        let token = otp.turnstile_token.as_deref().unwrap_or_default();
        let ip = header(req, "CF-Connecting-IP");
        if token.is_empty() || !outbound::turnstile_passes(config, secret.expose(), token, ip.as_deref()).await {
            return Err(ApiError::captcha_failed());
        }
    }
    charge_address(env, address, Allowance::Requests, config.limits.ip_max_per_hour).await?;
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
        self.settle_with(result, None, None)
    }

    fn settle_with(&self, result: SendResult, sms: Option<SmsSent>, fallback: Option<FallbackArm>) -> Settle {
        Settle {
            number: self.phone.to_string(),
            request_id: self.request_id.to_string(),
            result,
            idempotency_slot: self.slot.clone(),
            sms,
            fallback,
        }
    }

    /// Nothing went out: the previous live code stays valid; `refund` when the fault
    /// was ours or Meta's, not the user's.
    async fn fail(self, refund: bool, error_code: Option<i64>, error: ApiError) -> ApiError {
        if let Err(e) = call(self.env, self.phone, &self.settle(SendResult::Failed { refund, error_code })).await {
            worker::console_error!("releasing a failed send failed: {}", e.code);
        }
        if refund && self.budget_spent {
            budget::refund(self.env).await;
        }
        error
    }

    async fn accept(
        self,
        ctx: &Context,
        sent: Option<SentMessage>,
        expires_ms: u64,
        response: Value,
        by_sms: Option<SmsSent>,
        fallback: Option<FallbackArm>,
    ) {
        let wa_id = sent.as_ref().and_then(|s| s.wa_id.clone());
        let message_id = sent.map(|s| s.id);
        let link = message_id.clone().map(|id| {
            let state = LinkState {
                number: self.phone.to_string(),
                request_id: self.request_id.to_string(),
                until_ms: expires_ms + RETENTION_MS,
                wa_id: wa_id.clone(),
            };
            (id, LinkMessage { link: state })
        });
        let sms_sid = by_sms.as_ref().and_then(|s| s.sid.clone());
        let accepted = self.settle_with(SendResult::Accepted { message_id, response, wa_id }, by_sms, fallback);
        let awaited = self.slot.is_some();
        let (env, phone, request_id) = (self.env.clone(), self.phone.to_string(), self.request_id.to_string());
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
            if let Some(sid) = sms_sid {
                sms::link(&env, &sid, &phone, &request_id, expires_ms).await;
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
