//! Which request a code is checked against, and which ways of proving a number are on:
//! the decisions the edge's one code-check path asks for, kept here where they are tested.

use super::code::code_matches;
use super::config::{Config, VerifyVia};
use super::error::ApiError;
use super::guard::Mode;
use super::record::CodeRecord;

/// A request a code may count for, with its KV record, as the edge read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateRecord {
    pub request_id: String,
    pub record: CodeRecord,
}

/// The request an attempt is charged to, and whether the code was its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Index into the candidates.
    pub index: usize,
    pub correct: bool,
}

/// Checks `code` against `candidates` (newest first). The first request the code is
/// right for wins. When it is right for none:
///
/// - typed into the API (`sender` is `None`), the attempt counts as a wrong code against
///   the newest (the one the person most likely meant), so guessing across a number's
///   live requests costs attempts like guessing one;
/// - sent from WhatsApp by `sender`, the number Meta authenticated, it counts for
///   nothing (`None`): the number's live requests may be strangers' inbound requests,
///   and a message belongs only to the request whose code it carries. Only the number
///   itself can send from it, so this opens no guessing to anyone else.
///
/// A code from `sender` counts only for that number's own requests: someone else's
/// code sent from another phone proves nothing about this one.
pub fn choose_request(
    candidates: &[CandidateRecord],
    sender: Option<&str>,
    code: &str,
    otp_secrets: &[&str],
) -> Option<Choice> {
    if candidates.is_empty() {
        return None;
    }
    let matched = candidates.iter().position(|c| {
        sender.is_none_or(|sender| c.record.phone == sender)
            && code_matches(otp_secrets, &c.request_id, code, &c.record.code_hash)
    });
    match (matched, sender) {
        (Some(index), _) => Some(Choice { index, correct: true }),
        (None, None) => Some(Choice { index: 0, correct: false }),
        (None, Some(_)) => None,
    }
}

/// Whether a code sent from WhatsApp may verify a request of this mode: a reply to our
/// message (`reply`) or a message the person sent first (`inbound`).
pub fn whatsapp_channel_on(verify_via: VerifyVia, mode: Mode) -> bool {
    match mode {
        Mode::Outbound => verify_via.reply,
        Mode::Inbound => verify_via.inbound,
    }
}

/// The business number an inbound request's code is to be sent to (`None`: an outbound
/// request, sent by us), or why such a request cannot be made here.
pub fn inbound_business_number(mode: Mode, config: &Config) -> Result<Option<String>, ApiError> {
    match (mode, &config.meta.business_number) {
        (Mode::Outbound, _) => Ok(None),
        (Mode::Inbound, _) if !config.codes.verify_via.inbound => {
            Err(ApiError::invalid_request("mode", "Inbound verification is turned off on this service."))
        }
        (Mode::Inbound, None) => Err(ApiError::misconfigured(&["WHATSAPP_BUSINESS_NUMBER"])),
        (Mode::Inbound, Some(number)) => Ok(Some(number.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::code::hash_code;

    const SECRET: &str = "oooooooooooooooooooooooooooooooo";

    fn candidate(request_id: &str, phone: &str, code: &str) -> CandidateRecord {
        CandidateRecord {
            request_id: request_id.into(),
            record: CodeRecord {
                phone: phone.into(),
                code_hash: hash_code(SECRET, request_id, code),
                created_ms: 1,
                expires_ms: 2,
                mode: Mode::Inbound,
                locale: None,
                client_secret_hash: None,
                test: false,
            },
        }
    }

    #[test]
    fn the_request_the_code_is_right_for_wins() {
        let live = [candidate("new", "+1", "111111"), candidate("old", "+1", "222222")];
        assert_eq!(choose_request(&live, Some("+1"), "222222", &[SECRET]), Some(Choice { index: 1, correct: true }));
        assert_eq!(choose_request(&live, Some("+1"), "111111", &[SECRET]), Some(Choice { index: 0, correct: true }));
    }

    #[test]
    fn a_wrong_typed_code_counts_against_the_newest() {
        let live = [candidate("new", "+1", "111111"), candidate("old", "+1", "222222")];
        assert_eq!(choose_request(&live, None, "333333", &[SECRET]), Some(Choice { index: 0, correct: false }));
        assert_eq!(choose_request(&[], None, "111111", &[SECRET]), None);
    }

    #[test]
    fn a_whatsapp_code_matching_nothing_counts_for_nothing() {
        let live = [candidate("stranger", "+1", "111111"), candidate("owner", "+1", "222222")];
        assert_eq!(choose_request(&live, Some("+1"), "333333", &[SECRET]), None);
        assert_eq!(choose_request(&live, Some("+1"), "222222", &[SECRET]), Some(Choice { index: 1, correct: true }));
    }

    #[test]
    fn a_code_counts_only_from_its_own_number() {
        let live = [candidate("a", "+2", "111111")];
        assert_eq!(choose_request(&live, Some("+1"), "111111", &[SECRET]), None);
        assert_eq!(choose_request(&live, None, "111111", &[SECRET]), Some(Choice { index: 0, correct: true }));
    }

    #[test]
    fn a_code_hashed_with_the_previous_secret_still_counts() {
        let live = [candidate("a", "+1", "111111")];
        let rotated = ["pppppppppppppppppppppppppppppppp", SECRET];
        assert_eq!(choose_request(&live, Some("+1"), "111111", &rotated).map(|c| c.correct), Some(true));
        assert_eq!(choose_request(&live, None, "111111", &rotated[..1]).map(|c| c.correct), Some(false));
    }

    #[test]
    fn whatsapp_channels_follow_verify_via() {
        let only_inbound = VerifyVia { code: true, reply: false, inbound: true };
        assert!(!whatsapp_channel_on(only_inbound, Mode::Outbound));
        assert!(whatsapp_channel_on(only_inbound, Mode::Inbound));
        let only_reply = VerifyVia { code: false, reply: true, inbound: false };
        assert!(whatsapp_channel_on(only_reply, Mode::Outbound));
        assert!(!whatsapp_channel_on(only_reply, Mode::Inbound));
    }

    #[test]
    fn inbound_requests_need_the_channel_and_a_business_number() {
        let map = crate::core::config::tests::full();
        let mut config = Config::from_lookup(|k| map.get(k).cloned()).unwrap();
        assert_eq!(inbound_business_number(Mode::Outbound, &config), Ok(None));
        assert_eq!(inbound_business_number(Mode::Inbound, &config).unwrap_err().code.as_str(), "misconfigured");
        config.meta.business_number = Some("15550001234".into());
        assert_eq!(inbound_business_number(Mode::Inbound, &config), Ok(Some("15550001234".into())));
        assert_eq!(inbound_business_number(Mode::Outbound, &config), Ok(None), "outbound sends itself");
        config.codes.verify_via.inbound = false;
        let off = inbound_business_number(Mode::Inbound, &config).unwrap_err();
        assert_eq!((off.code.as_str(), off.body()["error"]["field"].as_str()), ("invalid_request", Some("mode")));
    }
}
