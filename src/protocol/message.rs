//! What a QMP server sends after the greeting: replies (a `return` or an `error`) and
//! events, parsed once per message into [`Incoming`].

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

use crate::error::ErrorClass;
use crate::support::{self, Key};

/// When QEMU emitted an event (host wall clock, as QEMU reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds within the second.
    pub microseconds: i64,
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("seconds", &self.seconds)?;
        map.serialize_entry("microseconds", &self.microseconds)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (seconds, microseconds) = support::deserialize_members(
            deserializer,
            "an event timestamp",
            &["seconds", "microseconds"],
        )?;
        Ok(Timestamp {
            seconds: support::required(seconds, "seconds")?,
            microseconds: support::required(microseconds, "microseconds")?,
        })
    }
}

impl Timestamp {
    /// The timestamp as a `SystemTime`, when it is a valid point after the epoch.
    pub fn to_system_time(&self) -> Option<std::time::SystemTime> {
        let secs = u64::try_from(self.seconds).ok()?;
        let micros = u64::try_from(self.microseconds).ok()?;
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))?
            .checked_add(std::time::Duration::from_micros(micros))
    }
}

/// The `error` member of a failed reply.
#[derive(Debug, Clone)]
pub(crate) struct ErrorBody {
    pub class: ErrorClass,
    pub desc: String,
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (class, desc): (_, Option<String>) =
            support::deserialize_members(deserializer, "a QMP error", &["class", "desc"])?;
        Ok(ErrorBody {
            class: support::required(class, "class")?,
            desc: desc.unwrap_or_default(),
        })
    }
}

/// One incoming line, parsed once. Which members are present says what it is.
pub(crate) struct Incoming<'a> {
    pub id: Option<&'a RawValue>,
    /// Present (even when `null`) on a successful reply.
    pub ret: Option<Box<RawValue>>,
    pub error: Option<ErrorBody>,
    /// Borrowed unless the name has escapes (never, for QEMU's names).
    pub event: Option<Cow<'a, str>>,
    /// Kept raw: the typed event is decoded straight from this slice.
    pub data: Option<&'a RawValue>,
    pub timestamp: Option<Timestamp>,
    pub greeting: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Incoming<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IncomingVisitor;
        impl<'de> Visitor<'de> for IncomingVisitor {
            type Value = Incoming<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a QMP message")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Incoming<'de>, A::Error> {
                let mut msg = Incoming {
                    id: None,
                    ret: None,
                    error: None,
                    event: None,
                    data: None,
                    timestamp: None,
                    greeting: None,
                };
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "id" => support::read_optional(&mut map, &mut msg.id),
                        // `Option<Box<RawValue>>` would read `null` as absent; a `return`
                        // of `null` is still a reply.
                        "return" => support::read(&mut map, &mut msg.ret),
                        "error" => support::read_optional(&mut map, &mut msg.error),
                        "event" => map
                            .next_value::<Option<Key<'de>>>()
                            .map(|name| msg.event = name.map(Key::into_cow)),
                        "data" => support::read_optional(&mut map, &mut msg.data),
                        "timestamp" => support::read_optional(&mut map, &mut msg.timestamp),
                        "QMP" => support::read_optional(&mut map, &mut msg.greeting),
                        _ => support::skip(&mut map),
                    }?;
                }
                Ok(msg)
            }
        }
        deserializer.deserialize_map(IncomingVisitor)
    }
}

/// Our request ids are integers; anything else in a reply's `id` is not one of ours.
pub(crate) fn parse_id(raw: &RawValue) -> Option<u64> {
    raw.get().parse::<u64>().ok()
}

/// A successful reply in exactly the form QEMU writes it, `{"return": VALUE, "id": N}`
/// on one line: its id and where VALUE lies in `text`, found without parsing the envelope
/// as a map (most of the work of routing a small reply). Anything not of that form is
/// `None` and takes the general path.
///
/// The id is the digits that end the line, after `, "id": `: that sequence cannot occur
/// inside a JSON string (its quotes would be escaped), and one nested in the value is
/// followed by more than digits. VALUE is not checked here: the caller's decode parses it
/// anyway, and must fall back to the general parse of the whole line when it turns out
/// not to be exactly one JSON value (`{"return": 1, "error": {..}, "id": 2}` has this
/// form too).
pub(crate) fn plain_reply(text: &str) -> Option<(u64, std::ops::Range<usize>)> {
    const PREFIX: &str = "{\"return\": ";
    let body = text.strip_prefix(PREFIX)?.strip_suffix('}')?;
    // Scanned by hand from the end: a substring search sets up more than it then scans.
    let digits = body.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (head, id) = body.split_at(body.len() - digits);
    let value = head.strip_suffix(", \"id\": ")?;
    if id.is_empty() || (id.len() > 1 && id.starts_with('0')) || value.is_empty() {
        return None;
    }
    let id = id.parse().ok()?;
    Some((id, PREFIX.len()..PREFIX.len() + value.len()))
}

#[cfg(test)]
mod tests {
    use super::plain_reply;

    #[test]
    fn plain_replies_are_found_and_nothing_else_is() {
        let found = |text: &str| plain_reply(text).map(|(id, value)| (id, text[value].to_owned()));
        assert_eq!(
            found(r#"{"return": {"status": "running", "running": true}, "id": 17}"#),
            Some((17, r#"{"status": "running", "running": true}"#.to_owned()))
        );
        assert_eq!(
            found(r#"{"return": {}, "id": 0}"#),
            Some((0, "{}".to_owned()))
        );
        // An `"id"` inside the value, in a member or in a string, is not the reply's.
        assert_eq!(
            found(r#"{"return": {"a": 1, "id": 5}, "id": 6}"#),
            Some((6, r#"{"a": 1, "id": 5}"#.to_owned()))
        );
        assert_eq!(
            found(r#"{"return": "x, \"id\": 5", "id": 7}"#),
            Some((7, r#""x, \"id\": 5""#.to_owned()))
        );
        // The value is the caller's to check: these have the form, not a JSON value.
        assert_eq!(
            found(r#"{"return": {"a": , "id": 3}"#),
            Some((3, r#"{"a": "#.to_owned()))
        );
        assert_eq!(
            found(r#"{"return": 1, "x": 2, "id": 3}"#),
            Some((3, r#"1, "x": 2"#.to_owned()))
        );
        for other in [
            r#"{"return": {"a": 1, "id": 5}}"#,
            r#"{"return": 1, "id": "3"}"#,
            r#"{"return": 1, "id": 03}"#,
            r#"{"return": 1, "id": -3}"#,
            r#"{"return": 1, "id": 99999999999999999999}"#,
            r#"{"return": 1, "id": 3} "#,
            r#"{"id": 3, "return": 1}"#,
            r#"{"error": {"class": "GenericError", "desc": "x"}, "id": 3}"#,
            r#"{"return": , "id": 3}"#,
        ] {
            assert_eq!(found(other), None, "{other}");
        }
    }
}
