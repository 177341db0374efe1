//! One measured run of the `qapi` crate's tokio QMP client, for benches/client.rs.
//!
//! ```text
//! qapi-client-peer SOCKET REQUESTS IN_FLIGHT
//! ```
//!
//! Connects, negotiates `oob` (as every contender does, so QEMU serves them all the same
//! way), then sends `query-status` REQUESTS times with IN_FLIGHT callers sharing the one
//! service (1 = strictly sequential) on a current_thread runtime. Prints one JSON line:
//! the request count, the wall time of the load and this process's CPU time (user + sys,
//! getrusage) over it. Connecting and negotiating are outside both clocks.

use std::sync::Arc;
use std::time::Instant;

use qapi::futures::QmpStreamTokio;
use qapi::qmp;

/// User + system CPU seconds of this whole process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage and a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, requests, in_flight] = args.as_slice() else {
        eprintln!("usage: qapi-client-peer SOCKET REQUESTS IN_FLIGHT");
        std::process::exit(2);
    };
    let requests: usize = requests.parse().expect("REQUESTS is a number");
    let in_flight: usize = in_flight.parse().expect("IN_FLIGHT is a number");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(socket, requests, in_flight.max(1)));
}

async fn run(socket: &str, requests: usize, in_flight: usize) {
    let negotiation = QmpStreamTokio::open_uds(socket)
        .await
        .expect("connect to QEMU");
    let stream = negotiation
        .negotiate_caps([qmp::QMPCapability::oob])
        .await
        .expect("qmp_capabilities");
    let (service, reader) = stream.spawn_tokio();
    let service = Arc::new(service);

    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut workers = Vec::with_capacity(in_flight);
    for worker in 0..in_flight {
        // Spread the requests evenly; the first workers take the remainder.
        let share = requests / in_flight + usize::from(worker < requests % in_flight);
        let service = service.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..share {
                let status = service
                    .execute(qmp::query_status {})
                    .await
                    .expect("query-status");
                assert!(status.running);
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker task");
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;

    drop(service);
    reader.abort();
    let _ = reader.await;
    println!("{{\"requests\":{requests},\"secs\":{secs},\"cpu_secs\":{cpu}}}");
}
