//! Fault injection with a fake QMP server: misbehaviour a real QEMU never shows.

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use common::{within, FakeQmp};
use futures::StreamExt;
use qemu_qmp::{ClientBuilder, Commands, ConnectionState, Error, ErrorClass, Event, EventFilter};
use serde_json::json;

const STATUS: &str = r#"{"running": true, "status": "running"}"#;

#[tokio::test]
async fn malformed_lines_are_skipped_and_the_caller_still_answered() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    assert_eq!(req["execute"], "query-status");
    assert!(req.get("arguments").is_none(), "{req}");
    fake.send("{this is not json").await;
    fake.send("[1, 2, 3]").await;
    fake.send("\u{0}\u{1}garbage").await;
    fake.send_bytes(b"{\"bad utf8\": \"\xff\xfe\"}\n").await;
    fake.send(r#"{"neither": "reply nor event"}"#).await;
    fake.send(r#"{"QMP": {"version": {}, "capabilities": []}}"#)
        .await;
    fake.send("").await;
    fake.send(&format!(r#"{{"return": {STATUS}, "id": {}}}"#, req["id"]))
        .await;
    let status = within(10, call).await.unwrap().unwrap();
    assert!(status.running);
    // The connection is still fine.
    let next = tokio::spawn(client.query_version().into_future());
    let req = fake.recv().await;
    fake.reply(
        &req,
        json!({"qemu": {"major": 10, "minor": 0, "micro": 0}, "package": ""}),
    )
    .await;
    assert_eq!(within(10, next).await.unwrap().unwrap().qemu.major, 10);
    assert_eq!(client.state(), ConnectionState::Running);
}

#[tokio::test]
async fn replies_with_unknown_or_foreign_ids_are_ignored() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    fake.send(r#"{"return": {}, "id": 999999}"#).await;
    fake.send(r#"{"return": {}, "id": "libvirt-1"}"#).await;
    fake.send(r#"{"return": {}, "id": {"nested": 1}}"#).await;
    fake.send(r#"{"error": {"class": "GenericError", "desc": "x"}, "id": -1}"#)
        .await;
    fake.reply(&req, serde_json::from_str(STATUS).unwrap())
        .await;
    assert!(within(10, call).await.unwrap().unwrap().running);
}

#[tokio::test]
async fn a_reply_without_an_id_answers_every_caller_in_flight() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let a = tokio::spawn(client.query_status().into_future());
    let b = tokio::spawn(client.query_version().into_future());
    let ra = fake.recv().await;
    let rb = fake.recv().await;
    fake.send(
        r#"{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}"#,
    )
    .await;
    for res in [
        within(10, a).await.unwrap().map(|_| ()),
        within(10, b).await.unwrap().map(|_| ()),
    ] {
        match res.unwrap_err() {
            Error::Protocol { message } => {
                assert!(message.contains("JSON parse error"), "{message}")
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }
    // Their real replies, should they come late, go nowhere; new calls work.
    fake.reply(&ra, serde_json::from_str(STATUS).unwrap()).await;
    fake.reply(&rb, json!({})).await;
    let c = tokio::spawn(client.query_status().into_future());
    let rc = fake.recv().await;
    fake.reply(&rc, serde_json::from_str(STATUS).unwrap()).await;
    assert!(within(10, c).await.unwrap().unwrap().running);
}

#[tokio::test]
async fn giant_lines_are_skipped_with_a_typed_error() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new().max_message_size(64 * 1024)).await;
    let mut events = client.events();

    // A giant reply whose id can be recovered (QEMU writes it last) fails only its caller.
    let a = tokio::spawn(client.query_status().into_future());
    let b = tokio::spawn(client.query_version().into_future());
    let ra = fake.recv().await;
    let rb = fake.recv().await;
    let huge = "x".repeat(1024 * 1024);
    fake.send(&format!(
        r#"{{"return": {{"junk": "{huge}"}}, "id": {}}}"#,
        ra["id"]
    ))
    .await;
    match within(10, a).await.unwrap().unwrap_err() {
        Error::MessageTooLarge { size, limit } => {
            assert!(size > 1024 * 1024);
            assert_eq!(limit, 64 * 1024);
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    // The stream is still in step: the next line is read normally.
    fake.event("STOP", None, 1).await;
    fake.reply(
        &rb,
        json!({"qemu": {"major": 9, "minor": 2, "micro": 0}, "package": ""}),
    )
    .await;
    assert_eq!(within(10, b).await.unwrap().unwrap().qemu.major, 9);
    let ev = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(ev.event, Event::Stop));

    // A giant line that names no id fails every call in flight (one of them lost its reply).
    let c = tokio::spawn(client.query_status().into_future());
    let _rc = fake.recv().await;
    fake.send(&format!(r#"{{"id": 77, "return": "{huge}"}}"#))
        .await;
    assert!(matches!(
        within(10, c).await.unwrap().unwrap_err(),
        Error::MessageTooLarge { .. }
    ));
    let d = tokio::spawn(client.query_status().into_future());
    let rd = fake.recv().await;
    fake.reply(&rd, serde_json::from_str(STATUS).unwrap()).await;
    assert!(within(10, d).await.unwrap().unwrap().running);
}

#[tokio::test]
async fn events_unknown_and_undecodable_are_delivered_as_other() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let mut events = client.events();
    fake.event("FROM_A_NEWER_QEMU", Some(json!({"x": 1})), 1)
        .await;
    fake.event("SHUTDOWN", Some(json!({"guest": "not a bool"})), 2)
        .await;
    fake.event(
        "SHUTDOWN",
        Some(json!({"guest": true, "reason": "guest-shutdown"})),
        3,
    )
    .await;
    fake.event(
        "SHUTDOWN",
        Some(json!({"guest": false, "reason": "some-new-cause"})),
        4,
    )
    .await;
    fake.send(r#"{"event": "STOP"}"#).await; // no timestamp at all

    let ev = within(10, events.next()).await.unwrap().unwrap();
    match ev.event {
        Event::Other { name, data } => {
            assert_eq!(name, "FROM_A_NEWER_QEMU");
            assert_eq!(data, json!({"x": 1}));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ev.timestamp.seconds, 1);
    assert_eq!(ev.timestamp.microseconds, 5);
    let ev = within(10, events.next()).await.unwrap().unwrap();
    match ev.event {
        Event::Other { name, data } => {
            assert_eq!(name, "SHUTDOWN");
            assert_eq!(data["guest"], "not a bool");
        }
        other => panic!("{other:?}"),
    }
    let ev = within(10, events.next()).await.unwrap().unwrap();
    assert!(
        matches!(ev.event, Event::Shutdown(ref d) if d.guest),
        "{:?}",
        ev.event
    );
    let ev = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(ev.event, Event::Shutdown(_)), "{:?}", ev.event);
    let ev = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(ev.event, Event::Stop));
    assert_eq!(ev.timestamp, qemu_qmp::Timestamp::default());
}

#[tokio::test]
async fn a_slow_subscriber_lags_without_blocking_replies_or_others() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new().event_buffer(4)).await;
    let mut slow = client.events();
    let mut stops = client.subscribe(EventFilter::names(["STOP"]));
    let mut fast = client.events();
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    // A fast reader keeps up while the slow one reads nothing.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(item) = fast.next().await {
            match item {
                Ok(ev) => seen.push(ev.timestamp.seconds),
                Err(lag) => panic!("the fast subscriber lagged: {lag}"),
            }
            if seen.len() == 10 {
                break;
            }
        }
        seen
    });
    for i in 0..10 {
        fake.event(if i == 9 { "STOP" } else { "RESUME" }, None, i)
            .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fake.reply(&req, serde_json::from_str(STATUS).unwrap())
        .await;
    // The reply is not held up by the full buffer of the slow subscriber.
    assert!(within(10, call).await.unwrap().unwrap().running);
    assert_eq!(
        within(10, reader).await.unwrap(),
        (0..10).collect::<Vec<_>>()
    );

    // The slow one is told how many it missed, then gets the newest four in order.
    assert_eq!(
        slow.next().await.unwrap().unwrap_err(),
        qemu_qmp::Gap::Lagged { missed: 6 }
    );
    for i in 6..10 {
        assert_eq!(slow.next().await.unwrap().unwrap().timestamp.seconds, i);
    }
    // The filtered one saw only its event and missed nothing.
    let ev = stops.next().await.unwrap().unwrap();
    assert_eq!(ev.timestamp.seconds, 9);
    assert!(stops.try_next().is_none());

    // When the server goes away the streams end after what they hold.
    fake.event("RESUME", None, 11).await;
    fake.close().await;
    assert_eq!(
        within(10, slow.next())
            .await
            .unwrap()
            .unwrap()
            .timestamp
            .seconds,
        11
    );
    assert!(within(10, slow.next()).await.is_none());
    assert!(within(10, stops.next()).await.is_none());
}

#[tokio::test]
async fn late_replies_to_dropped_calls_reach_nobody() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let dropped = client.query_version().into_future();
    let req_dropped = fake.recv().await;
    drop(dropped);
    let kept = tokio::spawn(client.query_status().into_future());
    let req_kept = fake.recv().await;
    // The dropped call's reply (a VersionInfo) comes first; it must not reach `kept`.
    fake.reply(
        &req_dropped,
        json!({"qemu": {"major": 1, "minor": 0, "micro": 0}, "package": ""}),
    )
    .await;
    fake.reply(&req_kept, serde_json::from_str(STATUS).unwrap())
        .await;
    assert!(within(10, kept).await.unwrap().unwrap().running);
}

#[tokio::test]
async fn typed_errors_decode_errors_and_timeouts() {
    let (mut fake, client) =
        FakeQmp::pair(ClientBuilder::new().command_timeout(Some(Duration::from_millis(200)))).await;
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    fake.send(&format!(
        r#"{{"id": {}, "error": {{"class": "SomeFutureClass", "desc": "new"}}}}"#,
        req["id"]
    ))
    .await;
    match within(10, call).await.unwrap().unwrap_err() {
        Error::Qmp { class, desc } => {
            assert_eq!(class, ErrorClass::Other("SomeFutureClass".into()));
            assert_eq!(class.to_string(), "SomeFutureClass");
            assert_eq!(desc, "new");
        }
        other => panic!("{other:?}"),
    }
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    fake.reply(&req, json!({"running": "yes"})).await;
    match within(10, call).await.unwrap().unwrap_err() {
        Error::Decode { command, .. } => assert_eq!(command, "query-status"),
        other => panic!("{other:?}"),
    }
    // Nobody answers: the configured command timeout fires.
    let call = client.query_status().into_future();
    let _req = fake.recv().await;
    assert!(matches!(within(10, call).await, Err(Error::Timeout(_))));
}

#[tokio::test]
async fn negotiation_failures_are_typed() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // Not a greeting.
    let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
    theirs.write_all(b"{\"hello\": 1}\n").await.unwrap();
    let err = ClientBuilder::new()
        .connect_transport(ours)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Negotiation { .. }), "{err:?}");

    // qmp_capabilities refused.
    let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
    let server = tokio::spawn(async move {
        let (r, mut w) = theirs.into_split();
        w.write_all(format!("{}\n", common::GREETING).as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        BufReader::new(r).read_line(&mut line).await.unwrap();
        let req: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(req["arguments"]["enable"], json!(["oob"]));
        let reply = json!({"error": {"class": "GenericError", "desc": "no"}, "id": req["id"]});
        w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        w
    });
    let err = ClientBuilder::new()
        .connect_transport(ours)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Negotiation { .. }), "{err:?}");
    drop(server.await.unwrap());

    // Silence: the negotiation timeout.
    let (ours, _theirs) = tokio::net::UnixStream::pair().unwrap();
    let err = ClientBuilder::new()
        .negotiate_timeout(Duration::from_millis(100))
        .connect_transport(ours)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");

    // Nobody listening: an I/O error, and the state says closed.
    let err = qemu_qmp::Client::connect(std::path::Path::new("/nonexistent/qmp.sock"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

#[tokio::test]
async fn a_generic_stream_transport_works_without_fd_passing() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (r, mut w) = tokio::io::split(theirs);
        let mut r = BufReader::new(r);
        w.write_all(format!("{}\n", common::GREETING).as_bytes())
            .await
            .unwrap();
        for _ in 0..2 {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let req: serde_json::Value = serde_json::from_str(&line).unwrap();
            let ret = if req["execute"] == "qmp_capabilities" {
                json!({})
            } else {
                serde_json::from_str(STATUS).unwrap()
            };
            let reply = json!({"return": ret, "id": req["id"]});
            w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        }
        w
    });
    let client = ClientBuilder::new()
        .connect_transport(qemu_qmp::Transport::other(ours))
        .await
        .unwrap();
    assert!(client.query_status().await.unwrap().running);
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let err = client
        .execute_raw_with_fd("getfd", Some(json!({"fdname": "x"})), &devnull)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FdPassingUnsupported));
    drop(server.await.unwrap());
    // The server dropped its end: the client notices and closes.
    let mut state = client.watch_state();
    within(10, state.wait_for(|s| *s == ConnectionState::Closed))
        .await
        .unwrap();
}

