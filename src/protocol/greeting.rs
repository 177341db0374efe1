//! The greeting a QMP server sends first: its version and the capabilities it offers.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::preview;
use crate::support;

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
