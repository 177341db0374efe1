//! Record and replay QMP conversations from the command line.
//!
//! ```sh
//! # Put a recorder in front of QEMU's socket; point your program at record.sock instead.
//! # Ctrl-C writes the transcript (libvirt's .replies form, or JSON lines for .jsonl).
//! cargo run --example fake_qmp --features fake -- record record.sock /tmp/qmp.sock session.replies
//!
//! # Serve a recorded conversation on a socket, standing in for QEMU.
//! cargo run --example fake_qmp --features fake -- replay session.replies fake.sock [--any-order]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use qemu_qmp::fake::{FakeQmp, Recorder, ReplayOrder, Transcript, TranscriptFormat};
use qemu_qmp::Endpoint;

const USAGE: &str = "usage:
  fake_qmp record LISTEN_SOCKET QEMU_SOCKET OUT_FILE
  fake_qmp replay TRANSCRIPT LISTEN_SOCKET [--any-order]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fake_qmp: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["record", listen, upstream, out] => runtime.block_on(record(
            listen.into(),
            Endpoint::Unix(upstream.into()),
            out.into(),
        )),
        ["replay", file, listen] => runtime.block_on(replay(file.into(), listen.into(), false)),
        ["replay", file, listen, "--any-order"] => {
            runtime.block_on(replay(file.into(), listen.into(), true))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake_qmp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn record(
    listen: PathBuf,
    upstream: Endpoint,
    out: PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    let recorder = Recorder::listen_unix(&listen, upstream.clone())?;
    eprintln!(
        "recording: clients of {} reach {upstream}; Ctrl-C writes {}",
        listen.display(),
        out.display()
    );
    tokio::signal::ctrl_c().await?;
    let transcript = recorder.transcript();
    transcript.write(&out, TranscriptFormat::for_path(&out))?;
    eprintln!(
        "wrote {} exchanges to {}",
        transcript.exchanges().len(),
        out.display()
    );
    Ok(())
}

async fn replay(
    file: PathBuf,
    listen: PathBuf,
    any_order: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let transcript = Transcript::read(&file)?;
    let order = if any_order {
        ReplayOrder::ByRequest
    } else {
        ReplayOrder::InOrder
    };
    let exchanges = transcript.exchanges().len();
    let fake = FakeQmp::builder()
        .replay(transcript, order)
        .allow_unscripted(true)
        .build();
    let _listening = fake.listen_unix(&listen)?;
    eprintln!(
        "replaying {exchanges} exchanges of {} on {}; Ctrl-C ends",
        file.display(),
        listen.display()
    );
    tokio::signal::ctrl_c().await?;
    for request in fake.unscripted() {
        eprintln!("not in the transcript: {request}");
    }
    Ok(())
}
