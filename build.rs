//! Generates the QMP bindings into `OUT_DIR`: by default one API for every QEMU release
//! listed in `schema/releases` (doc-free extracts, oldest first, merged by the rules of
//! `qemu_qmp_codegen::merge`).
//!
//! `QMP_SCHEMAS=a.json:b.json` picks the releases instead (oldest first), and
//! `QMP_SCHEMA=path` builds for one release alone, such as a QEMU tree's
//! `qapi/qapi-schema.json`, whose doc comments then become rustdoc.
//!
//! The QAPI modules that have a cargo feature of their own are those the crate's `full`
//! feature lists in Cargo.toml: the one list of them.
//!
//! With the feature `agent` (`storage-daemon`) the guest agent's (storage daemon's)
//! bindings are generated too, from the release list in `schema/qga`
//! (`schema/storage-daemon`), every QAPI module of them: `qga*.rs` (`qsd*.rs`).

use std::path::{Path, PathBuf};

fn feature_enabled(name: &str) -> bool {
    let var = format!(
        "CARGO_FEATURE_{}",
        name.to_ascii_uppercase().replace('-', "_")
    );
    std::env::var_os(var).is_some()
}

fn env_path(name: &str) -> Option<std::ffi::OsString> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The schema files of the release list `folder/releases`, oldest release first.
fn release_list(folder: &Path) -> Vec<PathBuf> {
    let list = folder.join("releases");
    println!("cargo:rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    qemu_qmp_codegen::releases::parse_list(&text)
        .into_iter()
        .map(|file| folder.join(file))
        .collect()
}

/// The schema files to generate the QMP bindings from, oldest release first.
fn schemas() -> Vec<PathBuf> {
    if let Some(list) = env_path("QMP_SCHEMAS") {
        return std::env::split_paths(&list).collect();
    }
    if let Some(one) = env_path("QMP_SCHEMA") {
        return vec![PathBuf::from(one)];
    }
    release_list(Path::new("schema"))
}

/// Generates the bindings of a second schema (every QAPI module of it) into `OUT_DIR`,
/// as the module `api_path` of the crate, when the crate feature `feature` is on.
fn generate_second_api(
    feature: &str,
    folder: &str,
    api_path: &str,
    executor: &str,
    file_prefix: &str,
) {
    if !feature_enabled(feature) {
        return;
    }
    let schemas = release_list(Path::new(folder));
    let generation = qemu_qmp_codegen::rust::Builder::releases(&schemas)
        .unstable(feature_enabled("unstable"))
        .dynamic(feature_enabled("dynamic"))
        .api_module(api_path, executor, file_prefix)
        .generate();
    match generation {
        Ok(generation) => {
            for input in &generation.inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
        }
        Err(e) => {
            eprintln!("{e}");
            panic!("cannot generate the bindings of feature `{feature}` from {schemas:?}");
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let schemas = schemas();
    let manifest = std::fs::read_to_string("Cargo.toml")
        .unwrap_or_else(|e| panic!("cannot read Cargo.toml: {e}"));
    let gated = qemu_qmp_codegen::releases::module_features(&manifest);
    let started = std::time::Instant::now();
    let generation = qemu_qmp_codegen::rust::Builder::releases(&schemas)
        .unstable(feature_enabled("unstable"))
        .dynamic(feature_enabled("dynamic"))
        .modules(move |module| !gated.iter().any(|m| m == module) || feature_enabled(module))
        .generate();
    let generation = match generation {
        Ok(generation) => generation,
        Err(e) => {
            eprintln!("{e}");
            panic!("cannot generate the QMP bindings from {schemas:?}");
        }
    };
    // The library's live-schema queries read the introspection types: they exist when the
    // schema has the `introspect` module and its feature is on (a guest agent's schema
    // has none).
    println!("cargo::rustc-check-cfg=cfg(qmp_introspect)");
    if generation.modules.iter().any(|m| m == "introspect") {
        println!("cargo:rustc-cfg=qmp_introspect");
    }
    // The same for the notifiers, which read run-state, job, qdev and migration types:
    // `qmp_module = "NAME"` for each module generated (its feature on, and in the schema).
    println!("cargo::rustc-check-cfg=cfg(qmp_module, values(any()))");
    for module in &generation.modules {
        println!("cargo:rustc-cfg=qmp_module=\"{module}\"");
    }
    for input in &generation.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    generate_second_api(
        "agent",
        "schema/qga",
        "crate::agent::api",
        "crate::agent::Executor",
        "qga",
    );
    generate_second_api(
        "storage-daemon",
        "schema/storage-daemon",
        "crate::storage_daemon::api",
        "crate::call::Executor",
        "qsd",
    );
    if std::env::var_os("QMP_CODEGEN_TIMING").is_some() {
        println!(
            "cargo:warning=generated the bindings from {schemas:?} in {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }
}
