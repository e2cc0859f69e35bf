//! Answers out: the guard's replies as the contract's errors, and the JSON bodies of
//! the routes' successful answers.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::core::error::ApiError;
use crate::core::guard::number::{AttemptOutcome, DeliveryView, ReserveOk};
use crate::core::guard::protocol::{AttemptReply, ReserveReply};
use crate::core::guard::{RequestStatus, RequestView};
use crate::core::record::CodeRecord;
use crate::core::time::{rfc3339, secs_until};
use crate::core::token::IssuedToken;

/// The guard's refusal of a send, as the contract's error (`None`: reserved or replayed).
pub fn reserve_error(reply: &ReserveReply) -> Option<ApiError> {
    Some(match reply {
        ReserveReply::Reserved(_) | ReserveReply::Replay { .. } => return None,
        ReserveReply::InProgress => ApiError::request_in_progress(),
        ReserveReply::KeyReused => ApiError::idempotency_key_reused(),
        ReserveReply::OptedOut => ApiError::opted_out(),
        ReserveReply::Limited { retry_after_s, reason } => ApiError::rate_limited(*retry_after_s, *reason),
    })
}

/// What a reserved send tells the caller.
pub fn reserved(reply: &ReserveReply) -> Option<ReserveOk> {
    match reply {
        ReserveReply::Reserved(ok) => Some(*ok),
        _ => None,
    }
}

/// A verify attempt's refusal as the contract's error (`None`: verified).
pub fn attempt_error(reply: &AttemptReply) -> Option<ApiError> {
    Some(match reply.outcome {
        AttemptOutcome::Verified { .. } => return None,
        AttemptOutcome::Wrong { attempts_left } => ApiError::invalid_code(attempts_left),
        AttemptOutcome::Locked => ApiError::too_many_attempts(reply.retry_after_s),
        AttemptOutcome::AlreadyVerified => ApiError::already_verified(),
        AttemptOutcome::Revoked => ApiError::revoked(),
        AttemptOutcome::Expired => ApiError::expired(),
        AttemptOutcome::Superseded => ApiError::superseded(),
        AttemptOutcome::NotFound | AttemptOutcome::Duplicate | AttemptOutcome::TooOld => {
            ApiError::not_found("live request")
        }
        AttemptOutcome::WrongChannel => ApiError::invalid_request(
            "request_id",
            "This is an inbound request: it is verified by sending the code from WhatsApp, not through this API.",
        ),
    })
}

/// A verify by request id that did not verify, as the contract's error. The guard
/// forgets requests a while after they end; the record still knows when it expired.
pub fn verify_error(reply: &AttemptReply, record: &CodeRecord, now_ms: u64) -> ApiError {
    match reply.outcome {
        AttemptOutcome::NotFound if now_ms >= record.expires_ms => ApiError::expired(),
        _ => attempt_error(reply).unwrap_or_else(ApiError::storage_unavailable),
    }
}

/// The status of a request its guard has forgotten, from its record alone.
pub fn forgotten_view(request_id: &str, record: &CodeRecord, now_ms: u64) -> RequestView {
    RequestView {
        request_id: request_id.to_string(),
        mode: record.mode,
        status: if now_ms >= record.expires_ms { RequestStatus::Expired } else { RequestStatus::Pending },
        live: false,
        created_ms: record.created_ms,
        expires_ms: record.expires_ms,
        attempts_left: 0,
        resend_after_s: 0,
        delivery: None,
        deliveries: Vec::new(),
        verified: None,
        locale: record.locale.clone(),
    }
}

/// The 202 body of `POST /v1/otp/request`.
pub fn accepted_body(request_id: &str, expires_ms: u64, resend_after_s: u64, attempts_left: u32, now_ms: u64) -> Value {
    json!({
        "request_id": request_id,
        "status": "pending",
        "expires_at": rfc3339(expires_ms),
        "expires_in": secs_until(now_ms, expires_ms),
        "resend_after": resend_after_s,
        "attempts_left": attempts_left,
    })
}

