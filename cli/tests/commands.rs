//! `qmp exec`, `events`, `wait` and `watch` end to end: the built binary against real
//! QEMUs (10.0, and 7.2 for exec), each on private sockets and always ended.
//!
//! QEMU serves one client per monitor, so each QEMU here has a second monitor from which
//! the test drives it (stop, cont, block jobs) while the tool holds the first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use qemu_qmp::testing::{find_qemu, Qemu, QemuBuilder};
use qemu_qmp::{Backoff, BlockingClient, Client, Endpoint};
use serde_json::{json, Value};

fn missing(what: &str) -> Option<QemuBuilder> {
    let message = format!("{what} not found: run `bash scripts/install-qemu.sh` first");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (CI=true: a missing QEMU is a failure)");
    }
    eprintln!("SKIPPED: {message}");
    None
}

fn qemu10() -> Option<QemuBuilder> {
    match find_qemu() {
        Some(bin) => Some(QemuBuilder::new(bin)),
        None => missing("qemu-system-x86_64 (QEMU 10.0)"),
    }
}

fn qemu72() -> Option<QemuBuilder> {
    let dir = std::env::var_os("QMP_QEMU72_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/qemu-7.2"));
    let bin = dir.join("usr/bin/qemu-system-x86_64");
    if !bin.is_file() {
        return missing(&format!("QEMU 7.2 ({})", bin.display()));
    }
    Some(QemuBuilder::new(bin).env("QEMU_MODULE_DIR", dir.join("usr/lib/x86_64-linux-gnu/qemu")))
}

/// A QEMU with the tool's monitor and a second one for the test.
struct Vm {
    qemu: Qemu,
    /// The second monitor.
    control: BlockingClient,
    _dir: tempfile::TempDir,
}

impl Vm {
    fn start(builder: Option<QemuBuilder>) -> Option<Vm> {
        let dir = tempfile::tempdir().expect("temp dir");
        let second = dir.path().join("control.sock");
        let qemu = builder?
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", second.display()))
            .spawn()
            .expect("spawn QEMU");
        let backoff = Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            attempts: 100,
        };
        let control = BlockingClient::connect_with_retry(Client::builder(), second, backoff)
            .expect("connect the control monitor");
        Some(Vm {
            qemu,
            control,
            _dir: dir,
        })
    }

    /// The tool's monitor, as the tool takes it.
    fn addr(&self) -> String {
        match self.qemu.endpoint() {
            Some(Endpoint::Unix(path)) => path.display().to_string(),
            other => panic!("unexpected endpoint {other:?}"),
        }
    }

    fn socket(&self) -> PathBuf {
        PathBuf::from(self.addr())
    }

    fn run(&self, command: &str, arguments: Value) -> Value {
        self.control
            .execute_raw(command, Some(arguments))
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// Two null-co nodes `src` and `dst` for block jobs.
    fn null_nodes(&self, size: u64) {
        for name in ["src", "dst"] {
            self.run(
                "blockdev-add",
                json!({"driver": "null-co", "node-name": name, "size": size}),
            );
        }
    }
}

fn qmp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qmp"));
    command.env("NO_COLOR", "1").env_remove("QMP_SOCKET");
    command
}

