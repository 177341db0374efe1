//! A program written against the bindings of QEMU 7.2 alone, building every value with
//! constructors and setters: it compiles unchanged against the default bindings, which
//! hold every known release (`tests/bindings_schemas.rs` builds it both ways). Run, it
//! prints the commands it would send.

use qemu_qmp::api::{
    BlockdevAdd, BlockdevOptions, BlockdevOptionsBranch, BlockdevOptionsNull, HumanMonitorCommand,
    MigrateSetCapabilities, MigrationCapability, MigrationCapabilityStatus,
    QCryptoBlockCreateOptionsLUKS, QCryptoHashAlgorithm, QueryStatus,
};
use qemu_qmp::{Client, Command, Commands};

/// What the program does with a connection (not run here: it needs a QEMU).
#[allow(dead_code)]
async fn manage(client: &Client) -> Result<(), qemu_qmp::Error> {
    let status = client.query_status().await?;
    println!("running: {}", status.running);
    for machine in client.query_machines().await? {
        println!("{} (max {} CPUs)", machine.name, machine.cpu_max);
    }
    let null = BlockdevOptionsNull::new().size(1 << 20);
    let options = BlockdevOptions::new(BlockdevOptionsBranch::NullCo(null)).node_name("null0");
    client.blockdev_add(options).await?;
    client
        .human_monitor_command("info block")
        .cpu_index(0)
        .await?;
    client.blockdev_del("null0").await?;
    Ok(())
}

fn show<C: Command>(command: &C) {
    let arguments = serde_json::to_string(command).unwrap_or_default();
    println!("{} {arguments}", C::NAME);
}

fn main() {
    show(&QueryStatus::new());
    let null = BlockdevOptionsNull::new().size(1 << 20).read_zeroes(true);
    show(&BlockdevAdd::new(
        BlockdevOptions::new(BlockdevOptionsBranch::NullCo(null)).node_name("null0"),
    ));
    show(&HumanMonitorCommand::new("info status").cpu_index(0));
    show(&MigrateSetCapabilities::new(vec![
        MigrationCapabilityStatus::new(MigrationCapability::Xbzrle, true),
    ]));
    let luks = QCryptoBlockCreateOptionsLUKS::new().hash_alg(QCryptoHashAlgorithm::Sha256);
    println!("{}", serde_json::to_string(&luks).unwrap_or_default());
}
