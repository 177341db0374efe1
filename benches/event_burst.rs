//! An event burst: a fake QMP server sends `QMP_BENCH_EVENTS` (default 1,000,000) small
//! events as fast as it can while one subscriber drains its stream, with the default
//! event buffer. Three setups, side by side in one run:
//! - the subscriber a task on a current_thread runtime (the client's tasks on it too);
//! - the subscriber a task on a 2-worker multi-thread runtime;
//! - the subscriber polled from a thread of its own (the reference: nothing it shares).
//!
//! Printed per setup: the share of events delivered, the events reported missed (which
//! must account for the rest exactly, in order), events per second, and how long a
//! `query-status` sent in the middle of the burst waited for its reply.
//!
//! ```sh
//! cargo bench --bench event_burst                  # QMP_BENCH_QUICK=1: a smoke run
//! QMP_BENCH_ENFORCE=1 cargo bench --bench event_burst   # fail below 95% or over 10 ms
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::StreamExt;
use qemu_qmp::{Client, ClientBuilder, Event};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const GREETING: &str = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 10}, \"package\": \"burst\"}, \"capabilities\": [\"oob\"]}}\r\n";

/// The event lines, RTC_CHANGE with `offset` counting up from 0 (the order check).
fn burst(count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(count as usize * 120);
    for n in 0..count {
        out.extend_from_slice(
            format!(
                "{{\"timestamp\": {{\"seconds\": 1700000000, \"microseconds\": {}}}, \
                 \"event\": \"RTC_CHANGE\", \"data\": {{\"offset\": {n}, \
                 \"qom-path\": \"/machine/unattached/device[0]\"}}}}\r\n",
                n % 1_000_000
            )
            .as_bytes(),
        );
    }
    out
}

/// Serves one client on its own thread and runtime: greeting, capabilities, then the
/// burst in 64 KiB writes, answering any request between two writes.
fn serve(stream: std::os::unix::net::UnixStream, events: Vec<u8>, start: mpsc::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the fake server");
    runtime.block_on(async move {
        stream.set_nonblocking(true).expect("nonblocking");
        let stream = UnixStream::from_std(stream).expect("a tokio stream");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(GREETING.as_bytes()).await.expect("greeting");
        let negotiate = lines.next_line().await.expect("read").expect("a request");
        let id = request_id(&negotiate);
        write
            .write_all(format!("{{\"return\": {{}}, \"id\": {id}}}\r\n").as_bytes())
            .await
            .expect("reply");
        let (requests_tx, mut requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if requests_tx.send(request_id(&line)).is_err() {
                    break;
                }
            }
        });
        // The client subscribes before the burst starts.
        let _ = tokio::task::spawn_blocking(move || start.recv()).await;
        // Whole lines per write, so a reply goes between two events, never inside one.
        let mut rest = &events[..];
        while !rest.is_empty() {
            let end = rest
                .iter()
                .skip(64 * 1024)
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| 64 * 1024 + i + 1);
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            while let Ok(id) = requests.try_recv() {
                let reply = format!(
                    "{{\"return\": {{\"running\": true, \"status\": \"running\"}}, \"id\": {id}}}\r\n"
                );
                write.write_all(reply.as_bytes()).await.expect("reply");
            }
            if write.write_all(chunk).await.is_err() {
                return;
            }
        }
        // Replies still owed after the burst.
        while let Some(id) = requests.recv().await {
            let reply = format!(
                "{{\"return\": {{\"running\": true, \"status\": \"running\"}}, \"id\": {id}}}\r\n"
            );
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
}

fn request_id(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON request");
    value["id"].to_string()
}

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    delivered: u64,
    missed: u64,
    /// Events out of order, or a gap not reported as missed.
    disorder: u64,
}

impl Seen {
    /// Checks one item of the stream; `next` is the offset the next event must have.
    fn take(&mut self, item: Result<qemu_qmp::ReceivedEvent, qemu_qmp::Gap>, next: &mut u64) {
        match item {
            Ok(received) => {
                let Event::RtcChange(data) = &received.event else {
                    self.disorder += 1;
                    return;
                };
                if data.offset as u64 != *next {
                    self.disorder += 1;
                }
                *next = data.offset as u64 + 1;
                self.delivered += 1;
            }
            Err(gap) => {
                // One connection: every gap is a lag, with its count.
                let lost = gap.missed().unwrap_or(0);
                self.missed += lost;
                *next += lost;
            }
        }
    }
}

/// The result of one setup.
struct Outcome {
    seen: Seen,
    elapsed: Duration,
    command_wait: Duration,
}

/// Drains the stream until `count` events are accounted for, publishing how far it got.
async fn drain(mut stream: qemu_qmp::EventStream, count: u64, progress: Arc<AtomicU64>) -> Seen {
    let mut seen = Seen::default();
    let mut next = 0;
    while seen.delivered + seen.missed < count {
        match stream.next().await {
            Some(item) => seen.take(item, &mut next),
            None => break,
        }
        progress.store(seen.delivered + seen.missed, Ordering::Relaxed);
    }
    seen
}

