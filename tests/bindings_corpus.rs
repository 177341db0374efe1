//! Real replies of real QEMUs (libvirt's capability-probing captures) decode into the
//! typed bindings of their release and write back unchanged, except members the schema
//! does not know: every `return` and every `arguments` object of the captures.
//!
//! The check itself is `examples/corpus_check.rs`. The 10.0 captures are checked in this
//! process when the test is built with the `dynamic` feature from the default schema
//! (QEMU 10.0), otherwise by running the example; the 7.2 captures always run the example
//! built from QEMU 7.2's schema, in the shared `target/schemas` folder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

#[cfg(feature = "dynamic")]
#[allow(dead_code)]
#[path = "../examples/corpus_check.rs"]
mod corpus_check;

/// The cargo invocations share one target folder: one at a time.
static CARGO: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared data, with the captured replies; `None` (after saying why) outside CI.
fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["corpus/libvirt-replies"])
}

/// The capture files of one QEMU release (`caps_<release>_*.replies`), sorted.
fn captures(shared: &Path, release: &str) -> Vec<PathBuf> {
    let folder = shared.join("corpus/libvirt-replies");
    let prefix = format!("caps_{release}_");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".replies")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no {prefix}*.replies in {}",
        folder.display()
    );
    files
}

/// The counts of the example's summary line
/// `corpus: N replies checked, N arguments checked, N failures`.
fn summary_counts(stdout: &str) -> Option<(usize, usize, usize)> {
    let line = stdout.lines().rev().find(|l| l.starts_with("corpus: "))?;
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    match numbers[..] {
        [replies, arguments, failures] => Some((replies, arguments, failures)),
        _ => None,
    }
}

/// Runs the example in the shared `target/schemas` folder, built from `schema` (`None`:
/// the default schema); returns the reply and argument counts.
fn run_example(schema: Option<&Path>, files: &[PathBuf]) -> (usize, usize) {
    let _one_at_a_time = CARGO.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace())
        .args([
            "run",
            "--quiet",
            "--example",
            "corpus_check",
            "--all-features",
        ])
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .arg("--")
        .args(files)
        .env("CARGO_TARGET_DIR", workspace().join("target/schemas"));
    match schema {
        Some(schema) => command.env("QMP_SCHEMA", schema),
        None => command.env_remove("QMP_SCHEMA"),
    };
    let output = command.output().expect("cannot run cargo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let counts = summary_counts(&stdout);
    assert!(
        output.status.success(),
        "corpus_check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let (replies, arguments, failures) =
        counts.unwrap_or_else(|| panic!("no summary line in:\n{stdout}\n{stderr}"));
    assert_eq!(failures, 0);
    (replies, arguments)
}

#[test]
fn qemu_10_0_replies_decode_and_write_back() {
    let Some(shared) = shared_dir() else { return };
    let files = captures(&shared, "10.0.0");
    #[cfg(feature = "dynamic")]
    let (replies, arguments) = if option_env!("QMP_SCHEMA").is_none() {
        let schema_path = corpus_check::default_schema();
        let schema = qemu_qmp_codegen::rust::load_for_generation(&schema_path).unwrap();
        let report = corpus_check::check_files(&files, &schema);
        report.print();
        assert!(
            report.failures.is_empty(),
            "{} failures:\n{}",
            report.failures.len(),
            report.failures.join("\n")
        );
        (report.replies, report.arguments)
    } else {
        // Built from another schema: the 10.0 bindings come from the example's build.
        run_example(None, &files)
    };
    #[cfg(not(feature = "dynamic"))]
    let (replies, arguments) = run_example(None, &files);
    println!(
        "QEMU 10.0: {replies} replies and {arguments} argument objects of {} captures checked",
        files.len()
    );
    assert!(replies > 0 && arguments > 0);
}

#[test]
fn qemu_7_2_replies_decode_and_write_back() {
    let Some(shared) = shared_dir() else { return };
    let files = captures(&shared, "7.2.0");
    let schema = shared.join("qapi/qemu-7.2/qapi/qapi-schema.json");
    let schema = schema.canonicalize().unwrap_or(schema);
    let (replies, arguments) = run_example(Some(&schema), &files);
    println!(
        "QEMU 7.2: {replies} replies and {arguments} argument objects of {} captures checked",
        files.len()
    );
    assert!(replies > 0 && arguments > 0);
}
