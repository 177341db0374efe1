//! The guest-agent client: `cargo run --example guest_agent --features agent`.
//!
//! It starts its own `qemu-ga` (Debian's `qemu-guest-agent`, installed by
//! `scripts/install-qemu.sh`) on the host, without a VM, on a private socket, and makes a
//! few typed calls. On a host, `guest-exec` runs a host command: a harmless one here.

use qemu_qmp::agent::{AgentBuilder, Commands, Exec};
use qemu_qmp::testing::{find_qemu_ga, QemuGaBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(binary) = find_qemu_ga() else {
        eprintln!("qemu-ga not found: run `bash scripts/install-qemu.sh` first");
        std::process::exit(1);
    };
    // `ga` kills the agent and removes its private directory on drop.
    let mut ga = QemuGaBuilder::new(binary).spawn()?;
    let agent = ga.connect(AgentBuilder::new()).await?;

    // No greeting: the first call syncs (0xFF, guest-sync-delimited) and then runs.
    agent.guest_ping().await?;
    let info = agent.guest_info().await?;
    println!(
        "qemu-ga {}: {} commands",
        info.version,
        info.supported_commands.len()
    );
    let os = agent.guest_get_osinfo().await?;
    println!(
        "guest-get-osinfo: {} / kernel {}",
        os.pretty_name.as_deref().unwrap_or("?"),
        os.kernel_release.as_deref().unwrap_or("?")
    );

    // guest-exec as one call: started, polled until it exits, output decoded.
    let run = agent
        .exec(Exec::new("/bin/sh").args(["-c", "echo out; echo err >&2; exit 3"]))
        .await?;
    println!(
        "guest-exec: exit code {:?}, stdout {:?}, stderr {:?}",
        run.exit_code,
        run.stdout_lossy(),
        run.stderr_lossy()
    );

    // A file written and read back through guest-file-open/write/read/close.
    let path = ga.dir().join("hello.txt");
    let path = path.to_str().ok_or("a UTF-8 path")?;
    agent.write_file(path, b"hello from the host").await?;
    let back = agent.read_file(path).await?;
    println!("read back {:?}", String::from_utf8_lossy(&back));
    Ok(())
}
