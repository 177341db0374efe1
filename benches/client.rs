//! The async client's throughput and CPU cost, side by side with a minimal hand-written
//! client and two other QMP clients, all against the same real QEMU in one run; then the
//! client's own overhead against an in-process fake server, next to serde_json's parse rate
//! of the same messages.
//!
//! ```sh
//! bash scripts/bench-client.sh                          # everything, peers installed first
//! QMP_BENCH_QUICK=1 cargo bench --bench client          # smoke run: tiny counts, no peers
//! ```
//!
//! Against QEMU (`-M none -nodefaults -display none`, QMP on a Unix socket, `oob`
//! negotiated by every contender so QEMU serves them all alike), two loads of
//! `query-status`: one caller at a time, and 8 callers keeping 8 requests in flight. Each
//! contender connects afresh per round (QEMU serves one QMP connection at a time), and
//! only the load itself is timed. Contenders, each on a single-threaded runtime or event
//! loop, and each load's callers are spawned tasks (coroutines for Python):
//! - `raw`: writes a request line and reads a reply line on a tokio `UnixStream`, checking
//!   only that the reply starts with `{"return"`; the floor any client pays;
//! - `ours`: `client.query_status().await`, typed; also, for the sequential load only, the
//!   same with the caller being the future `block_on` drives instead of a spawned task
//!   (tokio's current_thread scheduler then makes one extra zero-timeout `epoll_wait` per
//!   request before it polls that future again: shown for reference, not a target);
//! - `qapi`: the crate from crates.io (benches/peers/qapi_client, run as a child process
//!   named by `QMP_BENCH_QAPI_PEER`);
//! - `qemu.qmp`: Python's client (benches/peers/qmp_py.py, run by the interpreter named by
//!   `QMP_BENCH_PYTHON`).
//!
//! CPU per request is user + system time from `getrusage(RUSAGE_SELF)` over the load,
//! divided by the request count (the peers measure themselves the same way). Rounds
//! alternate the contenders; the best round counts, separately for throughput and CPU.
//!
//! Servers and clients share one CPU: QEMU, the bench, the peers and the fake server's
//! thread (the last CPU this process may use; `QMP_BENCH_CPU=N` picks another,
//! `QMP_BENCH_CPU=none` leaves placement to the scheduler). On this project's 2-core VM a
//! wake-up that crosses CPUs costs more than the client's own work per request (about 7 us
//! of client CPU per query-status against QEMU on one CPU, 25-40 us across two; 0.6 vs
//! 1.0 us per command against the fake server), and the scheduler flips between placing
//! the two together or apart from one second to the next, so unpinned figures swing by
//! 2-3x from round to round and drown the differences between clients.
//!
//! The fake-server part measures the client alone: (a) events decoded and delivered to one
//! subscriber, (b) typed `query-status` with 64 calls in flight, each next to serde_json's
//! parse of the same lines into `Value`, read one after another out of one buffer. Its
//! targets compare messages per second of the client thread's CPU with lines per second
//! of CPU for serde_json: the fake server's thread shares the client's CPU, so throughput
//! would count the server's work as the client's.
//!
//! Environment: `QMP_BENCH_REQUESTS` (default 20000), `QMP_BENCH_ROUNDS` (3),
//! `QMP_BENCH_FAKE_MESSAGES` (200000, the fake-server part), `QMP_BENCH_CPU`, `QMP_QEMU`
//! (the binary).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use qemu_qmp::testing::{find_qemu, QemuBuilder};
use qemu_qmp::{Client, ClientBuilder, Commands, Event};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

/// Requests kept in flight by the concurrent load against QEMU (QEMU's own queue depth
/// for in-band commands with `oob` on).
const IN_FLIGHT: usize = 8;
/// Requests kept in flight against the fake server.
const FAKE_IN_FLIGHT: usize = 64;

// ---------------------------------------------------------------------------------------
// Measuring

/// Whose CPU time a measurement counts.
#[derive(Debug, Clone, Copy)]
enum Cpu {
    /// The whole process: user + system time from getrusage(RUSAGE_SELF).
    Process,
    /// The calling thread only, from clock_gettime(CLOCK_THREAD_CPUTIME_ID):
    /// getrusage(RUSAGE_THREAD) is tick-sampled here and off by milliseconds.
    Thread,
}

