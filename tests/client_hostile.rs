//! The client against a hostile or broken server, played by the fake server: for each
//! fault the caller gets a typed error, nobody is left waiting, and the connection is in a
//! consistent state afterwards (still serving calls, or closed and saying so).

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use common::within;
use qemu_qmp::api::{HumanMonitorCommand, QueryName, QueryStatus, RunState, StatusInfo};
use qemu_qmp::fake::FakeQmp;
use qemu_qmp::{
    Capability, Client, ClientBuilder, Commands, ConnectionState, Error, ErrorClass, EventFilter,
};
use serde_json::{json, Value};

fn running() -> StatusInfo {
    StatusInfo::new(true, RunState::Running)
}

/// A fake whose `query-status` works, to show a connection still serves after a fault.
fn fake_with_status() -> FakeQmp {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>().returns(running());
    fake
}

async fn still_serves(client: &Client) {
    let status = within(5, client.query_status().into_future()).await;
    assert!(
        status.is_ok_and(|s| s.running),
        "the connection still serves"
    );
    assert_eq!(client.state(), ConnectionState::Running);
}

fn builder() -> ClientBuilder {
    Client::builder().negotiate_timeout(Duration::from_millis(500))
}

async fn negotiation_error(fake: FakeQmp) -> Error {
    let err = within(5, fake.client_with(builder())).await.unwrap_err();
    err
}

