//! The wire between the worker and its guard objects: postcard, a compact binary form.
//!
//! Serde writes far less code for postcard than for JSON (no field names to match, no
//! whitespace, no "any value" fallbacks), and the worker ships both ends of every
//! command: JSON here cost about 21 KB of the gzipped wasm. Postcard is not self-describing:
//! changing any command or reply type changes the bytes, so `WIRE_VERSION` (sent in the
//! path) must change with it; the pinned encodings below fail until it does. A caller
//! and an object of different versions refuse each other (`503 storage_unavailable`)
//! instead of misreading each other. Stored state stays JSON (see `stored`).

use serde::de::DeserializeOwned;
use serde::Serialize;

pub const WIRE_VERSION: &str = "w4";
pub const WIRE_CONTENT_TYPE: &str = "application/x-postcard";

/// A command or reply that could not be written or read in the wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// A shape postcard cannot carry (ruled out for every type by the wire tests).
    Encode(postcard::Error),
    Decode(postcard::Error),
    /// A whole value was read and bytes were left: another version's message.
    TrailingBytes(usize),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Encode(e) => write!(f, "cannot encode: {e}"),
            Self::Decode(e) => write!(f, "cannot decode: {e}"),
            Self::TrailingBytes(n) => write!(f, "{n} bytes after the value"),
        }
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    postcard::to_allocvec(value).map_err(WireError::Encode)
}

/// Reads exactly one value: trailing bytes are an error, not ignored.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(WireError::TrailingBytes(rest.len())),
        Err(e) => Err(WireError::Decode(e)),
    }
}

