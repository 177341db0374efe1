//! Shared helpers of the client tests: real QEMUs (with the skip/fail policy) and a fake
//! QMP server for the faults a real QEMU never produces.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use qemu_qmp::testing::{find_qemu, Qemu, QemuBuilder};
use qemu_qmp::{Client, ClientBuilder};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// The workspace root (this package's manifest dir).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn missing(what: &str) {
    let msg = format!("{what} not found: run `bash scripts/install-qemu.sh` first");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a missing QEMU is a failure)");
    }
    eprintln!("SKIPPED: {msg}");
}

/// A builder for QEMU 10.0 (the one on PATH), or `None` (test skipped) when it is missing.
pub fn qemu10() -> Option<QemuBuilder> {
    match find_qemu() {
        Some(bin) => Some(QemuBuilder::new(bin)),
        None => {
            missing("qemu-system-x86_64 (QEMU 10.0)");
            None
        }
    }
}

/// A builder for QEMU 7.2 unpacked in target/qemu-7.2 (or `$QMP_QEMU72_DIR`).
pub fn qemu72() -> Option<QemuBuilder> {
    let dir = std::env::var_os("QMP_QEMU72_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/qemu-7.2"));
    let bin = dir.join("usr/bin/qemu-system-x86_64");
    if !bin.is_file() {
        missing(&format!("QEMU 7.2 ({})", bin.display()));
        return None;
    }
    Some(QemuBuilder::new(bin).env("QEMU_MODULE_DIR", dir.join("usr/lib/x86_64-linux-gnu/qemu")))
}

/// A guest machine with a few GiB of RAM, stopped (for slow `dump-guest-memory`).
pub fn big_machine(b: QemuBuilder) -> QemuBuilder {
    b.machine_args(["-M", "pc", "-accel", "tcg", "-m", "3G", "-S"])
}

/// Starts QEMU 10 (`-M none`) and connects with `builder`.
pub async fn start(builder: ClientBuilder) -> Option<(Qemu, Client)> {
    let mut qemu = qemu10()?.spawn().expect("spawn QEMU");
    let client = qemu.connect(builder).await.expect("connect to QEMU");
    Some((qemu, client))
}

/// Waits for a future with a generous limit, so a hang fails the test instead of CI.
pub async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// An event message as QEMU writes it (5 microseconds past `seconds`).
pub fn event_line(name: &str, data: Option<Value>, seconds: i64) -> String {
    let mut msg =
        serde_json::json!({"event": name, "timestamp": {"seconds": seconds, "microseconds": 5}});
    if let Some(d) = data {
        msg["data"] = d;
    }
    msg.to_string()
}

/// The server side of a fake QMP connection, scripted by the test.
pub struct FakeQmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

pub const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 10}, "package": "fake"}, "capabilities": ["oob"]}}"#;

impl FakeQmp {
    /// A connected pair: the fake server and a client that has negotiated with it.
    pub async fn pair(builder: ClientBuilder) -> (FakeQmp, Client) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (r, w) = theirs.into_split();
        let mut fake = FakeQmp {
            reader: BufReader::new(r),
            writer: w,
        };
        let server = async {
            fake.send(GREETING).await;
            let req = fake.recv().await;
            assert_eq!(req["execute"], "qmp_capabilities");
            fake.reply(&req, serde_json::json!({})).await;
        };
        let (client, ()) = tokio::join!(builder.connect_transport(ours), server);
        (fake, client.unwrap())
    }

    /// Connects `client` (e.g. one from `ClientBuilder::build_without_endpoint`) to a new
    /// fake server through `reconnect_with`, sending the raw lines `during` (events)
    /// between the greeting and the `qmp_capabilities` reply, as QEMU may.
    pub async fn attach(client: &Client, during: &[String]) -> FakeQmp {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (r, w) = theirs.into_split();
        let mut fake = FakeQmp {
            reader: BufReader::new(r),
            writer: w,
        };
        let server = async {
            fake.send(GREETING).await;
            let req = fake.recv().await;
            assert_eq!(req["execute"], "qmp_capabilities");
            for line in during {
                fake.send(line).await;
            }
            fake.reply(&req, serde_json::json!({})).await;
        };
        let (connected, ()) = tokio::join!(client.reconnect_with(ours), server);
        connected.unwrap();
        fake
    }

    /// Writes one raw line (a newline is added).
    pub async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\r\n").await.unwrap();
    }

    /// Writes raw bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Reads one request.
    pub async fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).await.unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad request {line:?}: {e}"))
    }

    /// Replies `ret` to `req` (echoing its id).
    pub async fn reply(&mut self, req: &Value, ret: Value) {
        let msg = serde_json::json!({"return": ret, "id": req["id"]});
        self.send(&msg.to_string()).await;
    }

    /// Sends an event.
    pub async fn event(&mut self, name: &str, data: Option<Value>, seconds: i64) {
        self.send(&event_line(name, data, seconds)).await;
    }

    /// The server's reading half.
    pub fn reader_mut(&mut self) -> &mut BufReader<OwnedReadHalf> {
        &mut self.reader
    }

    /// Closes the server side.
    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// A builder for the guest agent (`qemu-ga`, run on the host without a VM), or `None`
/// (test skipped) when it is missing.
pub fn qemu_ga() -> Option<qemu_qmp::testing::QemuGaBuilder> {
    match qemu_qmp::testing::find_qemu_ga() {
        Some(bin) => Some(qemu_qmp::testing::QemuGaBuilder::new(bin)),
        None => {
            missing("qemu-ga (Debian's qemu-guest-agent)");
            None
        }
    }
}

/// A builder for `qemu-storage-daemon` and the path of `qemu-img`, or `None` (test
/// skipped) when either is missing.
pub fn storage_daemon() -> Option<(qemu_qmp::testing::StorageDaemonBuilder, PathBuf)> {
    let Some(daemon) = qemu_qmp::testing::find_storage_daemon() else {
        missing("qemu-storage-daemon");
        return None;
    };
    let Some(img) = qemu_qmp::testing::find_qemu_img() else {
        missing("qemu-img (Debian's qemu-utils)");
        return None;
    };
    Some((qemu_qmp::testing::StorageDaemonBuilder::new(daemon), img))
}
