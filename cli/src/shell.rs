//! `qmp shell`: the interactive shell.

use clap::Args;

use crate::failure::Failure;
use crate::ConnectOptions;

#[derive(Args, Debug)]
pub struct ShellArgs {
    /// `[ADDR]`, or with `--launch`, `-- QEMU [ARGS]...`.
    #[arg(value_name = "WORDS", trailing_var_arg = true)]
    words: Vec<String>,
    #[command(flatten)]
    connect: ConnectOptions,
}

pub fn run(args: ShellArgs) -> Result<(), Failure> {
    let _ = args;
    Err(Failure::other("not written yet"))
}
