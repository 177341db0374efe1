//! Time limits: per call (overriding the client's default), late replies discarded by id,
//! and a QEMU that stops answering (SIGSTOP) hangs neither callers with a limit nor
//! `connect`.

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use common::{qemu10, start, within, FakeQmp};
use qemu_qmp::api::RunState;
use qemu_qmp::testing::Qemu;
use qemu_qmp::{BlockingClient, ClientBuilder, Commands, Error};
use serde_json::json;

fn status(running: bool) -> serde_json::Value {
    let status = if running { "running" } else { "paused" };
    json!({"running": running, "status": status})
}

fn assert_timeout<T: std::fmt::Debug>(result: qemu_qmp::Result<T>, limit: Duration) {
    match result {
        Err(Error::Timeout(t)) => assert_eq!(t, limit),
        other => panic!("expected a timeout of {limit:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_call_timeout_replaces_the_default_and_its_late_reply_reaches_nobody() {
    let default = Duration::from_millis(100);
    let (mut fake, client) =
        FakeQmp::pair(ClientBuilder::new().command_timeout(Some(default))).await;

    // Longer than the default: a reply after 300 ms still arrives.
    let patient = tokio::spawn(
        client
            .query_status()
            .timeout(Duration::from_secs(5))
            .into_future(),
    );
    let req = fake.recv().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.reply(&req, status(true)).await;
    assert!(within(10, patient).await.unwrap().unwrap().running);

    // The default still applies to calls without a limit of their own.
    let started = Instant::now();
    let plain = tokio::spawn(client.query_status().into_future());
    let plain_req = fake.recv().await;
    assert_timeout(within(10, plain).await.unwrap(), default);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Shorter than the default, on the raw future too.
    let short = Duration::from_millis(30);
    let raw = client.execute_raw("query-status", None).timeout(short);
    let raw_req = fake.recv().await;
    assert_timeout(within(10, raw).await, short);

    // The late replies come, then the next call's own: it gets its own (running), not
    // one of theirs (paused), and nothing else is disturbed.
    let next = tokio::spawn(
        client
            .query_status()
            .timeout(Duration::from_secs(5))
            .into_future(),
    );
    let next_req = fake.recv().await;
    assert_ne!(next_req["id"], plain_req["id"]);
    fake.reply(&plain_req, status(false)).await;
    fake.reply(&raw_req, status(false)).await;
    fake.reply(&next_req, status(true)).await;
    let answer = within(10, next).await.unwrap().unwrap();
    assert!(answer.running);
    assert_eq!(answer.status, RunState::Running);
    assert_eq!(client.state(), qemu_qmp::ConnectionState::Running);
}

#[tokio::test]
async fn out_of_band_calls_take_a_limit_on_their_future() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let limit = Duration::from_millis(50);
    let call = client.migrate_pause().oob().timeout(limit);
    let req = fake.recv().await;
    assert_eq!(req["exec-oob"], "migrate-pause");
    assert_timeout(within(10, call).await, limit);
}

/// Sends SIGCONT (the process may be stopped) and lets `Qemu`'s own drop kill it, so no
/// stopped QEMU outlives a failing test.
struct Stopped<'a>(&'a Qemu);

impl<'a> Stopped<'a> {
    fn stop(qemu: &'a Qemu) -> Self {
        signal(qemu, libc::SIGSTOP);
        Stopped(qemu)
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

fn signal(qemu: &Qemu, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(qemu.pid()).expect("a pid");
    // SAFETY: kill(2) with a pid we spawned; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

#[tokio::test]
async fn a_stopped_qemu_times_out_calls_and_connects_then_recovers() {
    let limit = Duration::from_millis(300);
    let short = ClientBuilder::new()
        .connect_timeout(limit)
        .negotiate_timeout(limit);
    let Some((qemu, client)) = start(short.clone()).await else {
        return;
    };
    let Some(builder) = qemu10() else { return };
    let mut fresh = builder.spawn().unwrap();
    // Make sure the fresh one is listening (a first client connects and goes away).
    drop(fresh.connect(ClientBuilder::new()).await.unwrap());

    let stopped = Stopped::stop(&qemu);
    let started = Instant::now();
    let late = client.query_status().timeout(limit).await;
    assert_timeout(late, limit);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // connect has limits of its own: the socket accepts, the stopped process never greets.
    let stopped_fresh = Stopped::stop(&fresh);
    let started = Instant::now();
    let refused = short.connect(fresh.endpoint().unwrap().clone()).await;
    assert_timeout(refused, limit);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Running again: the late reply (to the timed-out call) is discarded; new calls work.
    drop(stopped);
    drop(stopped_fresh);
    let answer = within(10, client.query_status().timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(answer.running);
    assert!(client.query_version().await.unwrap().qemu.major >= 10);
    let again = within(10, fresh.connect(ClientBuilder::new()))
        .await
        .unwrap();
    assert!(again.query_status().await.unwrap().running);

    // A reconnect to a stopped QEMU: closing the old connection does not wait for QEMU,
    // and the new one is bounded by the client's limits.
    let stopped = Stopped::stop(&qemu);
    let started = Instant::now();
    assert_timeout(within(10, client.reconnect()).await, limit);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(stopped);
    within(
        10,
        client.reconnect_with_backoff(qemu_qmp::Backoff::default()),
    )
    .await
    .unwrap();
    assert!(client.query_status().await.unwrap().running);
}

#[test]
fn blocking_wait_timeout_on_a_stopped_qemu() {
    let Some(builder) = qemu10() else { return };
    let mut qemu = builder.spawn().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Wait until it listens, then connect the blocking client.
    let endpoint = qemu.endpoint().unwrap().clone();
    drop(rt.block_on(qemu.connect(ClientBuilder::new())).unwrap());
    // The default limit too: the blocking client makes its futures outside the runtime.
    let default = Duration::from_millis(200);
    let client = BlockingClient::connect_with(
        ClientBuilder::new().command_timeout(Some(default)),
        endpoint,
    )
    .unwrap();

    let limit = Duration::from_millis(300);
    let stopped = Stopped::stop(&qemu);
    let started = Instant::now();
    assert_timeout(client.query_status().wait_timeout(limit), limit);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_timeout(client.query_status().wait(), default);
    drop(stopped);
    assert!(
        client
            .query_status()
            .wait_timeout(Duration::from_secs(10))
            .unwrap()
            .running
    );
}

/// A stopped QEMU stops reading: once the socket's buffer is full the writer task blocks
/// in a write it cannot finish. Closing (and reconnecting) must not wait for it.
#[tokio::test]
async fn closing_does_not_hang_on_a_stopped_qemu_with_a_full_socket() {
    let Some((qemu, client)) = common::start(ClientBuilder::new()).await else {
        return;
    };
    let stopped = Stopped::stop(&qemu);
    // Far more than a Unix socket buffers: 16 requests of 1 MiB each.
    let big = "x".repeat(1 << 20);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(
                client
                    .execute_raw(
                        "human-monitor-command",
                        Some(serde_json::json!({"command-line": big})),
                    )
                    .timeout(Duration::from_secs(30)),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    common::within(10, client.close()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "close took {took:?}");
    assert_eq!(client.state(), qemu_qmp::ConnectionState::Closed);
    for call in calls {
        let result = common::within(5, call).await.expect("the call task");
        assert!(
            matches!(result, Err(qemu_qmp::Error::Disconnected)),
            "{result:?}"
        );
    }
    drop(stopped);
    // QEMU runs again; the handle reconnects.
    common::within(20, client.reconnect()).await.unwrap();
    assert!(client.query_status().await.is_ok());
}
