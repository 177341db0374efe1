//! `qapi`: the command-line face of the QAPI front end (`check`, `dump`, `extract`).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, path] if cmd == "parse" => {
            match qemu_qmp_codegen::parse::parse_file(Path::new(path), Default::default()) {
                Ok(schema) => {
                    println!(
                        "{} top-level items, {} doc blocks",
                        schema.items.len(),
                        schema.docs.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: qapi parse SCHEMA");
            ExitCode::from(2)
        }
    }
}
