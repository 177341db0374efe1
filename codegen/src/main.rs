//! `qapi`: the command-line face of the QAPI front end.
//!
//! - `qapi check [--strict] SCHEMA`: loads the schema and prints one line of counts.
//! - `qapi dump [--strict] SCHEMA`: prints the resolved model in the format of QEMU's
//!   front-end tests.
//!
//! A schema error goes to stderr (exit status 1); so do warnings.

use qemu_qmp_codegen::parse::ParseOptions;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: qapi check [--strict] SCHEMA\n       qapi dump [--strict] SCHEMA";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut options = ParseOptions::default();
    let mut schema = None;
    for arg in rest {
        match arg.as_str() {
            "--strict" => options.strict = true,
            _ if schema.is_none() && !arg.starts_with("--") => schema = Some(arg),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = schema else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if command != "check" && command != "dump" {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let schema = match qemu_qmp_codegen::load(Path::new(path), options) {
        Ok(schema) => schema,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in schema.warnings() {
        eprintln!("warning: {warning}");
    }
    if command == "check" {
        println!("{}", schema.counts());
    } else {
        print!("{}", qemu_qmp_codegen::dump::dump(&schema));
    }
    ExitCode::SUCCESS
}
