//! The guest-agent client against the fake server playing the agent
//! (`FakeQmp::builder().guest_agent()`): the faults of the sync protocol and of the agent
//! itself, scripted with the agent's typed bindings. Each fault leaves the client in step:
//! the next call gets its own reply.

mod common;

use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::within;
use qemu_qmp::agent::api::{
    GuestAgentInfo, GuestExecStatus, GuestExecStatusCommand, GuestInfo, GuestPing, GuestShutdown,
};
use qemu_qmp::agent::{AgentBuilder, AgentClient, Commands};
use qemu_qmp::fake::{FakeQmp, Listening};
use qemu_qmp::{Error, ErrorClass};
use serde_json::Value;

/// The fake agent on a private socket, and a client of it.
async fn agent(fake: &FakeQmp, builder: AgentBuilder) -> (AgentClient, Listening, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "qmp-agent-fake-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qga.sock");
    let listening = fake.listen_unix(&path).unwrap();
    let client = within(5, builder.connect(&path)).await.unwrap();
    (client, listening, dir)
}

fn fake_agent() -> FakeQmp {
    let fake = FakeQmp::builder().guest_agent().build();
    fake.on::<GuestPing>().returns(());
    fake
}

fn info(version: &str) -> GuestAgentInfo {
    GuestAgentInfo::new(version, Vec::new())
}

/// The commands the fake received, in order.
fn commands(fake: &FakeQmp) -> Vec<String> {
    fake.received().into_iter().map(|r| r.command).collect()
}

async fn in_step(client: &AgentClient) {
    within(5, client.guest_ping().into_future())
        .await
        .expect("the client is in step with the agent");
}

#[tokio::test]
async fn the_fake_agent_syncs_and_answers_typed_calls() {
    let fake = fake_agent();
    fake.on::<GuestInfo>().returns(info("10.0.0"));
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    let info = client.guest_info().await.unwrap();
    assert_eq!(info.version, "10.0.0");
    in_step(&client).await;
    // One sync on connecting, then the calls, each with an id the agent echoes.
    assert_eq!(
        commands(&fake),
        ["guest-sync-delimited", "guest-info", "guest-ping"]
    );
    assert!(fake.received()[1].id.is_some());
    fake.verify().unwrap();
}

#[tokio::test]
async fn partial_and_foreign_sync_replies_are_skipped() {
    let fake = fake_agent();
    // The first sync is answered with half a reply, another sync's answer and only then
    // its own, each after a delimiter.
    fake.on_command("guest-sync-delimited")
        .times(1)
        .raw_from(|request| {
            let id = &request.arguments["id"];
            let mut bytes = b"{\"return\": 12".to_vec();
            bytes.push(0xFF);
            bytes.extend_from_slice(b"{\"return\": 987654321}\n");
            bytes.push(0xFF);
            bytes.extend_from_slice(format!("{{\"return\": {id}}}\n").as_bytes());
            bytes
        });
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    in_step(&client).await;
    assert_eq!(commands(&fake), ["guest-sync-delimited", "guest-ping"]);
}

#[tokio::test]
async fn a_delimiter_inside_data_fails_the_call_and_the_next_resyncs() {
    let fake = fake_agent();
    fake.on::<GuestInfo>().times(1).raw_with(|id| {
        let mut bytes = b"{\"return\": {\"version\": \"10".to_vec();
        bytes.push(0xFF);
        bytes.extend_from_slice(
            format!(".0\", \"supported_commands\": []}}, \"id\": {id}}}\n").as_bytes(),
        );
        bytes
    });
    fake.on::<GuestInfo>().returns(info("10.0.1"));
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    let first = within(5, client.guest_info().into_future()).await;
    assert!(
        first.is_err(),
        "a reply cut by a delimiter is not a reply: {first:?}"
    );
    let second = within(5, client.guest_info().into_future()).await.unwrap();
    assert_eq!(second.version, "10.0.1");
    // The client synced again before the second call.
    let syncs = commands(&fake)
        .iter()
        .filter(|c| *c == "guest-sync-delimited")
        .count();
    assert_eq!(syncs, 2, "{:?}", commands(&fake));
}

#[tokio::test]
async fn a_timeout_then_a_resync_drops_the_late_reply() {
    let fake = fake_agent();
    fake.on::<GuestInfo>()
        .times(1)
        .delay(Duration::from_millis(400))
        .returns(info("late"));
    fake.on::<GuestInfo>().returns(info("on time"));
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    let started = Instant::now();
    let late = client
        .with_timeout(Duration::from_millis(100))
        .guest_info()
        .await;
    assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
    assert!(started.elapsed() < Duration::from_millis(390));
    let next = within(5, client.guest_info().into_future()).await.unwrap();
    assert_eq!(next.version, "on time");
}

#[tokio::test]
async fn the_agent_restarting_mid_call() {
    let fake = fake_agent();
    fake.on::<GuestInfo>().times(1).close_connection();
    fake.on::<GuestInfo>().returns(info("restarted"));
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    let cut = within(5, client.guest_info().into_future()).await;
    assert!(matches!(cut, Err(Error::Disconnected)), "{cut:?}");
    // The next call dials again, syncs and is answered.
    let again = within(5, client.guest_info().into_future()).await.unwrap();
    assert_eq!(again.version, "restarted");
    let connections: Vec<u64> = fake.received().iter().map(|r| r.connection).collect();
    assert_ne!(connections.first(), connections.last());
}

#[tokio::test]
async fn commands_without_a_success_reply_succeed_on_silence_or_departure() {
    let fake = fake_agent();
    fake.on::<GuestShutdown>().times(1).no_reply();
    fake.on::<GuestShutdown>().times(1).close_connection();
    fake.on::<GuestShutdown>()
        .error(ErrorClass::GenericError, "shutdown refused");
    let builder = AgentBuilder::new().quiet_period(Duration::from_millis(150));
    let (client, _listening, _dir) = agent(&fake, builder).await;
    let started = Instant::now();
    within(5, client.guest_shutdown().into_future())
        .await
        .expect("silence is success");
    assert!(started.elapsed() >= Duration::from_millis(150));
    within(5, client.guest_shutdown().into_future())
        .await
        .expect("the agent going away is success");
    match within(5, client.guest_shutdown().into_future()).await {
        Err(Error::Qmp { desc, .. }) => assert_eq!(desc, "shutdown refused"),
        other => panic!("an error reply is an error: {other:?}"),
    }
    in_step(&client).await;
}

#[tokio::test]
async fn callers_are_answered_one_at_a_time_in_their_order() {
    let fake = FakeQmp::builder().guest_agent().build();
    // Each reply names the call it answers.
    fake.on::<GuestExecStatusCommand>()
        .returns_with(|status| Ok(GuestExecStatus::new(true).exitcode(status.pid)));
    let (client, _listening, _dir) = agent(&fake, AgentBuilder::new()).await;
    let calls: Vec<_> = (0..32)
        .map(|pid| client.guest_exec_status(pid).into_future())
        .collect();
    let results = within(10, futures::future::join_all(calls)).await;
    for (pid, result) in results.into_iter().enumerate() {
        assert_eq!(result.unwrap().exitcode, Some(pid as i64));
    }
    let pids: Vec<Value> = fake
        .received()
        .into_iter()
        .filter(|r| r.command == "guest-exec-status")
        .map(|r| r.arguments["pid"].clone())
        .collect();
    assert_eq!(pids, (0..32).map(Value::from).collect::<Vec<_>>());
}
