//! The storage daemon over the QMP client:
//! `cargo run --example storage_daemon --features storage-daemon`.
//!
//! It makes a raw image with `qemu-img`, starts its own `qemu-storage-daemon` (from
//! `scripts/install-qemu.sh`) on a private socket, adds the image as a block node, exports
//! it over NBD, and takes both down again, with the daemon's typed bindings.

use qemu_qmp::storage_daemon::{api, Commands};
use qemu_qmp::testing::{find_qemu_img, find_storage_daemon, StorageDaemonBuilder};
use qemu_qmp::ClientBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Some(daemon), Some(qemu_img)) = (find_storage_daemon(), find_qemu_img()) else {
        eprintln!("qemu-storage-daemon or qemu-img not found: run `bash scripts/install-qemu.sh`");
        std::process::exit(1);
    };
    let mut qsd = StorageDaemonBuilder::new(daemon).spawn()?;
    let image = qsd.dir().join("disk.raw");
    let made = std::process::Command::new(qemu_img)
        .args(["create", "-q", "-f", "raw"])
        .arg(&image)
        .arg("16M")
        .status()?;
    if !made.success() {
        return Err("qemu-img create failed".into());
    }
    let client = qsd.connect(ClientBuilder::new()).await?;
    let greeting = client.greeting().ok_or("no greeting")?;
    println!("qemu-storage-daemon {}", greeting.version.qemu);

    // blockdev-add of a file node, typed: the union's branch is the driver.
    let file = api::BlockdevOptionsFile::new(image.to_str().ok_or("a UTF-8 path")?);
    let node = api::BlockdevOptions::new(api::BlockdevOptionsBranch::File(file)).node_name("disk0");
    client.blockdev_add(node).await?;
    for node in client.query_named_block_nodes().await? {
        println!(
            "node {}: {} ({} bytes)",
            node.node_name.unwrap_or_default(),
            node.drv,
            node.image.virtual_size
        );
    }

    // An NBD server on a socket of the private directory, and an export of the node.
    let nbd = qsd.dir().join("nbd.sock");
    let unix = api::UnixSocketAddress::new(nbd.to_str().ok_or("a UTF-8 path")?);
    let addr = api::SocketAddressLegacy::new(api::SocketAddressLegacyBranch::Unix(
        api::UnixSocketAddressWrapper::new(unix),
    ));
    client
        .nbd_server_start(api::NbdServerOptionsLegacy::new(addr))
        .await?;
    let export = api::BlockExportOptions::new(
        "export0",
        "disk0",
        api::BlockExportOptionsBranch::Nbd(api::BlockExportOptionsNbd::new()),
    );
    client.block_export_add(export).await?;
    for export in client.query_block_exports().await? {
        println!(
            "export {} of {} ({:?})",
            export.id, export.node_name, export.r#type
        );
    }
    client.block_export_del("export0").await?;
    client.nbd_server_stop().await?;
    client.blockdev_del("disk0").await?;
    println!("export and node removed");
    Ok(())
}
