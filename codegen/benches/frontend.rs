//! How fast the front end reads QEMU 10.0's QMP schema (every included file): parse,
//! check and model, against `serde_json` reading the same definitions as plain JSON.
//!
//! `cargo bench -p qemu-qmp-codegen --bench frontend`
//!
//! - `QMP_BENCH_QUICK=1`: one run of each (a smoke test for CI) instead of best of 20;
//! - `QMP_BENCH_ENFORCE=1`: exit with status 1 when the front end (from memory) takes
//!   more than 3x as long as `serde_json`;
//! - `QMP_BENCH_PROFILE=N`: only run `load_with` (from memory) N times, after the few
//!   loads that set it up, and print nothing else, for a profiler (`perf record`,
//!   `valgrind --tool=callgrind`: the difference of two counts is N loads' worth);
//! - `QMP_SHARED_DIR`: where the schemas are (default `<workspace>/../shared`).
//!
//! serde_json parses bytes already in memory, so the front end is timed the same way:
//! `load_with`, given the schema's 43 files from memory (read once, before timing), is
//! the comparison the ratio is about. `load`, which reads the files from disk, is timed
//! too, with its own ratio, and so is reading the files alone. The JSON baseline is made
//! before timing: each file with its comments (doc comments included) dropped, strings
//! double-quoted, and its top-level objects put into one array.
//!
//! QEMU's files are mostly doc comments, which the front end parses and the JSON baseline
//! never sees, so the same comparison is also made on the doc-free extract
//! (`schema/qemu-10.0.json`): the same definitions, one file, no doc comments (its
//! marker comments, module and since facts, read as the build reads them).

use qemu_qmp_codegen::parse::{self, ParseOptions};
use qemu_qmp_codegen::{check, Schema};
use std::collections::{BTreeSet, HashMap};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: f64 = 3.0;

