//! A guided tour of the client: `cargo run --example tour`.
//!
//! It starts its own QEMU (`qemu-system-x86_64`, installed by `scripts/install-qemu.sh`) on
//! a private socket and walks through what the library does: the greeting, a typed query,
//! events, out-of-band execution, a typed error, and a clean shutdown.

use std::time::Duration;

use futures::StreamExt;
use qemu_qmp::testing::{find_qemu, QemuBuilder};
use qemu_qmp::{ClientBuilder, Commands, ConnectionState, Error, Event, EventFilter, EventKind};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Start a QEMU with no guest (`-M none`) and its QMP monitor on a socket in a fresh
    //    private directory. `qemu` kills the process and removes the directory on drop.
    let Some(binary) = find_qemu() else {
        eprintln!("qemu-system-x86_64 not found: run `bash scripts/install-qemu.sh` first");
        std::process::exit(1);
    };
    let mut qemu = QemuBuilder::new(binary).spawn()?;

    // 2. Connect. The client reads QEMU's greeting and negotiates capabilities, turning on
    //    out-of-band execution because QEMU offers it.
    let client = qemu.connect(ClientBuilder::new()).await?;
    let greeting = client.greeting().ok_or("no greeting")?;
    println!(
        "connected to QEMU {} ({}), capabilities {:?}, oob enabled: {}",
        greeting.version.qemu,
        greeting.version.package,
        greeting.capabilities,
        client.oob_enabled()
    );

    // 3. A typed command: every QMP command is a method (from the generated `Commands`
    //    trait) returning a typed value.
    let status = client.query_status().await?;
    println!(
        "query-status: running={} status={:?}",
        status.running, status.status
    );

    // 4. Events are streams. Subscribe first (here only to STOP and RESUME), then act.
    let mut events = client.subscribe(EventFilter::kinds([EventKind::Stop, EventKind::Resume]));
    client.stop().await?;
    println!("after stop: {:?}", client.query_status().await?.status);
    client.cont().await?;
    for _ in 0..2 {
        let Some(received) = events.next().await else {
            break; // the connection closed
        };
        // `Err(Gap::Lagged { missed })` would say how many events this subscriber missed.
        let received = received?;
        let kind = match received.event {
            Event::Stop => "the vCPUs stopped",
            Event::Resume => "the vCPUs resumed",
            _ => "something else",
        };
        println!(
            "event {} at {}.{:06}: {kind}",
            received.event.name(),
            received.timestamp.seconds,
            received.timestamp.microseconds
        );
    }

    // 5. Out-of-band execution: only commands the schema marks allow-oob have `.oob()`
    //    (`client.stop().oob()` does not compile). Their replies may overtake in-band
    //    commands that are still running. migrate-pause answers with an error here, as no
    //    migration is in progress; that error comes straight from the monitor thread.
    match client.migrate_pause().oob().await {
        Ok(()) => println!("migrate-pause (oob): ok"),
        Err(e) => println!("migrate-pause (oob): {e}"),
    }

    // 6. Errors are typed: QEMU's error class and description, or transport errors.
    match client.closefd("no-such-fd").await {
        Err(Error::Qmp { class, desc }) => println!("closefd: QMP error {class}: {desc}"),
        other => println!("closefd: unexpected {other:?}"),
    }

    // 7. The escape hatch: any command by name with JSON arguments.
    let version = client.execute_raw("query-version", None).await?;
    println!("query-version (raw JSON): {version}");

    // 8. Ask QEMU to quit, watch the SHUTDOWN event and the connection closing.
    let mut shutdown = client.subscribe(EventFilter::kinds([EventKind::Shutdown]));
    let mut state = client.watch_state();
    client.quit().await?;
    if let Some(Ok(ev)) = shutdown.next().await {
        println!("event {}: {:?}", ev.event.name(), ev.event);
    }
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| *s == ConnectionState::Closed),
    )
    .await??;
    println!("connection state: {:?}", client.state());
    let exit = qemu.wait_timeout(Duration::from_secs(10))?;
    println!("QEMU exited: {exit:?}");
    Ok(())
}
