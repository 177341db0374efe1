//! `qmp exec`: one command, checked, sent, its reply printed.

use std::time::Duration;

use clap::Args;
use qemu_qmp::{Client, LiveSchema};
use serde_json::Value;

use crate::args::{self, Input};
use crate::failure::{self, Failure, FailureKind};
use crate::{address, connect, offline, output, ConnectOptions};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The address (left out when $QMP_SOCKET holds it), the command, then its
    /// arguments: `key=value` words or one JSON object.
    #[arg(value_name = "ARG", required = true)]
    words: Vec<String>,
    /// Print the reply on one line.
    #[arg(long)]
    compact: bool,
    /// Send the arguments as typed, without checking them against the schema.
    #[arg(long)]
    no_check: bool,
    /// Seconds to wait for the reply (default: no limit).
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Option<f64>,
    #[command(flatten)]
    connect: ConnectOptions,
}

pub async fn run(args: ExecArgs) -> Result<(), Failure> {
    let (endpoint, rest) = address::split(&args.words, 1)?;
    let Some((command, words)) = rest.split_first() else {
        return Err(Failure::usage(
            "no command given: `qmp exec [ADDR] COMMAND [ARGS...]`",
        ));
    };
    let input = args::parse_words(words).map_err(|e| Failure::usage(e.to_string()))?;
    let client = connect::open(&endpoint, &args.connect).await?;
    let timeout = args.timeout.map(Duration::from_secs_f64);
    let reply = if args.no_check {
        execute(&client, command, args::build_unchecked(input), timeout).await
    } else if input.is_none() {
        // Nothing to check but the name, and QEMU checks that (and any required argument)
        // before running anything: send at once and skip fetching the schema, tens of
        // milliseconds of QEMU's time. Only a refusal needs the schema, to say it our way.
        match execute(&client, command, None, timeout).await {
            Err(refused) if refused.kind == FailureKind::Qmp => {
                let schema = schema_of(&client).await?;
                check(&schema, command, None)?;
                Err(refused)
            }
            reply => reply,
        }
    } else {
        let schema = schema_of(&client).await?;
        let arguments = check(&schema, command, input)?;
        execute(&client, command, arguments, timeout).await
    };
    client.close().await;
    println!("{}", output::json(&reply?, args.compact));
    Ok(())
}

/// The schema to check against: the running QEMU's, or the bindings' own when it cannot
/// tell (a QEMU without `query-qmp-schema`).
pub async fn schema_of(client: &Client) -> Result<std::sync::Arc<LiveSchema>, Failure> {
    match client.schema().await {
        Ok(schema) => Ok(schema),
        Err(qemu_qmp::Error::Qmp { .. }) => Ok(offline::bindings_schema()),
        Err(e) => Err(failure::from_call("query-qmp-schema", e)),
    }
}

/// The checked arguments of `command`: an unknown command, argument or value is a usage
/// failure that names the closest match.
pub fn check(
    schema: &LiveSchema,
    command: &str,
    input: Option<Input>,
) -> Result<Option<Value>, Failure> {
    args::build(schema, command, input).map_err(|e| {
        Failure::usage(if e.unknown_command {
            e.message
        } else {
            format!("{command}: {e}")
        })
    })
}

/// Sends `command` and waits for its reply (no longer than `timeout`).
pub async fn execute(
    client: &Client,
    command: &str,
    arguments: Option<Value>,
    timeout: Option<Duration>,
) -> Result<Value, Failure> {
    let call = client.execute_raw(command, arguments);
    let call = match timeout {
        Some(limit) => call.timeout(limit),
        None => call,
    };
    call.await.map_err(|e| failure::from_call(command, e))
}
