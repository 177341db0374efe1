//! The guest-agent client against a scripted peer playing the agent: the faults a real
//! `qemu-ga` rarely shows on cue (sync replies in pieces, a 0xFF inside data, garbage
//! replies, late replies, an agent restarting mid-call, a caller that gives up).
//!
//! The peer is deliberately small (a few lines of the agent's wire protocol) and reads
//! and writes by hand, for what needs control of single writes and of the moment a
//! request arrives; `agent_fake.rs` plays the same faults with the library's fake server
//! in agent mode, scripted with the agent's types.

mod common;

use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use qemu_qmp::agent::{AgentBuilder, AgentClient, Commands};
use qemu_qmp::Error;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use common::within;

/// The agent's side of one connection.
struct Peer {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// One request as the peer read it.
#[derive(Debug)]
struct Request {
    /// Whether the delimiter 0xFF came before it.
    delimited: bool,
    json: Value,
}

impl Request {
    fn name(&self) -> &str {
        self.json["execute"].as_str().unwrap_or_default()
    }
}

impl Peer {
    fn new(stream: UnixStream) -> Peer {
        let (r, w) = stream.into_split();
        Peer {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    /// The next request, or `None` when the client closed the connection.
    async fn request(&mut self) -> Option<Request> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line).await.unwrap() == 0 {
            return None;
        }
        let delimited = line.first() == Some(&0xFF);
        let body = line.strip_prefix(&[0xFF]).unwrap_or(&line);
        let json = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("bad request {:?}: {e}", String::from_utf8_lossy(body)));
        Some(Request { delimited, json })
    }

    /// Reads a sync and returns its id (asserting the client sent the delimiter first).
    async fn expect_sync(&mut self) -> i64 {
        let req = self.request().await.expect("a sync");
        assert!(req.delimited, "a sync starts with 0xFF: {req:?}");
        assert_eq!(req.name(), "guest-sync-delimited", "{req:?}");
        req.json["arguments"]["id"].as_i64().expect("an integer id")
    }

    /// Reads a sync and answers it as the agent does: the parse error the 0xFF causes,
    /// then the delimiter and the reply.
    async fn sync(&mut self) {
        let id = self.expect_sync().await;
        self.send(b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n")
            .await;
        self.send(&ff(&format!("\0{{\"return\": {id}}}\n"))).await;
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Replies `ret` to `req`, echoing its id as the agent does.
    async fn reply(&mut self, req: &Request, ret: Value) {
        let msg = json!({"return": ret, "id": req.json["id"]});
        self.send(format!("{msg}\n").as_bytes()).await;
    }
}

/// A client and the peer on the other end of a socket pair.
async fn pair(builder: AgentBuilder) -> (AgentClient, Peer) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let client = builder.connect_unix_stream(ours).await.unwrap();
    (client, Peer::new(theirs))
}

/// `text` with 0xFF where it has `\0` (a `str` cannot hold the byte).
fn ff(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| if b == 0 { 0xFF } else { b })
        .collect()
}

#[tokio::test]
async fn the_first_call_syncs_then_runs() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    let call = client.guest_ping().into_future();
    within(5, async {
        peer.sync().await;
        let req = peer.request().await.unwrap();
        assert!(!req.delimited);
        assert_eq!(req.name(), "guest-ping");
        assert!(req.json["id"].is_u64(), "requests carry an id: {req:?}");
        peer.reply(&req, json!({})).await;
        call.await.expect("ping");
        // In step now: the next call is sent at once, without a sync (and a timeout too
        // long to add to a clock is no panic).
        let call = client
            .with_timeout(Duration::MAX)
            .guest_get_time()
            .into_future();
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-get-time");
        peer.reply(&req, json!(1234)).await;
        assert_eq!(call.await.unwrap(), 1234);
    })
    .await;
}

/// The sync reply in pieces, after old replies, a parse error and a reply for another
/// id; garbage with a 0xFF inside before the real delimiter.
#[tokio::test]
async fn partial_and_foreign_sync_replies() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    let call = client.guest_get_time().into_future();
    within(5, async {
        let id = peer.expect_sync().await;
        peer.send(b"{\"return\": {\"pid\": 12}, \"id\": 77}\n")
            .await;
        peer.send(&ff("{\"return\": \"half\0 a reply\"}\n")).await;
        peer.send(&ff(&format!("\0{{\"return\": {}}}\n", id.wrapping_add(1))))
            .await;
        peer.send(&ff("\0{\"ret")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.send(b"urn\": ").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.send(format!("{id}}}\n").as_bytes()).await;
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-get-time");
        peer.reply(&req, json!(5)).await;
        assert_eq!(call.await.unwrap(), 5);
    })
    .await;
}

