//! One set of bindings, two real QEMUs: the default bindings (every known release merged)
//! drive a real QEMU 7.2 and a real QEMU 10.0 through the same code, values built with
//! constructors only.

mod common;

use futures::StreamExt;
use qemu_qmp::api::{self, BlockdevOptions, BlockdevOptionsBranch, BlockdevOptionsNull};
use qemu_qmp::testing::QemuBuilder;
use qemu_qmp::{Client, ClientBuilder, Command, Commands, Error, Event, EventFilter};

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

    // The live schema against the bindings' release facts, command by command: they
    // differ only where a command's condition does not hold in an x86_64 build.
    let schema = client.schema().await.expect("query-qmp-schema");
    let mut unmet = Vec::new();
    for command in api::COMMANDS {
        let known = command.releases.contains(release);
        let live = schema.has_command(command.name);
        if known == live {
            continue;
        }
        assert!(
            known && command.cond.is_some(),
            "{}: the bindings say {} has it: {known}, the live schema: {live}",
            command.name,
            release
        );
        unmet.push(format!(
            "{} (if {})",
            command.name,
            command.cond.unwrap_or("")
        ));
    }
    println!(
        "QEMU {release}: {} commands of the bindings agree with the live schema; {} differ, \
         each behind a condition x86_64 lacks: {}",
        api::COMMANDS.len() - unmet.len(),
        unmet.len(),
        unmet.join(", ")
    );
    assert_eq!(
        schema.supports::<api::QueryStatus>(),
        api::QueryStatus::known_in(release)
    );

    // A command this release lacks: refused before sending, with the releases that have it.
    if release == "7.2" {
        assert!(!api::QueryAudiodevs::known_in("7.2"));
        match client.query_audiodevs().await {
            Err(Error::NotOffered {
                command, known_in, ..
            }) => {
                assert_eq!(command, "query-audiodevs");
                assert!(known_in.contains("10.0") && !known_in.contains("7.2"));
            }
            other => panic!("expected NotOffered, got {other:?}"),
        }
        // The connection is untouched.
        assert!(client.query_status().await.unwrap().running);
    }
}

/// A q35 machine; `firmware` adds folders to look for its BIOS in (the unpacked 7.2 has
/// none of its own: it takes the one QEMU 10.0's packages installed).
async fn run(builder: QemuBuilder, release: &str, firmware: &[&str]) {
    let mut args = vec!["-M", "q35", "-accel", "tcg"];
    for folder in firmware {
        args.extend(["-L", folder]);
    }
    let builder = builder.machine_args(args);
    let mut qemu = builder.spawn().expect("spawn QEMU");
    let client = qemu.connect(ClientBuilder::new()).await.expect("connect");
    drive(&client, release).await;
}

#[tokio::test]
async fn the_same_bindings_drive_qemu_7_2() {
    let Some(builder) = common::qemu72() else {
        return;
    };
    run(builder, "7.2", &["/usr/share/seabios", "/usr/share/qemu"]).await;
}

#[tokio::test]
async fn the_same_bindings_drive_qemu_10_0() {
    let Some(builder) = common::qemu10() else {
        return;
    };
    run(builder, "10.0", &[]).await;
}
