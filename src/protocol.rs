//! The messages of the wire protocol: the greeting, requests, replies and events.
//!
//! Requests are serialised straight into the caller's line buffer; every incoming line is
//! parsed once into one struct, keeping a reply's `return` as raw JSON so the caller decodes
//! its typed value from that slice without a second pass over the whole message.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

use crate::error::ErrorClass;
use crate::support::{self, Key};

// The serde impls below are written out, on the same helpers the generated bindings use:
// the library depends on no proc-macro crate, so its build never waits for one.

/// The greeting QEMU sends when a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The QEMU release at the other end.
    pub version: QemuVersion,
    /// The optional protocol features the server offers.
    pub capabilities: Vec<Capability>,
}

impl Serialize for Greeting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("version", &self.version)?;
        map.serialize_entry("capabilities", &self.capabilities)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Greeting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (version, capabilities) = support::deserialize_members(
            deserializer,
            "a QMP greeting",
            &["version", "capabilities"],
        )?;
        Ok(Greeting {
            version: support::required(version, "version")?,
            capabilities: support::required(capabilities, "capabilities")?,
        })
    }
}

impl Greeting {
    /// Whether the server offers out-of-band execution.
    pub fn offers_oob(&self) -> bool {
        self.capabilities.contains(&Capability::Oob)
    }
}

/// The version block of the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuVersion {
    /// Major, minor and micro release numbers.
    pub qemu: VersionTriple,
    /// The distribution's package string, often empty.
    pub package: String,
}

impl Serialize for QemuVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("qemu", &self.qemu)?;
        map.serialize_entry("package", &self.package)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for QemuVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (qemu, package): (_, Option<String>) =
            support::deserialize_members(deserializer, "a QEMU version", &["qemu", "package"])?;
        Ok(QemuVersion {
            qemu: support::required(qemu, "qemu")?,
            package: package.unwrap_or_default(),
        })
    }
}

/// A release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionTriple {
    /// Major release.
    pub major: i64,
    /// Minor release.
    pub minor: i64,
    /// Micro release.
    pub micro: i64,
}

impl Serialize for VersionTriple {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("major", &self.major)?;
        map.serialize_entry("minor", &self.minor)?;
        map.serialize_entry("micro", &self.micro)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for VersionTriple {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (major, minor, micro) = support::deserialize_members(
            deserializer,
            "a release number",
            &["major", "minor", "micro"],
        )?;
        Ok(VersionTriple {
            major: support::required(major, "major")?,
            minor: support::required(minor, "minor")?,
            micro: support::required(micro, "micro")?,
        })
    }
}

impl std::fmt::Display for VersionTriple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// A capability named in the greeting. Open: one this library does not know is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Out-of-band command execution (`exec-oob`).
    Oob,
    /// A capability this library does not know, with its wire name.
    Other(String),
}

impl Capability {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Capability::Oob => "oob",
            Capability::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "oob" {
            Capability::Oob
        } else {
            Capability::Other(s)
        })
    }
}

impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

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

/// Parses the greeting line.
pub(crate) fn parse_greeting(line: &[u8]) -> Result<Greeting, String> {
    let mut json = serde_json::Deserializer::from_slice(line);
    support::deserialize_members::<(Option<Greeting>,), _>(
        &mut json,
        "a QMP greeting line",
        &["QMP"],
    )
    .and_then(|(greeting,)| support::required(greeting, "QMP"))
    .map_err(|e| format!("not a QMP greeting ({e}): {}", preview(line)))
}

/// Our request ids are integers; anything else in a reply's `id` is not one of ours.
pub(crate) fn parse_id(raw: &RawValue) -> Option<u64> {
    raw.get().parse::<u64>().ok()
}

/// Writes one request line into `buf` (appending): `{"execute":NAME,"arguments":ARGS,"id":ID}`
/// and a newline. Arguments that serialise to `null` (a unit struct) are left out, because
/// QEMU insists that `arguments`, when present, is an object; `{}` is left out too, as it
/// means the same as no arguments and costs bytes on every argument-less call.
pub(crate) fn encode_request<A: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    name: &str,
    args: &A,
    id: u64,
    oob: bool,
) -> Result<(), serde_json::Error> {
    buf.extend_from_slice(if oob {
        b"{\"exec-oob\":"
    } else {
        b"{\"execute\":"
    });
    serde_json::to_writer(&mut *buf, name)?;
    let before_args = buf.len();
    buf.extend_from_slice(b",\"arguments\":");
    let args_start = buf.len();
    serde_json::to_writer(&mut *buf, args)?;
    if matches!(&buf[args_start..], b"null" | b"{}") {
        buf.truncate(before_args);
    }
    buf.extend_from_slice(b",\"id\":");
    let mut itoa = [0u8; 20];
    buf.extend_from_slice(format_u64(id, &mut itoa));
    buf.extend_from_slice(b"}\n");
    Ok(())
}

/// Decimal digits of `n` without going through `fmt` (which allocates nothing either, but
/// this keeps the hot path free of formatter machinery).
fn format_u64(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

/// A short, lossy rendering of a line for log messages and errors.
pub(crate) fn preview(line: &[u8]) -> String {
    const MAX: usize = 200;
    let cut = &line[..line.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > MAX {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests() {
        let mut buf = Vec::new();
        encode_request(&mut buf, "stop", &(), 7, false).unwrap();
        assert_eq!(buf, b"{\"execute\":\"stop\",\"id\":7}\n");
        buf.clear();
        encode_request(&mut buf, "stop", &serde_json::json!({}), 8, false).unwrap();
        assert_eq!(buf, b"{\"execute\":\"stop\",\"id\":8}\n");
        buf.clear();
        let args = serde_json::json!({"a": 1});
        encode_request(&mut buf, "x", &args, 18446744073709551615, true).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "{\"exec-oob\":\"x\",\"arguments\":{\"a\":1},\"id\":18446744073709551615}\n"
        );
    }

    #[test]
    fn parses_replies_once() {
        let m: Incoming = serde_json::from_slice(br#"{"return": null, "id": 3}"#).unwrap();
        assert_eq!(m.ret.unwrap().get(), "null");
        assert_eq!(parse_id(m.id.unwrap()), Some(3));
        let m: Incoming =
            serde_json::from_slice(br#"{"id": 4, "error": {"class": "Nope", "desc": "d"}}"#)
                .unwrap();
        let e = m.error.unwrap();
        assert_eq!(e.class, ErrorClass::Other("Nope".into()));
        assert!(m.ret.is_none());
        let g = parse_greeting(
            br#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "p"}, "capabilities": ["oob", "new"]}}"#,
        )
        .unwrap();
        assert!(g.offers_oob());
        assert_eq!(g.capabilities[1], Capability::Other("new".into()));
        assert_eq!(g.version.qemu.to_string(), "10.0.2");
    }
}
