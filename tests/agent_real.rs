//! The guest-agent client against a real `qemu-ga` (10.0, run on the host without a VM on
//! a private socket): typed calls, `guest-exec`, files, and the sync protocol's recovery
//! from garbage, a paused agent and a restarted one; 32 concurrent callers.
//!
//! On a host the agent's `guest-exec` runs host commands (as the user running the tests),
//! so only harmless ones are run, and files are written only under the agent's private
//! directory. `guest-shutdown` is only ever called with it blocked.

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use qemu_qmp::agent::{api, AgentBuilder, AgentClient, BlockingAgentClient, Commands, Exec};
use qemu_qmp::testing::QemuGa;
use qemu_qmp::{Error, ErrorClass};

use common::within;

/// A fresh agent and a client on it, or `None` (skipped) without `qemu-ga`.
async fn agent(builder: AgentBuilder) -> Option<(QemuGa, AgentClient)> {
    let mut ga = common::qemu_ga()?.spawn().expect("spawn qemu-ga");
    let client = ga.connect(builder).await.expect("connect to qemu-ga");
    Some((ga, client))
}

/// Sends the agent a signal (SIGSTOP pauses it like a paused guest, SIGCONT resumes it).
fn signal(ga: &QemuGa, sig: i32) {
    let pid = ga.pid().expect("qemu-ga runs") as i32;
    // SAFETY: kill(2) with a pid we started and own; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

#[tokio::test]
async fn typed_calls_ping_info_and_osinfo() {
    let Some((ga, agent)) = agent(AgentBuilder::new()).await else {
        return;
    };
    within(20, async {
        agent.guest_ping().await.expect("guest-ping");
        let info = agent.guest_info().await.expect("guest-info");
        assert!(info.version.starts_with("10."), "{}", info.version);
        let names: Vec<&str> = info
            .supported_commands
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for wanted in [
            "guest-ping",
            "guest-exec",
            "guest-file-open",
            "guest-sync-delimited",
        ] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
        // The schema's flag and the agent's own account agree.
        let shutdown = info
            .supported_commands
            .iter()
            .find(|c| c.name == "guest-shutdown")
            .expect("guest-shutdown listed");
        assert!(!shutdown.success_response);
        const { assert!(!<api::GuestShutdown as qemu_qmp::Command>::SUCCESS_RESPONSE) };

        let os = agent.guest_get_osinfo().await.expect("guest-get-osinfo");
        assert!(os.kernel_release.is_some(), "{os:?}");
        assert!(os.machine.is_some(), "{os:?}");
        let host = agent
            .guest_get_host_name()
            .await
            .expect("guest-get-host-name");
        assert!(!host.host_name.is_empty());
        // A caller's own delimited sync: its reply comes after a 0xFF, and is its own.
        assert_eq!(agent.guest_sync_delimited(42).await.expect("sync"), 42);
        // Raw calls go through the same queue.
        let raw = agent
            .execute_raw("guest-get-time", None)
            .await
            .expect("raw");
        assert!(raw.as_i64().is_some_and(|ns| ns > 0), "{raw}");
    })
    .await;
    drop(ga);
}

#[tokio::test]
async fn guest_exec_returns_exit_code_and_both_outputs() {
    let Some((_ga, agent)) = agent(AgentBuilder::new()).await else {
        return;
    };
    within(30, async {
        let started = Instant::now();
        let run = agent
            .exec(Exec::new("/bin/sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .await
            .expect("guest-exec");
        println!("guest-exec of sh took {:?}", started.elapsed());
        assert_eq!(run.exit_code, Some(3));
        assert_eq!(run.signal, None);
        assert_eq!(run.stdout, b"out\n");
        assert_eq!(run.stderr, b"err\n");
        assert!(!run.stdout_truncated && !run.stderr_truncated);
        assert!(!run.success());

        // Standard input, every byte value, and an environment of our own.
        let input: Vec<u8> = (0..=255u8).collect();
        let cat = agent
            .exec(Exec::new("/bin/cat").input(input.clone()))
            .await
            .expect("cat");
        assert!(cat.success());
        assert_eq!(cat.stdout, input);
        let env = agent
            .exec(
                Exec::new("/bin/sh")
                    .args(["-c", "printf %s \"$GREETING\""])
                    .env("GREETING", "hello agent"),
            )
            .await
            .expect("env");
        assert_eq!(env.stdout_lossy(), "hello agent");

        // A program that takes a while is polled with back-off until it exits; a time
        // limit shorter than it gives a timeout.
        let slow = agent
            .exec(Exec::new("/bin/sleep").arg("0.3"))
            .await
            .expect("sleep");
        assert!(slow.success());
        let cut = agent
            .exec(
                Exec::new("/bin/sleep")
                    .arg("2")
                    .timeout(Duration::from_millis(200)),
            )
            .await;
        assert!(matches!(cut, Err(Error::Timeout(_))), "{cut:?}");

        // A program that does not exist: the agent's error, typed.
        let missing = agent.exec(Exec::new("/no/such/program")).await;
        match missing {
            Err(Error::Qmp { class, desc }) => {
                assert_eq!(class, ErrorClass::GenericError);
                assert!(!desc.is_empty());
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_file_written_and_read_back() {
    let Some((ga, agent)) = agent(AgentBuilder::new().file_chunk_size(16 * 1024)).await else {
        return;
    };
    let path = ga.dir().join("file.bin");
    let path = path.to_str().expect("a UTF-8 temp path");
    // Several chunks, every byte value (0xFF included: it must not upset the sync).
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    within(30, async {
        agent.write_file(path, &bytes).await.expect("write");
        assert_eq!(std::fs::read(path).expect("on disk"), bytes);
        assert_eq!(agent.read_file(path).await.expect("read"), bytes);
        agent.write_file(path, b"").await.expect("truncate");
        assert_eq!(agent.read_file(path).await.expect("read empty"), b"");

        // Opening a file that does not exist fails with the agent's error, and the
        // client carries on.
        let missing = ga.dir().join("no/such/file");
        let err = agent
            .read_file(missing.to_str().unwrap())
            .await
            .expect_err("missing file");
        assert!(matches!(err, Error::Qmp { .. }), "{err:?}");
        agent.guest_ping().await.expect("still in step");
    })
    .await;
    // Every handle was closed: the agent would list none open (it keeps them in its
    // state only while open), so a fresh open gets a handle and works.
    within(10, agent.guest_ping().into_future())
        .await
        .expect("ping");
}

/// Garbage sits in both directions before the client's first sync: half a request the
/// agent is still parsing, and a reply nobody asked this client for. The sync clears both.
#[tokio::test]
async fn garbage_before_a_sync_is_survived() {
    let Some(builder) = common::qemu_ga() else {
        return;
    };
    let mut ga = builder.spawn().expect("spawn qemu-ga");
    // Wait until it listens, with a throwaway client.
    let probe = ga.connect(AgentBuilder::new()).await.expect("listening");
    probe.close().await;
    drop(probe);
    let mut raw = std::os::unix::net::UnixStream::connect(ga.socket()).expect("raw connect");
    use std::io::Write;
    raw.write_all(b"{\"execute\":\"guest-info\"}\n").unwrap();
    raw.write_all(b"garbage \x01\x02 {\"execute\": \"guest-ping\", \"argu")
        .unwrap();
    // Let the agent answer the first request, so its reply is waiting in the socket.
    std::thread::sleep(Duration::from_millis(200));
    raw.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(raw).unwrap();
    let agent = AgentBuilder::new()
        .connect_unix_stream(stream)
        .await
        .expect("client");
    within(20, async {
        // Had the pending guest-info reply been taken for this one, it would not decode.
        let os = agent
            .guest_get_osinfo()
            .await
            .expect("in step after garbage");
        assert!(os.kernel_release.is_some());
        for _ in 0..3 {
            agent.guest_ping().await.expect("ping");
        }
    })
    .await;
}

/// A paused agent: a call times out, then a sync times out (the call is not sent); once
/// the agent runs again, the next call syncs past the late reply and gets its own.
#[tokio::test]
async fn a_timeout_then_a_successful_resync() {
    let builder = AgentBuilder::new().sync_timeout(Duration::from_millis(400));
    let Some((ga, agent)) = agent(builder).await else {
        return;
    };
    within(30, async {
        agent.guest_ping().await.expect("first ping");
        signal(&ga, libc::SIGSTOP);
        let started = Instant::now();
        let timed_out = agent
            .with_timeout(Duration::from_millis(300))
            .guest_info()
            .await;
        assert!(matches!(timed_out, Err(Error::Timeout(_))), "{timed_out:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let unsent = agent.guest_get_osinfo().await;
        assert!(
            matches!(unsent, Err(Error::AgentUnresponsive { .. })),
            "{unsent:?}"
        );
        signal(&ga, libc::SIGCONT);
        // The agent now answers the guest-info and the sync it was sent: both are
        // dropped by the next sync.
        let started = Instant::now();
        let os = agent.guest_get_osinfo().await.expect("resynchronised");
        println!("resync after the pause took {:?}", started.elapsed());
        assert!(os.kernel_release.is_some());
        agent.guest_ping().await.expect("ping");
    })
    .await;
}

/// The agent restarts between calls: the next call dials again and syncs, unseen.
#[tokio::test]
async fn an_agent_restart_between_calls_is_unseen() {
    let Some((mut ga, agent)) = agent(AgentBuilder::new()).await else {
        return;
    };
    within(30, async {
        agent.guest_ping().await.expect("before");
        ga.restart().expect("restart qemu-ga");
        // The socket is back a moment after the restart.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match agent.guest_get_osinfo().await {
                Ok(os) => {
                    assert!(os.kernel_release.is_some());
                    break;
                }
                Err(e) if Instant::now() < deadline => {
                    println!("not back yet: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("after restart: {e}"),
            }
        }
        agent.guest_ping().await.expect("after");
    })
    .await;
}

/// 32 callers at once: each gets its own reply, and they are served in the order they
/// called (the agent's clock, read by each call, rises with the order of the calls).
#[tokio::test]
async fn thirty_two_concurrent_callers_in_order_of_arrival() {
    let Some((_ga, agent)) = agent(AgentBuilder::new()).await else {
        return;
    };
    within(30, async {
        agent.sync().await.expect("sync");
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..32i64 {
            // The call is queued when it is made, before the task runs.
            let echo = agent.guest_sync(i).into_future();
            let time = agent.guest_get_time().into_future();
            tasks.push(tokio::spawn(async move { (i, echo.await, time.await) }));
        }
        let mut last_time = 0;
        for task in tasks {
            let (i, echo, time) = task.await.expect("task");
            assert_eq!(
                echo.expect("guest-sync"),
                i,
                "caller {i} got another's reply"
            );
            let time = time.expect("guest-get-time");
            assert!(time > last_time, "caller {i} served out of order");
            last_time = time;
        }
        println!(
            "64 calls of 32 concurrent callers answered in order in {:?}",
            started.elapsed()
        );
    })
    .await;
}

/// `guest-shutdown` answers nothing on success; blocked, it answers an error, which is
/// still an error. (Never unblocked here: on a host it would shut the host down.)
#[tokio::test]
async fn a_blocked_shutdown_is_an_error_reply() {
    let Some(builder) = common::qemu_ga() else {
        return;
    };
    let blocked = [
        "guest-shutdown",
        "guest-suspend-disk",
        "guest-suspend-ram",
        "guest-suspend-hybrid",
    ];
    let mut ga = builder.block_rpcs(blocked).spawn().expect("spawn qemu-ga");
    let agent = ga.connect(AgentBuilder::new()).await.expect("connect");
    within(20, async {
        let info = agent.guest_info().await.expect("guest-info");
        for name in blocked {
            let command = info
                .supported_commands
                .iter()
                .find(|c| c.name == name)
                .expect("listed");
            // The safety check: abort before calling anything the agent would run.
            assert!(
                !command.enabled,
                "{name} is not blocked: refusing to call it"
            );
        }
        let started = Instant::now();
        let err = agent.guest_shutdown().await.expect_err("blocked");
        assert!(
            matches!(
                err,
                Error::Qmp {
                    class: ErrorClass::CommandNotFound,
                    ..
                }
            ),
            "{err:?}"
        );
        // The error came as a reply, not after the quiet period.
        assert!(started.elapsed() < Duration::from_secs(1));
        let err = agent.guest_suspend_ram().await.expect_err("blocked");
        assert!(matches!(err, Error::Qmp { .. }), "{err:?}");
        agent.guest_ping().await.expect("still answering");
    })
    .await;
}

#[test]
fn the_blocking_client_does_the_same() {
    let Some(builder) = common::qemu_ga() else {
        return;
    };
    let ga = builder.spawn().expect("spawn qemu-ga");
    let deadline = Instant::now() + Duration::from_secs(10);
    let agent = loop {
        match BlockingAgentClient::connect(ga.socket()) {
            Ok(agent) => break agent,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect: {e}"),
        }
    };
    agent.guest_ping().wait().expect("ping");
    let os = agent.guest_get_osinfo().wait().expect("osinfo");
    assert!(os.kernel_release.is_some());
    let run = agent
        .exec(Exec::new("/bin/sh").args(["-c", "echo blocking; exit 0"]))
        .expect("exec");
    assert!(run.success());
    assert_eq!(run.stdout, b"blocking\n");
    let path = ga.dir().join("blocking.txt");
    let path = path.to_str().unwrap();
    agent.write_file(path, b"from a thread").expect("write");
    assert_eq!(agent.read_file(path).expect("read"), b"from a thread");
    // Threads calling at once are all answered.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let agent = agent.clone();
            std::thread::spawn(move || agent.guest_sync(i).wait())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().expect("sync"), i as i64);
    }
}