/// `https://wa.me/<business number>?text=<message>`: the user taps it and sends the code.
pub fn wa_link(business_number: &str, service: &str, code: &str) -> String {
    let text = inbound_message(service, code);
    format!("https://wa.me/{business_number}?text={}", utf8_percent_encode(&text, NON_ALPHANUMERIC))
}

/// The prefilled text names the service and says what sending it does, so a person
/// tricked into sending it can see that it signs someone in.
pub fn inbound_message(service: &str, code: &str) -> String {
    format!("Sign me in to {service}. My verification code is {code}")
}

pub fn verified_body(request_id: &str, token: &IssuedToken) -> Value {
    json!({
        "verified": true,
        "request_id": request_id,
        "token": token.token,
        "token_expires_at": rfc3339(token.expires_ms),
    })
}

/// One leg of a request, as the status routes show it.
fn delivery_body(delivery: &DeliveryView) -> Value {
    let mut d = json!({
        "channel": delivery.channel.as_str(),
        "status": delivery.status.as_str(),
        "updated_at": rfc3339(delivery.updated_ms),
    });
    if let Some(code) = delivery.error_code {
        d["error_code"] = code.into();
    }
    if let Some(category) = &delivery.pricing_category {
        d["pricing_category"] = category.clone().into();
    }
    if let Some(reason) = delivery.fallback_reason {
        d["fallback_reason"] = reason.as_str().into();
    }
    d
}

