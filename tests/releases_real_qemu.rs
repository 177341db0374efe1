//! One set of bindings, two real QEMUs: the default bindings (every known release merged)
//! drive a real QEMU 7.2 and a real QEMU 10.0 through the same code, values built with
//! constructors only.

mod common;

use futures::StreamExt;
use qemu_qmp::api::{self, BlockdevOptions, BlockdevOptionsBranch, BlockdevOptionsNull};
use qemu_qmp::testing::QemuBuilder;
use qemu_qmp::{Client, ClientBuilder, Command, Commands, Event, EventFilter};

/// The scenario every release must pass; `release` is `7.2` or `10.0`.
async fn drive(client: &Client, release: &str) {
    let greeting = client.greeting().expect("a greeting");
    let version = format!(
        "{}.{}",
        greeting.version.qemu.major, greeting.version.qemu.minor
    );
    assert_eq!(version, release);

    let status = client.query_status().await.expect("query-status");
    assert!(status.running);

    // `acpi` is absent from 7.2's machines and present in 10.0's: optional, and right.
    let machines = client.query_machines().await.expect("query-machines");
    assert!(machines.iter().any(|m| m.name.starts_with("pc-q35")));
    let with_acpi = machines.iter().filter(|m| m.acpi.is_some()).count();
    match release {
        "7.2" => assert_eq!(with_acpi, 0),
        _ => assert_eq!(with_acpi, machines.len()),
    }
    assert!(api::QueryMachines::known_in(release));

    let cpus = client.query_cpus_fast().await.expect("query-cpus-fast");
    assert!(!cpus.is_empty());
    let commands = client.query_commands().await.expect("query-commands");
    assert!(commands.iter().any(|c| c.name == api::QueryStatus::NAME));

    let mut events = client.subscribe(EventFilter::names(["STOP", "RESUME"]));
    client.stop().await.expect("stop");
    client.cont().await.expect("cont");
    let stop = common::within(10, events.next()).await.unwrap().unwrap();
    let resume = common::within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(stop.event, Event::Stop));
    assert!(matches!(resume.event, Event::Resume));

    // A block node built with constructors, listed, and removed.
    let null = BlockdevOptionsNull::new().size(1 << 20).read_zeroes(true);
    let options = BlockdevOptions::new(BlockdevOptionsBranch::NullCo(null)).node_name("null0");
    client.blockdev_add(options).await.expect("blockdev-add");
    let nodes = client
        .query_named_block_nodes()
        .await
        .expect("query-named-block-nodes");
    let node = nodes
        .iter()
        .find(|n| n.node_name.as_deref() == Some("null0"))
        .expect("the new node is listed");
    assert_eq!(node.drv, "null-co");
    assert_eq!(node.image.virtual_size, 1 << 20);
    client.blockdev_del("null0").await.expect("blockdev-del");
    let nodes = client.query_named_block_nodes().await.unwrap();
    assert!(nodes
        .iter()
        .all(|n| n.node_name.as_deref() != Some("null0")));
}

async fn run(builder: QemuBuilder, release: &str) {
    let builder = builder.machine_args(["-M", "q35", "-accel", "tcg"]);
    let mut qemu = builder.spawn().expect("spawn QEMU");
    let client = qemu.connect(ClientBuilder::new()).await.expect("connect");
    drive(&client, release).await;
}

#[tokio::test]
async fn the_same_bindings_drive_qemu_7_2() {
    let Some(builder) = common::qemu72() else {
        return;
    };
    run(builder, "7.2").await;
}

#[tokio::test]
async fn the_same_bindings_drive_qemu_10_0() {
    let Some(builder) = common::qemu10() else {
        return;
    };
    run(builder, "10.0").await;
}
