//! The one error type of the front end: a message anchored at a schema position.

use crate::source::Info;
use std::fmt;

/// A schema error (or, in lenient mode, a warning) at a position in a schema file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// Where the rule broke; `None` only for a root file that could not be read at all.
    pub info: Option<Info>,
    /// Context line such as `In struct 'Foo':`, printed before the position, as QEMU does.
    pub context: Option<String>,
    /// What rule broke, for which name.
    pub message: String,
}

impl SchemaError {
    /// An error at `info`.
    pub fn new(info: &Info, message: impl Into<String>) -> SchemaError {
        SchemaError {
            info: Some(*info),
            context: None,
            message: message.into(),
        }
    }

    /// An error with no position (the root file itself could not be opened).
    pub fn without_position(message: impl Into<String>) -> SchemaError {
        SchemaError {
            info: None,
            context: None,
            message: message.into(),
        }
    }

    /// Adds a context line (`In struct 'Foo':`) shown before the position.
    pub fn with_context(mut self, context: impl Into<String>) -> SchemaError {
        self.context = Some(context.into());
        self
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.info {
            None => f.write_str(&self.message),
            Some(info) => {
                // The include chain comes first, then the context, then `FILE:LINE:COL: msg`.
                let full = info.to_string();
                let (chain, location) = match full.rfind('\n') {
                    Some(i) => (&full[..=i], &full[i + 1..]),
                    None => ("", full.as_str()),
                };
                f.write_str(chain)?;
                if let Some(context) = &self.context {
                    writeln!(f, "{}: {}", info.file.display(), context)?;
                }
                write!(f, "{}: {}", location, self.message)
            }
        }
    }
}

impl std::error::Error for SchemaError {}

/// Result of front-end operations.
pub type Result<T, E = SchemaError> = std::result::Result<T, E>;