#[tokio::test]
async fn accept_mode_times_out_when_nobody_connects() {
    let dir = std::env::temp_dir().join(format!("qmp-accept-timeout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("l.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let err = ClientBuilder::new()
        .connect_timeout(Duration::from_millis(100))
        .accept_unix(&listener)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let events = client.events();
    drop(client);
    // The server sees end of stream: the writer task shut its half down.
    let mut line = String::new();
    use tokio::io::AsyncBufReadExt;
    let n = within(10, fake_reader(&mut fake).read_line(&mut line))
        .await
        .unwrap();
    assert_eq!(n, 0, "{line:?}");
    // And subscribers are told the connection is gone.
    let mut events = events;
    assert!(within(10, events.next()).await.is_none());
}

fn fake_reader(fake: &mut FakeQmp) -> &mut tokio::io::BufReader<tokio::net::unix::OwnedReadHalf> {
    fake.reader_mut()
}

/// Counts the library's tracing events by message, proving every message in and out is
/// reported (and that nothing is reported without a subscriber: none is installed).
mod tracing_capture {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Capture(pub Arc<Mutex<Vec<String>>>);

    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields(String::new());
            event.record(&mut f);
            self.0.lock().unwrap().push(f.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[test]
fn every_message_in_and_out_is_traced() {
    let capture = tracing_capture::Capture::default();
    let seen = capture.0.clone();
    tracing::subscriber::with_default(capture, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
                let mut events = client.events();
                let call = client.query_status().into_future();
                let req = fake.recv().await;
                fake.event("STOP", None, 1).await;
                fake.reply(&req, serde_json::from_str(STATUS).unwrap())
                    .await;
                call.await.unwrap();
                events.next().await.unwrap().unwrap();
            });
    });
    let seen = seen.lock().unwrap();
    let has = |needle: &[&str]| seen.iter().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(
        has(&["message=send", "command=\"qmp_capabilities\"", "bytes="]),
        "{seen:#?}"
    );
    assert!(
        has(&["message=send", "command=\"query-status\"", "id=", "bytes="]),
        "{seen:#?}"
    );
    assert!(has(&["message=recv reply", "id=", "bytes="]), "{seen:#?}");
    assert!(
        has(&["message=recv event", "event=STOP", "bytes="]),
        "{seen:#?}"
    );
    assert!(has(&["message=write", "bytes="]), "{seen:#?}");
}

/// A reply whose id is readable but which does not parse answers its caller with a
/// protocol error at once (it used to be skipped, leaving the caller waiting forever); the
/// connection stays consistent for the calls after it.
#[tokio::test]
async fn an_unparseable_reply_with_a_readable_id_answers_its_caller() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let replies: [&[u8]; 3] = [
        // Invalid UTF-8 inside a string.
        b"{\"return\": {\"running\": true, \"status\": \"\xff\xfe\"}, \"id\": ID}",
        // An error object without `class`.
        b"{\"error\": {\"desc\": \"no class here\"}, \"id\": ID}",
        // A line cut short, then the id: not JSON at all.
        b"{\"return\": {\"running\": tru, \"id\": ID}",
    ];
    for reply in replies {
        let call = tokio::spawn(client.query_status().into_future());
        let req = fake.recv().await;
        // The id put in place of `ID`, the other bytes (invalid ones too) as they are.
        let at = reply.windows(2).position(|w| w == b"ID").unwrap();
        let mut bytes = reply[..at].to_vec();
        bytes.extend_from_slice(req["id"].to_string().as_bytes());
        bytes.extend_from_slice(&reply[at + 2..]);
        let line = String::from_utf8_lossy(&bytes).into_owned();
        fake.send_bytes(&bytes).await;
        fake.send_bytes(b"\r\n").await;
        match within(10, call).await.unwrap() {
            Err(Error::Protocol { message }) => assert!(message.contains("parse"), "{message}"),
            other => panic!("{line}: expected a protocol error, got {other:?}"),
        }
    }
    // The next call is answered normally.
    let next = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    fake.reply(&req, json!({"running": true, "status": "running"}))
        .await;
    assert!(within(10, next).await.unwrap().unwrap().running);
    assert_eq!(client.state(), ConnectionState::Running);
}

/// A reply past the size cap whose end does not come (the server holds the line open)
/// answers the calls in flight after a short deadline instead of stalling them; when the
/// line ends at last, the connection reads on in step.
#[tokio::test]
async fn an_oversized_line_held_open_does_not_stall_callers() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new().max_message_size(64 * 1024)).await;
    let call = tokio::spawn(client.query_status().into_future());
    let req = fake.recv().await;
    let start = std::time::Instant::now();
    fake.send_bytes(format!(r#"{{"return": {{"junk": "{}"#, "x".repeat(256 * 1024)).as_bytes())
        .await;
    match within(10, call).await.unwrap() {
        Err(Error::MessageTooLarge { limit, .. }) => assert_eq!(limit, 64 * 1024),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // A call made now waits for lines after the giant one, which ends at last.
    let next = tokio::spawn(client.query_status().into_future());
    let req2 = fake.recv().await;
    fake.send(&format!(r#"x"}}}}, "id": {}}}"#, req["id"]))
        .await;
    fake.reply(&req2, serde_json::from_str(STATUS).unwrap())
        .await;
    assert!(within(10, next).await.unwrap().unwrap().running);
    assert_eq!(client.state(), ConnectionState::Running);
}
