//! `POST /v1/otp/verify`, `GET /v1/otp/status/{id}` and `POST /v1/otp/status`.

use worker::{Env, Request};

use crate::core::api::{
    forgotten_view, parse_status_request, parse_verify_request, status_body, verified_body, verify_error, VerifyTarget,
    API_BODY_LIMIT,
};
use crate::core::code::client_secret_matches;
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::address::Allowance;
use crate::core::guard::number::AttemptOutcome;
use crate::core::guard::protocol::{FindForPhone, FindForPhoneReply, Status, StatusReply};
use crate::core::guard::{Channel, RequestView};
use crate::core::record::CodeRecord;
use crate::edge::clock::now_ms;
use crate::edge::code_check::{check_code, CodeCheck, MissingRecord};
use crate::edge::guard_client::call;
use crate::edge::handlers::caller::{charge_address, client_address};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;
use crate::edge::{codes, tokens};

pub async fn verify(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    tokens::require_usable_key(config).await?;
    let body = read_body(req, API_BODY_LIMIT).await?;
    let verify = parse_verify_request(header(req, "Content-Type").as_deref(), &body, config)?;
    if !config.codes.verify_via.code {
        return Err(ApiError::channel_off("typed code"));
    }
    let address = client_address(req)?;
    let by_phone = matches!(verify.target, VerifyTarget::Phone(_));
    let check = match &verify.target {
        VerifyTarget::RequestId(request_id) => {
            log.request_id(request_id);
            charge_address(env, &address, Allowance::Checks, config.limits.ip_max_checks_per_hour).await?;
            CodeCheck {
                code: &verify.code,
                request_ids: vec![request_id.clone()],
                number: None,
                sender: None,
                channel: Channel::RequestId,
                message: None,
                missing: MissingRecord::UnknownRequest,
            }
        }
        VerifyTarget::Phone(phone) => {
            log.phone(phone);
            // Guessing by phone needs no request id: it draws on the stricter allowance.
            charge_address(env, &address, Allowance::Requests, config.limits.ip_max_per_hour).await?;
            let FindForPhoneReply::Live { request_id } =
                call(env, phone, &FindForPhone { number: phone.clone() }).await?
            else {
                return Err(ApiError::invalid_code_by_phone());
            };
            log.request_id(&request_id);
            CodeCheck {
                code: &verify.code,
                request_ids: vec![request_id],
                number: Some(phone),
                sender: None,
                channel: Channel::Phone,
                message: None,
                missing: MissingRecord::NotYetVisible,
            }
        }
    };
    let checked = check_code(env, config, check).await?;
    log.phone(&checked.record.phone);
    match checked.reply.outcome {
        AttemptOutcome::Verified { at_ms, via } => {
            let token =
                tokens::issue(config, &checked.number, &checked.request_id, at_ms, via, checked.record.test).await?;
            Ok(Reply::Json(200, verified_body(&checked.request_id, &token)))
        }
        // By phone every failure reads alike (see `ApiError::invalid_code_by_phone`).
        _ if by_phone => Err(ApiError::invalid_code_by_phone()),
        _ => Err(verify_error(&checked.reply, &checked.record, now_ms())),
    }
}

/// `GET /v1/otp/status/{id}`: never a token (URLs end up in logs).
pub async fn status(request_id: &str, req: &Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    log.request_id(request_id);
    let (view, _) = find_status(request_id, req, env, config, None).await?;
    Ok(Reply::Json(200, status_body(&view, None)))
}

/// `POST /v1/otp/status {"request_id","client_secret"}`: the same, plus the token once
/// verified. The request id alone is no secret: it is in logs, events and URLs.
pub async fn status_with_token(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    let body = read_body(req, API_BODY_LIMIT).await?;
    let (request_id, client_secret) = parse_status_request(header(req, "Content-Type").as_deref(), &body)?;
    log.request_id(&request_id);
    let (view, record) = find_status(&request_id, req, env, config, Some(&client_secret)).await?;
    let token = match view.verified {
        Some((at, via)) => Some(tokens::issue(config, &record.phone, &request_id, at, via, record.test).await?),
        None => None,
    };
    Ok(Reply::Json(200, status_body(&view, token.as_ref())))
}

async fn find_status(
    request_id: &str,
    req: &Request,
    env: &Env,
    config: &Config,
    client_secret: Option<&str>,
) -> Result<(RequestView, CodeRecord), ApiError> {
    let address = client_address(req)?;
    // Charged first: guessing client secrets draws on the same allowance as codes.
    charge_address(env, &address, Allowance::Checks, config.limits.ip_max_checks_per_hour).await?;
    let record = codes::get(env, request_id).await?.ok_or_else(|| ApiError::not_found("request"))?;
    if let Some(presented) = client_secret {
        let stored = record.client_secret_hash.as_deref();
        if !client_secret_matches(&config.otp_secrets(), request_id, presented, stored) {
            return Err(ApiError::wrong_client_secret());
        }
    }
    let command =
        Status { number: record.phone.clone(), request_id: request_id.to_string(), policy: config.send_policy() };
    let view = match call(env, &record.phone, &command).await? {
        StatusReply::Found { view } => view,
        StatusReply::Forgotten => forgotten_view(request_id, &record, now_ms()),
    };
    Ok((view, record))
}
