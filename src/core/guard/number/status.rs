//! A request's `status`, the word the status routes answer with.

use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A request's `status` in the API contract (see `RequestState::status` for which
/// fact wins when several hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Live, and no delivery status yet (or an inbound request, which sends nothing).
    Pending,
    Sent,
    Delivered,
    Read,
    /// The send failed: the Cloud API refused it, or a status webhook said `failed`.
    Failed,
    Verified,
    Expired,
    /// The attempt budget is used up.
    Locked,
    /// A newer code replaced this one.
    Superseded,
    /// Verified, then the owner answered `NOT ME`.
    Revoked,
}

impl RequestStatus {
    const ALL: [Self; 10] = [
        Self::Pending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Verified,
        Self::Expired,
        Self::Locked,
        Self::Superseded,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Verified => "verified",
            Self::Expired => "expired",
            Self::Locked => "locked",
            Self::Superseded => "superseded",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// Written as its word, exactly as the `String` it replaced: the same JSON, and the same
/// postcard bytes (length, then the text), so the guard's pinned wire format holds. A
/// derived impl would write a variant index instead.
impl Serialize for RequestStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads a word and refuses any other: an unknown status comes from a caller of another
/// version, and is not guessed at.
impl<'de> Deserialize<'de> for RequestStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StatusWord)
    }
}

struct StatusWord;

impl Visitor<'_> for StatusWord {
    type Value = RequestStatus;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request status such as `pending` or `verified`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RequestStatus, E> {
        RequestStatus::parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus;
    use crate::core::guard::wire;

    #[test]
    fn a_status_is_its_word_in_json_and_on_the_wire() {
        for status in RequestStatus::ALL {
            let word = status.as_str();
            assert_eq!(RequestStatus::parse(word), Some(status));
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<RequestStatus>(&format!("\"{word}\"")).unwrap(), status);
            // The bytes of the `String` this type replaced.
            assert_eq!(wire::encode(&status).unwrap(), wire::encode(&word.to_string()).unwrap());
            assert_eq!(wire::decode::<RequestStatus>(&wire::encode(&word).unwrap()).unwrap(), status);
        }
    }

    #[test]
    fn an_unknown_status_is_refused() {
        assert_eq!(RequestStatus::parse("accepted"), None);
        assert!(serde_json::from_str::<RequestStatus>("\"Pending\"").is_err());
        assert!(serde_json::from_str::<RequestStatus>("0").is_err());
        assert!(wire::decode::<RequestStatus>(&wire::encode(&"opted_out").unwrap()).is_err());
        // A derived enum's variant index is not a status either.
        assert!(wire::decode::<RequestStatus>(&[0]).is_err());
    }
}
