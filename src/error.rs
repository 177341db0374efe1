//! The one error type of the client.

use std::fmt;
use std::io;
use std::time::Duration;

/// Everything that can go wrong talking QMP.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed (connect, read or write).
    Io(io::Error),
    /// The peer broke the protocol in a way that affects this call (for example a reply that
    /// could not be attributed to a request, so every call in flight is answered with this).
    Protocol {
        /// What went wrong, for humans.
        message: String,
    },
    /// QEMU executed the command and answered with an error.
    Qmp {
        /// The error class QEMU reported.
        class: ErrorClass,
        /// QEMU's human-readable description.
        desc: String,
    },
    /// The operation did not finish in the configured time.
    Timeout(Duration),
    /// There is no connection: it closed (QEMU exited, the socket broke, or `close` was
    /// called) before or while the call was waiting for its reply.
    Disconnected,
    /// The greeting or the capabilities negotiation failed.
    Negotiation {
        /// What went wrong, for humans.
        message: String,
    },
    /// The reply arrived but its `return` value did not decode into the command's type.
    Decode {
        /// The command whose reply failed to decode.
        command: String,
        /// serde_json's account of the mismatch.
        error: serde_json::Error,
    },
    /// The command's arguments could not be serialised.
    Encode {
        /// The command whose arguments failed.
        command: String,
        /// serde_json's account of the failure.
        error: serde_json::Error,
    },
    /// A message from QEMU was longer than the configured line limit; it was skipped.
    MessageTooLarge {
        /// Bytes seen before the end of the line.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Out-of-band execution was asked for but the connection did not negotiate `oob`.
    OobNotNegotiated,
    /// File descriptors can only travel over a Unix socket.
    FdPassingUnsupported,
    /// `reconnect` was called on a client that has no address to dial again.
    NoEndpoint,
    /// The guest agent did not answer a sync (`guest-sync-delimited`) in time, so the
    /// command was not sent (retrying it is safe). Usually the agent is not running in the
    /// guest, or the guest is paused or still booting.
    AgentUnresponsive {
        /// How long the sync waited.
        waited: Duration,
    },
    /// The connected QEMU does not offer this command: its `query-qmp-schema`, fetched
    /// with [`Client::schema`](crate::Client::schema), has no command of that name, so the
    /// call was not sent. Typed calls are checked once the schema of the connection is
    /// known; raw calls (`execute_raw`) never are.
    ///
    /// A later version will add which known QEMU releases have the command, as a hint for
    /// choosing one (hence `#[non_exhaustive]`: match it with `Error::NotOffered { command, .. }`).
    #[non_exhaustive]
    NotOffered {
        /// The command's wire name.
        command: String,
        /// The known releases whose schema has it, as far as the bindings know (empty for
        /// a command they do not know): a hint for the person reading the error, never a
        /// reason of its own to refuse a call.
        known_in: crate::describe::Releases,
    },
}

// Written out rather than derived: the library compiles no proc-macro crates (see
// Cargo.toml), so that a build of the bindings starts at once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(error) => write!(f, "I/O error: {error}"),
            Error::Protocol { message } => write!(f, "protocol error: {message}"),
            Error::Qmp { class, desc } => write!(f, "QMP error {class}: {desc}"),
            Error::Timeout(after) => write!(f, "timed out after {after:?}"),
            Error::Disconnected => f.write_str("disconnected from QEMU"),
            Error::Negotiation { message } => write!(f, "negotiation failed: {message}"),
            Error::Decode { command, error } => {
                write!(f, "cannot decode the reply of {command}: {error}")
            }
            Error::Encode { command, error } => {
                write!(f, "cannot serialise the arguments of {command}: {error}")
            }
            Error::MessageTooLarge { size, limit } => write!(
                f,
                "a message of {size} bytes exceeds the limit of {limit} bytes"
            ),
            Error::OobNotNegotiated => f.write_str(
                "out-of-band execution needs the `oob` capability, which this connection did not negotiate",
            ),
            Error::FdPassingUnsupported => {
                f.write_str("file descriptor passing needs a Unix socket connection")
            }
            Error::NoEndpoint => f.write_str(
                "this client has no endpoint to reconnect to (it was built from a stream)",
            ),
            Error::AgentUnresponsive { waited } => write!(
                f,
                "the guest agent did not answer guest-sync-delimited within {waited:?}, so \
                 the command was not sent: is qemu-ga running in the guest (and the guest \
                 running, not paused)?"
            ),
            Error::NotOffered { command, known_in } => {
                write!(
                    f,
                    "this QEMU does not offer the command `{command}` (its query-qmp-schema \
                     has no such command), so it was not sent; check \
                     `schema().has_command(..)` before calling, or use a QEMU build that has it"
                )?;
                if !known_in.is_empty() {
                    write!(f, " (the bindings know it from QEMU {known_in})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Io(error)
    }
}

impl Error {
    /// The error for a command the connected QEMU's schema lacks, with the releases the
    /// bindings know it from.
    #[cfg(qmp_introspect)]
    pub(crate) fn not_offered(command: &str) -> Self {
        Error::NotOffered {
            command: command.to_owned(),
            known_in: crate::describe::describe_command(command)
                .map_or(crate::describe::Releases::NONE, |d| d.releases),
        }
    }

    /// The QMP error class, when this is an error QEMU reported.
    pub fn qmp_class(&self) -> Option<&ErrorClass> {
        match self {
            Error::Qmp { class, .. } => Some(class),
            _ => None,
        }
    }
}

/// A QMP error class. QEMU's set is small but not closed (a newer QEMU may add one), so an
/// unknown class is kept as its string rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Most errors.
    GenericError,
    /// The command does not exist (or is not available in this state).
    CommandNotFound,
    /// The device exists but has no active medium or backend.
    DeviceNotActive,
    /// The named device does not exist.
    DeviceNotFound,
    /// KVM lacks a capability the command needs.
    KvmMissingCap,
    /// A class this library does not know, with its wire name.
    Other(String),
}

impl ErrorClass {
    /// Maps a wire name to a class; never fails.
    pub fn from_wire(name: &str) -> Self {
        match name {
            "GenericError" => ErrorClass::GenericError,
            "CommandNotFound" => ErrorClass::CommandNotFound,
            "DeviceNotActive" => ErrorClass::DeviceNotActive,
            "DeviceNotFound" => ErrorClass::DeviceNotFound,
            "KVMMissingCap" => ErrorClass::KvmMissingCap,
            other => ErrorClass::Other(other.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
            ErrorClass::DeviceNotActive => "DeviceNotActive",
            ErrorClass::DeviceNotFound => "DeviceNotFound",
            ErrorClass::KvmMissingCap => "KVMMissingCap",
            ErrorClass::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ErrorClass::from_wire(&s))
    }
}

impl serde::Serialize for ErrorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
