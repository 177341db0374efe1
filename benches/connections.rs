//! Many idle connections in one process: what each costs the client while it sits idle, and
//! that a connection which sat idle among thousands is still at full speed when busy.
//!
//! The fake QMP servers run in a child process (this bench re-executed with
//! `QMP_BENCH_SERVE=PATH`, serving `FakeQmp::listen_unix(PATH)`), so every byte this process
//! holds is the client's. The bench connects N clients (1,000, then 9,000 more for 10,000;
//! `QMP_BENCH_QUICK=1`: 100), each makes one `query-status` and then sits idle, and prints
//! per connection, as (after - before) / N:
//! - live heap bytes, counted by the `#[global_allocator]` below (a wrapper around `System`);
//! - resident memory, `VmRSS` of /proc/self/status (the heap as the allocator lays it out,
//!   tokio's own structures, stacks: what the machine pays).
//!
//! Then, among the idle thousands, side by side in one run (best of a few alternating rounds):
//! - a burst of pipelined `query-status` (64 in flight) on one connection that sat idle and
//!   on a fresh connection: requests/s of each and their ratio (about 1.0);
//! - a burst of ~200 KiB replies on both: the read buffer grows for them, and once the
//!   connection is idle again the live heap is back where it was.
//!
//! ```sh
//! cargo bench --bench connections --features fake
//! QMP_BENCH_QUICK=1 cargo bench --bench connections --features fake    # smoke run: 100
//! QMP_BENCH_ENFORCE=1 cargo bench --bench connections --features fake  # fail on a missed target
//! ```
//!
//! The client runs on a current_thread runtime: one allocator arena, so RSS is not spread
//! over per-thread arenas that idle connections would never touch again.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use qemu_qmp::api::{QueryStatus, RunState, StatusInfo};
use qemu_qmp::fake::FakeQmp;
use qemu_qmp::{Client, Commands};

/// The target from issue #11: client memory per idle connection.
const TARGET: f64 = 16.0 * 1024.0;
/// Requests kept in flight by the busy burst (as in `benches/client.rs`'s fake part).
const IN_FLIGHT: usize = 64;
/// The size of the large reply's string.
const LARGE: usize = 200 * 1024;
/// Large replies kept in flight.
const LARGE_IN_FLIGHT: usize = 4;

// ---------------------------------------------------------------------------------------
// Counting the heap

/// Bytes allocated and not yet freed, by anyone in this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The highest `LIVE` since it was last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// `System`, counting what is live.
struct Counting;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by as isize, Ordering::Relaxed) + by as isize;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by as isize, Ordering::Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged, with the caller's own guarantees;
// the wrapper only counts sizes, and counts an allocation only when `System` made it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller promised for `layout`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller promised for `ptr`, `layout` and `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// This process's resident memory in bytes.
fn rss() -> isize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: isize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[derive(Clone, Copy)]
struct Memory {
    heap: isize,
    rss: isize,
}

