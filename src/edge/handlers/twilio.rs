//! `POST /webhook/twilio`: Twilio's status callbacks for the SMS legs. Signed with
//! `X-Twilio-Signature` over the callback URL the worker gave Twilio and every form
//! parameter; anything unsigned or forged is 401 and changes nothing. Matched by
//! `MessageSid` through the link written when the SMS went out; a repeated callback
//! changes nothing twice (statuses never move backwards).

use serde_json::json;
use worker::{Env, Request};

use crate::core::config::sms::SmsProvider;
use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::protocol::{DeliveryReply, ResolveMessage, SmsStatus};
use crate::core::guard::DeliveryStatus;
use crate::core::phone::mask_phone;
use crate::core::sms::twilio::{form_params, read_status_callback, signature_valid, CallbackStatus};
use crate::edge::guard_client::{call, link_object};
use crate::edge::http::{header, read_body, Handled, Reply};
use crate::edge::log::RequestLog;

/// Status callbacks are a few hundred bytes.
const TWILIO_BODY_LIMIT: usize = 16 * 1024;

pub async fn status_callback(req: &mut Request, env: &Env, config: &Config, log: &mut RequestLog) -> Handled {
    let Some(SmsProvider::Twilio(twilio)) = config.sms.as_ref().map(|s| &s.provider) else {
        return Err(ApiError::not_found("route"));
    };
    let body = read_body(req, TWILIO_BODY_LIMIT).await?;
    let params = form_params(&body);
    let presented = header(req, "X-Twilio-Signature").unwrap_or_default();
    // Over the URL Twilio was given (PUBLIC_URL), not the one this request reached:
    // a proxy in front may change the host or scheme.
    if !signature_valid(twilio.auth_token.expose(), &twilio.status_callback_url(), &params, &presented) {
        return Err(ApiError::invalid_signature());
    }
    let Some(callback) = read_status_callback(&params) else {
        return Err(ApiError::invalid_request(
            "MessageStatus",
            "`MessageSid` and a known `MessageStatus` are required.",
        ));
    };
    let status = match callback.status {
        // Nothing to record before Twilio hands it on.
        CallbackStatus::Queued => return Ok(Reply::NoContent),
        CallbackStatus::Sent => DeliveryStatus::Sent,
        CallbackStatus::Delivered => DeliveryStatus::Delivered,
        CallbackStatus::Undelivered | CallbackStatus::Failed => DeliveryStatus::Failed,
    };
    let Some(link) = call(env, &link_object(&callback.message_sid), &ResolveMessage {}).await? else {
        log.note("status callback for an unknown SMS");
        return Ok(Reply::NoContent);
    };
    let command = SmsStatus {
        number: link.number.clone(),
        sid: callback.message_sid.clone(),
        status,
        error_code: callback.error_code,
    };
    let reply = call(env, &link.number, &command).await?;
    if status == DeliveryStatus::Failed {
        worker::console_log!(
            "{}",
            json!({ "sms_status": status.as_str(), "request_id": link.request_id, "phone": mask_phone(&link.number), "sms_code": callback.error_code, "applied": reply == DeliveryReply::Applied })
        );
    }
    Ok(Reply::NoContent)
}
