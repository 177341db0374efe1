//! Unit-testing code that drives QEMU, without QEMU: the fake server plays QEMU's part.
//!
//! `pause_for_backup` below is the "user code": it pauses a running VM and waits for QEMU
//! to confirm with a `STOP` event, leaves a paused VM alone, and reports QEMU's refusal.
//! `main` runs its three tests against a scripted [`FakeQmp`]; in a real crate they would
//! be `#[tokio::test]`s.
//!
//! ```sh
//! cargo run --example fake_server --features fake
//! ```

use std::time::Duration;

use futures::StreamExt;
use qemu_qmp::api::{QueryStatus, RunState, StatusInfo, Stop};
use qemu_qmp::fake::FakeQmp;
use qemu_qmp::{Client, Commands, Error, ErrorClass, Event, EventFilter};

/// What `pause_for_backup` did.
#[derive(Debug, PartialEq)]
enum Paused {
    /// The VM was running; it is paused now.
    Now,
    /// It was not running; nothing was sent.
    Already(RunState),
}

/// The code under test: pause the VM unless it is paused, and wait until QEMU says so.
async fn pause_for_backup(client: &Client) -> Result<Paused, Error> {
    let status = client.query_status().await?;
    if !status.running {
        return Ok(Paused::Already(status.status));
    }
    // Subscribe before sending, so the event cannot slip past.
    let mut stops = client.subscribe(EventFilter::names(["STOP"]));
    client.stop().await?;
    match tokio::time::timeout(Duration::from_secs(5), stops.next()).await {
        Ok(Some(Ok(received))) if matches!(received.event, Event::Stop) => Ok(Paused::Now),
        _ => Err(Error::Protocol {
            message: "QEMU did not confirm the stop".into(),
        }),
    }
}

async fn pauses_a_running_vm() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>()
        .returns(StatusInfo::new(true, RunState::Running));
    fake.on::<Stop>()
        .then_emit_raw("STOP", serde_json::Value::Null)
        .returns(());
    let client = fake.client().await.expect("connects to the fake");

    assert_eq!(pause_for_backup(&client).await.unwrap(), Paused::Now);
    assert_eq!(fake.received_of::<Stop>().unwrap().len(), 1);
    println!("ok: a running VM is paused, and the STOP event awaited");
}

async fn leaves_a_paused_vm_alone() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>()
        .returns(StatusInfo::new(false, RunState::Paused));
    let client = fake.client().await.expect("connects to the fake");

    assert_eq!(
        pause_for_backup(&client).await.unwrap(),
        Paused::Already(RunState::Paused)
    );
    // Had it sent `stop`, nothing scripted would have answered it, and dropping the fake
    // would fail the test naming the command.
    assert!(fake.received_of::<Stop>().unwrap().is_empty());
    println!("ok: a paused VM gets no stop");
}

async fn reports_qemus_refusal() {
    let fake = FakeQmp::new();
    fake.on::<QueryStatus>()
        .returns(StatusInfo::new(true, RunState::Running));
    fake.on::<Stop>()
        .error(ErrorClass::GenericError, "the VM is migrating");
    let client = fake.client().await.expect("connects to the fake");

    match pause_for_backup(&client).await {
        Err(Error::Qmp { desc, .. }) => assert_eq!(desc, "the VM is migrating"),
        other => panic!("expected QEMU's error, got {other:?}"),
    }
    println!("ok: QEMU's refusal reaches the caller");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        pauses_a_running_vm().await;
        leaves_a_paused_vm_alone().await;
        reports_qemus_refusal().await;
    });
}