/// Sends a `query-status` once a tenth of the burst has reached the subscriber and times
/// its reply.
async fn command_during_burst(client: &Client, count: u64, progress: &AtomicU64) -> Duration {
    while progress.load(Ordering::Relaxed) < count / 10 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let sent = Instant::now();
    client
        .execute_raw("query-status", None)
        .await
        .expect("query-status during the burst");
    sent.elapsed()
}

/// Connects a client to a fresh fake server (on a thread of its own).
async fn connect(events: &[u8]) -> (Client, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    let (start_tx, start_rx) = mpsc::channel();
    let events = events.to_vec();
    let server = std::thread::spawn(move || serve(theirs, events, start_rx));
    ours.set_nonblocking(true).expect("nonblocking");
    let stream = UnixStream::from_std(ours).expect("a tokio stream");
    let client = ClientBuilder::new()
        .connect_transport(stream)
        .await
        .expect("negotiation with the fake server");
    (client, start_tx, server)
}

fn on_runtime(runtime: tokio::runtime::Runtime, count: u64, events: &[u8]) -> Outcome {
    runtime.block_on(async {
        let (client, start, server) = connect(events).await;
        let stream = client.events();
        let progress = Arc::new(AtomicU64::new(0));
        let subscriber = tokio::spawn(drain(stream, count, progress.clone()));
        let started = Instant::now();
        let _ = start.send(());
        let command_wait = command_during_burst(&client, count, &progress).await;
        let seen = subscriber.await.expect("the subscriber task");
        let elapsed = started.elapsed();
        client.close().await;
        let _ = server.join();
        Outcome {
            seen,
            elapsed,
            command_wait,
        }
    })
}

fn on_own_thread(count: u64, events: &[u8]) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, start, server) = connect(events).await;
        let stream = client.events();
        let progress = Arc::new(AtomicU64::new(0));
        let shared = progress.clone();
        let subscriber =
            std::thread::spawn(move || futures::executor::block_on(drain(stream, count, shared)));
        let started = Instant::now();
        let _ = start.send(());
        let command_wait = command_during_burst(&client, count, &progress).await;
        let seen = tokio::task::spawn_blocking(move || subscriber.join())
            .await
            .expect("join")
            .expect("the subscriber thread");
        let elapsed = started.elapsed();
        client.close().await;
        let _ = server.join();
        Outcome {
            seen,
            elapsed,
            command_wait,
        }
    })
}

/// Where the subscriber runs.
#[derive(Clone, Copy)]
enum Setup {
    TaskOnCurrentThread,
    TaskOnMultiThread,
    ThreadOfItsOwn,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::TaskOnCurrentThread => "current_thread runtime, subscriber task",
            Setup::TaskOnMultiThread => "multi-thread runtime (2 workers), subscriber task",
            Setup::ThreadOfItsOwn => "subscriber on a thread of its own",
        }
    }

    fn run(self, count: u64, events: &[u8]) -> Outcome {
        let runtime = match self {
            Setup::TaskOnCurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Setup::TaskOnMultiThread => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
            Setup::ThreadOfItsOwn => return on_own_thread(count, events),
        };
        on_runtime(runtime.expect("a runtime"), count, events)
    }
}

fn main() {
    let quick = std::env::var_os("QMP_BENCH_QUICK").is_some();
    let enforce = std::env::var_os("QMP_BENCH_ENFORCE").is_some();
    let count: u64 = std::env::var("QMP_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 50_000 } else { 1_000_000 });
    let events = burst(count);
    println!(
        "event burst: {count} events ({} bytes), default event buffer",
        events.len()
    );
    let setups = [
        Setup::TaskOnCurrentThread,
        Setup::TaskOnMultiThread,
        Setup::ThreadOfItsOwn,
    ];
    let mut failures = Vec::new();
    for setup in setups {
        let name = setup.name();
        let outcome = setup.run(count, &events);
        let Seen {
            delivered,
            missed,
            disorder,
        } = outcome.seen;
        let share = delivered as f64 * 100.0 / count as f64;
        println!(
            "  {name:<50} delivered {share:6.2}% ({delivered}), missed {missed}, \
             {:.2}M events/s, query-status answered in {:.2} ms",
            count as f64 / outcome.elapsed.as_secs_f64() / 1e6,
            outcome.command_wait.as_secs_f64() * 1e3
        );
        if delivered + missed != count || disorder != 0 {
            failures.push(format!(
                "{name}: {delivered} delivered + {missed} missed != {count}, or {disorder} out of order"
            ));
        }
        if enforce && share < 95.0 {
            failures.push(format!("{name}: only {share:.2}% delivered"));
        }
        if enforce && outcome.command_wait > Duration::from_millis(10) {
            failures.push(format!(
                "{name}: query-status took {:?}",
                outcome.command_wait
            ));
        }
    }
    if !failures.is_empty() {
        eprintln!("{}", failures.join("\n"));
        std::process::exit(1);
    }
}
