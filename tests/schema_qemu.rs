//! `client.schema()` against real QEMUs 10.0 and 7.2: fetched once per connection (one
//! request, shared by concurrent callers, fetched again after a reconnect), consistent with
//! the live `query-qmp-schema`, and typed calls of a command the live schema lacks refused
//! before sending.
//!
//! "Before sending" is checked with QEMU's own trace of every request it handles
//! (`-trace handle_qmp_command`, written to the log beside its socket).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qemu_qmp::api::{self, QueryStatus};
use qemu_qmp::testing::{Qemu, QemuBuilder};
use qemu_qmp::{
    Backoff, BlockingClient, Client, ClientBuilder, Commands, ConnectionState, Endpoint, Error,
    ErrorClass,
};

fn traced(builder: QemuBuilder) -> QemuBuilder {
    builder.arg("-trace").arg("handle_qmp_command")
}

/// How many requests for `command` QEMU has handled so far, from its trace.
fn handled(qemu: &Qemu, command: &str) -> usize {
    let needle = format!("\"execute\": \"{command}\"");
    qemu.log()
        .lines()
        .filter(|line| line.starts_with("handle_qmp_command") && line.contains(&needle))
        .count()
}

/// Waits a little for the trace to show `count` requests for `command` (it is written
/// before the reply, but through another file handle than the socket).
fn wait_handled(qemu: &Qemu, command: &str, count: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = handled(qemu, command);
        if seen >= count || Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The command names of the live `query-qmp-schema`, read from the raw JSON reply (not
/// through the index under test).
async fn live_commands(client: &Client) -> HashSet<String> {
    let raw = client.execute_raw("query-qmp-schema", None).await.unwrap();
    raw.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["meta-type"] == "command")
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `has_command` agrees with the live command list for every command of the bindings,
/// and the index lists exactly the live commands.
async fn check_consistency(client: &Client) {
    let schema = client.schema().await.unwrap();
    let live = live_commands(client).await;
    for command in api::COMMANDS {
        assert_eq!(
            schema.has_command(command.name),
            live.contains(command.name),
            "{}",
            command.name
        );
    }
    let indexed: HashSet<String> = schema.commands().map(str::to_owned).collect();
    assert_eq!(indexed, live);
}

fn is_not_offered(error: &Error, name: &str) -> bool {
    matches!(error, Error::NotOffered { command, .. } if command == name)
}

#[tokio::test]
async fn qemu_10_0_schema_is_fetched_once_and_checks_typed_calls() {
    let Some(builder) = common::qemu10() else {
        return;
    };
    let mut qemu = traced(builder).spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    assert!(client.cached_schema().is_none());

    // Eight first callers at once: one request, one shared schema.
    let fetches = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.schema().await })
    });
    let mut schemas = Vec::new();
    for fetch in fetches {
        schemas.push(common::within(30, fetch).await.unwrap().unwrap());
    }
    let schema = schemas[0].clone();
    assert!(schemas.iter().all(|s| Arc::ptr_eq(s, &schema)));
    assert!(Arc::ptr_eq(&client.schema().await.unwrap(), &schema));
    assert!(Arc::ptr_eq(&client.cached_schema().unwrap(), &schema));
    client.query_status().await.unwrap();
    assert_eq!(wait_handled(&qemu, "query-qmp-schema", 1), 1);

    assert!(schema.supports::<QueryStatus>());
    assert!(schema.supports::<api::QueryAudiodevs>());
    assert!(schema
        .path_exists("blockdev-add/arg-type/+file/aio/^io_uring")
        .unwrap());

    // The bindings have every target's commands; this x86_64 QEMU lacks s390x's.
    assert!(!schema.has_command("dump-skeys"));
    let err = client.dump_skeys("/dev/null").await.unwrap_err();
    assert!(is_not_offered(&err, "dump-skeys"), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("dump-skeys") && shown.contains("not sent"),
        "{shown}"
    );
    assert!(client.query_status().await.unwrap().running);
    assert_eq!(handled(&qemu, "dump-skeys"), 0);

    check_consistency(&client).await;
}

