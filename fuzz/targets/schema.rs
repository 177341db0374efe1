//! Body of the `schema` fuzz target: arbitrary text through the QAPI front end (parse,
//! check, model), from memory.
//!
//! The first byte holds the options (bit 0: strict, bit 1: module markers); the rest is
//! split at NUL bytes into up to four files, `/mem/main.json` first, which the others may
//! include by name (`a.json`, `b.json`, `sub/c.json`). Any other file is missing.
//!
//! Invariants: nothing panics or hangs; every error and warning has a position, renders as
//! `FILE:LINE[:COL]: message`, and its position (and every include site in its chain) lies
//! within the file it names.

use qemu_qmp_codegen::parse::ParseOptions;
use qemu_qmp_codegen::source::Info;
use qemu_qmp_codegen::SchemaError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const FILES: [&str; 4] = [
    "/mem/main.json",
    "/mem/a.json",
    "/mem/b.json",
    "/mem/sub/c.json",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let options = ParseOptions {
        strict: flags & 1 != 0,
        module_markers: flags & 2 != 0,
    };
    let files: HashMap<PathBuf, Vec<u8>> = FILES
        .iter()
        .zip(text.splitn(FILES.len(), |&b| b == 0))
        .map(|(name, text)| (PathBuf::from(name), text.to_vec()))
        .collect();
    let served = files.clone();
    let result = qemu_qmp_codegen::load_with(Path::new(FILES[0]), options, move |path| {
        served
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not in memory"))
    });
    match result {
        Ok(schema) => {
            for warning in schema.warnings() {
                check_positioned(warning, &files, options);
            }
            // What the model is made into must not fail on any schema that passed.
            let _ = qemu_qmp_codegen::dump::dump(&schema);
        }
        Err(error) => check_positioned(&error, &files, options),
    }
}

fn check_positioned(error: &SchemaError, files: &HashMap<PathBuf, Vec<u8>>, options: ParseOptions) {
    let info = error
        .info
        .as_ref()
        .unwrap_or_else(|| panic!("an error without a position: {error}"));
    let text = error.to_string();
    let location = info.location();
    assert!(
        text.lines()
            .any(|line| line.starts_with(&format!("{location}: "))),
        "the error does not render as FILE:LINE:COL: message: {text:?}"
    );
    assert!(
        !error.message.is_empty(),
        "an error without a message at {location}"
    );
    let mut at = Some(info);
    while let Some(info) = at {
        check_within(info, files, options, &text);
        at = info.parent;
    }
}

/// The position names one of the files (or, with module markers, a module a marker named,
/// whose lines are the extract's) at a line and column inside it.
fn check_within(info: &Info, files: &HashMap<PathBuf, Vec<u8>>, options: ParseOptions, text: &str) {
    let candidates: Vec<&Vec<u8>> = match files.get(info.file) {
        Some(file) => vec![file],
        None if options.module_markers => files.values().collect(),
        None => panic!("a position in a file that is not the schema's: {text:?}"),
    };
    let fits = candidates.iter().any(|file| {
        let lines: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
        let Some(line) = (info.line as usize)
            .checked_sub(1)
            .and_then(|i| lines.get(i))
        else {
            return false;
        };
        info.col as usize <= columns(line) + 1
    });
    assert!(
        fits,
        "position {}:{} lies outside the input: {text:?}",
        info.line, info.col
    );
}

/// The width of a line in columns, tabs expanded to multiples of 8 as QEMU counts them;
/// bytes, not characters, so an upper bound whatever the encoding.
fn columns(line: &[u8]) -> usize {
    line.iter().fold(0, |col, &b| match b {
        b'\t' => (col / 8 + 1) * 8,
        _ => col + 1,
    })
}
