//! The fake QMP server (`qemu_qmp::fake`): scripted with the generated types, speaking the
//! protocol as QEMU does (negotiation, ids, out-of-band execution and QEMU's in-band queue,
//! events, pretty output), in each of its connection modes.

mod common;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::within;
use futures::StreamExt;
use qemu_qmp::api::{
    BlockdevDel, MigratePause, QueryName, QueryStatus, QueryVersion, RunState, StatusInfo, Stop,
};
use qemu_qmp::fake::{FakeQmp, Received};
use qemu_qmp::{Client, Commands, Error, ErrorClass, Event, EventFilter};
use serde_json::{json, Value};

fn running() -> StatusInfo {
    StatusInfo::new(true, RunState::Running)
}

#[tokio::test]
async fn typed_rules_answer_typed_calls_and_what_came_reads_back_typed() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>().returns(running());
    fake.on::<BlockdevDel>()
        .when(|del| del.node_name == "busy")
        .error(ErrorClass::GenericError, "node is in use");
    fake.on::<BlockdevDel>().returns(());
    let client = within(10, fake.client()).await.unwrap();

    let status = client.query_status().await.unwrap();
    assert!(status.running);
    assert_eq!(status.status, RunState::Running);
    match client.blockdev_del("busy").await {
        Err(Error::Qmp { class, desc }) => {
            assert_eq!(class, ErrorClass::GenericError);
            assert_eq!(desc, "node is in use");
        }
        other => panic!("expected the scripted error, got {other:?}"),
    }
    client.blockdev_del("idle").await.unwrap();

    let deleted: Vec<String> = fake
        .received_of::<BlockdevDel>()
        .unwrap()
        .into_iter()
        .map(|d| d.node_name)
        .collect();
    assert_eq!(deleted, ["busy", "idle"]);
    let commands: Vec<String> = fake.received().into_iter().map(|r| r.command).collect();
    assert_eq!(
        commands,
        [
            "qmp_capabilities",
            "query-status",
            "blockdev-del",
            "blockdev-del"
        ]
    );
    fake.verify().unwrap();
}

#[tokio::test]
async fn limited_rules_are_used_up_in_order() {
    let fake = FakeQmp::new();
    fake.on::<QueryName>().times(1).returns(Default::default());
    fake.on::<QueryName>()
        .returns_with(|_| Ok(qemu_qmp::api::NameInfo::new().name("second")));
    let client = fake.client().await.unwrap();
    assert_eq!(client.query_name().await.unwrap().name, None);
    assert_eq!(
        client.query_name().await.unwrap().name.as_deref(),
        Some("second")
    );
    assert_eq!(
        client.query_name().await.unwrap().name.as_deref(),
        Some("second")
    );
}

#[test]
fn an_unscripted_command_fails_the_test_naming_it_and_its_arguments() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(|| {
        runtime.block_on(async {
            let fake = FakeQmp::new();
            let client = fake.client().await.unwrap();
            // The caller gets QEMU's answer to an unknown command...
            match client.blockdev_del("disk0").await {
                Err(Error::Qmp { class, desc }) => {
                    assert_eq!(class, ErrorClass::CommandNotFound);
                    assert!(desc.contains("blockdev-del"), "{desc}");
                }
                other => panic!("expected CommandNotFound, got {other:?}"),
            }
            let unscripted = fake.unscripted();
            assert_eq!(unscripted.len(), 1);
            assert_eq!(unscripted[0].arguments, json!({"node-name": "disk0"}));
            // ...and the test fails when the fake goes.
            drop(fake);
        })
    });
    let message = caught.expect_err("dropping the fake must fail the test");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("`blockdev-del` with arguments {\"node-name\":\"disk0\"}"),
        "{message}"
    );
}

#[tokio::test]
async fn verify_reports_unscripted_commands_once() {
    let fake = FakeQmp::new();
    let client = fake.client().await.unwrap();
    let _ = client.execute_raw("x-nothing", Some(json!({"a": 1}))).await;
    let error = fake.verify().unwrap_err();
    assert_eq!(error.requests.len(), 1);
    assert!(error
        .to_string()
        .contains("`x-nothing` with arguments {\"a\":1}"));
    // Reported: dropping the fake now does not fail the test.
}