fn cpu_time(who: Cpu) -> Duration {
    match who {
        Cpu::Process => {
            // SAFETY: getrusage writes only into the struct it is given.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: a valid pointer and a valid `who`.
            let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
            assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
            let of = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            of(usage.ru_utime) + of(usage.ru_stime)
        }
        Cpu::Thread => {
            // SAFETY: clock_gettime writes only into the struct it is given.
            let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
            // SAFETY: a valid pointer and a valid clock id.
            let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            assert_eq!(rc, 0, "clock_gettime: {}", std::io::Error::last_os_error());
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        }
    }
}

/// One measured run: how many messages, the wall time and the CPU time spent on them.
#[derive(Debug, Clone, Copy)]
struct Sample {
    count: u64,
    wall: f64,
    cpu: f64,
}

impl Sample {
    fn rate(&self) -> f64 {
        self.count as f64 / self.wall
    }

    fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.count as f64
    }
}

/// Times `work` (which returns how many messages it handled) with the wall clock and
/// the CPU clock of `who`.
async fn measure<F: std::future::Future<Output = u64>>(who: Cpu, work: F) -> Sample {
    let cpu_before = cpu_time(who);
    let started = Instant::now();
    let count = work.await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(who) - cpu_before).as_secs_f64();
    Sample { count, wall, cpu }
}

/// The best of several rounds: the highest rate and, separately, the lowest CPU cost.
#[derive(Debug, Clone, Copy, Default)]
struct Best {
    rate: f64,
    cpu_us: f64,
    rounds: u32,
}

impl Best {
    fn add(&mut self, s: Sample) {
        self.rate = self.rate.max(s.rate());
        self.cpu_us = if self.rounds == 0 {
            s.cpu_us()
        } else {
            self.cpu_us.min(s.cpu_us())
        };
        self.rounds += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Settings

/// The CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it and
    // CPU_ISSET only reads it, within its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(
            rc,
            0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Restricts the calling thread, and every process or thread it starts from now on, to
/// `cpus`.
fn set_cpus(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it (the
    // numbers come from allowed_cpus or the user, and CPU_SET ignores out-of-range ones).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            rc,
            0,
            "sched_setaffinity({cpus:?}): {}",
            std::io::Error::last_os_error()
        );
    }
}

struct Settings {
    quick: bool,
    requests: u64,
    rounds: u32,
    fake_messages: u64,
    qapi_peer: Option<PathBuf>,
    python: Option<PathBuf>,
    /// The CPU the real-QEMU part runs on (QEMU, the bench and the peers), if pinned.
    cpu: Option<usize>,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("QMP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let peer = |name: &str| {
            if quick {
                return None;
            }
            let path = PathBuf::from(std::env::var_os(name)?);
            assert!(path.is_file(), "{name}={} is not a file", path.display());
            Some(path)
        };
        Settings {
            quick,
            requests: env_number("QMP_BENCH_REQUESTS", if quick { 300 } else { 20_000 }).max(1),
            rounds: env_number("QMP_BENCH_ROUNDS", if quick { 1 } else { 3 }).max(1) as u32,
            fake_messages: env_number(
                "QMP_BENCH_FAKE_MESSAGES",
                if quick { 3_000 } else { 200_000 },
            )
            .max(FAKE_IN_FLIGHT as u64),
            qapi_peer: peer("QMP_BENCH_QAPI_PEER"),
            python: peer("QMP_BENCH_PYTHON"),
            cpu: match std::env::var("QMP_BENCH_CPU") {
                Ok(v) if v == "none" => None,
                Ok(v) => Some(
                    v.parse()
                        .unwrap_or_else(|_| panic!("QMP_BENCH_CPU={v}: a CPU number or none")),
                ),
                Err(_) => allowed_cpus().last().copied(),
            },
        }
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

// ---------------------------------------------------------------------------------------
// The minimal raw client

/// The floor: a request line out, a reply line in, no JSON parsing at all.
struct Raw {
    reader: tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    line: Vec<u8>,
    out: Vec<u8>,
    next_id: u64,
}

impl Raw {
    async fn connect(socket: &Path) -> Raw {
        let stream = UnixStream::connect(socket).await.expect("connect to QEMU");
        let (reader, writer) = stream.into_split();
        let mut raw = Raw {
            reader: tokio::io::BufReader::new(reader),
            writer,
            line: Vec::with_capacity(256),
            out: Vec::with_capacity(64),
            next_id: 1,
        };
        raw.read_line().await;
        assert!(raw.line.starts_with(b"{\"QMP\""), "not a greeting");
        raw.writer
            .write_all(b"{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]},\"id\":0}\n")
            .await
            .expect("write");
        raw.read_reply().await;
        raw
    }