/// A reply that holds the delimiter, or is not JSON, is no reply: the caller gets a
/// protocol error at once, and the next call syncs first.
#[tokio::test]
async fn a_delimiter_inside_data_and_garbage_fail_the_call_and_resync() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    within(5, async {
        let call = client.guest_get_host_name().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        peer.send(&ff("{\"return\": {\"host-name\": \"a\0b\"}}\n"))
            .await;
        drop(req);
        let err = call.await.expect_err("a 0xFF in a reply");
        assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains("resynchronised"), "{err}");

        let call = client.guest_ping().into_future();
        peer.sync().await;
        let _req = peer.request().await.unwrap();
        peer.send(b"this is not JSON\n").await;
        let err = call.await.expect_err("garbage");
        assert!(matches!(err, Error::Protocol { .. }), "{err:?}");

        let call = client.guest_ping().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        peer.reply(&req, json!({})).await;
        call.await.expect("in step again");
    })
    .await;
}

/// No reply in time: a timeout; the late reply then comes before the next sync's and is
/// dropped; the next call gets its own.
#[tokio::test]
async fn a_timeout_then_resync_drops_the_late_reply() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    within(5, async {
        let started = Instant::now();
        let call = client
            .with_timeout(Duration::from_millis(200))
            .guest_get_time()
            .into_future();
        peer.sync().await;
        let late = peer.request().await.unwrap();
        assert!(matches!(call.await, Err(Error::Timeout(_))));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let call = client.guest_get_time().into_future();
        peer.reply(&late, json!(1)).await;
        // Also without an id (an agent that does not echo one): dropped all the same.
        peer.send(b"{\"return\": 1}\n").await;
        peer.sync().await;
        let req = peer.request().await.unwrap();
        peer.reply(&req, json!(2)).await;
        assert_eq!(call.await.unwrap(), 2);
    })
    .await;
}

/// A sync nobody answers fails the call with `AgentUnresponsive`, and the command is not
/// sent; the next call syncs again.
#[tokio::test]
async fn an_unanswered_sync_does_not_send_the_command() {
    let (client, mut peer) =
        pair(AgentBuilder::new().sync_timeout(Duration::from_millis(150))).await;
    within(5, async {
        let call = client.guest_ping().into_future();
        let _ignored = peer.expect_sync().await;
        let err = call.await.expect_err("no sync reply");
        assert!(matches!(err, Error::AgentUnresponsive { .. }), "{err:?}");
        assert!(err.to_string().contains("not sent"), "{err}");
        let call = client.guest_ping().into_future();
        // The next thing on the wire is a sync again, not the first ping.
        peer.sync().await;
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-ping");
        peer.reply(&req, json!({})).await;
        call.await.unwrap();
    })
    .await;
}

/// A reply to another request id (a stale one) is skipped while the call waits.
#[tokio::test]
async fn stale_replies_by_id_are_skipped() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    within(5, async {
        let call = client.guest_get_time().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        peer.send(b"{\"return\": 999, \"id\": 123456789}\n").await;
        peer.reply(&req, json!(3)).await;
        assert_eq!(call.await.unwrap(), 3);
    })
    .await;
}