#[tokio::test]
async fn greetings_that_are_missing_malformed_or_of_the_wrong_type() {
    // Never sent: the negotiation timeout, not a hang.
    let started = Instant::now();
    let err = negotiation_error(FakeQmp::builder().no_greeting().build()).await;
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    for (greeting, what) in [
        (&b"garbage\n"[..], "not JSON"),
        (b"[1, 2]\n", "not an object"),
        (b"{\"QMP\": 5}\n", "QMP of the wrong type"),
        (b"{\"hello\": {}}\n", "no QMP member"),
        (
            b"{\"QMP\": {\"version\": {\"package\": \"\"}, \"capabilities\": []}}\n",
            "no release number",
        ),
        (
            b"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10, \"minor\": 0, \"micro\": 0}}, \"capabilities\": \"oob\"}}\n",
            "capabilities not a list",
        ),
        (b"\xff\xfe{\"QMP\"\n", "invalid UTF-8"),
    ] {
        let err = negotiation_error(FakeQmp::builder().raw_greeting(greeting).build()).await;
        match &err {
            Error::Negotiation { message } => assert!(!message.is_empty()),
            other => panic!("{what}: expected a negotiation error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn another_vendors_server_is_spoken_to() {
    let fake = FakeQmp::builder()
        .vendor("StratoVirt")
        .version(2, 4, 0)
        .capabilities([])
        .build();
    fake.on::<QueryStatus>().returns(running());
    let client = fake.client().await.unwrap();
    let greeting = client.greeting().unwrap();
    assert_eq!(greeting.version.vendor, "StratoVirt");
    assert!(!greeting.version.is_qemu());
    assert_eq!(greeting.version.qemu.to_string(), "2.4.0");
    still_serves(&client).await;
}

#[tokio::test]
async fn negotiation_refused_or_offering_something_new() {
    let err = negotiation_error(
        FakeQmp::builder()
            .refuse_negotiation(ErrorClass::GenericError, "monitor busy")
            .build(),
    )
    .await;
    match err {
        Error::Negotiation { message } => assert!(message.contains("monitor busy"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A capability this library does not know is kept, and not asked for.
    let fake = FakeQmp::builder()
        .capabilities([Capability::Oob, Capability::Other("x-future".into())])
        .build();
    fake.on::<QueryStatus>().returns(running());
    let client = fake.client().await.unwrap();
    assert!(client
        .greeting()
        .unwrap()
        .capabilities
        .contains(&Capability::Other("x-future".into())));
    let enabled = &fake.received()[0].arguments["enable"];
    assert_eq!(enabled, &json!(["oob"]));
    still_serves(&client).await;
}

#[tokio::test]
async fn malformed_non_object_and_invalid_utf8_messages_are_skipped() {
    let fake = fake_with_status();
    let client = fake.client().await.unwrap();
    let mut events = client.events();
    fake.send_raw(&b"{not json at all\n"[..]);
    fake.send_raw(&b"[1, 2, 3]\n\"a string\"\n42\nnull\n"[..]);
    fake.send_raw(&b"{\"event\": \"STOP\", \"data\": {\"x\": \"\xff\xfe\"}}\n"[..]);
    fake.send_raw(&b"{\"neither\": \"reply nor event\"}\n"[..]);
    still_serves(&client).await;
    // None of it was an event.
    assert!(events.try_next().is_none());
}

#[tokio::test]
async fn unknown_duplicated_and_foreign_ids() {
    let fake = fake_with_status();
    // Replies twice (the second must reach nobody) and once to an id nobody used.
    fake.on::<QueryName>().raw_with(|id| {
        format!(
            "{{\"return\": {{\"name\": \"first\"}}, \"id\": {id}}}\n{{\"return\": {{\"name\": \"again\"}}, \"id\": {id}}}\n{{\"return\": {{}}, \"id\": 987654}}\n{{\"return\": {{}}, \"id\": \"libvirt-3\"}}\n"
        )
        .into_bytes()
    });
    let client = fake.client().await.unwrap();
    let name = client.query_name().await.unwrap();
    assert_eq!(name.name.as_deref(), Some("first"));
    // The duplicate did not answer the next call with the wrong reply.
    still_serves(&client).await;
    let name = client.query_name().await.unwrap();
    assert_eq!(name.name.as_deref(), Some("first"));
}

#[tokio::test]
async fn a_reply_without_an_id_fails_the_calls_in_flight_and_nothing_else() {
    let fake = fake_with_status();
    fake.on::<QueryName>()
        .raw(&b"{\"return\": {\"name\": \"whose?\"}}\n"[..]);
    let client = fake.client().await.unwrap();
    match client.query_name().await {
        Err(Error::Protocol { message }) => assert!(message.contains("without an id"), "{message}"),
        other => panic!("{other:?}"),
    }
    still_serves(&client).await;
}

#[tokio::test]
async fn replies_that_name_their_request_but_do_not_decode_answer_it() {
    let fake = fake_with_status();
    // An error without a class.
    fake.on::<QueryName>().times(1).raw_with(|id| {
        format!("{{\"error\": {{\"desc\": \"no class\"}}, \"id\": {id}}}\n").into_bytes()
    });
    // Invalid UTF-8 inside a string.
    fake.on::<QueryName>().times(1).raw_with(|id| {
        let mut line = b"{\"return\": {\"name\": \"".to_vec();
        line.extend_from_slice(b"\xc3\x28");
        line.extend_from_slice(format!("\"}}, \"id\": {id}}}\n").as_bytes());
        line
    });
    // Well-formed, but not the command's return type.
    fake.on::<QueryName>()
        .times(1)
        .raw_with(|id| format!("{{\"return\": {{\"name\": 5}}, \"id\": {id}}}\n").into_bytes());
    let client = fake.client().await.unwrap();
    for expected in ["protocol", "protocol", "decode"] {
        let result = within(5, client.query_name().into_future()).await;
        match (expected, &result) {
            ("protocol", Err(Error::Protocol { message })) => {
                assert!(message.contains("does not parse"), "{message}")
            }
            ("decode", Err(Error::Decode { command, .. })) => assert_eq!(command, "query-name"),
            _ => panic!("expected a {expected} error, got {result:?}"),
        }
        still_serves(&client).await;
    }
}

/// Lines that look like QEMU's plain `{"return": VALUE, "id": N}` but whose VALUE is not
/// one JSON value: the client reads such a line's id from its end before parsing VALUE,
/// so each must still come out as the whole line says.
#[tokio::test]
async fn lines_of_the_plain_reply_form_that_are_not_plain_replies() {
    let fake = fake_with_status();
    // A valid line with a member after `return`: the return value counts.
    fake.on::<QueryName>().times(1).raw_with(|id| {
        format!("{{\"return\": {{\"name\": \"vm\"}}, \"extra\": [1, {{}}], \"id\": {id}}}\n")
            .into_bytes()
    });
    // A truncated value: the line does not parse.
    fake.on::<QueryName>()
        .times(1)
        .raw_with(|id| format!("{{\"return\": {{\"name\": , \"id\": {id}}}\n").into_bytes());
    // A value of the wrong type, then garbage: the line does not parse either, whatever
    // the decode of its first part finds first.
    fake.on::<QueryName>()
        .times(1)
        .raw_with(|id| format!("{{\"return\": [1], garbage, \"id\": {id}}}\n").into_bytes());
    // The same for a command that returns nothing, whose value is otherwise not read.
    fake.on::<qemu_qmp::api::Stop>()
        .times(1)
        .raw_with(|id| format!("{{\"return\": {{\"a\": }}, \"id\": {id}}}\n").into_bytes());
    // `return` and `error` both: the return value counts, as on the general path.
    fake.on::<qemu_qmp::api::Cont>().times(1).raw_with(|id| {
        format!("{{\"return\": {{}}, \"error\": {{\"class\": \"GenericError\", \"desc\": \"x\"}}, \"id\": {id}}}\n")
            .into_bytes()
    });
    let client = fake.client().await.unwrap();
    let name = within(5, client.query_name().into_future()).await.unwrap();
    assert_eq!(name.name.as_deref(), Some("vm"));
    still_serves(&client).await;
    for _ in 0..2 {
        match within(5, client.query_name().into_future()).await {
            Err(Error::Protocol { message }) => {
                assert!(message.contains("does not parse"), "{message}")
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        still_serves(&client).await;
    }
    match within(5, client.stop().into_future()).await {
        Err(Error::Protocol { message }) => {
            assert!(message.contains("does not parse"), "{message}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    still_serves(&client).await;
    within(5, client.cont().into_future()).await.unwrap();
    still_serves(&client).await;
}

#[tokio::test]
async fn unknown_error_classes_are_kept_as_strings() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>()
        .error(ErrorClass::Other("BrandNewClass".into()), "from the future");
    let client = fake.client().await.unwrap();
    match client.query_status().await {
        Err(Error::Qmp { class, desc }) => {
            assert_eq!(class, ErrorClass::Other("BrandNewClass".into()));
            assert_eq!(class.as_str(), "BrandNewClass");
            assert_eq!(desc, "from the future");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_connection_reset_in_the_middle_of_a_line() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>().no_reply();
    let client = fake.client().await.unwrap();
    let mut states = client.watch_state();
    let call = tokio::spawn(client.query_status().into_future());
    // The call is on its way; half a reply comes, then the server goes.
    while fake.received().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fake.send_raw(&b"{\"return\": {\"running\": tr"[..]);
    fake.close_connections();
    let result = within(5, call).await.unwrap();
    assert!(matches!(result, Err(Error::Disconnected)), "{result:?}");
    within(5, states.wait_for(|s| *s == ConnectionState::Closed))
        .await
        .unwrap();
    // And a call afterwards is told at once.
    assert!(matches!(
        client.query_status().await,
        Err(Error::Disconnected)
    ));
}

#[tokio::test]
async fn the_peer_dies_with_a_thousand_commands_in_flight() {
    let fake = FakeQmp::builder().in_band_queue(2000).build();
    fake.on::<QueryStatus>().no_reply();
    let client = fake.client().await.unwrap();
    let calls: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(client.query_status().into_future()))
        .collect();
    within(10, async {
        while fake.received().len() < 1001 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let died = Instant::now();
    fake.close_connections();
    for call in calls {
        let result = within(5, call).await.unwrap();
        assert!(matches!(result, Err(Error::Disconnected)), "{result:?}");
    }
    let all_answered = died.elapsed();
    assert!(all_answered < Duration::from_secs(2), "{all_answered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_flood_with_a_subscriber_that_never_reads() {
    const EVENTS: u64 = 1_000_000;
    let fake = fake_with_status();
    let client = fake
        .client_with(Client::builder().event_buffer(1024))
        .await
        .unwrap();
    // Subscribed, never read during the flood.
    let mut idle = client.subscribe(EventFilter::names(["RESUME"]));
    let rss_before = resident_kib();
    let flood = {
        let fake = fake.clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..EVENTS {
                fake.emit_raw("RESUME", Value::Null);
            }
        })
    };
    // Replies still flow during the flood.
    let mut slowest = Duration::ZERO;
    while !flood.is_finished() {
        let asked = Instant::now();
        still_serves(&client).await;
        slowest = slowest.max(asked.elapsed());
    }
    within(60, flood).await.unwrap();
    // Everything sent has been read once a call sent after it is answered.
    still_serves(&client).await;
    let rss_after = resident_kib();
    // The idle subscriber holds its buffer and a count of the rest, no more.
    let mut received = 0;
    let mut missed = 0;
    while let Some(item) = idle.try_next() {
        match item {
            Ok(_) => received += 1,
            Err(gap) => missed += gap.missed().unwrap_or(0),
        }
    }
    assert_eq!(received, 1024);
    assert_eq!(received + missed, EVENTS);
    assert!(
        slowest < Duration::from_secs(2),
        "a call during the flood took {slowest:?}"
    );
    // The client's memory does not grow with the flood (the fake's own send queue may,
    // so allow for it generously: a million events are ~90 MB of lines).
    let grown = rss_after.saturating_sub(rss_before);
    assert!(grown < 150 * 1024, "resident memory grew {grown} KiB");
    println!("flood: slowest call {slowest:?}, resident +{grown} KiB");
}

#[tokio::test]
async fn futures_dropped_at_every_point_leave_later_calls_their_own_replies() {
    let fake = FakeQmp::builder().reorder_replies(true).build();
    // Each reply echoes its argument, after a delay that the argument picks.
    fake.on::<HumanMonitorCommand>()
        .returns_with(|cmd| Ok(cmd.command_line));
    fake.on::<QueryStatus>()
        .delay(Duration::from_millis(20))
        .returns(running());
    let client = fake.client().await.unwrap();
    for round in 0..50u64 {
        // Dropped before being polled, after one poll, and while waiting.
        drop(client.query_status().into_future());
        let mut once = Box::pin(client.query_status().into_future());
        let _ = futures::poll!(&mut once);
        drop(once);
        let waiting = client.query_status().into_future();
        let _ = tokio::time::timeout(Duration::from_millis(round % 25), waiting).await;
        // The next call gets its own reply, not a late one meant for a dropped call.
        let line = format!("echo {round}");
        let reply = within(5, client.human_monitor_command(line.as_str()).into_future()).await;
        assert_eq!(reply.unwrap(), line);
    }
    still_serves(&client).await;
}

#[tokio::test]
async fn a_message_past_the_default_cap_answers_its_caller_and_the_rest_flows() {
    let fake = fake_with_status();
    // 11 MiB: past the default 10 MiB cap, ended, with the caller's id last as QEMU
    // writes it.
    fake.on::<QueryName>().times(1).raw_with(|id| {
        let mut line = b"{\"return\": {\"name\": \"".to_vec();
        line.resize(line.len() + 11 * 1024 * 1024, b'x');
        line.extend_from_slice(format!("\"}}, \"id\": {id}}}\n").as_bytes());
        line
    });
    let client = fake.client().await.unwrap();
    let rss_before = resident_kib();
    match within(20, client.query_name().into_future()).await {
        Err(Error::MessageTooLarge { size, limit }) => {
            assert_eq!(limit, 10 * 1024 * 1024);
            assert!(size > limit);
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    still_serves(&client).await;
    // The client skipped the message rather than holding it (the fake's copy of it is
    // the only 11 MiB in this process).
    let grown = resident_kib().saturating_sub(rss_before);
    assert!(grown < 40 * 1024, "resident memory grew {grown} KiB");
}

#[tokio::test]
async fn a_message_past_the_cap_held_open_fails_the_calls_in_flight_at_once() {
    let fake = fake_with_status();
    // Past a 64 KiB cap, and never ended: the server holds the line open.
    let mut unended = b"{\"return\": \"".to_vec();
    unended.resize(unended.len() + 200 * 1024, b'y');
    fake.on::<QueryName>().raw(unended);
    let client = fake
        .client_with(Client::builder().max_message_size(64 * 1024))
        .await
        .unwrap();
    let started = Instant::now();
    match within(10, client.query_name().into_future()).await {
        Err(Error::MessageTooLarge { limit, .. }) => assert_eq!(limit, 64 * 1024),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    // Answered without waiting for a newline that never comes.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// The process's resident memory, from /proc.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
