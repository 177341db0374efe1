//! The seam between generated code and the transport: what a command is.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A QMP command: its arguments (the implementing value, serialised as the `arguments`
/// object) and the type of its successful return.
///
/// Implemented by the generated argument type of every command in the schema; the
/// transport uses only this trait and never names a QEMU command.
pub trait Command: Serialize + Send {
    /// The command's wire name, e.g. `query-status`.
    const NAME: &'static str;
    /// Whether the schema marks the command `allow-oob`.
    const ALLOW_OOB: bool;
    /// The typed value of a successful reply's `return` member.
    type Returns: DeserializeOwned + Send + 'static;

    /// Decodes a successful reply's `return` value. Commands that return nothing get `()`
    /// whatever QEMU sent (it sends `{}`).
    fn decode_return(value: &serde_json::value::RawValue) -> serde_json::Result<Self::Returns> {
        serde_json::from_str(value.get())
    }
}

/// A command the schema marks `allow-oob`: only these may be sent with `exec-oob`, so
/// asking for out-of-band execution of any other command does not compile.
pub trait OobCommand: Command {}