/// A JSON value carried as its text: the wire format has no "any value" type.
pub mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use serde_json::json;

    use super::*;
    use crate::core::guard::address::Allowance;
    use crate::core::guard::budget::BudgetOutcome;
    use crate::core::guard::leg::{FallbackArm, SmsJob, SmsResult, SmsSent};
    use crate::core::guard::number::{
        AttemptOutcome, Block, DeliveryView, KeywordStamp, OtherSpellingState, ReserveOk, SendResult,
    };
    use crate::core::guard::protocol::*;
    use crate::core::guard::*;

    const FIXTURE: &str = "tests/fixtures/guard-wire.txt";

    /// Each sample's label, then its postcard bytes.
    type Samples = Vec<(&'static str, Vec<u8>)>;

    /// One value of every command and reply type, every enum variant, optional fields
    /// both empty and set, in the order of the pinned fixture.
    fn samples() -> Samples {
        let mut out = Vec::new();
        reserve_samples(&mut out);
        settle_samples(&mut out);
        attempt_samples(&mut out);
        status_samples(&mut out);
        delivery_samples(&mut out);
        keyword_samples(&mut out);
        address_link_and_budget_samples(&mut out);
        sms_samples(&mut out);
        out
    }

    const POLICY: SendPolicy =
        SendPolicy { ttl_s: 300, max_attempts: 5, cooldown_s: 30, max_per_hour: 5, max_per_day: 10 };

    fn other_spelling() -> OtherSpellingState {
        OtherSpellingState {
            opted_out: true,
            last_keyword: Some(KeywordStamp { sent_ms: 1_800_000_000_000, id: "wamid.k".into() }),
            blocked: Some(Block { until_ms: 1_800_086_400_000, reason: LimitReason::NotMe }),
            consecutive_failures: 3,
            sends: vec![1_799_999_000_000],
        }
    }

    fn message() -> MessageRef {
        MessageRef { id: "wamid.1".into(), sent_ms: 1_800_000_000_000 }
    }

    /// `reserve` and its replies.
    fn reserve_samples(out: &mut Samples) {
        let key = IdempotencyKey { slot: "s".into(), fingerprint: "f".into() };
        let ok = ReserveOk { expires_ms: 1_800_000_300_000, resend_after_s: 30, attempts_left: 5 };
        check(
            out,
            "reserve",
            Reserve {
                number: "+14155550123".into(),
                request_id: "otp_1".into(),
                mode: Mode::Inbound,
                locale: Some("en".into()),
                policy: POLICY,
                idempotency: Some(key),
                other_spelling: Some(other_spelling()),
                test: true,
            },
        );
        check(
            out,
            "reserve bare",
            Reserve {
                number: "+1".into(),
                request_id: "otp_2".into(),
                mode: Mode::Outbound,
                locale: None,
                policy: POLICY,
                idempotency: None,
                other_spelling: None,
                test: false,
            },
        );
        check(out, "reserve reply reserved", ReserveReply::Reserved(ok));
        check(out, "reserve reply replay", ReserveReply::Replay { response: json!({"request_id": "otp_1", "n": 1.5}) });
        check(out, "reserve reply in progress", ReserveReply::InProgress);
        check(out, "reserve reply key reused", ReserveReply::KeyReused);
        check(out, "reserve reply opted out", ReserveReply::OptedOut);
        for reason in LimitReason::ALL {
            check(out, "reserve reply limited", ReserveReply::Limited { retry_after_s: 61, reason });
        }
    }

    /// `settle` and its replies.
    fn settle_samples(out: &mut Samples) {
        check(
            out,
            "settle accepted",
            Settle {
                number: "+1".into(),
                request_id: "otp_1".into(),
                result: SendResult::Accepted {
                    message_id: Some("wamid.1".into()),
                    response: json!({"status": "pending"}),
                    wa_id: Some("+551187654321".into()),
                },
                idempotency_slot: Some("s".into()),
                sms: None,
                fallback: None,
            },
        );
        check(
            out,
            "settle failed",
            Settle {
                number: "+1".into(),
                request_id: "otp_1".into(),
                result: SendResult::Failed { refund: true, error_code: Some(131026) },
                idempotency_slot: None,
                sms: None,
                fallback: None,
            },
        );
        check(out, "settle reply settled", SettleReply::Settled);
        check(out, "settle reply unknown", SettleReply::UnknownRequest);
    }

    /// `attempt`, and finding the requests a code may be for (by phone, in the chat).
    fn attempt_samples(out: &mut Samples) {
        for channel in [Channel::RequestId, Channel::Phone, Channel::WhatsApp] {
            check(
                out,
                "attempt",
                Attempt {
                    number: "+1".into(),
                    request_id: "otp_1".into(),
                    correct: true,
                    channel,
                    message: (channel == Channel::WhatsApp).then(message),
                    policy: POLICY,
                },
            );
        }
        for outcome in [
            AttemptOutcome::Verified { at_ms: 5, via: VerifiedVia::Code },
            AttemptOutcome::Verified { at_ms: 5, via: VerifiedVia::Inbound },
            AttemptOutcome::Wrong { attempts_left: 3 },
            AttemptOutcome::Locked,
            AttemptOutcome::AlreadyVerified,
            AttemptOutcome::Revoked,
            AttemptOutcome::Expired,
            AttemptOutcome::Superseded,
            AttemptOutcome::NotFound,
            AttemptOutcome::WrongChannel,
            AttemptOutcome::Duplicate,
            AttemptOutcome::TooOld,
        ] {
            check(out, "attempt reply", AttemptReply { outcome, retry_after_s: 7 });
        }
        check(out, "find for phone", FindForPhone { number: "+1".into() });
        check(out, "find for phone reply live", FindForPhoneReply::Live { request_id: "otp_1".into() });
        check(out, "find for phone reply none", FindForPhoneReply::NoneUsable);
        check(out, "chat candidates", ChatCandidates { number: "+1".into(), message: message() });
        check(
            out,
            "chat candidates reply",
            ChatCandidatesReply {
                candidates: vec![
                    Candidate { request_id: "otp_2".into(), mode: Mode::Inbound },
                    Candidate { request_id: "otp_1".into(), mode: Mode::Outbound },
                ],
                locale: Some("en".into()),
            },
        );
        check(out, "chat candidates reply empty", ChatCandidatesReply { candidates: vec![], locale: None });
    }

    /// `status` and its replies.
    fn status_samples(out: &mut Samples) {
        let view = RequestView {
            request_id: "otp_1".into(),
            mode: Mode::Outbound,
            status: RequestStatus::Delivered,
            live: true,
            created_ms: 1,
            expires_ms: 2,
            attempts_left: 4,
            resend_after_s: 30,
            delivery: Some(DeliveryView {
                channel: Leg::WhatsApp,
                fallback_reason: None,
                status: DeliveryStatus::Failed,
                error_code: Some(131026),
                pricing_category: Some("authentication".into()),
                updated_ms: 3,
            }),
            deliveries: vec![DeliveryView {
                channel: Leg::Sms,
                fallback_reason: Some(FallbackReason::WhatsappFailed),
                status: DeliveryStatus::Delivered,
                error_code: None,
                pricing_category: None,
                updated_ms: 5,
            }],
            verified: Some((4, VerifiedVia::Reply)),
            locale: Some("pt_BR".into()),
        };
        let bare_view =
            RequestView { delivery: None, deliveries: vec![], verified: None, locale: None, ..view.clone() };
        check(out, "status", Status { number: "+1".into(), request_id: "otp_1".into(), policy: POLICY });
        check(out, "status reply found", StatusReply::Found { view });
        check(out, "status reply found bare", StatusReply::Found { view: bare_view });
        check(out, "status reply forgotten", StatusReply::Forgotten);
    }

    /// Delivery statuses and their replies.
    fn delivery_samples(out: &mut Samples) {
        for status in [
            DeliveryStatus::Accepted,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Failed,
        ] {
            check(
                out,
                "delivery",
                Delivery {
                    number: "+1".into(),
                    message_id: "wamid.1".into(),
                    request_id: Some("otp_1".into()),
                    status,
                    error_code: Some(131026),
                    pricing_category: Some("authentication".into()),
                },
            );
        }
        check(
            out,
            "delivery bare",
            Delivery {
                number: "+1".into(),
                message_id: "wamid.1".into(),
                request_id: None,
                status: DeliveryStatus::Read,
                error_code: None,
                pricing_category: None,
            },
        );
        for reply in [DeliveryReply::Applied, DeliveryReply::Stale, DeliveryReply::UnknownMessage] {
            check(out, "delivery reply", reply);
        }
        check(out, "delivery reply fall back", DeliveryReply::FallBack(sms_job()));
    }

    fn sms_job() -> SmsJob {
        SmsJob {
            number: "+14155550123".into(),
            request_id: "otp_1".into(),
            sealed: "s1.abc".into(),
            locale: Some("en".into()),
            expires_ms: 1_800_000_300_000,
            reason: FallbackReason::NotDeliveredInTime,
        }
    }

    /// The SMS fallback: settling with an SMS or an armed fallback, the SMS's result,
    /// its provider's status callbacks.
    fn sms_samples(out: &mut Samples) {
        for reason in FallbackReason::ALL {
            let sms = SmsSent { sid: Some("SM1".into()), reason: Some(reason), whatsapp_error: Some(131026) };
            check(
                out,
                "settle by sms",
                Settle {
                    number: "+1".into(),
                    request_id: "otp_1".into(),
                    result: SendResult::Accepted { message_id: None, response: json!({}), wa_id: None },
                    idempotency_slot: None,
                    sms: Some(sms),
                    fallback: None,
                },
            );
        }
        check(
            out,
            "settle armed",
            Settle {
                number: "+1".into(),
                request_id: "otp_1".into(),
                result: SendResult::Accepted { message_id: Some("wamid.1".into()), response: json!({}), wa_id: None },
                idempotency_slot: None,
                sms: Some(SmsSent { sid: None, reason: None, whatsapp_error: None }),
                fallback: Some(FallbackArm { sealed: "s1.abc".into(), due_ms: 1_800_000_045_000 }),
            },
        );
        for result in [
            SmsResult::Sent { sid: Some("SM1".into()) },
            SmsResult::Sent { sid: None },
            SmsResult::Failed { error_code: Some(21610) },
        ] {
            check(out, "settle sms", SettleSms { number: "+1".into(), request_id: "otp_1".into(), result });
        }
        for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Failed] {
            check(
                out,
                "sms status",
                SmsStatus { number: "+1".into(), sid: "SM1".into(), status, error_code: Some(30003) },
            );
        }
        for leg in [Leg::WhatsApp, Leg::Sms] {
            check(out, "leg", leg);
        }
    }

    /// The chat keywords and their replies.
    fn keyword_samples(out: &mut Samples) {
        for word in [Word::Stop, Word::Start, Word::NotMe] {
            check(out, "keyword", Keyword { number: "+1".into(), word, message: message(), other_spelling: None });
        }
        check(
            out,
            "keyword after another spelling",
            Keyword {
                number: "+5511987654321".into(),
                word: Word::Start,
                message: message(),
                other_spelling: Some(other_spelling()),
            },
        );
        check(out, "read other spelling", ReadOtherSpelling {});
        check(out, "read other spelling reply", Some(other_spelling()));
        check(out, "read other spelling reply none", None::<OtherSpellingState>);
        check(
            out,
            "keyword reply opted",
            KeywordReply::Opted { changed: true, locale: Some("en".into()), acknowledge: true },
        );
        check(
            out,
            "keyword reply not me",
            KeywordReply::NotMe { revoked: Some("otp_1".into()), locale: None, acknowledge: false },
        );
        check(out, "keyword reply duplicate", KeywordReply::Duplicate);
    }

    /// The commands of the other objects: addresses, message links, the send budget.
    fn address_link_and_budget_samples(out: &mut Samples) {
        let link = LinkState {
            number: "+14155550123".into(),
            request_id: "otp_1".into(),
            until_ms: 9,
            wa_id: Some("+14155550123".into()),
        };
        for allowance in [Allowance::Requests, Allowance::Checks] {
            check(out, "address hit", AddressHit { allowance, max_per_hour: 30 });
        }
        check(out, "address reply allowed", AddressReply::Allowed);
        check(out, "address reply limited", AddressReply::Limited { retry_after_s: 3600 });
        check(out, "link message", LinkMessage { link: link.clone() });
        check(out, "link message reply", ());
        check(out, "resolve message", ResolveMessage {});
        check(out, "resolve message reply", Some(link));
        check(out, "resolve message reply none", None::<LinkState>);
        check(out, "spend budget", SpendBudget { max: 1000 });
        check(out, "spend budget reply allowed", BudgetOutcome::Allowed { sends: 800, warn: true });
        check(out, "spend budget reply exhausted", BudgetOutcome::Exhausted { retry_after_s: 60 });
        check(out, "refund budget", RefundBudget {});
        check(out, "refund budget reply", ());
    }

    fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(out: &mut Samples, label: &'static str, value: T) {
        let bytes = encode(&value).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(decode::<T>(&bytes).unwrap_or_else(|e| panic!("{label}: {e}")), value, "{label}");
        out.push((label, bytes));
    }

    #[test]
    fn every_command_and_reply_crosses_the_wire_unchanged() {
        // `check` asserts each round trip; this also guards the list's reach.
        assert!(samples().len() >= 70);
    }

    /// The pinned bytes of every sample. When this fails the wire format changed:
    /// bump `WIRE_VERSION` and rewrite the fixture with `UPDATE_WIRE_FIXTURE=1`.
    #[test]
    fn the_wire_format_is_pinned_to_its_version() {
        let mut text = format!("# guard wire {WIRE_VERSION}: label, then the postcard bytes in hex\n");
        for (label, bytes) in samples() {
            text.push_str(&format!("{label}: {}\n", hex::encode(bytes)));
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
        if std::env::var_os("UPDATE_WIRE_FIXTURE").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let pinned = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, pinned, "the guard's wire format changed: bump WIRE_VERSION and rewrite {FIXTURE}");
    }

    #[test]
    fn damaged_or_foreign_bytes_are_refused() {
        let bytes =
            encode(&AttemptReply { outcome: AttemptOutcome::Wrong { attempts_left: 3 }, retry_after_s: 0 }).unwrap();
        // Trailing bytes, a cut-off value and an unknown variant are errors, not guesses.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode::<AttemptReply>(&longer).unwrap_err(), WireError::TrailingBytes(1));
        assert!(decode::<Reserve>(&bytes[..1]).is_err());
        assert!(decode::<AttemptReply>(&[200, 0]).is_err());
        // JSON (an older caller) is not read as a command.
        assert!(decode::<AddressHit>(br#"{"allowance":"checks","max_per_hour":30}"#).is_err());
    }
}
