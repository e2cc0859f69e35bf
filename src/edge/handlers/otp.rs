//! `POST /v1/otp/request`, `POST /v1/otp/verify`, `GET /v1/otp/status/{id}`.

use worker::{Context, Env, Request};

use crate::core::api::{
    accepted_body, guard_error, parse_idempotency_key, parse_otp_request, parse_verify_request, status_body,
    verified_body, wa_link, OtpRequest, VerifyTarget, API_BODY_LIMIT,
};
use crate::core::cloud_api::otp_message;
use crate::core::code::{code_matches, generate_code, generate_request_id, hash_code, OsRandom};
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::{Channel, GuardCommand, GuardReply, Mode, RequestView, SendResult};
use crate::core::phone::mask_phone;
use crate::core::record::CodeRecord;
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{codes, guard_client, now_ms, outbound, tokens};

fn random_failure(e: String) -> ApiError {
    worker::console_error!("random source failed: {e}");
    ApiError::storage_unavailable()
}

pub async fn request(req: &mut Request, env: &Env, ctx: &Context, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let otp = parse_otp_request(header(req, "Content-Type").as_deref(), &body, config)?;
    log.phone(&otp.phone);
    let idempotency_key = parse_idempotency_key(header(req, "Idempotency-Key").as_deref())?;
    let business_number = match (otp.mode, &config.business_number) {
        (Mode::Inbound, None) => return Err(ApiError::misconfigured(&["WHATSAPP_BUSINESS_NUMBER"])),
        (_, number) => number.clone(),
    };
    guard_against_abuse(req, env, config, &otp, log).await?;

    let request_id = generate_request_id(&mut OsRandom).map_err(random_failure)?;
    let reserve = GuardCommand::Reserve {
        request_id: request_id.clone(),
        mode: otp.mode,
        policy: config.send_policy(),
        idempotency_key: idempotency_key.clone(),
    };
    let (expires_ms, resend_after_s, attempts_left) = match guard_client::call(env, &otp.phone, &reserve).await? {
        GuardReply::Reserved { expires_ms, resend_after_s, attempts_left } => {
            (expires_ms, resend_after_s, attempts_left)
        }
        GuardReply::Replay { response } => {
            log.note("idempotent replay");
            return Ok(Reply::Json(202, response));
        }
        refusal => return Err(guard_error(&refusal)),
    };
    log.step("reserve");
    // From here on the guard holds a reservation: every exit settles it.
    let reservation = Reservation { env, phone: &otp.phone, request_id: &request_id, idempotency_key };

    let code = match generate_code(config.otp_length, &mut OsRandom) {
        Ok(code) => code,
        Err(e) => return Err(reservation.fail(true, random_failure(e)).await),
    };
    let now = now_ms();
    let record = CodeRecord {
        phone: otp.phone.clone(),
        code_hash: hash_code(&config.otp_secret, &request_id, &code),
        created_ms: now,
        expires_ms,
        mode: otp.mode,
        locale: otp.language.clone(),
    };
    if let Err(e) = codes::put(env, &request_id, &record, config.ttl_s).await {
        return Err(reservation.fail(true, e).await);
    }
    log.step("kv");

    let mut body = accepted_body(&request_id, expires_ms, resend_after_s, attempts_left, now);
    let message_id = match (otp.mode, business_number) {
        (Mode::Inbound, Some(number)) => {
            body["wa_link"] = wa_link(&number, &code).into();
            body["code"] = code.into();
            None
        }
        _ => {
            let message = otp_message(config, &otp.phone, &code, &request_id, otp.language.as_deref());
            match outbound::send_message(config, &message).await {
                Ok(message_id) => Some(message_id),
                Err(failure) => {
                    log.note(format!(
                        "cloud api failure {:?}",
                        failure.meta_code.or(failure.http_status.map(i64::from))
                    ));
                    return Err(reservation.fail(failure.is_our_fault(), failure.api_error()).await);
                }
            }
        }
    };
    log.step("send");
    reservation.accept(ctx, message_id, body.clone()).await;
    Ok(Reply::Json(202, body))
}

/// Turnstile (when configured) and the per-address limit, before any send is reserved.
async fn guard_against_abuse(
    req: &Request,
    env: &Env,
    config: &Config,
    otp: &OtpRequest,
    log: &mut RequestLog,
) -> Result<(), ApiError> {
    let client_ip = header(req, "CF-Connecting-IP");
    if let Some(secret) = &config.turnstile_secret {
        let token = otp.turnstile_token.as_deref().unwrap_or_default();
        if token.is_empty() || !outbound::turnstile_passes(config, secret, token, client_ip.as_deref()).await {
            return Err(ApiError::new(403, "captcha_failed", "The captcha check failed; try again."));
        }
    }
    if let Some(ip) = &client_ip {
        let hit = GuardCommand::IpHit { max_per_hour: config.ip_max_per_hour };
        if let GuardReply::RateLimited { retry_after_s } = guard_client::call(env, &format!("ip:{ip}"), &hit).await? {
            return Err(ApiError::rate_limited(retry_after_s));
        }
        log.step("ip");
    }
    Ok(())
}

