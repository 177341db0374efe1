//! The bindings generate and compile for every schema QEMU ships, in three releases: the
//! QMP schema of `qemu-system-*`, the guest agent's and the storage daemon's, of QEMU 7.2,
//! 10.0 and 10.2 (`../shared/qapi`). These schemas carry QEMU's full documentation, so the
//! checks also prove that the doc comments become doc attributes that compile; for 10.0's
//! QMP schema, rustdoc renders them and `cargo test --doc` finds no doctest in them (QEMU's
//! examples are QMP transcripts, not Rust).
//!
//! Each step is a `cargo` run on this package with `QMP_SCHEMA` set, in the one target
//! folder `target/schemas` (dependencies build once; the build script and the crate are
//! redone per schema). On two cores the whole file takes a few minutes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cargo runs share one target folder, and parallel builds do not help: one at a time.
static CARGO: Mutex<()> = Mutex::new(());

/// Every feature that changes what is generated from `QMP_SCHEMA`. The guest agent's and
/// the storage daemon's bindings come from their own extracts whatever `QMP_SCHEMA` says,
/// so building them nine times would test nothing new.
const FEATURES: &str = "unstable,dynamic,fake";

/// The nine schemas, as `(label, path under ../shared/qapi)`. 10.0's QMP schema comes
/// last so the documentation test after it finds its build script output fresh.
const SCHEMAS: &[(&str, &str)] = &[
    ("7.2 qmp", "qemu-7.2/qapi/qapi-schema.json"),
    ("7.2 qga", "qemu-7.2/qga/qapi-schema.json"),
    (
        "7.2 storage-daemon",
        "qemu-7.2/storage-daemon/qapi/qapi-schema.json",
    ),
    ("10.2 qmp", "qemu-10.2/qapi/qapi-schema.json"),
    ("10.2 qga", "qemu-10.2/qga/qapi-schema.json"),
    (
        "10.2 storage-daemon",
        "qemu-10.2/storage-daemon/qapi/qapi-schema.json",
    ),
    ("10.0 qga", "qemu-10.0/qga/qapi-schema.json"),
    (
        "10.0 storage-daemon",
        "qemu-10.0/storage-daemon/qapi/qapi-schema.json",
    ),
    ("10.0 qmp", "qemu-10.0/qapi/qapi-schema.json"),
];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data's QEMU schemas; `None` (after saying why) when missing outside CI.
fn qapi_dir() -> Option<PathBuf> {
    let dir = qmp_shared_data::shared_dir(&["qapi/qemu-10.0/qapi/qapi-schema.json"])?.join("qapi");
    Some(dir.canonicalize().unwrap_or(dir))
}

/// What one cargo run gave.
struct Run {
    ok: bool,
    elapsed: Duration,
    /// The build script's `OUT_DIR` for this package, from cargo's JSON messages.
    out_dir: Option<PathBuf>,
    /// Rendered compiler (or rustdoc) messages: `(level, text)`.
    diagnostics: Vec<(String, String)>,
    stdout: String,
    stderr: String,
}

/// `cargo ARGS` on this package with `QMP_SCHEMA=schema` (`None`: the default releases)
/// in `target/schemas`. With `json`, cargo's messages are read for the `OUT_DIR` and the
/// diagnostics.
fn cargo(schema: Option<&Path>, args: &[&str], json: bool) -> Run {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace())
        .args(args)
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target/schemas"))
        .env_remove("QMP_SCHEMAS")
        .env_remove("QMP_CODEGEN_TIMING");
    match schema {
        Some(schema) => command.env("QMP_SCHEMA", schema),
        None => command.env_remove("QMP_SCHEMA"),
    };
    if json {
        command.arg("--message-format=json");
    }
    let started = Instant::now();
    let output = command.output().expect("cannot run cargo");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut out_dir = None;
    let mut diagnostics = Vec::new();
    if json {
        for line in stdout.lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let package = message["package_id"].as_str().unwrap_or("");
            let ours = package.contains("qemu-qmp") && !package.contains("qemu-qmp-codegen");
            match message["reason"].as_str() {
                Some("build-script-executed") if ours => {
                    out_dir = message["out_dir"].as_str().map(PathBuf::from);
                }
                Some("compiler-message") if ours => {
                    let level = message["message"]["level"].as_str().unwrap_or("");
                    let text = message["message"]["rendered"].as_str().unwrap_or("");
                    diagnostics.push((level.to_string(), text.to_string()));
                }
                _ => {}
            }
        }
    }
    Run {
        ok: output.status.success(),
        elapsed,
        out_dir,
        diagnostics,
        stdout,
        stderr,
    }
}

/// Files, lines and bytes of the generated code in `out_dir`: `qmp.rs` and the module files
/// it includes (earlier schemas' files may linger beside them).
fn generated_size(out_dir: &Path) -> (usize, usize, usize) {
    let Ok(root) = std::fs::read_to_string(out_dir.join("qmp.rs")) else {
        return (0, 0, 0);
    };
    let mut texts = Vec::new();
    for line in root.lines().filter(|l| l.starts_with("include!(")) {
        let name = line
            .split('"')
            .find(|part| part.starts_with("qmp") && part.ends_with(".rs"))
            .unwrap_or_else(|| panic!("unexpected include line: {line}"));
        texts.push(std::fs::read_to_string(out_dir.join(name)).unwrap());
    }
    texts.push(root);
    let lines = texts.iter().map(|t| t.lines().count()).sum();
    let bytes = texts.iter().map(String::len).sum();
    (texts.len(), lines, bytes)
}

