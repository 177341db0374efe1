//! The storage daemon's typed bindings over the QMP client, against a real
//! `qemu-storage-daemon` 10.0 on a private socket: a file node on an image made with
//! `qemu-img`, an NBD export of it and its removal, the node's removal.

mod common;

use std::process::Command as Process;

use qemu_qmp::storage_daemon::{api, Commands};
use qemu_qmp::{ClientBuilder, Error};

use common::within;

#[tokio::test]
async fn blockdev_and_nbd_export_lifecycle() {
    let Some((builder, qemu_img)) = common::storage_daemon() else {
        return;
    };
    let mut qsd = builder.spawn().expect("spawn qemu-storage-daemon");
    let image = qsd.dir().join("disk.raw");
    let made = Process::new(&qemu_img)
        .args(["create", "-q", "-f", "raw"])
        .arg(&image)
        .arg("16M")
        .output()
        .expect("run qemu-img");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let client = qsd
        .connect(ClientBuilder::new())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", qsd.log()));
    within(30, async {
        // It greets like QEMU, and is 10.0.
        let greeting = client.greeting().expect("a greeting");
        assert_eq!(greeting.version.qemu.major, 10);
        assert_eq!(api::RELEASES, ["7.2", "10.0", "10.2"]);

        // blockdev-add of a file node, typed.
        let file = api::BlockdevOptionsFile::new(image.to_str().unwrap());
        let options =
            api::BlockdevOptions::new(api::BlockdevOptionsBranch::File(file)).node_name("disk0");
        client.blockdev_add(options).await.expect("blockdev-add");

        let nodes = client
            .query_named_block_nodes()
            .await
            .expect("query-named-block-nodes");
        let node = nodes
            .iter()
            .find(|n| n.node_name.as_deref() == Some("disk0"))
            .unwrap_or_else(|| panic!("disk0 in {nodes:?}"));
        assert_eq!(node.drv, "file");
        assert_eq!(node.image.virtual_size, 16 * 1024 * 1024);
        assert_eq!(node.file, image.to_str().unwrap());

        // An NBD server on a private socket, an export of the node, and their removal.
        let nbd = qsd.dir().join("nbd.sock");
        let addr = api::SocketAddressLegacy::new(api::SocketAddressLegacyBranch::Unix(
            api::UnixSocketAddressWrapper::new(api::UnixSocketAddress::new(nbd.to_str().unwrap())),
        ));
        client
            .nbd_server_start(api::NbdServerOptionsLegacy::new(addr))
            .await
            .expect("nbd-server-start");
        assert!(nbd.exists(), "the NBD socket is there");
        let export = api::BlockExportOptions::new(
            "export0",
            "disk0",
            api::BlockExportOptionsBranch::Nbd(api::BlockExportOptionsNbd::new().name("disk")),
        )
        .writable(true);
        client
            .block_export_add(export)
            .await
            .expect("block-export-add");
        let exports = client
            .query_block_exports()
            .await
            .expect("query-block-exports");
        assert_eq!(exports.len(), 1, "{exports:?}");
        assert_eq!(exports[0].id, "export0");
        assert_eq!(exports[0].node_name, "disk0");
        assert_eq!(exports[0].r#type, api::BlockExportType::Nbd);

        // While exported, the node cannot go: a typed error from the daemon.
        let busy = client.blockdev_del("disk0").await;
        assert!(matches!(busy, Err(Error::Qmp { .. })), "{busy:?}");

        client
            .block_export_del("export0")
            .await
            .expect("block-export-del");
        // The export goes away once its clients have (it has none).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = client
                .query_block_exports()
                .await
                .expect("query-block-exports");
            if left.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "export still there: {left:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        client.nbd_server_stop().await.expect("nbd-server-stop");
        client.blockdev_del("disk0").await.expect("blockdev-del");
        let nodes = client
            .query_named_block_nodes()
            .await
            .expect("query-named-block-nodes");
        assert!(
            nodes
                .iter()
                .all(|n| n.node_name.as_deref() != Some("disk0")),
            "{nodes:?}"
        );

        // The daemon's schema has no VM commands: the QMP bindings' `query-status` is
        // answered by the daemon as unknown.
        let err = client
            .execute_raw("query-status", None)
            .await
            .expect_err("not a VM");
        assert!(matches!(err, Error::Qmp { .. }), "{err:?}");
    })
    .await;
}

/// The daemon's events reach the client's subscriptions; its own `Event` type decodes
/// them too (a block job would be slow to stage here, so the check is on the decoder).
#[test]
fn the_daemon_event_type_decodes_its_events() {
    let data = serde_json::json!({"device": "job0", "len": 10, "offset": 10, "speed": 0, "type": "mirror"});
    let event = qemu_qmp::storage_daemon::Event::from_wire("BLOCK_JOB_COMPLETED", data).unwrap();
    assert_eq!(event.name(), "BLOCK_JOB_COMPLETED");
    assert!(matches!(
        event,
        qemu_qmp::storage_daemon::Event::BlockJobCompleted(_)
    ));
    let other =
        qemu_qmp::storage_daemon::Event::from_wire("STOP", serde_json::Value::Null).unwrap();
    assert!(matches!(
        other,
        qemu_qmp::storage_daemon::Event::Other { .. }
    ));
}
