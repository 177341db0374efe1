//! Why a subcommand failed: one line for a person, and the exit status for a script.

use std::process::ExitCode;

use anstyle::{AnsiColor, Style};

/// What kind of failure, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// QEMU answered with an error (exit 1).
    Qmp,
    /// Something else went wrong after connecting: a timeout, an unexpected reply (exit 1).
    Other,
    /// The command line is wrong: an unknown command, argument or value (exit 2).
    Usage,
    /// QEMU could not be reached, or the connection broke (exit 3).
    Connection,
}

/// A failure to report: the message is one line, already saying what to do.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    /// An error QEMU reported.
    pub fn qmp(class: &str, desc: &str) -> Self {
        Failure {
            kind: FailureKind::Qmp,
            message: format!("{class}: {desc}"),
        }
    }

    /// A wrong command line.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Usage,
            message: message.into(),
        }
    }

    /// QEMU unreachable or gone.
    pub fn connection(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Connection,
            message: message.into(),
        }
    }

    /// Anything else.
    pub fn other(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Other,
            message: message.into(),
        }
    }

    /// The exit status scripts see.
    pub fn exit_status(&self) -> u8 {
        match self.kind {
            FailureKind::Qmp | FailureKind::Other => 1,
            FailureKind::Usage => 2,
            FailureKind::Connection => 3,
        }
    }

    /// Prints the one line on stderr and gives the exit status.
    pub fn report(&self) -> ExitCode {
        let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
        anstream::eprintln!("{red}error:{red:#} {}", self.message);
        ExitCode::from(self.exit_status())
    }
}

/// A failure of a call on a connected client, in words for the command line.
pub fn from_call(command: &str, error: qemu_qmp::Error) -> Failure {
    use qemu_qmp::Error;
    match error {
        Error::Qmp { class, desc } => Failure::qmp(class.as_str(), &desc),
        Error::Disconnected => {
            Failure::connection(format!("QEMU closed the connection before answering {command}"))
        }
        Error::Io(e) => Failure::connection(format!("the connection failed during {command}: {e}")),
        Error::Timeout(after) => Failure::other(format!(
            "{command} got no reply within {:.1}s (raise --timeout, or check that QEMU is not stopped with SIGSTOP)",
            after.as_secs_f64()
        )),
        other => Failure::other(format!("{command}: {other}")),
    }
}