    async fn read_line(&mut self) {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .await
            .expect("read");
        assert!(n > 0, "QEMU closed the connection");
    }

    /// Reads up to the next reply, skipping events.
    async fn read_reply(&mut self) {
        loop {
            self.read_line().await;
            if self.line.starts_with(b"{\"return\"") {
                return;
            }
            assert!(
                self.line.windows(8).any(|w| w == b"\"event\":"),
                "unexpected line: {}",
                String::from_utf8_lossy(&self.line)
            );
        }
    }

    async fn send_query_status(&mut self) {
        self.out.clear();
        writeln!(
            self.out,
            "{{\"execute\":\"query-status\",\"id\":{}}}",
            self.next_id
        )
        .expect("format into a Vec");
        self.next_id += 1;
        self.writer.write_all(&self.out).await.expect("write");
    }

    /// `requests` query-status, at most `in_flight` unanswered at a time.
    async fn run(&mut self, requests: u64, in_flight: usize) -> u64 {
        let mut sent = 0;
        while sent < requests.min(in_flight as u64) {
            self.send_query_status().await;
            sent += 1;
        }
        for _ in 0..requests {
            self.read_reply().await;
            if sent < requests {
                self.send_query_status().await;
                sent += 1;
            }
        }
        requests
    }
}

// ---------------------------------------------------------------------------------------
// Our client

/// `requests` typed query-status calls from `in_flight` spawned tasks sharing one client
/// (one task for the sequential load, as the peers' callers are tasks too).
async fn ours_run(client: &Client, requests: u64, in_flight: usize) -> u64 {
    let mut tasks = Vec::with_capacity(in_flight);
    for worker in 0..in_flight as u64 {
        let share = requests / in_flight as u64 + u64::from(worker < requests % in_flight as u64);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let status = client.query_status().await.expect("query-status");
                assert!(status.running);
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker task");
    }
    requests
}

/// The sequential load with the caller being the future `block_on` drives (as in a
/// `#[tokio::main(flavor = "current_thread")]` function) rather than a spawned task.
async fn ours_run_in_block_on(client: &Client, requests: u64) -> u64 {
    for _ in 0..requests {
        let status = client.query_status().await.expect("query-status");
        assert!(status.running);
    }
    requests
}

// ---------------------------------------------------------------------------------------
// The peers, as child processes that measure themselves

/// Runs a peer and reads its one JSON line: `{"requests", "secs", "cpu_secs"}`.
fn peer_run(command: &mut Process) -> Sample {
    let output = command.output().expect("start the peer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "peer {command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("peer printed {last:?}: {e}"));
    let field = |name: &str| {
        v[name]
            .as_f64()
            .unwrap_or_else(|| panic!("peer output {last} has no {name}"))
    };
    Sample {
        count: field("requests") as u64,
        wall: field("secs"),
        cpu: field("cpu_secs"),
    }
}

fn python_label(python: &Path) -> String {
    let out = Process::new(python)
        .args([
            "-c",
            "import importlib.metadata as m, platform; print(m.version('qemu.qmp'), platform.python_version())",
        ])
        .output()
        .expect("run python");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some(lib), Some(py)) => format!("qemu.qmp {lib} (Python {py})"),
        _ => panic!(
            "{} cannot import qemu.qmp: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: against QEMU

#[derive(Clone, PartialEq, Eq)]
enum Contender {
    Raw,
    Ours,
    /// Ours with the sequential caller polled by `block_on` itself (sequential load only).
    OursInBlockOn,
    Qapi(PathBuf),
    Python(PathBuf, PathBuf),
}

impl Contender {
    fn is_peer(&self) -> bool {
        matches!(self, Contender::Qapi(_) | Contender::Python(..))
    }

    fn run(&self, rt: &Runtime, socket: &Path, requests: u64, in_flight: usize) -> Sample {
        match self {
            Contender::Raw => rt.block_on(async {
                let mut raw = Raw::connect(socket).await;
                measure(Cpu::Process, async move {
                    tokio::spawn(async move { raw.run(requests, in_flight).await })
                        .await
                        .expect("raw client task")
                })
                .await
            }),
            Contender::Ours | Contender::OursInBlockOn => rt.block_on(async {
                let client = ClientBuilder::new()
                    .connect(socket)
                    .await
                    .expect("connect to QEMU");
                assert!(client.oob_enabled());
                let sample = if *self == Contender::Ours {
                    measure(Cpu::Process, ours_run(&client, requests, in_flight)).await
                } else {
                    assert_eq!(in_flight, 1, "sequential load only");
                    measure(Cpu::Process, ours_run_in_block_on(&client, requests)).await
                };
                client.close().await;
                sample
            }),
            Contender::Qapi(binary) => peer_run(
                Process::new(binary)
                    .arg(socket)
                    .arg(requests.to_string())
                    .arg(in_flight.to_string()),
            ),
            Contender::Python(python, script) => peer_run(
                Process::new(python)
                    .arg(script)
                    .arg(socket)
                    .arg(requests.to_string())
                    .arg(in_flight.to_string()),
            ),
        }
    }
}

struct Row {
    label: String,
    contender: Contender,
    seq: Best,
    /// None for a contender that only runs the sequential load.
    par: Option<Best>,
}

fn against_qemu(settings: &Settings, rt: &Runtime) -> Option<(String, Vec<Row>)> {
    let Some(binary) = find_qemu() else {
        let message = "no QEMU found (qemu-system-x86_64 on PATH or QMP_QEMU): the \
                       real-QEMU part is not run (scripts/install-qemu.sh installs it)";
        if under_ci() {
            panic!("{message}");
        }
        println!("SKIPPED: {message}");
        return None;
    };
    let mut qemu = QemuBuilder::new(&binary).spawn().expect("start QEMU");
    let socket = match qemu.endpoint() {
        Some(qemu_qmp::Endpoint::Unix(path)) => path.clone(),
        other => panic!("QEMU endpoint {other:?}"),
    };
    // The first connection waits for QEMU to create its socket.
    let version = rt.block_on(async {
        let client = qemu.connect(ClientBuilder::new()).await.expect("connect");
        let greeting = client.greeting().expect("greeting");
        client.close().await;
        greeting.version.qemu
    });
    if (version.major, version.minor) != (10, 0) {
        println!("NOTE: QEMU {version}, not 10.0: figures are not comparable with 10.0's");
    }

    let mut contenders = vec![
        ("raw tokio client".to_owned(), Contender::Raw),
        ("ours (typed)".to_owned(), Contender::Ours),
        (
            "ours, caller in block_on".to_owned(),
            Contender::OursInBlockOn,
        ),
    ];
    match &settings.qapi_peer {
        Some(p) => contenders.push((
            "qapi 0.15 (crates.io)".to_owned(),
            Contender::Qapi(p.clone()),
        )),
        None if !settings.quick => {
            println!("NOTE: qapi peer not run (QMP_BENCH_QAPI_PEER unset; scripts/bench-client.sh sets it)")
        }
        None => {}
    }
    match &settings.python {
        Some(python) => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/qmp_py.py");
            contenders.push((
                python_label(python),
                Contender::Python(python.clone(), script),
            ));
        }
        None if !settings.quick => {
            println!("NOTE: qemu.qmp peer not run (QMP_BENCH_PYTHON unset; scripts/bench-client.sh sets it)")
        }
        None => {}
    }

    let n = settings.requests;
    let mut rows: Vec<Row> = contenders
        .into_iter()
        .map(|(label, contender)| Row {
            par: (contender != Contender::OursInBlockOn).then(Best::default),
            label,
            contender,
            seq: Best::default(),
        })
        .collect();
    for round in 1..=settings.rounds {
        for row in &mut rows {
            let seq = row.contender.run(rt, &socket, n, 1);
            row.seq.add(seq);
            let mut line = format!(
                "  round {round}: {:<32} seq {:>8.0}/s {:>6.1} us cpu",
                row.label,
                seq.rate(),
                seq.cpu_us()
            );
            if let Some(best) = &mut row.par {
                let par = row.contender.run(rt, &socket, n, IN_FLIGHT);
                best.add(par);
                line += &format!(
                    " | {IN_FLIGHT} in flight {:>8.0}/s {:>6.1} us cpu",
                    par.rate(),
                    par.cpu_us()
                );
            }
            eprintln!("{line}");
        }
    }
    if let Ok(Some(status)) = qemu.wait_timeout(Duration::ZERO) {
        panic!("QEMU exited during the run ({status}): {}", qemu.log());
    }
    Some((format!("QEMU {version} ({})", binary.display()), rows))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

fn print_qemu_table(settings: &Settings, qemu: &str, rows: &[Row]) {
    println!();
    println!(
        "== query-status against {qemu}, -M none, unix socket, oob on; {} requests per run, best of {} round(s), single-threaded runtimes, {} ==",
        settings.requests,
        settings.rounds,
        match settings.cpu {
            Some(cpu) => format!("QEMU and clients pinned to CPU {cpu}"),
            None => "not pinned".to_owned(),
        }
    );
    let find = |c: &Contender| rows.iter().find(|r| r.contender == *c).expect("row");
    let (raw, ours) = (find(&Contender::Raw), find(&Contender::Ours));
    type Pick = fn(&Row) -> Option<Best>;
    let loads: [(&str, Pick); 2] = [
        ("sequential (1 in flight)", |r| Some(r.seq)),
        ("8 callers, 8 in flight", |r| r.par),
    ];
    for (load, pick) in loads {
        println!();
        println!(
            "{load:<34} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "req/s", "CPU us/req", "thr/raw", "cpu/raw", "ours/thr", "ours/cpu"
        );
        let (Some(r), Some(o)) = (pick(raw), pick(ours)) else {
            continue;
        };
        for row in rows {
            let Some(b) = pick(row) else { continue };
            println!(
                "  {:<32} {:>10.0} {:>12.2} {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x",
                row.label,
                b.rate,
                b.cpu_us,
                b.rate / r.rate,
                b.cpu_us / r.cpu_us,
                o.rate / b.rate,
                o.cpu_us / b.cpu_us,
            );
        }
    }
    println!();
    println!(
        "(thr/raw, cpu/raw: this row over the raw client; ours/thr, ours/cpu: ours over this row;"
    );
    println!(" every load runs in spawned tasks except the \"caller in block_on\" row, shown for reference)");
    println!("targets:");
    for (load, pick) in [("sequential", loads[0].1), ("8 in flight", loads[1].1)] {
        let (Some(r), Some(o)) = (pick(raw), pick(ours)) else {
            continue;
        };
        println!(
            "  {load:<12} ours/raw throughput {:.3} (>= 0.97: {}), ours/raw CPU per request {:.3} (<= 1.10: {})",
            o.rate / r.rate,
            verdict(o.rate >= 0.97 * r.rate),
            o.cpu_us / r.cpu_us,
            verdict(o.cpu_us <= 1.10 * r.cpu_us)
        );
        for peer in rows.iter().filter(|r| r.contender.is_peer()) {
            let Some(p) = pick(peer) else { continue };
            println!(
                "  {load:<12} vs {}: ours {:.2}x its throughput ({}), {:.2}x its CPU per request ({})",
                peer.label,
                o.rate / p.rate,
                verdict(o.rate > p.rate),
                o.cpu_us / p.cpu_us,
                verdict(o.cpu_us < p.cpu_us)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: the client alone, against an in-process fake server

const GREETING: &[u8] = b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n";

/// The `"id": N` of a request line, as text.
fn request_id(line: &[u8]) -> &[u8] {
    let at = line
        .windows(5)
        .rposition(|w| w == b"\"id\":")
        .expect("request without an id");
    let rest = &line[at + 5..];
    let start = rest
        .iter()
        .position(|b| b.is_ascii_digit())
        .expect("numeric id");
    let len = rest[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len() - start);
    &rest[start..start + len]
}

/// The fake server's side of the handshake: greeting, then the reply to qmp_capabilities.
fn fake_handshake(reader: &mut BufReader<StdUnixStream>, writer: &mut StdUnixStream) {
    writer.write_all(GREETING).expect("greeting");
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).expect("read");
    assert!(line.windows(16).any(|w| w == b"qmp_capabilities"));
    let mut reply = b"{\"return\": {}, \"id\": ".to_vec();
    reply.extend_from_slice(request_id(&line));
    reply.extend_from_slice(b"}\r\n");
    writer.write_all(&reply).expect("write");
}

/// A connected pair: the client's end for tokio, the server's end blocking.
fn socket_pair() -> (UnixStream, StdUnixStream) {
    let (client, server) = StdUnixStream::pair().expect("socketpair");
    client.set_nonblocking(true).expect("nonblocking");
    (UnixStream::from_std(client).expect("tokio socket"), server)
}

/// `n` event lines as QEMU writes them, cycling STOP, RESUME and SHUTDOWN (with data).
fn event_lines(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (seconds, micros) = (1_700_000_000 + i / 1000, (i % 1000) * 997);
            let ts = format!("\"timestamp\": {{\"seconds\": {seconds}, \"microseconds\": {micros}}}");
            match i % 3 {
                0 => format!("{{\"event\": \"STOP\", {ts}}}\r\n"),
                1 => format!("{{\"event\": \"RESUME\", {ts}}}\r\n"),
                _ => format!(
                    "{{\"event\": \"SHUTDOWN\", \"data\": {{\"guest\": true, \"reason\": \"guest-shutdown\"}}, {ts}}}\r\n"
                ),
            }
        })
        .collect()
}

/// A reply to query-status as QEMU writes it.
fn reply_line(id: &[u8]) -> Vec<u8> {
    let mut line = b"{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": ".to_vec();
    line.extend_from_slice(id);
    line.extend_from_slice(b"}\r\n");
    line
}

/// Events delivered per second to one subscriber: the server writes every line as fast as
/// the socket takes them once the subscriber is in place.
fn fake_events(rt: &Runtime, lines: &[String]) -> Sample {
    let payload: Vec<u8> = lines.concat().into_bytes();
    let n = lines.len() as u64;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    rt.block_on(async {
        let (client_end, server_end) = socket_pair();
        let server = std::thread::spawn(move || {
            let mut writer = server_end.try_clone().expect("clone");
            let mut reader = BufReader::new(server_end);
            fake_handshake(&mut reader, &mut writer);
            if go_rx.recv().is_err() {
                return;
            }
            writer.write_all(&payload).expect("write events");
            // Hold the connection open until the client closes it.
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
        });
        let client = ClientBuilder::new()
            .event_buffer(lines.len())
            .connect_transport(client_end)
            .await
            .expect("connect to the fake server");
        let mut events = client.events();
        go_tx.send(()).expect("server thread");
        let sample = measure(Cpu::Thread, async {
            let mut received = 0u64;
            let mut last = None;
            while received < n {
                match events.next().await {
                    Some(Ok(e)) => {
                        received += 1;
                        last = Some(e);
                    }
                    Some(Err(gap)) => panic!("subscriber lost events: {gap}"),
                    None => panic!("event stream ended after {received} of {n}"),
                }
            }
            let last = last.expect("at least one event");
            assert!(
                matches!(last.event, Event::Stop | Event::Resume | Event::Shutdown(_)),
                "{last:?}"
            );
            received
        })
        .await;
        client.close().await;
        server.join().expect("server thread");
        sample
    })
}

/// Typed commands per second with `FAKE_IN_FLIGHT` callers, each reply written as soon as
/// its request is read.
fn fake_commands(rt: &Runtime, n: u64) -> Sample {
    rt.block_on(async {
        let (client_end, server_end) = socket_pair();
        let server = std::thread::spawn(move || {
            let mut writer = std::io::BufWriter::with_capacity(
                64 * 1024,
                server_end.try_clone().expect("clone"),
            );
            let mut reader = BufReader::with_capacity(64 * 1024, server_end);
            fake_handshake(&mut reader, writer.get_mut());
            let mut line = Vec::with_capacity(128);
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                writer
                    .write_all(&reply_line(request_id(&line)))
                    .expect("write");
                // Whatever was read in one go is answered in one write, before the next
                // read could wait.
                if reader.buffer().is_empty() {
                    writer.flush().expect("flush");
                }
            }
        });
        let client = ClientBuilder::new()
            .connect_transport(client_end)
            .await
            .expect("connect to the fake server");
        let sample = measure(Cpu::Thread, ours_run(&client, n, FAKE_IN_FLIGHT)).await;
        client.close().await;
        server.join().expect("server thread");
        sample
    })
}

/// serde_json's parse rate of the same lines into `serde_json::Value`, read one after
/// the other out of one buffer (`text`, the lines as the client receives them).
fn serde_rate(text: &str) -> Sample {
    let started = Instant::now();
    let cpu_before = cpu_time(Cpu::Thread);
    let mut count = 0;
    for line in text.split_terminator('\n') {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        std::hint::black_box(v);
        count += 1;
    }
    Sample {
        count,
        wall: started.elapsed().as_secs_f64(),
        cpu: (cpu_time(Cpu::Thread) - cpu_before).as_secs_f64(),
    }
}

fn fake_server_part(settings: &Settings, rt: &Runtime) {
    let n = settings.fake_messages;
    let events = event_lines(n);
    let event_text = events.concat();
    let reply_text: String = (1..=n)
        .map(|id| String::from_utf8(reply_line(id.to_string().as_bytes())).expect("ASCII"))
        .collect();
    let mut best = [Best::default(); 4];
    for round in 1..=settings.rounds {
        let samples = [
            fake_events(rt, &events),
            serde_rate(&event_text),
            fake_commands(rt, n),
            serde_rate(&reply_text),
        ];
        eprintln!(
            "  round {round}: events {:.0}/s (serde_json {:.0}/s), commands {:.0}/s (serde_json {:.0}/s)",
            samples[0].rate(),
            samples[1].rate(),
            samples[2].rate(),
            samples[3].rate()
        );
        for (b, s) in best.iter_mut().zip(samples) {
            b.add(s);
        }
    }
    println!();
    println!(
        "== client overhead alone: in-process fake server on a socketpair, {n} messages per run, best of {} round(s), {} ==",
        settings.rounds,
        match settings.cpu {
            Some(cpu) => format!("server and client pinned to CPU {cpu}"),
            None => "not pinned".to_owned(),
        }
    );
    println!(
        "{:<58} {:>12} {:>14} {:>10} {:>10}",
        "", "msg/s", "CPU us/msg", "thr/serde", "per-CPU/serde"
    );
    let rows = [
        (
            "(a) events decoded + delivered to 1 subscriber",
            best[0],
            best[1],
        ),
        (
            "    serde_json::from_str::<Value>, same event lines",
            best[1],
            best[1],
        ),
        ("(b) typed query-status, 64 in flight", best[2], best[3]),
        (
            "    serde_json::from_str::<Value>, same reply lines",
            best[3],
            best[3],
        ),
    ];
    for (label, b, serde) in rows {
        println!(
            "{label:<58} {:>12.0} {:>14.3} {:>9.2}x {:>13.2}x",
            b.rate,
            b.cpu_us,
            b.rate / serde.rate,
            serde.cpu_us / b.cpu_us
        );
    }
    println!("(CPU: CLOCK_THREAD_CPUTIME_ID of the thread running the client's runtime; the server has its own");
    println!(" thread, but on the same CPU, so msg/s and thr/serde count its work too; per-CPU/serde is messages");
    println!(" per second of the client's CPU over serde_json's lines per second of CPU: the client's own cost)");
    let per_cpu = |ours: &Best, serde: &Best| serde.cpu_us / ours.cpu_us;
    let (a, b) = (per_cpu(&best[0], &best[1]), per_cpu(&best[2], &best[3]));
    println!(
        "targets: (a) {a:.2}x serde_json's rate per CPU second (>= 0.80: {}), (b) {b:.2}x (>= 0.60: {})",
        verdict(a >= 0.8),
        verdict(b >= 0.6)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; no filter arguments are supported.
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    eprintln!(
        "client bench: {} requests, {} round(s){}",
        settings.requests,
        settings.rounds,
        if settings.quick {
            " (quick: no peers)"
        } else {
            ""
        }
    );
    // Server and client on one CPU: a wake-up that crosses CPUs costs this machine (a
    // VM) several times the client's own work per request, and whether the scheduler
    // puts the two on one CPU or two changes from second to second, so unpinned
    // figures swing by 2-3x between rounds. QEMU, the peers and the fake server's
    // thread inherit the pinning.
    if let Some(cpu) = settings.cpu {
        set_cpus(&[cpu]);
    }
    if let Some((label, rows)) = against_qemu(&settings, &rt) {
        print_qemu_table(&settings, &label, &rows);
    }
    fake_server_part(&settings, &rt);
}