/// A send the number's guard has reserved, to be settled exactly once.
struct Reservation<'a> {
    env: &'a Env,
    phone: &'a str,
    request_id: &'a str,
    idempotency_key: Option<String>,
}

impl Reservation<'_> {
    fn settle(&self, result: SendResult) -> GuardCommand {
        GuardCommand::Settle {
            request_id: self.request_id.to_string(),
            result,
            idempotency_key: self.idempotency_key.clone(),
        }
    }

    /// Nothing went out: no live code is left behind; `refund` when the fault was ours.
    async fn fail(self, refund: bool, error: ApiError) -> ApiError {
        if let Err(e) = guard_client::call(self.env, self.phone, &self.settle(SendResult::Failed { refund })).await {
            worker::console_error!("releasing a failed send failed: {}", e.code);
        }
        error
    }

    async fn accept(self, ctx: &Context, message_id: Option<String>, response: serde_json::Value) {
        let accepted = self.settle(SendResult::Accepted { message_id, response });
        let awaited = self.idempotency_key.is_some();
        let (env, phone) = (self.env.clone(), self.phone.to_string());
        let record_send = async move {
            if let Err(e) = guard_client::call(&env, &phone, &accepted).await {
                // The message is out and the code is live; only delivery tracking is lost.
                worker::console_error!("settle failed for {}: {}", mask_phone(&phone), e.code);
            }
        };
        if awaited {
            // A retry with the same key must find the answer stored.
            record_send.await;
        } else {
            // The code is already live: recording the message id need not hold up the 202.
            ctx.wait_until(record_send);
        }
    }
}

pub async fn verify(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let verify = parse_verify_request(header(req, "Content-Type").as_deref(), &body, config)?;
    let (request_id, known_live) = match verify.target {
        VerifyTarget::RequestId(id) => (id, false),
        VerifyTarget::Phone(phone) => {
            log.phone(&phone);
            match guard_client::call(env, &phone, &GuardCommand::Latest).await? {
                GuardReply::View { request: Some(view) } => (view.request_id, view.live),
                _ => return Err(ApiError::not_found("request for this phone number")),
            }
        }
    };
    let record = match codes::get(env, &request_id).await? {
        Some(record) => record,
        // The guard knows the code is live, but KV (eventually consistent) has not
        // shown the record here yet: worth a retry, not a 404.
        None if known_live => return Err(ApiError::storage_unavailable()),
        None => return Err(ApiError::not_found("request")),
    };
    log.phone(&record.phone);
    let correct = code_matches(&config.otp_secrets(), &request_id, &verify.code, &record.code_hash);
    let attempt =
        GuardCommand::Attempt { request_id: request_id.clone(), correct, channel: Channel::Api, message_id: None };
    match guard_client::call(env, &record.phone, &attempt).await? {
        GuardReply::Verified { verified_at_ms, via } => {
            let token = tokens::issue(config, &record.phone, &request_id, verified_at_ms, via).await?;
            Ok(Reply::Json(200, verified_body(&request_id, &token)))
        }
        // The guard forgets requests a while after they end; the record remembers.
        GuardReply::NotFound if now_ms() >= record.expires_ms => Err(guard_error(&GuardReply::Expired)),
        refusal => Err(guard_error(&refusal)),
    }
}

pub async fn status(request_id: &str, env: &Env, config: &Config) -> Handled {
    let record = codes::get(env, request_id).await?.ok_or_else(|| ApiError::not_found("request"))?;
    let command = GuardCommand::Status { request_id: request_id.to_string() };
    let view = match guard_client::call(env, &record.phone, &command).await? {
        GuardReply::View { request: Some(view) } => view,
        _ => RequestView {
            request_id: request_id.to_string(),
            mode: record.mode,
            status: if now_ms() >= record.expires_ms { "expired" } else { "pending" }.to_string(),
            live: false,
            expires_ms: record.expires_ms,
            attempts_left: 0,
            delivery: None,
            verified: None,
        },
    };
    let token = match view.verified {
        Some((at, via)) => Some(tokens::issue(config, &record.phone, request_id, at, via).await?),
        None => None,
    };
    Ok(Reply::Json(200, status_body(&view, token.as_ref())))
}