/// The end of a long output, for failure messages.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn failure_report(run: &Run) -> String {
    let errors: Vec<&str> = run
        .diagnostics
        .iter()
        .filter(|(level, _)| level == "error")
        .map(|(_, text)| text.as_str())
        .take(10)
        .collect();
    if errors.is_empty() {
        format!("{}\n{}", tail(&run.stdout, 40), tail(&run.stderr, 40))
    } else {
        errors.join("\n")
    }
}

#[test]
fn every_schema_generates_and_compiles() {
    let Some(qapi) = qapi_dir() else { return };
    let _one_at_a_time = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = Vec::new();
    println!(
        "{:<20} {:>8} {:>6} {:>8} {:>10}",
        "schema", "check s", "files", "lines", "bytes"
    );
    for (label, relative) in SCHEMAS {
        let schema = qapi.join(relative);
        assert!(schema.is_file(), "{} is missing", schema.display());
        let run = cargo(
            Some(&schema),
            &["check", "--lib", "--features", FEATURES],
            true,
        );
        let size = run.out_dir.as_deref().map(generated_size);
        let (files, lines, bytes) = size.unwrap_or_default();
        println!(
            "{label:<20} {:>8.1} {files:>6} {lines:>8} {bytes:>10}{}",
            run.elapsed.as_secs_f64(),
            if run.ok { "" } else { "  FAILED" }
        );
        if !run.ok {
            failures.push(format!(
                "{label} ({}):\n{}",
                schema.display(),
                failure_report(&run)
            ));
        } else if files == 0 || lines == 0 {
            failures.push(format!(
                "{label}: no generated qmp*.rs found (OUT_DIR {:?})",
                run.out_dir
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} schemas failed:\n{}",
        failures.len(),
        SCHEMAS.len(),
        failures.join("\n\n")
    );
}

#[test]
fn qemu_10_0_docs_render_and_hold_no_doctests() {
    let Some(qapi) = qapi_dir() else { return };
    let _one_at_a_time = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let schema = qapi.join("qemu-10.0/qapi/qapi-schema.json");

    let run = cargo(
        Some(&schema),
        &["doc", "--no-deps", "--lib", "--features", FEATURES],
        true,
    );
    let warnings: Vec<&str> = run
        .diagnostics
        .iter()
        .filter(|(level, _)| level == "warning")
        .map(|(_, text)| text.as_str())
        .collect();
    println!(
        "cargo doc (10.0 with docs): {:.1} s, {} warnings",
        run.elapsed.as_secs_f64(),
        warnings.len()
    );
    for warning in warnings.iter().take(5) {
        println!("{warning}");
    }
    assert!(run.ok, "cargo doc failed:\n{}", failure_report(&run));
    // The generated module's docs are QEMU's prose: rustdoc must take it as it is.
    let generated_warnings: Vec<&&str> =
        warnings.iter().filter(|w| w.contains("/out/qmp")).collect();
    assert!(
        generated_warnings.is_empty(),
        "rustdoc warns about generated docs:\n{}",
        generated_warnings
            .iter()
            .take(10)
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );

    let run = cargo(
        Some(&schema),
        &["test", "--doc", "--features", FEATURES],
        false,
    );
    let tests: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.contains(" - "))
        .collect();
    println!(
        "cargo test --doc (10.0 with docs): {:.1} s, {} doctests",
        run.elapsed.as_secs_f64(),
        tests.len()
    );
    assert!(
        run.ok,
        "cargo test --doc failed:\n{}\n{}",
        tail(&run.stdout, 60),
        tail(&run.stderr, 60)
    );
    // A doctest from the generated code would be named after its file in OUT_DIR.
    let generated: Vec<&&str> = tests
        .iter()
        .filter(|t| t.contains("/out/qmp") || t.contains(" - api::"))
        .collect();
    assert!(
        generated.is_empty(),
        "QEMU's examples became doctests:\n{}",
        generated
            .iter()
            .take(10)
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// User code written with constructors against one release's bindings keeps compiling when
/// releases are added: `examples/release_compat.rs`, built against QEMU 7.2's bindings
/// alone and against the default bindings of every known release.
#[test]
fn a_program_written_for_7_2_compiles_against_every_release() {
    let _one_at_a_time = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let only_7_2 = workspace().join("schema/qemu-7.2.json");
    let args = ["check", "--example", "release_compat"];
    for (label, schema) in [
        ("7.2 alone", Some(only_7_2.as_path())),
        ("every release", None),
    ] {
        let run = cargo(schema, &args, true);
        println!(
            "release_compat against {label}: {:.1} s",
            run.elapsed.as_secs_f64()
        );
        assert!(run.ok, "against {label}:\n{}", failure_report(&run));
    }
}