/// The best time of `runs` runs of `f`.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The schema's text as JSON: comments dropped, strings double-quoted (QAPI's only
/// escape, `\\`, is JSON's too), the top-level objects as one array. Everything else stays
/// as written, white space included: the same bytes, as the comparison asks.
fn to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    out.push('[');
    let mut depth = 0usize;
    let mut first = true;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\'' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    match c {
                        '\'' => break,
                        '\\' => {
                            out.push('\\');
                            out.push(chars.next().unwrap_or('\\'));
                        }
                        '"' => out.push_str("\\\""),
                        _ => out.push(c),
                    }
                }
                out.push('"');
            }
            '{' | '[' => {
                if depth == 0 && !std::mem::take(&mut first) {
                    out.push(',');
                }
                depth += 1;
                out.push(c);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push(']');
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    let quick = std::env::var("QMP_BENCH_QUICK").is_ok_and(|v| v == "1");
    let enforce = std::env::var("QMP_BENCH_ENFORCE").is_ok_and(|v| v == "1");
    let runs = if quick { 1 } else { 20 };
    // Missing data panics under CI=true and skips (with a message) elsewhere.
    let Some(shared) = qmp_shared_data::shared_dir(&["qapi/qemu-10.0/qapi/qapi-schema.json"])
    else {
        return ExitCode::SUCCESS;
    };
    let root = shared.join("qapi/qemu-10.0/qapi/qapi-schema.json");
    let options = ParseOptions::default();
    // The files the schema reads, from one untimed parse.
    let parsed = match parse::parse_file(&root, options) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut files = BTreeSet::from([root.clone()]);
    for item in &parsed.items {
        if let qemu_qmp_codegen::ast::TopLevel::Include { file, .. } = item {
            files.insert(file.clone());
        }
    }
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect();
    let json: Vec<String> = texts.iter().map(|t| to_json(t)).collect();
    for (file, text) in files.iter().zip(&json) {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
            eprintln!("{}: the JSON conversion is not JSON: {e}", file.display());
            return ExitCode::FAILURE;
        }
    }
    let source_bytes: usize = texts.iter().map(String::len).sum();
    let json_bytes: usize = json.iter().map(String::len).sum();

    // Warm the page cache and the allocator before timing anything.
    let _ = qemu_qmp_codegen::load(&root, options);

    // The files as the front end asks for them, for `load_with` to hand over from memory.
    let asked: Arc<std::sync::Mutex<HashMap<PathBuf, Vec<u8>>>> = Arc::default();
    let recorder = asked.clone();
    let recorded = qemu_qmp_codegen::load_with(&root, options, move |path| {
        let bytes = std::fs::read(path)?;
        if let Ok(mut files) = recorder.lock() {
            files.insert(path.to_path_buf(), bytes.clone());
        }
        Ok(bytes)
    });
    if let Err(e) = recorded {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let in_memory: Arc<HashMap<PathBuf, Vec<u8>>> =
        Arc::new(asked.lock().map(|files| files.clone()).unwrap_or_default());
    let load_from_memory = || {
        let files = in_memory.clone();
        qemu_qmp_codegen::load_with(&root, options, move |path| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        })
    };
    if let Err(e) = load_from_memory() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    if let Some(n) = std::env::var("QMP_BENCH_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let loaded = (0..n).filter(|_| load_from_memory().is_ok()).count();
        println!("{loaded} loads");
        return ExitCode::SUCCESS;
    }

    let read = best_of(runs, || {
        files
            .iter()
            .map(|f| std::fs::read(f).map(|b| b.len()).unwrap_or(0))
            .sum::<usize>()
    });
    let load = best_of(runs, || qemu_qmp_codegen::load(&root, options).is_ok());
    let memory = best_of(runs, || load_from_memory().is_ok());
    let parse = best_of(runs, || parse::parse_file(&root, options).is_ok());
    let check = best_of(runs, || check::check_schema(parsed.clone()).is_ok())
        .saturating_sub(best_of(runs, || parsed.clone()));
    let checked = check::check_schema(parsed.clone());
    let model = match &checked {
        Ok(checked) => best_of(runs, || Schema::build(checked.clone(), &root).is_ok())
            .saturating_sub(best_of(runs, || checked.clone())),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let serde = best_of(runs, || {
        json.iter()
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .count()
    });

    // The doc-free extract: one file, no doc comments, markers honoured as the build does.
    let extract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/qemu-10.0.json");
    let extract_options = ParseOptions {
        module_markers: true,
        ..options
    };
    let extract_text = std::fs::read_to_string(&extract).unwrap_or_default();
    let extract_json = to_json(&extract_text);
    let extract_load = best_of(runs, || {
        qemu_qmp_codegen::load(&extract, extract_options).is_ok()
    });
    let extract_serde = best_of(runs, || {
        serde_json::from_str::<serde_json::Value>(&extract_json).is_ok()
    });
    if qemu_qmp_codegen::load(&extract, extract_options).is_err()
        || serde_json::from_str::<serde_json::Value>(&extract_json).is_err()
    {
        eprintln!("{} does not load", extract.display());
        return ExitCode::FAILURE;
    }

    let ratio = memory.as_secs_f64() / serde.as_secs_f64();
    let ratio_from_files = load.as_secs_f64() / serde.as_secs_f64();
    println!(
        "QEMU 10.0 QMP schema: {} files, {source_bytes} bytes of QAPI source \
         ({json_bytes} bytes once converted to JSON without comments); best of {runs} runs",
        files.len()
    );
    println!(
        "  serde_json::Value from the JSON (in memory):        {:8.3} ms",
        ms(serde)
    );
    println!(
        "  front end from memory, qemu_qmp_codegen::load_with: {:8.3} ms",
        ms(memory)
    );
    println!(
        "  front end from files, qemu_qmp_codegen::load:       {:8.3} ms",
        ms(load)
    );
    println!(
        "    std::fs::read of the {} files alone:               {:8.3} ms",
        files.len(),
        ms(read)
    );
    println!("    each step alone (load checks each definition just before modelling it):");
    println!(
        "      parse (reads the files, lexes, parses, doc comments): {:8.3} ms",
        ms(parse)
    );
    println!(
        "      check (expression shapes):                   {:8.3} ms",
        ms(check)
    );
    println!(
        "      model (resolve, implicit types, semantics):  {:8.3} ms",
        ms(model)
    );
    println!(
        "  ratio load_with / serde_json: {ratio:.2}x (target <= {LIMIT:.1}x); \
         from files, load / serde_json: {ratio_from_files:.2}x"
    );
    println!(
        "doc-free extract schema/qemu-10.0.json: {} bytes ({} as JSON)",
        extract_text.len(),
        extract_json.len()
    );
    println!(
        "  front end, load: {:8.3} ms; serde_json::Value: {:8.3} ms; ratio {:.2}x",
        ms(extract_load),
        ms(extract_serde),
        extract_load.as_secs_f64() / extract_serde.as_secs_f64()
    );
    if ratio > LIMIT {
        println!("  over the target");
        if enforce {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
