//! Where the tests and benchmarks of both crates find the shared test data: QEMU's schemas,
//! its schema-parser test cases and captured QMP replies, kept outside the repository in
//! `../shared` beside the workspace (or wherever `QMP_SHARED_DIR` says).
//!
//! Missing data is a failure under `CI=true` (CI must test everything) and a skip, with a
//! message saying what to set, anywhere else.

use std::path::{Path, PathBuf};

/// The shared data folder, when it holds every path of `needed` (relative to it).
///
/// Without them: under `CI=true` this panics, failing the test; elsewhere it prints why the
/// caller is skipping and returns `None`.
pub fn shared_dir(needed: &[&str]) -> Option<PathBuf> {
    let dir = match std::env::var_os("QMP_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared"),
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|path| !dir.join(path).exists())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    let message = format!(
        "shared test data not found: {} has no {} (set QMP_SHARED_DIR)",
        dir.display(),
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}; it is required when CI=true");
    }
    println!("SKIPPED: {message}");
    eprintln!("SKIPPED: {message}");
    None
}

/// The workspace's folder: the nearest one holding `Cargo.lock` above the package under
/// test, whose folder cargo tells the test and bench processes it runs. This crate's own
/// folder, fixed when it was compiled, is only the fallback: with a target folder shared
/// between two checkouts, it can name the other one.
fn workspace_root() -> PathBuf {
    // This crate sits at tests/shared-data in the workspace.
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(running) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return compiled;
    };
    Path::new(&running)
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .map_or(compiled, Path::to_path_buf)
}