/// The agent restarts mid-call: the call in flight fails with `Disconnected` (it may
/// have run, so it is not repeated); the next call dials again, syncs and runs.
#[tokio::test]
async fn the_agent_restarting_mid_call() {
    let dir = std::env::temp_dir().join(format!("qmp-agent-faults-{}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    let path: PathBuf = dir.join("restart.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let client = AgentClient::connect(&path).await.unwrap();
    within(5, async {
        let call = client.guest_info().into_future();
        let mut peer = Peer::new(listener.accept().await.unwrap().0);
        peer.sync().await;
        let _req = peer.request().await.unwrap();
        drop(peer);
        assert!(matches!(call.await, Err(Error::Disconnected)));

        let call = client.guest_ping().into_future();
        let mut peer = Peer::new(listener.accept().await.unwrap().0);
        peer.sync().await;
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-ping");
        peer.reply(&req, json!({})).await;
        call.await.expect("after the restart");
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Commands that answer nothing on success: quiet is success, the agent going away is
/// success, an error reply is an error. After quiet the stream is resynchronised (the
/// agent may be on its way down); after an error reply it is in step.
#[tokio::test]
async fn commands_without_a_success_reply() {
    let builder = AgentBuilder::new().quiet_period(Duration::from_millis(200));
    let (client, mut peer) = pair(builder.clone()).await;
    within(10, async {
        let started = Instant::now();
        let call = client.guest_shutdown().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-shutdown");
        call.await.expect("quiet is success");
        assert!(started.elapsed() >= Duration::from_millis(200));

        let call = client.guest_suspend_ram().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        let err = json!({"error": {"class": "GenericError", "desc": "suspend not supported"}, "id": req.json["id"]});
        peer.send(format!("{err}\n").as_bytes()).await;
        match call.await {
            Err(Error::Qmp { desc, .. }) => assert_eq!(desc, "suspend not supported"),
            other => panic!("{other:?}"),
        }

        // The error was a reply: in step, the next call goes without a sync.
        let call = client.guest_suspend_disk().into_future();
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-suspend-disk");
        drop(peer);
        let started = Instant::now();
        call.await.expect("the agent going away is success");
        assert!(started.elapsed() < Duration::from_millis(200));
    })
    .await;
}

/// A caller that gives up (its future dropped) mid-call: the task finishes the exchange
/// on its own, the callers behind it are served, and a caller that gave up while still
/// queued is never sent.
#[tokio::test]
async fn a_caller_that_gives_up_leaves_nothing_behind() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    within(5, async {
        let abandoned = tokio::spawn(client.guest_get_time().into_future());
        peer.sync().await;
        let first = peer.request().await.unwrap();
        let never_sent = client.guest_info().into_future();
        let next = client.guest_get_time().into_future();
        abandoned.abort();
        drop(never_sent);
        let _ = abandoned.await;
        // The abandoned call's reply comes late; the next call syncs past it.
        peer.reply(&first, json!(1)).await;
        peer.sync().await;
        let req = peer.request().await.unwrap();
        assert_eq!(req.name(), "guest-get-time", "guest-info was never sent");
        peer.reply(&req, json!(2)).await;
        assert_eq!(next.await.unwrap(), 2);
    })
    .await;
}

/// 32 callers at once are sent one at a time, in the order they called, each answered
/// with its own reply.
#[tokio::test]
async fn callers_are_served_one_at_a_time_in_order() {
    let (client, mut peer) = pair(AgentBuilder::new()).await;
    within(10, async {
        let calls: Vec<_> = (0..32i64)
            .map(|i| tokio::spawn(client.guest_sync(i).into_future()))
            .collect();
        peer.sync().await;
        for i in 0..32i64 {
            let req = peer.request().await.unwrap();
            assert_eq!(req.json["arguments"]["id"], i, "request {i} out of order");
            // Nothing else is on the wire until this one is answered.
            let early = tokio::time::timeout(Duration::from_millis(5), peer.request()).await;
            assert!(early.is_err(), "a second request while one is in flight");
            peer.reply(&req, json!(i)).await;
        }
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), i as i64);
        }
    })
    .await;
}

/// A message over the cap fails its call with `MessageTooLarge`; the rest of it is
/// skipped and the next call syncs and runs.
#[tokio::test]
async fn an_oversized_reply() {
    let (client, mut peer) = pair(AgentBuilder::new().max_message_size(1024)).await;
    within(5, async {
        let call = client.guest_get_host_name().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        let big = json!({"return": {"host-name": "x".repeat(4096)}, "id": req.json["id"]});
        peer.send(format!("{big}\n").as_bytes()).await;
        let err = call.await.expect_err("too large");
        assert!(
            matches!(err, Error::MessageTooLarge { limit: 1024, .. }),
            "{err:?}"
        );
        let call = client.guest_ping().into_future();
        peer.sync().await;
        let req = peer.request().await.unwrap();
        peer.reply(&req, json!({})).await;
        call.await.unwrap();
    })
    .await;
}
