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