#[tokio::test]
async fn qemu_7_2_refuses_what_its_schema_lacks_before_sending() {
    let Some(builder) = common::qemu72() else {
        return;
    };
    let mut qemu = traced(builder).spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    assert_eq!(client.greeting().unwrap().version.qemu.minor, 2);

    // Unknown schema, no check: the call goes to QEMU, which refuses it itself.
    let err = client.query_audiodevs().await.unwrap_err();
    assert_eq!(
        err.qmp_class(),
        Some(&ErrorClass::CommandNotFound),
        "{err:?}"
    );
    assert_eq!(wait_handled(&qemu, "query-audiodevs", 1), 1);

    let schema = client.schema().await.unwrap();
    assert!(schema.supports::<QueryStatus>());
    assert!(!schema.supports::<api::QueryAudiodevs>());
    assert!(!live_commands(&client).await.contains("query-audiodevs"));

    // Known schema: refused here, typed, and QEMU never sees it.
    let err = client.query_audiodevs().await.unwrap_err();
    assert!(is_not_offered(&err, "query-audiodevs"), "{err:?}");
    assert!(client.query_status().await.unwrap().running);
    assert_eq!(client.state(), ConnectionState::Running);
    assert_eq!(handled(&qemu, "query-audiodevs"), 1);
    // Raw calls are the escape hatch: not checked, so QEMU answers (and the trace shows it).
    let err = client
        .execute_raw("query-audiodevs", None)
        .await
        .unwrap_err();
    assert_eq!(
        err.qmp_class(),
        Some(&ErrorClass::CommandNotFound),
        "{err:?}"
    );
    assert_eq!(wait_handled(&qemu, "query-audiodevs", 2), 2);

    check_consistency(&client).await;

    // A new connection may reach another QEMU: its schema is unknown until fetched again.
    client.reconnect().await.unwrap();
    assert!(client.cached_schema().is_none());
    let err = client.query_audiodevs().await.unwrap_err();
    assert_eq!(
        err.qmp_class(),
        Some(&ErrorClass::CommandNotFound),
        "{err:?}"
    );
    assert_eq!(wait_handled(&qemu, "query-audiodevs", 3), 3);
    let fetched_before = handled(&qemu, "query-qmp-schema");
    let again = client.schema().await.unwrap();
    assert!(!Arc::ptr_eq(&again, &schema));
    assert_eq!(
        wait_handled(&qemu, "query-qmp-schema", fetched_before + 1),
        fetched_before + 1
    );
    let err = client.query_audiodevs().await.unwrap_err();
    assert!(is_not_offered(&err, "query-audiodevs"), "{err:?}");
    assert_eq!(handled(&qemu, "query-audiodevs"), 3);
}

#[test]
fn blocking_client_schema() {
    let Some(builder) = common::qemu10() else {
        return;
    };
    let qemu = traced(builder).spawn().unwrap();
    let endpoint: Endpoint = qemu.endpoint().unwrap().clone();
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(200),
        attempts: 100,
    };
    let client =
        BlockingClient::connect_with_retry(ClientBuilder::new(), endpoint, backoff).unwrap();
    let schema = client.schema().unwrap();
    assert!(schema.supports::<QueryStatus>());
    assert!(Arc::ptr_eq(&client.schema().unwrap(), &schema));
    let err = client.dump_skeys("/dev/null").wait().unwrap_err();
    assert!(is_not_offered(&err, "dump-skeys"), "{err:?}");
    assert!(client.query_status().wait().unwrap().running);
    assert_eq!(handled(&qemu, "dump-skeys"), 0);
    assert_eq!(wait_handled(&qemu, "query-qmp-schema", 1), 1);
}
