//! `qmp events` (follow events) and `qmp wait` (block until one comes).

use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::Args;
use futures_util::StreamExt;
use qemu_qmp::events::ReceivedEvent;
use qemu_qmp::{EventFilter, LiveSchema};
use serde_json::Value;

use crate::failure::{self, Failure};
use crate::introspect::did_you_mean;
use crate::{address, connect, output, ConnectOptions};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// The address (left out when $QMP_SOCKET holds it), then the names of the events to
    /// follow (every event when none is named).
    #[arg(value_name = "ARG")]
    words: Vec<String>,
    /// Print each event as QEMU sent it, one JSON object a line.
    #[arg(long)]
    json: bool,
    /// Stop after this many seconds (exit 0).
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Option<f64>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    #[command(flatten)]
    connect: ConnectOptions,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// The address (left out when $QMP_SOCKET holds it), then the event to wait for.
    #[arg(value_name = "ARG", required = true)]
    words: Vec<String>,
    /// Only an event whose data has this member with this value (`id=disk1`,
    /// `action=pause`, dotted keys for nested members); may be repeated.
    #[arg(long = "match", value_name = "KEY=VALUE")]
    matches: Vec<String>,
    /// Give up after this many seconds (exit 1).
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Option<f64>,
    #[command(flatten)]
    connect: ConnectOptions,
}

/// Checks event names against the schema: a misspelt name would never match.
fn check_names(schema: &LiveSchema, names: &[String]) -> Result<(), Failure> {
    for name in names {
        if !schema.has_event(name) {
            let upper = name.to_uppercase();
            let hint = if upper != *name && schema.has_event(&upper) {
                format!("; did you mean `{upper}`?")
            } else {
                did_you_mean(name, schema.events())
            };
            return Err(Failure::usage(format!(
                "this QEMU has no event `{name}`{hint}"
            )));
        }
    }
    Ok(())
}

/// One event in words: `2026-12-03 13:45:01.123456  STOP  {data}`.
pub fn readable(event: &ReceivedEvent) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let data = event.event.data_value();
    let data = if data.is_null() {
        String::new()
    } else {
        format!("  {data}")
    };
    format!(
        "{dim}{}{dim:#}  {bold}{}{bold:#}{data}",
        output::timestamp(&event.timestamp),
        event.event.name()
    )
}

/// One event as QEMU sent it, on one line.
pub fn as_json_line(event: &ReceivedEvent) -> String {
    output::json(
        &output::event_json(
            event.event.name(),
            &event.event.data_value(),
            &event.timestamp,
        ),
        true,
    )
}

pub async fn run_events(args: EventsArgs) -> Result<(), Failure> {
    let (endpoint, names) = address::split(&args.words, 0)?;
    let filter = if names.is_empty() {
        EventFilter::all()
    } else {
        EventFilter::names(names.iter().cloned())
    };
    // Subscribed before connecting: the events of the negotiation are not lost.
    let client = connect::builder(&args.connect).build(endpoint.clone());
    let mut stream = client.subscribe(filter);
    connect::connect(&client, &endpoint, &args.connect).await?;
    if !names.is_empty() {
        let schema = client
            .schema()
            .await
            .map_err(|e| failure::from_call("query-qmp-schema", e))?;
        check_names(&schema, names)?;
    }
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let mut seen = 0u64;
    let warn = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    while args.count.is_none_or(|n| seen < n) {
        let next = async {
            match deadline {
                Some(at) => tokio::time::timeout_at(at, stream.next()).await.ok(),
                None => Some(stream.next().await),
            }
        };
        let item = tokio::select! {
            item = next => item,
            _ = tokio::signal::ctrl_c() => None,
        };
        match item {
            // Time is up, or interrupted.
            None => break,
            Some(None) => {
                return Err(Failure::connection(format!(
                    "QEMU closed the connection ({endpoint})"
                )));
            }
            Some(Some(Ok(event))) => {
                seen += 1;
                if args.json {
                    println!("{}", as_json_line(&event));
                } else {
                    anstream::println!("{}", readable(&event));
                }
            }
            Some(Some(Err(gap))) => anstream::eprintln!("{warn}warning:{warn:#} {gap}"),
        }
    }
    client.close().await;
    Ok(())
}

/// `key=value` conditions on an event's data.
fn parse_matches(words: &[String]) -> Result<Vec<(Vec<String>, String)>, Failure> {
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((
                key.split('.').map(str::to_owned).collect(),
                value.to_owned(),
            )),
            _ => Err(Failure::usage(format!("--match `{word}` is not KEY=VALUE"))),
        })
        .collect()
}

/// Whether the member at `path` of `data` is `expected`: a string equal to it, or a
/// number, boolean or null written that way.
fn data_matches(data: &Value, path: &[String], expected: &str) -> bool {
    let mut at = data;
    for key in path {
        match at.get(key) {
            Some(v) => at = v,
            None => return false,
        }
    }
    match at {
        Value::String(s) => s == expected,
        other => serde_json::from_str::<Value>(expected).is_ok_and(|v| v == *other),
    }
}

pub async fn run_wait(args: WaitArgs) -> Result<(), Failure> {
    let (endpoint, rest) = address::split(&args.words, 1)?;
    let [name] = rest else {
        return Err(Failure::usage(
            "give exactly one EVENT: `qmp wait [ADDR] EVENT`",
        ));
    };
    let conditions = parse_matches(&args.matches)?;
    let client = connect::builder(&args.connect).build(endpoint.clone());
    let mut stream = client.subscribe(EventFilter::names([name.clone()]));
    connect::connect(&client, &endpoint, &args.connect).await?;
    let schema = client
        .schema()
        .await
        .map_err(|e| failure::from_call("query-qmp-schema", e))?;
    check_names(&schema, std::slice::from_ref(name))?;
    let wait = async {
        while let Some(item) = stream.next().await {
            let Ok(event) = item else { continue };
            let data = event.event.data_value();
            if conditions
                .iter()
                .all(|(path, value)| data_matches(&data, path, value))
            {
                return Ok(event);
            }
        }
        Err(Failure::connection(format!(
            "QEMU closed the connection before {name} came"
        )))
    };
    let outcome = match args.timeout {
        Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs), wait)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::other(format!(
                    "timed out after {secs}s waiting for {name}"
                )))
            }),
        None => wait.await,
    };
    client.close().await;
    println!("{}", as_json_line(&outcome?));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compare_strings_and_scalars() {
        let data = serde_json::json!({"device": "disk1", "n": 3, "nested": {"ok": true}});
        let conds =
            parse_matches(&["device=disk1".into(), "n=3".into(), "nested.ok=true".into()]).unwrap();
        assert!(conds.iter().all(|(p, v)| data_matches(&data, p, v)));
        assert!(!data_matches(&data, &["device".into()], "disk2"));
        assert!(!data_matches(&data, &["missing".into()], "x"));
        assert!(parse_matches(&["novalue".into()]).is_err());
    }
}
