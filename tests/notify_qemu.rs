//! The notifiers against a real QEMU 10.0: the VM status follows stop, cont and
//! system_reset (and a reconnect); commands whose effect is an event resolve on that event.

mod common;

use std::time::Duration;

use common::within;
use qemu_qmp::api::{EventKind, Migrate, MigrationStatus, RunState};
use qemu_qmp::notify::VmStatus;
use qemu_qmp::{Client, Commands, Error, Event, EventFilter};
use serde_json::json;
use tokio::sync::watch;

/// Waits until the watched status passes `done`.
async fn until(
    status: &mut watch::Receiver<VmStatus>,
    done: impl FnMut(&VmStatus) -> bool,
) -> VmStatus {
    within(10, status.wait_for(done))
        .await
        .expect("the tracker runs")
        .clone()
}

#[tokio::test]
async fn vm_status_follows_stop_cont_reset_and_reconnects() {
    let Some((_qemu, client)) = common::start(Client::builder()).await else {
        return;
    };
    let mut status = client.vm_status();
    let first = until(&mut status, VmStatus::is_known).await;
    assert_eq!(first.state, Some(RunState::Running));
    assert!(first.running);
    assert_eq!(first.event, None, "read on connecting, not from an event");

    client.stop().await.unwrap();
    let stopped = until(&mut status, |s| !s.running).await;
    assert_eq!(stopped.state, Some(RunState::Paused));
    assert_eq!(stopped.event, Some(EventKind::Stop));

    client.cont().await.unwrap();
    let resumed = until(&mut status, |s| s.running).await;
    assert_eq!(resumed.state, Some(RunState::Running));
    assert_eq!(resumed.event, Some(EventKind::Resume));

    client.system_reset().await.unwrap();
    let reset = until(&mut status, |s| s.event == Some(EventKind::Reset)).await;
    assert!(reset.running, "a reset VM runs on");

    // Across a reconnect: unknown while away, read again when back, a second call of
    // vm_status shares the tracker.
    client.close().await;
    until(&mut status, |s| !s.is_known()).await;
    client.reconnect().await.unwrap();
    let back = until(&mut status, VmStatus::is_known).await;
    assert_eq!(back.state, Some(RunState::Running));
    let mut again = client.vm_status();
    assert!(again.borrow_and_update().is_known());
    client.stop().await.unwrap();
    let stopped = until(&mut again, |s| !s.running).await;
    assert_eq!(stopped.state, Some(RunState::Paused));
}

#[tokio::test]
async fn device_del_resolves_on_its_device_deleted() {
    let Some(qemu) = common::qemu10() else { return };
    let mut qemu = qemu
        .machine_args(["-M", "pc", "-accel", "tcg", "-device", "qemu-xhci,id=xhci"])
        .spawn()
        .expect("spawn QEMU");
    let client = qemu.connect(Client::builder()).await.unwrap();
    client
        .execute_raw(
            "device_add",
            Some(json!({"driver": "usb-kbd", "id": "kbd0", "bus": "xhci.0"})),
        )
        .await
        .unwrap();
    let deleted = client
        .device_del_and_wait("kbd0", Duration::from_secs(10))
        .await
        .unwrap();
    match deleted.event {
        Event::DeviceDeleted(data) => assert_eq!(data.device.as_deref(), Some("kbd0")),
        other => panic!("{other:?}"),
    }
    // Gone: deleting it again is QEMU's error, not a wait.
    assert!(matches!(
        client
            .device_del_and_wait("kbd0", Duration::from_secs(2))
            .await,
        Err(Error::Qmp { .. })
    ));
}

#[tokio::test]
async fn waiting_for_an_event_that_never_comes_times_out() {
    let Some((_qemu, client)) = common::start(Client::builder()).await else {
        return;
    };
    // No guest answers the power button of a machine without one.
    let started = std::time::Instant::now();
    let result = client
        .system_powerdown_and_wait(Duration::from_millis(500))
        .await;
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // And the generic form with a filter that matches nothing QEMU sends.
    let result = client
        .execute_until(
            qemu_qmp::api::QueryStatus::new(),
            EventFilter::kinds([EventKind::Shutdown]),
            |_| true,
            Duration::from_millis(200),
        )
        .await;
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
}

#[tokio::test]
async fn migrate_resolves_when_the_migration_completes() {
    let Some((qemu, client)) = common::start(Client::builder()).await else {
        return;
    };
    // The MIGRATION events are only sent with the `events` capability on.
    client
        .execute_raw(
            "migrate-set-capabilities",
            Some(json!({"capabilities": [{"capability": "events", "state": true}]})),
        )
        .await
        .unwrap();
    let target = qemu.dir().join("migration.bin");
    let status = client
        .migrate_and_wait(
            Migrate::new().uri(format!("file:{}", target.display())),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(status, MigrationStatus::Completed);
    assert!(target.metadata().unwrap().len() > 0);
}
