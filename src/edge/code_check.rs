//! The one path every code takes, whichever way it arrived (typed into the API by
//! request id or by phone, replied in WhatsApp, sent first from WhatsApp, quoting our
//! message): read the requests' records, let the core pick the request and say if the
//! code is right, and let the number's guard decide (attempts, single use, expiry).

use worker::Env;

use crate::core::config::Config;
use crate::core::error::ApiError;
use crate::core::guard::protocol::{Attempt, AttemptReply};
use crate::core::guard::{Channel, MessageRef};
use crate::core::record::CodeRecord;
use crate::core::verification::{choose_request, CandidateRecord};
use crate::edge::codes;
use crate::edge::guard_client::call;

/// What a missing KV record means, which depends on how the request was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingRecord {
    /// The caller named the request: it does not exist (`404 not_found`).
    UnknownRequest,
    /// The guard named it, so the record was written: KV (eventually consistent) has
    /// not shown it here yet, and a 503 makes the client or Meta try again.
    NotYetVisible,
}

/// A code to check, and where to look for the request it may belong to.
pub struct CodeCheck<'a> {
    pub code: &'a str,
    /// Newest first; never empty.
    pub request_ids: Vec<String>,
    /// The number whose guard is asked; `None`: the record's own number.
    pub number: Option<&'a str>,
    /// The sender Meta authenticated; the code counts only for that number's requests.
    pub sender: Option<&'a str>,
    pub channel: Channel,
    pub message: Option<MessageRef>,
    pub missing: MissingRecord,
}

/// The attempt as the guard answered it.
pub struct Checked {
    pub request_id: String,
    pub number: String,
    pub record: CodeRecord,
    pub reply: AttemptReply,
}

pub async fn check_code(env: &Env, config: &Config, check: CodeCheck<'_>) -> Result<Checked, ApiError> {
    check_or_pass(env, config, check).await?.ok_or_else(|| ApiError::not_found("request"))
}

/// `None`: a code from an authenticated WhatsApp sender that is right for none of the
/// candidates; it counts for nothing (see `choose_request`), so no guard is asked.
pub async fn check_or_pass(env: &Env, config: &Config, check: CodeCheck<'_>) -> Result<Option<Checked>, ApiError> {
    let mut candidates = Vec::with_capacity(check.request_ids.len());
    for request_id in check.request_ids {
        let record = match codes::get(env, &request_id).await? {
            Some(record) => record,
            None if check.missing == MissingRecord::UnknownRequest => return Err(ApiError::not_found("request")),
            None => return Err(ApiError::storage_unavailable()),
        };
        candidates.push(CandidateRecord { request_id, record });
    }
    let Some(choice) = choose_request(&candidates, check.sender, check.code, &config.otp_secrets()) else {
        return Ok(None);
    };
    let CandidateRecord { request_id, record } = candidates.swap_remove(choice.index);
    let number = check.number.map_or_else(|| record.phone.clone(), str::to_string);
    let attempt = Attempt {
        number: number.clone(),
        request_id: request_id.clone(),
        correct: choice.correct,
        channel: check.channel,
        message: check.message,
        policy: config.send_policy(),
    };
    let reply = call(env, &number, &attempt).await?;
    Ok(Some(Checked { request_id, number, record, reply }))
}