#[tokio::test]
async fn events_carry_typed_data_and_timestamps_and_follow_their_command() {
    let fake = FakeQmp::new();
    fake.on::<Stop>()
        .then_emit_raw("STOP", Value::Null)
        .returns(());
    let client = fake.client().await.unwrap();
    let mut events = client.subscribe(EventFilter::names(["STOP", "SHUTDOWN"]));
    client.stop().await.unwrap();
    let stop = within(5, events.next()).await.unwrap().unwrap();
    assert!(matches!(stop.event, Event::Stop));
    let now = std::time::SystemTime::now();
    let stamped = stop.timestamp.to_system_time().unwrap();
    assert!(now.duration_since(stamped).unwrap_or_default() < Duration::from_secs(5));

    fake.emit_raw(
        "SHUTDOWN",
        json!({"guest": true, "reason": "guest-shutdown"}),
    );
    let shutdown = within(5, events.next()).await.unwrap().unwrap();
    match shutdown.event {
        Event::Shutdown(data) => assert!(data.guest),
        other => panic!("expected SHUTDOWN, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_band_commands_overtake_a_full_in_band_queue() {
    let fake = FakeQmp::new();
    // The first in-band command hangs: QEMU queues 8 behind it and then stops reading.
    fake.on::<QueryStatus>()
        .times(1)
        .delay(Duration::from_millis(600))
        .returns(running());
    // The rest take a while each, so some are still queued when the OOB request is read.
    fake.on::<QueryStatus>()
        .delay(Duration::from_millis(100))
        .returns(running());
    fake.on::<MigratePause>().returns(());
    let client = fake.client().await.unwrap();
    assert!(client.oob_enabled());
    let started = Instant::now();
    let in_band: Vec<_> = (0..12).map(|_| client.query_status()).collect();
    let in_band = tokio::spawn(futures::future::join_all(
        in_band.into_iter().map(IntoFuture::into_future),
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    // While the first command hangs the server has read it and the 8 it queues, and no
    // more: the rest wait in the socket.
    let read_while_hung = fake.received().len();
    assert_eq!(
        read_while_hung,
        1 + 1 + 8,
        "qmp_capabilities, the hung one, 8 queued"
    );
    // So an OOB request waits too (QEMU does not read it either); once read, it
    // overtakes every in-band command still queued.
    let oob = within(5, client.migrate_pause().oob()).await;
    assert!(oob.is_ok(), "{oob:?}");
    let oob_done = started.elapsed();
    let results = within(10, in_band).await.unwrap();
    let in_band_done = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    assert!(
        oob_done >= Duration::from_millis(550),
        "{oob_done:?}: answered before the queue had room"
    );
    assert!(
        oob_done + Duration::from_millis(300) < in_band_done,
        "the OOB reply ({oob_done:?}) overtakes the queued in-band ones ({in_band_done:?})"
    );
    let received = fake.received();
    let oob_at = received.iter().position(|r| r.oob).unwrap();
    // Read when the hung command ended and one slot freed: after the first 10 in-band.
    assert!(oob_at > 1 + 1 + 8, "{oob_at}");
}

#[tokio::test]
async fn out_of_band_is_refused_as_qemu_refuses_it() {
    let fake = FakeQmp::new();
    let client = fake.client().await.unwrap();
    // Not an allow-oob command.
    match client.execute_raw_oob("query-status", None).await {
        Err(Error::Qmp { class, desc }) => {
            assert_eq!(class, ErrorClass::GenericError);
            assert!(desc.contains("out of band"), "{desc}");
        }
        other => panic!("{other:?}"),
    }
    // Without oob negotiated the client refuses before sending.
    let plain = fake
        .client_with(Client::builder().oob(false))
        .await
        .unwrap();
    assert!(matches!(
        plain.migrate_pause().oob().await,
        Err(Error::OobNotNegotiated)
    ));
}

#[tokio::test]
async fn replies_can_be_reordered_and_delayed() {
    let fake = FakeQmp::builder().reorder_replies(true).build();
    fake.on::<QueryVersion>()
        .delay(Duration::from_millis(300))
        .returns(qemu_qmp::api::VersionInfo::new(
            qemu_qmp::api::VersionTriple::new(10, 0, 0),
            "",
        ));
    fake.on::<QueryStatus>().returns(running());
    let client = fake.client().await.unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            let v = client.query_version().await;
            (v, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.query_status().await.unwrap();
    let fast_done = Instant::now();
    let (version, slow_done) = within(5, slow).await.unwrap();
    assert_eq!(version.unwrap().qemu.major, 10);
    assert!(slow_done > fast_done, "the later call was answered first");
}

#[tokio::test]
async fn scripted_faults_reach_the_client() {
    let fake = FakeQmp::new();
    fake.on::<QueryName>()
        .raw(b"{\"return\": {}, \"id\": 999999}\n".to_vec());
    fake.on::<QueryStatus>().close_connection();
    let client = fake
        .client_with(Client::builder().command_timeout(Some(Duration::from_millis(300))))
        .await
        .unwrap();
    // A reply to nobody's id: the caller is not answered by it, and times out.
    assert!(matches!(client.query_name().await, Err(Error::Timeout(_))));
    assert!(matches!(
        within(5, client.query_status().into_future()).await,
        Err(Error::Disconnected)
    ));
}

#[tokio::test]
async fn pretty_output_is_read_by_the_client() {
    let fake = FakeQmp::builder().pretty(true).build();
    fake.on::<QueryStatus>().returns(running());
    let client = fake.client().await.unwrap();
    assert!(client.query_status().await.unwrap().running);
    assert_eq!(client.greeting().unwrap().version.qemu.major, 10);
}

#[tokio::test]
async fn the_greeting_is_configurable() {
    let fake = FakeQmp::builder()
        .version(7, 2, 5)
        .package("Debian 1:7.2")
        .capabilities([])
        .build();
    let client = fake.client().await.unwrap();
    let greeting = client.greeting().unwrap();
    assert_eq!(greeting.version.qemu.to_string(), "7.2.5");
    assert_eq!(greeting.version.package, "Debian 1:7.2");
    assert!(!client.oob_enabled());
}

#[tokio::test]
async fn a_unix_socket_path_stands_in_for_qemu() {
    let dir = tempdir();
    let path = dir.join("qmp.sock");
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>().returns(running());
    let listening = fake.listen_unix(&path).unwrap();
    // Two clients, as two programs would connect.
    let a = Client::connect(path.as_path()).await.unwrap();
    let b = Client::connect(path.as_path()).await.unwrap();
    assert!(a.query_status().await.unwrap().running);
    assert!(b.query_status().await.unwrap().running);
    assert_eq!(fake.connections(), 2);
    let connections: Vec<u64> = fake
        .received()
        .iter()
        .filter(|r| r.command == "query-status")
        .map(|r| r.connection)
        .collect();
    assert_eq!(connections.len(), 2);
    assert_ne!(connections[0], connections[1]);
    drop(listening);
    assert!(!path.exists(), "the socket file is removed");
}

#[tokio::test]
async fn accept_mode_dials_a_waiting_client() {
    let dir = tempdir();
    let path = dir.join("accept.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>().returns(running());
    let accepting = tokio::spawn(async move { Client::builder().accept_unix(&listener).await });
    fake.connect_unix(&path).await.unwrap();
    let client = within(5, accepting).await.unwrap().unwrap();
    assert!(client.query_status().await.unwrap().running);
}

#[tokio::test]
async fn commands_before_negotiation_are_refused_like_qemu() {
    let fake = FakeQmp::new();
    let (mut raw, _) = raw_connection(&fake).await;
    raw.send(r#"{"execute": "query-status", "id": 1}"#).await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["class"], "CommandNotFound");
    assert_eq!(reply["id"], 1);
    raw.send(r#"{"execute": "qmp_capabilities", "arguments": {"enable": ["nope"]}, "id": 2}"#)
        .await;
    assert_eq!(raw.recv().await["error"]["class"], "GenericError");
    raw.send(r#"{"execute": "qmp_capabilities", "id": 3}"#)
        .await;
    assert_eq!(raw.recv().await, json!({"return": {}, "id": 3}));
    raw.send(r#"{"execute": "qmp_capabilities", "id": 4}"#)
        .await;
    assert_eq!(raw.recv().await["error"]["class"], "CommandNotFound");
    raw.send("[1, 2]").await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["class"], "GenericError");
    assert!(reply.get("id").is_none());
    // Nothing of this is "unscripted": it is the protocol's own answer.
    assert!(fake.unscripted().is_empty());
}

#[tokio::test]
async fn received_requests_keep_ids_and_arguments() {
    let fake = FakeQmp::builder().allow_unscripted(true).build();
    let client = fake.client().await.unwrap();
    let _ = client
        .execute_raw("x-test", Some(json!({"deep": {"list": [1, 2]}})))
        .await;
    let last: Received = fake.received().pop().unwrap();
    assert_eq!(last.command, "x-test");
    assert_eq!(last.arguments, json!({"deep": {"list": [1, 2]}}));
    assert!(last.id.as_ref().is_some_and(Value::is_u64));
    assert!(!last.oob);
}

#[tokio::test]
async fn many_clients_are_served_concurrently() {
    let fake = Arc::new(FakeQmp::new());
    fake.on::<QueryStatus>().returns(running());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let fake = fake.clone();
        tasks.push(tokio::spawn(async move {
            let client = fake.client().await.unwrap();
            for _ in 0..10 {
                client.query_status().await.unwrap();
            }
        }));
    }
    for t in tasks {
        within(20, t).await.unwrap();
    }
    assert_eq!(
        fake.received()
            .iter()
            .filter(|r| r.command == "query-status")
            .count(),
        200
    );
}

/// A private temporary folder, removed when the test process ends.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "qmp-fake-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A connection to the fake read and written by hand; the greeting already read.
async fn raw_connection(fake: &FakeQmp) -> (RawPeer, Value) {
    let dir = tempdir();
    let path = dir.join("raw.sock");
    let listening = fake.listen_unix(&path).unwrap();
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut peer = RawPeer {
        lines: tokio::io::BufReader::new(stream),
        _listening: listening,
    };
    let greeting = peer.recv().await;
    (peer, greeting)
}

struct RawPeer {
    lines: tokio::io::BufReader<tokio::net::UnixStream>,
    _listening: qemu_qmp::fake::Listening,
}

impl RawPeer {
    async fn send(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.lines
            .get_mut()
            .write_all(line.as_bytes())
            .await
            .unwrap();
        self.lines.get_mut().write_all(b"\n").await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        within(5, self.lines.read_line(&mut line)).await.unwrap();
        serde_json::from_str(&line).unwrap()
    }
}
