//! The async client against a real QEMU 10.0.

mod common;

use std::future::IntoFuture;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::{big_machine, qemu10, start, within};
use futures::StreamExt;
use qemu_qmp::api::{RunState, StatusInfo};
use qemu_qmp::{
    Capability, Client, ClientBuilder, Commands, ConnectionState, Error, ErrorClass, Event,
    EventFilter,
};

#[tokio::test]
async fn greeting_status_version_and_typed_error() {
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    let greeting = client.greeting().unwrap();
    assert_eq!(greeting.version.qemu.major, 10);
    assert!(greeting.capabilities.contains(&Capability::Oob));
    assert!(client.oob_enabled());
    assert_eq!(client.state(), ConnectionState::Running);

    let status: StatusInfo = client.query_status().await.unwrap();
    assert!(status.running);
    assert_eq!(status.status, RunState::Running);
    let version = client.query_version().await.unwrap();
    assert_eq!(version.qemu.major, greeting.version.qemu.major);

    // A QMP error is typed: class and description.
    let err = client
        .execute_raw("no-such-command", None)
        .await
        .unwrap_err();
    match &err {
        Error::Qmp { class, desc } => {
            assert_eq!(*class, ErrorClass::CommandNotFound);
            assert!(desc.contains("no-such-command"), "{desc}");
        }
        other => panic!("expected a QMP error, got {other:?}"),
    }
    let err = client.closefd("never-added").await.unwrap_err();
    assert_eq!(err.qmp_class(), Some(&ErrorClass::GenericError));

    // The raw escape hatch, in band and out of band.
    let raw = client.execute_raw("query-status", None).await.unwrap();
    assert_eq!(raw["status"], "running");
    let raw = client
        .execute_raw(
            "query-command-line-options",
            Some(serde_json::json!({"option": "qmp"})),
        )
        .await;
    assert!(raw.is_ok() || matches!(raw, Err(Error::Qmp { .. })));
    let oob = client
        .execute_raw_oob("migrate-pause", None)
        .await
        .unwrap_err();
    assert_eq!(oob.qmp_class(), Some(&ErrorClass::GenericError));
    // An in-band-only command sent raw out of band is refused by QEMU, not by us.
    let oob = client
        .execute_raw_oob("query-status", None)
        .await
        .unwrap_err();
    assert!(matches!(oob, Error::Qmp { .. }), "{oob:?}");
}

#[tokio::test]
async fn stop_and_cont_give_typed_events_in_order() {
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    let mut all = client.events();
    let mut stops = client.subscribe(EventFilter::names(["STOP"]));
    let mut resumes = client.subscribe(EventFilter::names(["RESUME"]));
    // A subscriber that never reads must not get in anyone's way.
    let _idle = client.events();

    client.stop().await.unwrap();
    assert_eq!(
        client.query_status().await.unwrap().status,
        RunState::Paused
    );
    client.cont().await.unwrap();
    client.stop().await.unwrap();
    client.cont().await.unwrap();

    let mut names = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let ev = within(10, all.next()).await.unwrap().unwrap();
        assert!(ev.timestamp.seconds > 1_600_000_000, "{:?}", ev.timestamp);
        if let Some(prev) = last {
            assert!(ev.timestamp >= prev);
        }
        last = Some(ev.timestamp);
        names.push(ev.event.name().to_owned());
    }
    assert_eq!(names, ["STOP", "RESUME", "STOP", "RESUME"]);
    for _ in 0..2 {
        let ev = within(10, stops.next()).await.unwrap().unwrap();
        assert!(matches!(ev.event, Event::Stop));
        let ev = within(10, resumes.next()).await.unwrap().unwrap();
        assert!(matches!(ev.event, Event::Resume));
    }
    assert!(stops.try_next().is_none());
}

#[tokio::test]
async fn sixty_four_concurrent_callers_with_and_without_oob() {
    for oob in [true, false] {
        let Some((_qemu, client)) = start(ClientBuilder::new().oob(oob)).await else {
            return;
        };
        assert_eq!(client.oob_enabled(), oob);
        let mut tasks = Vec::new();
        for i in 0..64 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    if i % 2 == 0 {
                        assert!(c.query_status().await.unwrap().running);
                    } else {
                        assert_eq!(c.query_version().await.unwrap().qemu.major, 10);
                    }
                }
            }));
        }
        within(60, async {
            for t in tasks {
                t.await.unwrap();
            }
        })
        .await;
        // And all of them in one batch from a single task.
        let replies = within(
            60,
            futures::future::join_all((0..64).map(|_| client.query_status().into_future())),
        )
        .await;
        assert!(replies.into_iter().all(|r| r.unwrap().running));
        if !oob {
            let err = client.migrate_pause().oob().await.unwrap_err();
            assert!(matches!(err, Error::OobNotNegotiated), "{err:?}");
        }
    }
}