fn run(args: &[&str]) -> Output {
    qmp().args(args).output().expect("run qmp")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// Waits until a client is connected to QEMU's listening socket `path` (an accepted
/// connection shows in /proc/net/unix under the listener's path, in state 03).
fn wait_for_client(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = path.display().to_string();
    loop {
        let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
        let connected = table.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() >= 8 && fields[5] == "03" && fields[7] == path
        });
        if connected {
            // Accepted; the greeting and negotiation take a moment more.
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
        assert!(Instant::now() < deadline, "no client connected to {path}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends a child (the tool) if a test fails before it exits.
struct Reaped(Child);

impl Reaped {
    fn spawn(args: &[&str]) -> Reaped {
        Reaped(
            qmp()
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn qmp"),
        )
    }

    fn finish(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        while self.0.try_wait().expect("try_wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "qmp did not finish within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let child = std::mem::replace(&mut self.0, Command::new("true").spawn().expect("true"));
        child.wait_with_output().expect("output")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn exec_prints_the_reply_pretty_or_compact() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let out = run(&["exec", &vm.addr(), "query-status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reply: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(reply["status"], "running");
    assert!(stdout(&out).lines().count() > 1, "pretty by default");

    let out = run(&["exec", "--compact", &vm.addr(), "query-status"]);
    assert_eq!(stdout(&out).lines().count(), 1);
    // The address from $QMP_SOCKET, in its unix: form.
    let out = qmp()
        .env("QMP_SOCKET", format!("unix:{}", vm.addr()))
        .args(["exec", "query-name"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        json!({})
    );
}

#[test]
fn exec_arguments_are_typed_by_the_schema() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    // Dotted keys reach nested members; `true`/`on` become booleans for bool members,
    // the size a number, and `node-name` stays a string though it reads as JSON.
    let out = run(&[
        "exec",
        &vm.addr(),
        "blockdev-add",
        "driver=null-co",
        "node-name=true",
        "size=1048576",
        "cache.direct=false",
        "cache.no-flush=on",
        "read-only=true",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The JSON form.
    let out = run(&[
        "exec",
        &vm.addr(),
        "blockdev-add",
        r#"{"driver": "null-co", "node-name": "j0"}"#,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let nodes = vm.run("query-named-block-nodes", json!({"flat": true}));
    let nodes = nodes.as_array().expect("a list");
    let node = nodes
        .iter()
        .find(|n| n["node-name"] == "true")
        .expect("node `true`");
    assert_eq!(node["cache"]["no-flush"], true);
    assert_eq!(node["ro"], true);
    assert_eq!(node["image"]["virtual-size"], 1048576);
    assert!(nodes.iter().any(|n| n["node-name"] == "j0"));
}

#[test]
fn exec_mistakes_are_usage_errors_naming_the_closest_match() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let cases: &[(&[&str], &str)] = &[
        (&["query-statu"], "did you mean `query-status`?"),
        (
            &["blockdev-add", "driver=null-co", "node-nam=x"],
            "no argument `node-nam`; did you mean `node-name`?",
        ),
        (
            &["blockdev-add", "driver=nul-co", "node-name=x"],
            "did you mean `null-co`?",
        ),
        (
            &[
                "blockdev-add",
                "driver=null-co",
                "node-name=x",
                "cache.direc=true",
            ],
            "`cache` has no member `direc`; did you mean `direct`?",
        ),
        (
            &["blockdev-add", "driver=null-co", "node-name=x", "size=big"],
            "`size`: expected an integer",
        ),
        (
            &["blockdev-add", "driver=file", "node-name=x"],
            "missing argument `filename`",
        ),
        (&["blockdev-add", "{not json"], "not valid JSON"),
        (&["query-status", "nokeyvalue"], "is not key=value"),
        // Without arguments QEMU is asked at once; its refusal is explained from the schema.
        (&["blockdev-add"], "missing argument `driver`"),
    ];
    let addr = vm.addr();
    for (words, expected) in cases {
        let mut args = vec!["exec", addr.as_str()];
        args.extend_from_slice(words);
        let out = run(&args);
        assert_eq!(code(&out), 2, "{words:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{words:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(stdout(&out).is_empty());
    }
    // Nothing of it reached QEMU: no node was added.
    let nodes = vm.run("query-named-block-nodes", json!({}));
    assert_eq!(nodes, json!([]));
}

#[test]
fn exec_reports_qmp_errors_with_status_1() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let out = run(&["exec", &vm.addr(), "device_del", "id=nosuchdevice"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "error: DeviceNotFound: Device 'nosuchdevice' not found"
    );
    // --no-check sends what the schema would refuse, and QEMU answers.
    let out = run(&["exec", "--no-check", &vm.addr(), "query-status", "bogus=1"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("GenericError"), "{}", stderr(&out));
}

#[test]
fn exec_works_against_qemu_7_2_with_its_own_schema() {
    let Some(vm) = Vm::start(qemu72()) else {
        return;
    };
    let out = run(&["exec", "--compact", &vm.addr(), "query-status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reply: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // 7.2 still reports `singlestep`, which 10.0 dropped.
    assert_eq!(reply["singlestep"], false);
    let version = run(&["exec", "--compact", &vm.addr(), "query-version"]);
    let version: Value = serde_json::from_str(&stdout(&version)).unwrap();
    assert_eq!(version["qemu"]["major"], 7);
    // A command 7.2 lacks is refused from 7.2's own schema, before sending.
    let out = run(&["exec", &vm.addr(), "query-stats-schemas", "provider=kvm"]);
    assert_eq!(
        code(&out),
        0,
        "7.2 has query-stats-schemas: {}",
        stderr(&out)
    );
    let out = run(&[
        "exec",
        &vm.addr(),
        "blockdev-add",
        "driver=null-co",
        "node-name=a",
        "cache.direct=maybe",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("expected true or false"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn connection_failures_are_one_line_with_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let missing_socket = dir.path().join("nothing.sock");
    let out = run(&["exec", missing_socket.to_str().unwrap(), "query-status"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("no socket at"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);

    let plain = dir.path().join("plain-file");
    std::fs::write(&plain, "").unwrap();
    let out = run(&["exec", plain.to_str().unwrap(), "query-status"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("is not a socket"), "{}", stderr(&out));

    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let out = run(&["exec", stale.to_str().unwrap(), "query-status"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("nothing is listening"),
        "{}",
        stderr(&out)
    );

    let out = run(&["exec", "tcp:127.0.0.1:1", "query-status"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("nothing is listening on 127.0.0.1:1"),
        "{}",
        stderr(&out)
    );

    let out = run(&["exec"]);
    assert_eq!(code(&out), 2, "usage: {}", stderr(&out));
    let out = run(&["exec", "query-status"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("QMP_SOCKET"), "{}", stderr(&out));
}

#[test]
fn a_monitor_held_by_another_client_is_named_as_such() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let holder = BlockingClient::connect(vm.socket()).expect("first client");
    let started = Instant::now();
    let out = run(&["exec", "--connect-timeout", "1", &vm.addr(), "query-status"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("another client probably holds this monitor"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(holder);
}

#[test]
fn permission_denied_says_whose_socket_it_is() {
    // Needs a second user: as root, run the tool as `nobody`, which may not enter QEMU's
    // private (0700) directory.
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIPPED: needs root and setpriv to act as another user");
        return;
    }
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let out = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_qmp"),
        ])
        .args(["exec", &vm.addr(), "query-status"])
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn events_follows_the_named_events_as_json_lines() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let child = Reaped::spawn(&["events", &vm.addr(), "RESUME", "--json", "--count", "2"]);
    wait_for_client(&vm.socket());
    for _ in 0..2 {
        vm.run("stop", json!({}));
        vm.run("cont", json!({}));
    }
    let out = child.finish(Duration::from_secs(10));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    for line in &lines {
        // Only RESUME was asked for, though STOP came between.
        assert_eq!(line["event"], "RESUME");
        assert!(line["timestamp"]["seconds"].as_i64().unwrap() > 1_600_000_000);
    }
}

#[test]
fn events_are_readable_and_stop_at_the_timeout() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    let started = Instant::now();
    let child = Reaped::spawn(&["events", &vm.addr(), "--timeout", "2"]);
    wait_for_client(&vm.socket());
    vm.run("stop", json!({}));
    let out = child.finish(Duration::from_secs(10));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_secs(2));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("STOP"))
        .unwrap_or_else(|| panic!("no STOP: {text}"));
    // `2026-12-03 13:45:01.123456  STOP`
    let (date, rest) = line.split_once(' ').unwrap();
    assert_eq!(date.len(), 10, "{line}");
    assert!(
        date.starts_with("20") && date.as_bytes()[4] == b'-',
        "{line}"
    );
    assert!(rest.trim_end().ends_with("STOP"), "{line}");

    // A misspelt name would never match: refused, with the spelling QEMU uses.
    let out = run(&["events", &vm.addr(), "stop"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("did you mean `STOP`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wait_returns_the_first_matching_event_or_times_out() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    vm.null_nodes(1 << 20);
    let child = Reaped::spawn(&[
        "wait",
        &vm.addr(),
        "JOB_STATUS_CHANGE",
        "--match",
        "id=wanted",
        "--match",
        "status=concluded",
        "--timeout",
        "20",
    ]);
    wait_for_client(&vm.socket());
    for id in ["other", "wanted"] {
        vm.run(
            "blockdev-backup",
            json!({"job-id": id, "device": "src", "target": "dst", "sync": "full"}),
        );
        // Let it conclude (auto-dismissed) before the next job takes the nodes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while vm
            .run("query-jobs", json!({}))
            .as_array()
            .is_some_and(|j| !j.is_empty())
        {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let out = child.finish(Duration::from_secs(20));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let event: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON line");
    assert_eq!(event["event"], "JOB_STATUS_CHANGE");
    assert_eq!(
        event["data"],
        json!({"id": "wanted", "status": "concluded"})
    );

    let started = Instant::now();
    let out = run(&["wait", &vm.addr(), "SHUTDOWN", "--timeout", "0.5"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("timed out after 0.5s waiting for SHUTDOWN"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn watch_shows_the_vm_state_and_a_job_to_completion() {
    let Some(vm) = Vm::start(qemu10()) else {
        return;
    };
    vm.null_nodes(64 << 20);
    let child = Reaped::spawn(&["watch", &vm.addr(), "--lines", "--timeout", "6"]);
    wait_for_client(&vm.socket());
    vm.run("stop", json!({}));
    // 64 MiB at 32 MiB/s: two seconds of progress reads.
    vm.run(
        "blockdev-backup",
        json!({"job-id": "b0", "device": "src", "target": "dst", "sync": "full", "speed": 32u64 << 20}),
    );
    let out = child.finish(Duration::from_secs(15));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "vm running"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("vm paused")), "{text}");
    let progress: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("job b0 backup running "))
        .filter_map(|l| l.split_whitespace().nth(4)?.split('/').next()?.parse().ok())
        .collect();
    let moving = progress.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(moving >= 2, "at least two progress updates: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("job b0 backup") && l.ends_with("completed")),
        "{text}"
    );
}

#[test]
fn help_reads_well_for_every_subcommand() {
    let out = run(&["--help"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for sub in [
        "exec",
        "events",
        "wait",
        "watch",
        "shell",
        "schema",
        "completions",
    ] {
        assert!(text.contains(sub), "{sub} in {text}");
        let out = run(&[sub, "--help"]);
        assert_eq!(code(&out), 0, "{sub} --help");
        assert!(
            stdout(&out).contains("Usage: qmp"),
            "{sub}: {}",
            stdout(&out)
        );
    }
    let out = run(&["completions", "bash"]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("_qmp()"),
        "a bash completion function"
    );
    let out = run(&["frobnicate"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn a_qemu_that_stops_answering_times_out_in_one_line() {
    // A real QEMU never connects and then goes quiet on cue: the fake server does, served
    // by a runtime's worker threads while this thread waits for the tool.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let _serving = runtime.enter();
    let fake = qemu_qmp::fake::FakeQmp::new();
    fake.on_command("query-status").no_reply();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fake.sock");
    let _listening = fake.listen_unix(&socket).expect("listen");
    let started = Instant::now();
    let out = run(&[
        "exec",
        "--timeout",
        "0.5",
        socket.to_str().unwrap(),
        "query-status",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("query-status got no reply within 0.5s"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}
