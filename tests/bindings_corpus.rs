//! Real replies of real QEMUs (libvirt's capability-probing captures of QEMU 7.2 and 10.0,
//! x86_64, s390x and ppc) decode into the default bindings, one API for every known
//! release, and write back unchanged: every `return` and every `arguments` object of the
//! captures, with no member dropped (every member of the captures is one some known
//! release defines).
//!
//! The check itself is `examples/corpus_check.rs`.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../examples/corpus_check.rs"]
mod corpus_check;

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

/// Checks one release's captures against the bindings and their merged model.
fn check_release(release: &str) {
    let Some(shared) = shared_dir() else { return };
    let files = captures(&shared, release);
    let schemas = corpus_check::default_schemas();
    let schema = corpus_check::load_schemas(&schemas).unwrap();
    let report = corpus_check::check_files(&files, &schema);
    report.print();
    assert!(
        report.failures.is_empty(),
        "{} failures:\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
    if option_env!("QMP_SCHEMA").is_none() && option_env!("QMP_SCHEMAS").is_none() {
        assert!(
            report.unknown_members.is_empty(),
            "members no known release defines: {:?}",
            report.unknown_members
        );
    }
    println!(
        "QEMU {release}: {} replies and {} argument objects of {} captures checked",
        report.replies,
        report.arguments,
        files.len()
    );
    assert!(report.replies > 100 && report.arguments > 100);
}

#[test]
fn qemu_10_0_replies_decode_and_write_back() {
    check_release("10.0.0");
}

#[test]
fn qemu_7_2_replies_decode_and_write_back() {
    check_release("7.2.0");
}