#[tokio::test]
async fn oob_reply_overtakes_a_slow_in_band_command() {
    let Some(builder) = qemu10() else { return };
    let mut qemu = big_machine(builder).spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    assert!(client.oob_enabled());
    // Warm up so the dump is the only slow thing.
    client.query_status().await.unwrap();

    let started = Instant::now();
    // Both requests are queued, in this order, when the calls are made.
    let dump = client
        .dump_guest_memory(false, "file:/dev/null")
        .into_future();
    let dump = tokio::spawn(async move {
        let r = dump.await;
        (r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let oob = client.migrate_pause().oob().await;
    let oob_at = started.elapsed();
    let (dump_result, dump_at) = within(120, dump).await.unwrap();
    dump_result.unwrap();
    // migrate-pause fails outside postcopy, and that error comes from the monitor's own
    // thread while the main loop is still busy dumping.
    let err = oob.unwrap_err();
    assert_eq!(err.qmp_class(), Some(&ErrorClass::GenericError), "{err}");
    assert!(
        oob_at < dump_at,
        "the out-of-band reply ({oob_at:?}) should overtake the dump ({dump_at:?})"
    );
}

#[tokio::test]
async fn disconnect_answers_pending_callers_ends_streams_and_reports_state() {
    let Some(builder) = qemu10() else { return };
    let mut qemu = big_machine(builder).spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    let mut state = client.watch_state();
    assert_eq!(*state.borrow_and_update(), ConnectionState::Running);
    let mut events = client.events();

    // A slow command in flight when QEMU dies.
    let dump = tokio::spawn(
        client
            .dump_guest_memory(false, "file:/dev/null")
            .into_future(),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    qemu.kill().unwrap();

    let err = within(10, dump).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err:?}");
    assert!(within(10, events.next()).await.is_none());
    within(10, state.wait_for(|s| *s == ConnectionState::Closed))
        .await
        .unwrap();
    let err = client.query_status().await.unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err:?}");
    // A new subscription belongs to the next connection (none comes here); close() ends it.
    let mut later = client.events();
    assert!(later.try_next().is_none());
    client.close().await;
    assert!(within(10, later.next()).await.is_none());
}

#[tokio::test]
async fn close_and_reconnect_on_the_same_handle() {
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    let mut states = client.watch_state();
    let mut events = client.events();
    client.close().await;
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(events.next().await.is_none());
    assert!(matches!(
        client.query_status().await,
        Err(Error::Disconnected)
    ));

    client.reconnect().await.unwrap();
    assert_eq!(client.state(), ConnectionState::Running);
    assert!(client.query_status().await.unwrap().running);
    // The watch saw the whole cycle (it keeps the latest value; Running is where it ends).
    assert_eq!(*states.borrow_and_update(), ConnectionState::Running);

    // Events flow on the new connection.
    let mut events = client.subscribe(EventFilter::names(["STOP"]));
    client.stop().await.unwrap();
    let ev = within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(ev.event, Event::Stop));

    // The back-off helper reconnects too.
    client.close().await;
    client
        .reconnect_with_backoff(qemu_qmp::Backoff::default())
        .await
        .unwrap();
    assert_eq!(
        client.query_status().await.unwrap().status,
        RunState::Paused
    );
}

#[tokio::test]
async fn dropped_calls_never_misroute_later_replies() {
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    for round in 0..200 {
        // Dropped before being polled, polled once and dropped, or awaited.
        let never_polled = client.query_version();
        let mut polled_once = Box::pin(client.query_version().into_future());
        let _ = futures::poll!(polled_once.as_mut());
        let status = client.query_status();
        if round % 2 == 0 {
            drop(never_polled);
            drop(polled_once);
        } else {
            drop(polled_once);
            drop(never_polled);
        }
        // A VersionInfo routed here would fail to decode as StatusInfo.
        assert!(status.await.unwrap().running);
    }
    // Dropped under a timeout while the reply is on its way.
    for _ in 0..50 {
        let _ = tokio::time::timeout(Duration::from_micros(50), client.query_version()).await;
        assert!(client.query_status().await.unwrap().running);
    }
}

#[tokio::test]
async fn unix_and_tcp_accept_mode_and_tcp_connect() {
    let Some(builder) = qemu10() else { return };
    // Unix accept mode: we listen, QEMU connects.
    let dir = tempdir();
    let path = dir.join("listen.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let _qemu = builder.clone().qmp_connect_to_unix(&path).spawn().unwrap();
    let client = ClientBuilder::new().accept_unix(&listener).await.unwrap();
    assert!(client.query_status().await.unwrap().running);
    assert!(client.endpoint().is_none());

    // TCP accept mode.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _qemu2 = builder.clone().qmp_connect_to_tcp(&addr).spawn().unwrap();
    let client = ClientBuilder::new().accept_tcp(&listener).await.unwrap();
    assert!(client.query_status().await.unwrap().running);
    // No fd passing over TCP.
    let file = std::fs::File::open("/dev/null").unwrap();
    let err = client.getfd("x").into_command();
    let err = client.execute_with_fd(err, file.as_fd()).await.unwrap_err();
    assert!(matches!(err, Error::FdPassingUnsupported), "{err:?}");

    // TCP connect mode (QEMU listens on a port we picked).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut qemu3 = builder
        .qmp_tcp_server(format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let client = qemu3.connect(ClientBuilder::new()).await.unwrap();
    assert_eq!(client.query_version().await.unwrap().qemu.major, 10);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "qmp-client-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn fd_passing_getfd_closefd_add_fd() {
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    let file = std::fs::File::open("/dev/null").unwrap();

    // getfd files the passed descriptor under a name; closefd closes it exactly once.
    client
        .execute_with_fd(client.getfd("dev-null").into_command(), &file)
        .await
        .unwrap();
    client.closefd("dev-null").await.unwrap();
    assert!(client.closefd("dev-null").await.is_err());
    // Without a descriptor getfd fails: the success above really carried one.
    assert!(client.getfd("nothing").await.is_err());

    // add-fd puts it in an fd set that query-fdsets shows.
    let add = qemu_qmp::api::AddFd::new().opaque("our-dev-null");
    let info = client.execute_with_fd(add, &file).await.unwrap();
    let sets = client.query_fdsets().await.unwrap();
    let set = sets
        .iter()
        .find(|s| s.fdset_id == info.fdset_id)
        .expect("the new fd set is listed");
    assert!(set
        .fds
        .iter()
        .any(|f| f.fd == info.fd && f.opaque.as_deref() == Some("our-dev-null")));
    // Our own descriptor is untouched.
    assert!(file.metadata().is_ok());

    // The raw path can pass descriptors too.
    client
        .execute_raw_with_fd("getfd", Some(serde_json::json!({"fdname": "raw"})), &file)
        .await
        .unwrap();
    client.closefd("raw").await.unwrap();
}

#[tokio::test]
async fn handle_is_clone_send_sync_and_futures_are_send() {
    fn assert_send_sync<T: Clone + Send + Sync + 'static>() {}
    assert_send_sync::<Client>();
    fn assert_send<T: Send + 'static>(_: &T) {}
    let Some((_qemu, client)) = start(ClientBuilder::new()).await else {
        return;
    };
    let fut = client.query_status().into_future();
    assert_send(&fut);
    assert!(fut.await.unwrap().running);
}

#[tokio::test]
async fn dropping_the_last_handle_frees_qemus_monitor() {
    let Some(builder) = qemu10() else { return };
    let mut qemu = builder.spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    client.stop().await.unwrap();
    drop(client);
    // QEMU serves one client per monitor: a second connection only gets its greeting once
    // the first one is really gone.
    let again = within(
        10,
        qemu.connect(ClientBuilder::new().negotiate_timeout(Duration::from_secs(5))),
    )
    .await
    .unwrap();
    assert_eq!(again.query_status().await.unwrap().status, RunState::Paused);
}

/// QEMU's pretty mode (`-mon ...,pretty=on`) sends every message over many lines, the
/// greeting included: the client reads it as it reads compact mode.
#[tokio::test]
async fn qemu_in_pretty_mode() {
    let Some(builder) = common::qemu10() else {
        return;
    };
    let mut qemu = builder.pretty(true).spawn().expect("spawn QEMU");
    let client = qemu.connect(ClientBuilder::new()).await.expect("connect");
    assert_eq!(client.greeting().unwrap().version.qemu.major, 10);
    let raw = client.execute_raw("query-version", None).await.unwrap();
    assert_eq!(raw["qemu"]["major"], 10);
    assert!(client.query_status().await.unwrap().running);
    // A large reply, pretty-printed over tens of thousands of lines.
    let schema = client.query_qmp_schema().await.unwrap();
    assert!(schema.len() > 1000, "{} entities", schema.len());
    let mut events = client.subscribe(qemu_qmp::EventFilter::names(["STOP"]));
    client.stop().await.unwrap();
    let stop = common::within(10, futures::StreamExt::next(&mut events))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(stop.event, qemu_qmp::Event::Stop));
}