impl Memory {
    fn now() -> Memory {
        Memory {
            heap: live_heap(),
            rss: rss(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server process

/// Raises this process's open-file limit to its hard limit; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads only the struct it is given; raising the soft limit up to
    // the hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        eprintln!(
            "setrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// The child's life: serve `path` until the parent closes our stdin.
fn serve(path: &Path) {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the fake servers");
    runtime.block_on(async {
        let fake = FakeQmp::new();
        fake.on::<QueryStatus>()
            .returns(StatusInfo::new(true, RunState::Running));
        // A large reply, written out once: the fake's own encoding of a 200 KiB value per
        // request would be most of the burst's time.
        let prefix = format!(
            "{{\"return\": {{\"name\": \"{}\"}}, \"id\": ",
            "x".repeat(LARGE)
        );
        fake.on_command("query-name").raw_from(move |request| {
            let id = request.id.as_ref().unwrap_or(&serde_json::Value::Null);
            let mut line = Vec::with_capacity(prefix.len() + 32);
            line.extend_from_slice(prefix.as_bytes());
            line.extend_from_slice(id.to_string().as_bytes());
            line.extend_from_slice(b"}\r\n");
            line
        });
        let _listening = fake.listen_unix(path).expect("listen on the socket");
        println!("ready");
        // The parent closes our stdin when it is done (or dies).
        let _ = tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin())).await;
    });
}

/// The fake servers' process, gone when this is dropped.
struct Server {
    child: Child,
    path: PathBuf,
}

impl Server {
    fn start() -> Server {
        let path = std::env::temp_dir().join(format!("qmp-bench-conn-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut child = Process::new(std::env::current_exe().expect("this bench's path"))
            .env("QMP_BENCH_SERVE", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake servers' process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("the child's stdout"))
            .read_line(&mut line)
            .expect("read from the fake servers' process");
        assert_eq!(
            line.trim(),
            "ready",
            "the fake servers' process did not start"
        );
        Server { child, path }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// The client side

/// Connects `n` more clients, `batch` at a time; each makes one `query-status`.
async fn connect_idle(path: &Path, n: usize, into: &mut Vec<Client>) {
    const BATCH: usize = 64;
    let mut left = n;
    while left > 0 {
        let now = left.min(BATCH);
        let batch = (0..now).map(|_| async {
            let client = Client::connect(path).await.expect("connect to the fake");
            let status = client.query_status().await.expect("query-status");
            assert!(status.running);
            client
        });
        into.extend(futures::future::join_all(batch).await);
        left -= now;
    }
}

/// Waits for every task to park and the child to stop sending.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// `requests` pipelined `query-status`, `IN_FLIGHT` at a time; requests per second.
async fn busy(client: &Client, requests: usize) -> f64 {
    let started = Instant::now();
    let workers = (0..IN_FLIGHT).map(|worker| {
        let share = requests / IN_FLIGHT + usize::from(worker < requests % IN_FLIGHT);
        let client = client.clone();
        async move {
            for _ in 0..share {
                let status = client.query_status().await.expect("query-status");
                assert!(status.running);
            }
        }
    });
    futures::future::join_all(workers).await;
    requests as f64 / started.elapsed().as_secs_f64()
}

/// `replies` large `query-name` replies, `LARGE_IN_FLIGHT` at a time; MiB per second.
async fn large(client: &Client, replies: usize) -> f64 {
    let started = Instant::now();
    let workers = (0..LARGE_IN_FLIGHT).map(|worker| {
        let share = replies / LARGE_IN_FLIGHT + usize::from(worker < replies % LARGE_IN_FLIGHT);
        let client = client.clone();
        async move {
            for _ in 0..share {
                let name = client
                    .execute_raw("query-name", None)
                    .await
                    .expect("query-name");
                assert_eq!(name["name"].as_str().map(str::len), Some(LARGE));
            }
        }
    });
    futures::future::join_all(workers).await;
    (replies * LARGE) as f64 / started.elapsed().as_secs_f64() / (1024.0 * 1024.0)
}

fn per_connection(before: Memory, after: Memory, n: usize) -> (f64, f64) {
    (
        (after.heap - before.heap) as f64 / n as f64,
        (after.rss - before.rss) as f64 / n as f64,
    )
}

fn kib(bytes: f64) -> String {
    format!("{:.2} KiB", bytes / 1024.0)
}

fn main() {
    if let Some(path) = std::env::var_os("QMP_BENCH_SERVE") {
        serve(Path::new(&path));
        return;
    }
    let quick = std::env::var("QMP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let enforce = std::env::var_os("QMP_BENCH_ENFORCE").is_some();
    let counts: &[usize] = if quick { &[100] } else { &[1_000, 10_000] };
    let (requests, replies, rounds) = if quick { (1_000, 8, 1) } else { (5_000, 64, 4) };
    let mut failures = Vec::new();

    // The child inherits the raised limit (and raises its own too).
    let fd_limit = raise_fd_limit();
    let most = *counts.last().unwrap_or(&0);
    let counts: Vec<usize> = counts
        .iter()
        .copied()
        .filter(|&n| {
            // One socket each here, plus the runtime's and stdio's.
            let fits = (n as u64) + 64 <= fd_limit;
            if !fits {
                let message = format!("{n} connections: the open-file limit is {fd_limit}");
                println!("SKIPPED: {message}");
                failures.push(message);
            }
            fits
        })
        .collect();
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut clients: Vec<Client> = Vec::with_capacity(most + 1);
        // One connection made and closed first: what the runtime, the allocator and the
        // first connection set up once is not counted per connection.
        {
            let warm = Client::connect(server.path.as_path())
                .await
                .expect("connect");
            warm.query_status().await.expect("query-status");
            warm.close().await;
        }
        settle().await;
        let before = Memory::now();
        println!(
            "idle connections to fake QMP servers in a child process; target {} per connection",
            kib(TARGET)
        );
        println!("{:>8} {:>18} {:>18}", "conns", "heap/conn", "RSS/conn");
        for &n in &counts {
            connect_idle(&server.path, n - clients.len(), &mut clients).await;
            settle().await;
            let (heap, rss) = per_connection(before, Memory::now(), n);
            let mark = |v: f64| if v <= TARGET { "ok" } else { "OVER" };
            println!(
                "{n:>8} {:>13} {:<4} {:>13} {:<4}",
                kib(heap),
                mark(heap),
                kib(rss),
                mark(rss)
            );
            for (what, v) in [("heap", heap), ("RSS", rss)] {
                if v > TARGET {
                    failures.push(format!(
                        "{n} connections: {what} {} per connection, over {}",
                        kib(v),
                        kib(TARGET)
                    ));
                }
            }
        }
        let Some(idle) = clients.get(clients.len() / 2).cloned() else {
            return;
        };
        let fresh = Client::connect(server.path.as_path())
            .await
            .expect("connect");
        fresh.query_status().await.expect("query-status");

        println!();
        println!(
            "busy among {} idle: {requests} query-status, {IN_FLIGHT} in flight; \
             {replies} replies of {} KiB, {LARGE_IN_FLIGHT} in flight; best of {rounds}",
            clients.len(),
            LARGE / 1024
        );
        let (mut idle_rate, mut fresh_rate) = (0f64, 0f64);
        let (mut idle_large, mut fresh_large) = (0f64, 0f64);
        let mut peak_growth = 0isize;
        let mut after_growth = 0isize;
        for round in 0..rounds {
            // Alternating, so a neighbour's build slows both alike, and which goes first
            // changes from round to round.
            let order = if round % 2 == 0 {
                [(&idle, true), (&fresh, false)]
            } else {
                [(&fresh, false), (&idle, true)]
            };
            settle().await;
            let at_rest = live_heap();
            for (client, sat_idle) in order {
                let rate = busy(client, requests).await;
                let best = if sat_idle {
                    &mut idle_rate
                } else {
                    &mut fresh_rate
                };
                *best = best.max(rate);
            }
            for (client, sat_idle) in order {
                settle().await;
                let at_rest_again = live_heap();
                PEAK.store(at_rest_again, Ordering::Relaxed);
                let rate = large(client, replies).await;
                peak_growth = peak_growth.max(PEAK.load(Ordering::Relaxed) - at_rest_again);
                let best = if sat_idle {
                    &mut idle_large
                } else {
                    &mut fresh_large
                };
                *best = best.max(rate);
            }
            settle().await;
            after_growth = after_growth.max(live_heap() - at_rest);
        }
        let ratio = idle_rate / fresh_rate;
        println!(
            "  query-status: {idle_rate:>9.0} req/s on a connection that sat idle, \
             {fresh_rate:>9.0} on a fresh one: ratio {ratio:.2}"
        );
        println!(
            "  large replies: {idle_large:>8.1} MiB/s on the one that sat idle, \
             {fresh_large:>8.1} on the fresh one: ratio {:.2}",
            idle_large / fresh_large
        );
        println!(
            "  live heap: {} more at the peak of a large burst (replies held by callers \
             included), {} B more than before the bursts once both are idle again",
            kib(peak_growth as f64),
            after_growth
        );
        if ratio < 0.8 {
            failures.push(format!(
                "a connection that sat idle ran at {ratio:.2} of a fresh one's speed"
            ));
        }
        if after_growth as f64 > TARGET {
            failures.push(format!(
                "the bursts left {} more live heap behind once idle",
                kib(after_growth as f64)
            ));
        }
        fresh.close().await;
        for client in clients.drain(..) {
            drop(client);
        }
    });
    drop(server);
    if enforce && !failures.is_empty() {
        eprintln!("{}", failures.join("\n"));
        std::process::exit(1);
    }
}