/// The 200 body of the status routes (the token only from `POST /v1/otp/status`).
pub fn status_body(view: &RequestView, token: Option<&IssuedToken>) -> Value {
    let mut body = json!({
        "request_id": view.request_id,
        "status": view.status.as_str(),
        "expires_at": rfc3339(view.expires_ms),
        "resend_after": view.resend_after_s,
        "attempts_left": view.attempts_left,
    });
    if let Some(delivery) = &view.delivery {
        body["delivery"] = delivery_body(delivery);
        body["channel"] = delivery.channel.as_str().into();
    }
    if !view.deliveries.is_empty() {
        body["deliveries"] = view.deliveries.iter().map(delivery_body).collect();
    }
    if let Some((_, via)) = view.verified {
        body["verified_via"] = json!(via);
    }
    if let Some(token) = token {
        body["token"] = token.token.clone().into();
        body["token_expires_at"] = rfc3339(token.expires_ms).into();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::tests::full;
    use crate::core::config::Config;
    use crate::core::guard::{DeliveryStatus, LimitReason, Mode, VerifiedVia};

    fn config() -> Config {
        let map = full();
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn wa_links_carry_the_code() {
        assert_eq!(
            wa_link("15550783881", "Acme", "123456"),
            "https://wa.me/15550783881?text=Sign%20me%20in%20to%20Acme%2E%20My%20verification%20code%20is%20123456"
        );
    }

    #[test]
    fn every_refusal_maps_to_a_contract_error() {
        use crate::core::guard::number::AttemptOutcome as A;
        let cases = [
            (A::Wrong { attempts_left: 2 }, 400, "invalid_code"),
            (A::Locked, 429, "too_many_attempts"),
            (A::AlreadyVerified, 409, "already_verified"),
            (A::Revoked, 410, "revoked"),
            (A::Expired, 410, "expired"),
            (A::Superseded, 410, "superseded"),
            (A::NotFound, 404, "not_found"),
            (A::WrongChannel, 400, "invalid_request"),
        ];
        for (outcome, status, code) in cases {
            let e = attempt_error(&AttemptReply { outcome, retry_after_s: 42 }).unwrap();
            assert_eq!((e.status(), e.code.as_str()), (status, code), "{outcome:?}");
        }
        let locked = attempt_error(&AttemptReply { outcome: A::Locked, retry_after_s: 42 }).unwrap();
        assert_eq!((locked.retry_after, &locked.body()["error"]["retry_after"]), (Some(42), &json!(42)));
        let limited = reserve_error(&ReserveReply::Limited { retry_after_s: 9, reason: LimitReason::NotMe }).unwrap();
        assert_eq!((limited.status(), &limited.body()["error"]["reason"]), (429, &json!("not_me")));
        assert_eq!(reserve_error(&ReserveReply::KeyReused).unwrap().status(), 422);
        assert_eq!(reserve_error(&ReserveReply::InProgress).unwrap().status(), 409);
        assert!(ApiError::invalid_code_by_phone().body()["error"].get("attempts_left").is_none());
    }

    #[test]
    fn a_forgotten_request_is_told_by_its_record() {
        use crate::core::guard::number::AttemptOutcome as A;
        let record = CodeRecord {
            phone: "+14155550123".into(),
            code_hash: "h".into(),
            created_ms: 1_000,
            expires_ms: 5_000,
            mode: Mode::Outbound,
            locale: Some("es".into()),
            client_secret_hash: None,
            test: false,
        };
        let forgotten = AttemptReply { outcome: A::NotFound, retry_after_s: 0 };
        assert_eq!(verify_error(&forgotten, &record, 5_000).code.as_str(), "expired");
        assert_eq!(verify_error(&forgotten, &record, 4_999).code.as_str(), "not_found");
        let wrong = AttemptReply { outcome: A::Wrong { attempts_left: 1 }, retry_after_s: 0 };
        assert_eq!(verify_error(&wrong, &record, 9_000).code.as_str(), "invalid_code");
        assert_eq!(forgotten_view("otp_x", &record, 4_999).status.as_str(), "pending");
        let view = forgotten_view("otp_x", &record, 5_000);
        assert_eq!((view.status.as_str(), view.attempts_left, view.locale.as_deref()), ("expired", 0, Some("es")));
    }

    #[test]
    fn status_body_shows_delivery_and_token() {
        let view = RequestView {
            request_id: "otp_x".into(),
            mode: Mode::Outbound,
            status: crate::core::guard::RequestStatus::Verified,
            live: false,
            created_ms: 0,
            expires_ms: 0,
            attempts_left: 4,
            resend_after_s: 12,
            delivery: Some(DeliveryView {
                channel: crate::core::guard::Leg::Sms,
                fallback_reason: Some(crate::core::guard::FallbackReason::NotOnWhatsapp),
                status: DeliveryStatus::Failed,
                error_code: Some(131026),
                pricing_category: Some("authentication".into()),
                updated_ms: 0,
            }),
            deliveries: vec![],
            verified: Some((0, VerifiedVia::Reply)),
            locale: None,
        };
        let token = IssuedToken { token: "t.t.t".into(), expires_ms: 600_000 };
        let body = status_body(&view, Some(&token));
        assert_eq!(body["delivery"]["status"], "failed");
        assert_eq!(body["delivery"]["error_code"], 131026);
        assert_eq!(body["verified_via"], "reply");
        assert_eq!(body["token"], "t.t.t");
        assert!(body["delivery"].get("message_id").is_none());
        assert_eq!(body["delivery"]["pricing_category"], "authentication");
        assert_eq!(body["resend_after"], 12);
        assert_eq!(
            (&body["channel"], &body["delivery"]["fallback_reason"]),
            (&json!("sms"), &json!("not_on_whatsapp"))
        );
        assert!(body.get("deliveries").is_none());
    }

    #[test]
    fn tokens_carry_the_verification() {
        let t = crate::core::token::issue_token(
            &config().tokens,
            "+14155550123",
            "otp_x",
            1_700_000_000_500,
            VerifiedVia::Code,
        );
        assert_eq!(t.expires_ms, (1_700_000_000 + 600) * 1000);
        assert_eq!(t.token.split('.').count(), 3);
    }
}
