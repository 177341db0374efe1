//! Record and replay: the fake server replays real conversations (libvirt's captures of
//! QEMU 7.2 and 10.0 in `../shared/corpus/libvirt-replies`), so a client that sends the
//! captured requests gets the captured replies, decoded into the typed bindings; and the
//! recording proxy between a client and a real QEMU writes a transcript that replays the
//! same answers.

mod common;

use std::path::PathBuf;

use common::within;
use futures::StreamExt;
use qemu_qmp::api::decode_return;
use qemu_qmp::fake::{FakeQmp, Recorder, ReplayOrder, Transcript, TranscriptFormat};
use qemu_qmp::{Client, Commands, Error, Event, EventFilter};
use serde_json::Value;

fn captures() -> Option<Vec<PathBuf>> {
    let shared = qmp_shared_data::shared_dir(&["corpus/libvirt-replies"])?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus/libvirt-replies"))
        .expect("the captures folder reads")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "replies"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    Some(files)
}

/// Sends every captured request (but the negotiation, which the client does itself) and
/// checks each answer is the captured one, and decodes typed. Returns how many.
async fn replay_against(client: &Client, transcript: &Transcript) -> usize {
    let mut checked = 0;
    for exchange in transcript.exchanges() {
        if exchange.command() == "qmp_capabilities" {
            continue;
        }
        let arguments = exchange.request().get("arguments").cloned();
        let answer = client.execute_raw(exchange.command(), arguments).await;
        let reply = exchange
            .reply()
            .expect("every captured request has a reply");
        match (answer, reply.get("return"), reply.get("error")) {
            (Ok(got), Some(recorded), _) => {
                assert_eq!(&got, recorded, "{}", exchange.command());
                // Typed: the reply decodes into the bindings and writes back unchanged.
                let typed = decode_return(exchange.command(), &got.to_string())
                    .unwrap_or_else(|e| panic!("{}: {e}", exchange.command()));
                if !got.is_object() || got.as_object().is_some_and(|o| !o.is_empty()) {
                    assert_eq!(typed, got, "{} typed", exchange.command());
                }
            }
            (Err(Error::Qmp { class, desc }), None, Some(error)) => {
                assert_eq!(class.as_str(), error["class"], "{}", exchange.command());
                assert_eq!(desc, error["desc"].as_str().unwrap_or_default());
            }
            (got, _, _) => panic!("{}: got {got:?}, recorded {reply}", exchange.command()),
        }
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn libvirt_captures_replay_in_order_and_decode_typed() {
    let Some(files) = captures() else { return };
    let mut total = 0;
    for file in &files {
        let transcript = Transcript::read(file).unwrap_or_else(|e| panic!("{e}"));
        assert!(transcript.exchanges().len() > 30, "{}", file.display());
        let fake = FakeQmp::builder()
            .replay(transcript.clone(), ReplayOrder::InOrder)
            .build();
        let client = within(10, fake.client()).await.unwrap();
        // The capture has no greeting; the fake greets as the captured `query-version`.
        let version = transcript
            .exchanges()
            .iter()
            .find(|e| e.command() == "query-version")
            .and_then(|e| e.returned())
            .unwrap();
        let greeting = client.greeting().unwrap();
        assert_eq!(greeting.version.qemu.minor, version["qemu"]["minor"]);
        assert_eq!(greeting.version.package, version["package"]);
        let checked = within(60, replay_against(&client, &transcript)).await;
        let negotiations = transcript
            .exchanges()
            .iter()
            .filter(|e| e.command() == "qmp_capabilities")
            .count();
        // libvirt probed over more than one connection: each negotiated.
        assert!(negotiations >= 1);
        assert_eq!(checked + negotiations, transcript.exchanges().len());
        fake.verify().unwrap();
        total += checked;
        println!("{}: {checked} replies replayed", file.display());
    }
    assert!(total > 250, "{total}");
}

#[tokio::test]
async fn replay_by_request_answers_in_any_order_and_refuses_what_was_never_asked() {
    let Some(files) = captures() else { return };
    let transcript = Transcript::read(&files[0]).unwrap();
    let fake = FakeQmp::builder()
        .replay(transcript.clone(), ReplayOrder::ByRequest)
        .allow_unscripted(true)
        .build();
    let client = fake.client().await.unwrap();
    // The requests asked once (libvirt asks some twice, of QEMUs in different states:
    // those are answered in the recorded order), backwards.
    let asked_once = |e: &&qemu_qmp::fake::Exchange| {
        transcript
            .exchanges()
            .iter()
            .filter(|o| o.request().get("arguments") == e.request().get("arguments"))
            .filter(|o| o.command() == e.command())
            .count()
            == 1
    };
    let mut backwards = String::new();
    for exchange in transcript.exchanges().iter().filter(asked_once).rev() {
        backwards.push_str(&exchange.request().to_string());
        backwards.push('\n');
        if let Some(reply) = exchange.reply() {
            backwards.push_str(&reply.to_string());
            backwards.push('\n');
        }
    }
    let reversed = Transcript::parse(&backwards).unwrap();
    let checked = within(60, replay_against(&client, &reversed)).await;
    assert!(checked > 30);
    // Typed, from the capture: the version this QEMU reported.
    let version = client.query_version().await.unwrap();
    let recorded = transcript
        .exchanges()
        .iter()
        .find(|e| e.command() == "query-version")
        .and_then(|e| e.returned())
        .unwrap();
    assert_eq!(version.qemu.major, recorded["qemu"]["major"]);
    assert_eq!(version.package, recorded["package"]);
    // A request the capture never had.
    assert!(matches!(
        client.execute_raw("x-never-captured", None).await,
        Err(Error::Qmp { .. })
    ));
    assert_eq!(fake.unscripted().len(), 1);
}

#[tokio::test]
async fn in_order_replay_refuses_a_request_out_of_turn() {
    let Some(files) = captures() else { return };
    let transcript = Transcript::read(&files[0]).unwrap();
    let fake = FakeQmp::builder()
        .replay(transcript.clone(), ReplayOrder::InOrder)
        .allow_unscripted(true)
        .build();
    let client = fake.client().await.unwrap();
    let last = transcript.exchanges().last().unwrap();
    let out_of_turn = client
        .execute_raw(last.command(), last.request().get("arguments").cloned())
        .await;
    assert!(
        matches!(&out_of_turn, Err(Error::Qmp { desc, .. }) if desc.contains(last.command())),
        "{out_of_turn:?}"
    );
}

#[tokio::test]
async fn a_recorded_session_with_a_real_qemu_replays_the_same_answers() {
    let Some(qemu) = common::qemu10() else { return };
    let mut qemu = qemu.spawn().expect("spawn QEMU");
    // Wait until QEMU listens, then put the recorder in front of it.
    drop(qemu.connect(Client::builder()).await.expect("QEMU listens"));
    let upstream = qemu.endpoint().cloned().expect("a Unix endpoint");
    let socket = qemu.dir().join("record.sock");
    let recorder = Recorder::listen_unix(&socket, upstream).unwrap();

    let client = Client::connect(socket.as_path()).await.unwrap();
    let mut events = client.subscribe(EventFilter::names(["STOP", "RESUME"]));
    let status = client.query_status().await.unwrap();
    let version = client.query_version().await.unwrap();
    client.stop().await.unwrap();
    let stop = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(stop.event, Event::Stop));
    client.cont().await.unwrap();
    let resume = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(resume.event, Event::Resume));
    let missing = client.execute_raw("x-no-such-command", None).await;
    assert!(matches!(missing, Err(Error::Qmp { .. })));
    client.close().await;

    let transcript = recorder.transcript();
    assert!(transcript.greeting().is_some(), "the greeting is recorded");
    let commands: Vec<&str> = transcript.exchanges().iter().map(|e| e.command()).collect();
    assert_eq!(
        commands,
        [
            "qmp_capabilities",
            "query-status",
            "query-version",
            "stop",
            "cont",
            "x-no-such-command"
        ]
    );
    assert!(transcript.exchanges().iter().all(|e| e.reply().is_some()));
    let events: Vec<&Value> = transcript
        .exchanges()
        .iter()
        .flat_map(|e| e.events())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");

    // Both file forms read back as the same conversation.
    for (name, format) in [
        ("session.replies", TranscriptFormat::Replies),
        ("session.jsonl", TranscriptFormat::JsonLines),
    ] {
        let path = qemu.dir().join(name);
        transcript.write(&path, format).unwrap();
        assert_eq!(TranscriptFormat::for_path(&path), format);
        let again = Transcript::read(&path).unwrap();
        assert_eq!(again.exchanges(), transcript.exchanges(), "{name}");
    }

    // The replay answers as QEMU did: typed, with the recorded events.
    let fake = FakeQmp::builder()
        .replay(transcript, ReplayOrder::InOrder)
        .build();
    let replayed = fake.client().await.unwrap();
    assert_eq!(replayed.greeting(), client_greeting(&qemu).await);
    let mut events = replayed.subscribe(EventFilter::names(["STOP", "RESUME"]));
    assert_eq!(replayed.query_status().await.unwrap(), status);
    assert_eq!(replayed.query_version().await.unwrap(), version);
    replayed.stop().await.unwrap();
    assert!(matches!(
        within(5, events.next()).await.unwrap().unwrap().event,
        Event::Stop
    ));
    replayed.cont().await.unwrap();
    assert!(matches!(
        within(5, events.next()).await.unwrap().unwrap().event,
        Event::Resume
    ));
    assert!(matches!(
        replayed.execute_raw("x-no-such-command", None).await,
        Err(Error::Qmp { .. })
    ));
    fake.verify().unwrap();
}

/// The greeting a fresh connection to `qemu` gets.
async fn client_greeting(qemu: &qemu_qmp::testing::Qemu) -> Option<qemu_qmp::Greeting> {
    let endpoint = qemu.endpoint()?.clone();
    Client::connect(endpoint).await.ok()?.greeting()
}
