//! `qapi`: the command-line face of the QAPI front end and the Rust emitter.
//!
//! - `qapi check [--strict] SCHEMA`: loads the schema and prints one line of counts.
//! - `qapi dump [--strict] SCHEMA`: prints the resolved model in the format of QEMU's
//!   front-end tests.
//! - `qapi extract SCHEMA -o OUT.json`: writes the doc-free extract of the schema.
//! - `qapi generate [--no-docs] SCHEMA -o DIR`: writes the Rust bindings into DIR.
//! - `qapi diff OLD NEW`: the API changes from schema OLD to schema NEW, one a line.
//!
//! A schema error goes to stderr (exit status 1); so do warnings.

use qemu_qmp_codegen::parse::{self, ParseOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: qapi check [--strict] SCHEMA
       qapi dump [--strict] SCHEMA
       qapi extract SCHEMA -o OUT.json
       qapi merge SCHEMA:SCHEMA... -o OUT.json
       qapi generate [--no-docs] SCHEMA -o DIR
       qapi diff OLD NEW";

/// The parsed command line.
struct Args {
    command: String,
    strict: bool,
    docs: bool,
    schema: PathBuf,
    /// `diff`'s second schema.
    other: Option<PathBuf>,
    output: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Option<Args> {
    let (command, rest) = args.split_first()?;
    let mut parsed = Args {
        command: command.clone(),
        strict: false,
        docs: true,
        schema: PathBuf::new(),
        other: None,
        output: None,
    };
    let mut schema = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--strict" => parsed.strict = true,
            "--no-docs" => parsed.docs = false,
            "-o" => parsed.output = Some(PathBuf::from(rest.next()?)),
            _ if schema.is_none() && !arg.starts_with('-') => schema = Some(PathBuf::from(arg)),
            _ if parsed.command == "diff" && parsed.other.is_none() && !arg.starts_with('-') => {
                parsed.other = Some(PathBuf::from(arg))
            }
            _ => return None,
        }
    }
    parsed.schema = schema?;
    if parsed.command == "diff" {
        return parsed.other.is_some().then_some(parsed);
    }
    let needs_output = matches!(parsed.command.as_str(), "extract" | "generate" | "merge");
    let known = matches!(parsed.command.as_str(), "check" | "dump") || needs_output;
    (known && needs_output == parsed.output.is_some()).then_some(parsed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(args) = parse_args(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let options = ParseOptions {
        strict: args.strict,
        module_markers: qemu_qmp_codegen::extract::is_extract(&args.schema),
    };
    match args.command.as_str() {
        "diff" => {
            let old = load_one(&args.schema)?;
            let new = load_one(args.other.as_deref().unwrap_or(Path::new("")))?;
            for change in qemu_qmp_codegen::diff::diff(&old, &new) {
                println!("{change}");
            }
            Ok(())
        }
        "extract" => {
            let parsed = parse::parse_file(&args.schema, options).map_err(|e| e.to_string())?;
            // The extract must describe a schema that checks: check it before writing.
            qemu_qmp_codegen::load(&args.schema, options).map_err(|e| e.to_string())?;
            let origin = origin_name(&args.schema);
            let text = qemu_qmp_codegen::extract::extract(&parsed, &args.schema, &origin);
            let out = args.output.as_deref().unwrap_or(Path::new("-"));
            std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
        }
        "generate" => {
            let out = args.output.clone().unwrap_or_default();
            let generation = qemu_qmp_codegen::rust::Builder::new(&args.schema)
                .docs(args.docs)
                .pretty(true)
                .out_dir(&out)
                .generate()
                .map_err(|e| e.to_string())?;
            for file in &generation.outputs {
                println!("{}", file.display());
            }
            Ok(())
        }
        "merge" => {
            let merged = qemu_qmp_codegen::merge::load_releases(&releases(&args.schema))
                .map_err(|e| e.to_string())?;
            let out = args.output.as_deref().unwrap_or(Path::new("-"));
            std::fs::write(out, merged.text)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))
        }
        _ if releases(&args.schema).len() > 1 => {
            let merged = qemu_qmp_codegen::merge::load_releases(&releases(&args.schema))
                .map_err(|e| e.to_string())?;
            if args.command == "check" {
                println!("{}", merged.schema.counts());
            } else {
                print!("{}", qemu_qmp_codegen::dump::dump(&merged.schema));
            }
            Ok(())
        }
        _ => {
            let schema =
                qemu_qmp_codegen::load(&args.schema, options).map_err(|e| e.to_string())?;
            for warning in schema.warnings() {
                eprintln!("warning: {warning}");
            }
            if args.command == "check" {
                println!("{}", schema.counts());
            } else {
                print!("{}", qemu_qmp_codegen::dump::dump(&schema));
            }
            Ok(())
        }
    }
}

/// One release's schema, as the generator reads it.
fn load_one(path: &Path) -> Result<qemu_qmp_codegen::Schema, String> {
    qemu_qmp_codegen::load_release_file(path).map_err(|e| e.to_string())
}

/// The schema files of a `:`-separated list of releases, oldest first.
fn releases(schemas: &Path) -> Vec<PathBuf> {
    std::env::split_paths(schemas).collect()
}

/// `QEMU 10.0.2's qapi/qapi-schema.json` when the schema sits in a QEMU tree with a
/// `VERSION` file, else the path as given.
fn origin_name(schema: &Path) -> String {
    let mut folder = schema.parent();
    while let Some(dir) = folder {
        if let Ok(version) = std::fs::read_to_string(dir.join("VERSION")) {
            let relative = schema.strip_prefix(dir).unwrap_or(schema);
            return format!("QEMU {}'s {}", version.trim(), relative.display());
        }
        folder = dir.parent();
    }
    schema.display().to_string()
}
