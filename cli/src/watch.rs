//! `qmp watch`: the VM's run state and its jobs, live.

use clap::Args;

use crate::failure::Failure;
use crate::ConnectOptions;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// `[ADDR]`.
    #[arg(value_name = "ADDR")]
    words: Vec<String>,
    #[command(flatten)]
    connect: ConnectOptions,
}

pub async fn run(args: WatchArgs) -> Result<(), Failure> {
    let _ = args;
    Err(Failure::other("not written yet"))
}
