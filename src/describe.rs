//! Descriptions of the schema's commands and events, for tools that work by name.

/// A command of the schema, for tools that work by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandDescriptor {
    /// The wire name.
    pub name: &'static str,
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
pub struct EventDescriptor {
    /// The wire name.
    pub name: &'static str,
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
