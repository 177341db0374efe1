//! `qmp`: QEMU's Machine Protocol from the command line.
//!
//! Every subcommand is a user of the `qemu-qmp` library's public API. The modules follow
//! the data flow: [`address`] and [`connect`] reach QEMU, [`introspect`] reads its schema,
//! [`args`] turns words into checked arguments, and each subcommand has a module of its own.

mod address;
mod args;
mod connect;
mod events;
mod exec;
mod failure;
mod introspect;
mod offline;
mod output;
mod schema_cmd;
mod shell;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::failure::Failure;

/// Talk to QEMU over QMP: run commands, follow events, watch jobs, or open a shell.
///
/// ADDR is `unix:PATH`, `tcp:HOST:PORT` or a socket path. It may be left out when
/// $QMP_SOCKET holds it.
#[derive(Parser, Debug)]
#[command(name = "qmp", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one command and print its reply as JSON.
    ///
    /// Arguments are `key=value` words (dotted keys reach nested members:
    /// `cache.direct=true`) or one JSON object. They are checked against the running
    /// QEMU's schema before anything is sent. A command given no arguments goes to QEMU
    /// at once (QEMU checks the name and required arguments before running anything);
    /// a refusal is then explained from the schema, with the closest match.
    ///
    /// Exit status: 0 success, 1 QMP error (class and description on stderr), 2 usage
    /// (an unknown command or argument, a bad value), 3 connection failure.
    #[command(override_usage = "qmp exec [OPTIONS] [ADDR] COMMAND [key=value ... | JSON]")]
    Exec(exec::ExecArgs),
    /// Follow events as they arrive, with readable timestamps.
    #[command(override_usage = "qmp events [OPTIONS] [ADDR] [NAME]...")]
    Events(events::EventsArgs),
    /// Block until an event arrives (optionally one whose data matches), then print it.
    ///
    /// Exit status: 0 the event came, 1 timed out, 2 usage, 3 connection failure.
    #[command(override_usage = "qmp wait [OPTIONS] [ADDR] EVENT")]
    Wait(events::WaitArgs),
    /// A live view of the VM's run state and of every job, with progress bars.
    #[command(override_usage = "qmp watch [OPTIONS] [ADDR]")]
    Watch(watch::WatchArgs),
    /// An interactive shell: completion from the running QEMU's schema, events shown as
    /// they arrive, reconnection. With stdin not a terminal, runs each line of it and
    /// prints JSON lines.
    #[command(
        override_usage = "qmp shell [OPTIONS] [ADDR]\n       qmp shell [OPTIONS] --launch -- QEMU [QEMU-ARGS]..."
    )]
    Shell(shell::ShellArgs),
    /// The QAPI schema: a definition, or the changes between two releases.
    #[command(subcommand)]
    Schema(schema_cmd::SchemaCommand),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// How to reach QEMU: the options every connecting subcommand shares.
#[derive(Args, Debug, Clone)]
pub struct ConnectOptions {
    /// Seconds to wait for the connection, the greeting and the negotiation.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = parse_seconds)]
    pub connect_timeout: f64,
}

impl ConnectOptions {
    /// The connect timeout as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout)
    }
}

/// A non-negative number of seconds.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version itself (exit 0) and usage errors (exit 2).
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let outcome = match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qmp", &mut std::io::stdout());
            Ok(())
        }
        Command::Schema(command) => schema_cmd::run(command),
        Command::Exec(args) => run_async(exec::run(args)),
        Command::Events(args) => run_async(events::run_events(args)),
        Command::Wait(args) => run_async(events::run_wait(args)),
        Command::Watch(args) => run_async(watch::run(args)),
        Command::Shell(args) => shell::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Runs a subcommand on a current-thread runtime: one connection needs no more.
fn run_async(work: impl std::future::Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(work)
}
