//! How control calls read their JSON bodies: into serde structs that refuse unknown
//! fields, with every error a 400 `bad_request` that names the field at fault
//! (`'count' must be a non-negative integer`).

use std::fmt;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{bad_request, ApiError};

/// Reads a control body; an empty body is `{}`.
pub(super) fn read_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let object = parse_object(body)?;
    T::deserialize(MapAccessDeserializer::new(NamedFields { entries: object.into_iter(), value: None }))
        .map_err(|e| bad_request(e.to_string()))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("Body must be a JSON object")),
        Err(e) => Err(bad_request(format!("Body is not valid JSON: {e}"))),
    }
}

/// A JSON object handed to serde one field at a time, so that a field's error can
/// say which field it is (serde's own errors say what is wrong, not where).
struct NamedFields {
    entries: serde_json::map::IntoIter,
    value: Option<(String, Value)>,
}

impl<'de> MapAccess<'de> for NamedFields {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let field = seed
            .deserialize(StrDeserializer::<FieldNameError>::new(&key))
            .map_err(|FieldNameError(message)| Self::Error::custom(message))?;
        self.value = Some((key, value));
        Ok(Some(field))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let (key, value) = self.value.take().ok_or_else(|| Self::Error::custom("a value without its key"))?;
        seed.deserialize(value).map_err(|e| Self::Error::custom(format!("'{key}' {e}")))
    }
}

/// What reading a field name can fail with: an unknown field, named with the fields allowed.
#[derive(Debug)]
struct FieldNameError(String);

impl fmt::Display for FieldNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FieldNameError {}

impl serde::de::Error for FieldNameError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        FieldNameError(message.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        match expected {
            [] => FieldNameError(format!("Unknown field '{field}'; this call takes no fields")),
            _ => FieldNameError(format!("Unknown field '{field}'; allowed: {}", expected.join(", "))),
        }
    }
}

/// A field the call cannot do without: `'name' is required` when it is missing.
pub(super) fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| bad_request(format!("'{name}' is required")))
}

/// A value that must be one of `allowed`: `'status' must be one of sent, failed` otherwise.
pub(super) fn one_of(value: String, name: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(bad_request(format!("'{name}' must be one of {}", allowed.join(", "))))
    }
}

/// The field readers below take what the control API has always taken; null is "not given".
fn read<'de, D: Deserializer<'de>, T>(
    d: D,
    expected: &str,
    convert: impl FnOnce(Value) -> Option<T>,
) -> Result<Option<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => convert(v).map(Some).ok_or_else(|| D::Error::custom(format!("must be {expected}"))),
    }
}

pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read(d, "a string", |v| match v {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// Ids, phone numbers and timestamps: a number is taken as its JSON text.
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read(d, "a string or a number", |v| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Also a string of digits, as shell scripts tend to send.
pub(super) fn non_negative_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    read(d, "a non-negative integer", |v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
}

pub(super) fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    read(d, "an integer", |v| v.as_i64())
}

pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    read(d, "true or false", |v| v.as_bool())
}

/// For fields where an explicit null means something: absent is `None`, null is `Some(None)`.
pub(super) fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    string(d).map(Some)
}

/// Any JSON value, null included; absent is `None`.
pub(super) fn any_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        #[serde(deserialize_with = "non_negative_integer")]
        count: Option<u64>,
        #[serde(deserialize_with = "string_or_number")]
        from: Option<String>,
        #[serde(deserialize_with = "nullable_string")]
        note: Option<Option<String>>,
        #[serde(deserialize_with = "any_value")]
        payload: Option<Value>,
    }

    fn message(body: &str) -> String {
        read_body::<Sample>(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn reads_lenient_fields() {
        let s: Sample = read_body(br#"{"count":"3","from":16505551234,"note":null,"payload":null}"#).unwrap();
        let want =
            Sample { count: Some(3), from: Some("16505551234".into()), note: Some(None), payload: Some(Value::Null) };
        assert_eq!(s, want);
        assert_eq!(read_body::<Sample>(b" ").unwrap(), Sample::default());
        assert_eq!(read_body::<Sample>(br#"{"count":null}"#).unwrap(), Sample::default());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(message(r#"{"count":-1}"#), "'count' must be a non-negative integer");
        assert_eq!(message(r#"{"from":[]}"#), "'from' must be a string or a number");
        assert_eq!(message(r#"{"note":5}"#), "'note' must be a string");
        assert_eq!(message(r#"{"extra":1}"#), "Unknown field 'extra'; allowed: count, from, note, payload");
        assert_eq!(message("[1]"), "Body must be a JSON object");
        assert!(message("{bad").starts_with("Body is not valid JSON: "));
    }

    #[test]
    fn required_and_one_of_name_the_field() {
        assert_eq!(required(Some(3), "count").unwrap(), 3);
        assert_eq!(required::<u64>(None, "count").unwrap_err().message, "'count' is required");
        let allowed = ["sent", "failed"];
        assert_eq!(one_of("sent".into(), "status", &allowed).unwrap(), "sent");
        assert_eq!(
            one_of("read".into(), "status", &allowed).unwrap_err().message,
            "'status' must be one of sent, failed"
        );
    }
}
