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

/// Two null-co nodes of `size` bytes, `src` and `dst`, for block jobs between them.
async fn null_nodes(client: &Client, size: u64) {
    for name in ["src", "dst"] {
        client
            .execute_raw(
                "blockdev-add",
                Some(json!({"driver": "null-co", "node-name": name, "size": size})),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_block_job_is_tracked_to_completion_with_its_progress() {
    let Some((_qemu, client)) = common::start(Client::builder()).await else {
        return;
    };
    let jobs = client.jobs();
    null_nodes(&client, 64 << 20).await;
    let mut job = jobs.job("backup0");
    // 64 MiB at 64 MiB/s: about a second, many progress reads.
    client
        .execute_raw(
            "blockdev-backup",
            Some(
                json!({"job-id": "backup0", "device": "src", "target": "dst",
                        "sync": "full", "speed": 64u64 << 20}),
            ),
        )
        .await
        .unwrap();
    let mut updates = Vec::new();
    while let Some(progress) = within(20, job.next_progress()).await {
        updates.push(progress);
    }
    assert_eq!(
        within(5, job.wait()).await,
        qemu_qmp::notify::JobOutcome::Completed
    );
    let moving: Vec<_> = updates
        .windows(2)
        .filter(|w| w[1].current > w[0].current)
        .collect();
    assert!(
        moving.len() >= 2,
        "at least two progress updates: {updates:?}"
    );
    let last = updates.last().unwrap();
    assert_eq!(last.current, last.total);
    assert_eq!(last.total, 64 << 20);
    let seen = jobs.get("backup0").unwrap();
    assert_eq!(seen.kind, qemu_qmp::api::JobType::Backup);
    println!("backup0: {} progress updates", updates.len());
}

#[tokio::test]
async fn cancelled_and_failed_jobs_say_so() {
    let Some((qemu, client)) = common::start(Client::builder()).await else {
        return;
    };
    let jobs = client.jobs();
    null_nodes(&client, 1 << 30).await;
    // Slow enough to be cancelled while it runs.
    client
        .execute_raw(
            "blockdev-backup",
            Some(json!({"job-id": "slow", "device": "src", "target": "dst",
                        "sync": "full", "speed": 1u64 << 20})),
        )
        .await
        .unwrap();
    let mut slow = jobs.job("slow");
    within(10, async {
        while slow.current().is_none_or(|j| j.progress.current == 0) {
            slow.next_progress().await;
        }
    })
    .await;
    client
        .execute_raw("block-job-cancel", Some(json!({"device": "slow"})))
        .await
        .unwrap();
    assert_eq!(
        within(10, slow.wait()).await,
        qemu_qmp::notify::JobOutcome::Cancelled
    );

    // A job that fails: creating an image in a folder that does not exist. Such jobs
    // wait to be dismissed, so QEMU's error message is there to read.
    let missing = qemu.dir().join("no/such/folder/disk.img");
    client
        .execute_raw(
            "blockdev-create",
            Some(json!({"job-id": "create0",
                        "options": {"driver": "file", "filename": missing, "size": 1048576}})),
        )
        .await
        .unwrap();
    match within(10, jobs.job("create0").wait()).await {
        qemu_qmp::notify::JobOutcome::Failed(message) => {
            assert!(!message.is_empty());
            println!("create0 failed: {message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    client
        .execute_raw("job-dismiss", Some(json!({"id": "create0"})))
        .await
        .unwrap();
}
