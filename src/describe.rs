//! Descriptions of the schema's commands and events, for tools that work by name, and the
//! QEMU releases each exists in.

use std::fmt;

/// A set of the QEMU releases the bindings know ([`crate::api::RELEASES`], or the release
/// table of the guest agent's or the storage daemon's bindings): where a command, event or
/// type exists. A fact for documentation and hints: the running QEMU's own schema is what
/// says what it offers (distributions backport commands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Releases {
    bits: u64,
    /// The release names the bits stand for, oldest first.
    labels: &'static [&'static str],
}

impl Releases {
    /// No release: not a definition of the bindings (a command written by hand).
    pub const NONE: Releases = Releases {
        bits: 0,
        labels: &[],
    };

    /// The set whose bit `i` stands for `RELEASES[i]` of the QMP bindings.
    pub const fn from_bits(bits: u64) -> Releases {
        Releases::from_bits_in(bits, crate::api::RELEASES)
    }

    /// The set whose bit `i` stands for `labels[i]`: how the bindings of a second schema
    /// (the guest agent's) name their own releases.
    pub const fn from_bits_in(bits: u64, labels: &'static [&'static str]) -> Releases {
        if bits == 0 {
            return Releases::NONE;
        }
        Releases { bits, labels }
    }

    /// The bits, the oldest release lowest.
    pub const fn bits(self) -> u64 {
        self.bits
    }

    /// The release names the bits stand for, oldest first.
    pub const fn labels(self) -> &'static [&'static str] {
        self.labels
    }

    /// Every known release of the QMP bindings.
    pub fn all() -> Releases {
        Releases::from_bits(
            1u64.checked_shl(crate::api::RELEASES.len() as u32)
                .map_or(u64::MAX, |b| b - 1),
        )
    }

    /// Whether the release named `release` (`"10.0"`; `"10.0.2"` means the same) is in
    /// the set.
    pub fn contains(self, release: &str) -> bool {
        let wanted = major_minor(release);
        self.iter().any(|r| r == wanted)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The releases in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = &'static str> {
        self.labels
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && self.bits & (1 << i) != 0)
            .map(|(_, r)| *r)
    }
}

/// `10.0.2` -> `10.0`.
fn major_minor(release: &str) -> &str {
    match release.match_indices('.').nth(1) {
        Some((i, _)) => &release[..i],
        None => release,
    }
}

impl fmt::Display for Releases {
    /// `7.2, 10.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(r)?;
        }
        Ok(())
    }
}

/// A command of the schema, for tools that work by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandDescriptor {
    /// The wire name.
    pub name: &'static str,
    /// Its `if` condition (as in `CONFIG_KVM and TARGET_S390X`), in the newest release
    /// that gives one: QEMU builds where it does not hold lack it.
    pub cond: Option<&'static str>,
    /// The known releases that have it.
    pub releases: Releases,
    /// The release QEMU's documentation says it came in.
    pub since: Option<&'static str>,
    /// The QAPI name of its arguments' type (implicit types have QEMU's `q_obj_...` names).
    pub arguments: Option<&'static str>,
    /// The QAPI name of its return type (`[T]` for a list).
    pub returns: Option<&'static str>,
    /// Whether it may be executed out of band.
    pub allow_oob: bool,
    /// Whether it is deprecated.
    pub deprecated: bool,
    /// Whether it is unstable.
    pub unstable: bool,
    /// Its features.
    pub features: &'static [&'static str],
}

/// An event of the schema, for tools that work by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventDescriptor {
    /// The wire name.
    pub name: &'static str,
    /// Its `if` condition (as in `CONFIG_KVM and TARGET_S390X`), in the newest release
    /// that gives one: QEMU builds where it does not hold lack it.
    pub cond: Option<&'static str>,
    /// The known releases that have it.
    pub releases: Releases,
    /// The release QEMU's documentation says it came in.
    pub since: Option<&'static str>,
    /// The QAPI name of its data's type.
    pub data: Option<&'static str>,
    /// Whether it is deprecated.
    pub deprecated: bool,
    /// Whether it is unstable.
    pub unstable: bool,
    /// Its features.
    pub features: &'static [&'static str],
}

/// The command named `name`.
pub fn describe_command(name: &str) -> Option<&'static CommandDescriptor> {
    crate::api::COMMANDS.iter().find(|c| c.name == name)
}

/// The event named `name`.
pub fn describe_event(name: &str) -> Option<&'static EventDescriptor> {
    crate::api::EVENTS.iter().find(|e| e.name == name)
}

/// Why a dynamic decode failed.
#[derive(Debug)]
pub enum DecodeError {
    /// The schema has no command of that name.
    UnknownCommand(String),
    /// The schema has no event of that name.
    UnknownEvent(String),
    /// The JSON does not fit the type; `path` says where (`.return[3].name`).
    Mismatch {
        /// Where in the value decoding failed.
        path: String,
        /// What was wrong there.
        message: String,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownCommand(name) => {
                write!(f, "no command named '{name}' in the schema")
            }
            DecodeError::UnknownEvent(name) => write!(f, "no event named '{name}' in the schema"),
            DecodeError::Mismatch { path, message } => write!(f, "at {path}: {message}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// The error for an unknown command.
    pub fn unknown_command(name: &str) -> Self {
        DecodeError::UnknownCommand(name.to_string())
    }

    /// The error for an unknown event.
    pub fn unknown_event(name: &str) -> Self {
        DecodeError::UnknownEvent(name.to_string())
    }
}
