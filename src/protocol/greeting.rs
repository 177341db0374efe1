//! The greeting a QMP server sends first: its version and the capabilities it offers.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::preview;
use crate::support;

/// The greeting QEMU sends when a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A greeting of `version` offering `capabilities`.
    pub fn new(version: QemuVersion, capabilities: impl IntoIterator<Item = Capability>) -> Self {
        Greeting {
            version,
            capabilities: capabilities.into_iter().collect(),
        }
    }

    /// Whether the server offers out-of-band execution.
    pub fn offers_oob(&self) -> bool {
        self.capabilities.contains(&Capability::Oob)
    }
}

/// The version block of the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QemuVersion {
    /// Major, minor and micro release numbers (of the `vendor`'s program).
    pub qemu: VersionTriple,
    /// The distribution's package string, often empty.
    pub package: String,
    /// Whose release `qemu` is: the key it came under, `qemu` for QEMU. Other programs
    /// that serve QMP name themselves there (StratoVirt's greeting has
    /// `version.StratoVirt` and no `version.qemu`).
    pub vendor: String,
}

impl QemuVersion {
    /// QEMU release `qemu` with its package string.
    pub fn new(qemu: VersionTriple, package: impl Into<String>) -> Self {
        QemuVersion {
            qemu,
            package: package.into(),
            vendor: "qemu".into(),
        }
    }

    /// Whether the server is QEMU itself.
    pub fn is_qemu(&self) -> bool {
        self.vendor == "qemu"
    }
}

impl Serialize for QemuVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(&self.vendor, &self.qemu)?;
        map.serialize_entry("package", &self.package)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for QemuVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Read once per connection: a plain map is simplest.
        let members = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let package = match members.get("package") {
            None => String::new(),
            Some(serde_json::Value::String(p)) => p.clone(),
            Some(_) => return Err(D::Error::custom("`package` is not a string")),
        };
        let triple = |value: &serde_json::Value| VersionTriple::deserialize(value).ok();
        // QEMU's own key first; otherwise the one member that is a release number.
        let found = members
            .get("qemu")
            .and_then(triple)
            .map(|t| ("qemu".to_owned(), t))
            .or_else(|| {
                members
                    .iter()
                    .filter(|(key, _)| *key != "package")
                    .find_map(|(key, value)| Some((key.clone(), triple(value)?)))
            });
        match found {
            Some((vendor, qemu)) => Ok(QemuVersion {
                qemu,
                package,
                vendor,
            }),
            None => Err(D::Error::custom(
                "no release number (`qemu`, or another vendor's key, with major, minor and micro)",
            )),
        }
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
