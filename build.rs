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

/// The schema files to generate from, oldest release first.
fn schemas() -> Vec<PathBuf> {
    if let Some(list) = env_path("QMP_SCHEMAS") {
        return std::env::split_paths(&list).collect();
    }
    if let Some(one) = env_path("QMP_SCHEMA") {
        return vec![PathBuf::from(one)];
    }
    let list = Path::new("schema/releases");
    println!("cargo:rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(list)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    qemu_qmp_codegen::releases::parse_list(&text)
        .into_iter()
        .map(|file| Path::new("schema").join(file))
        .collect()
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
    for input in &generation.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    if std::env::var_os("QMP_CODEGEN_TIMING").is_some() {
        println!(
            "cargo:warning=generated the bindings from {schemas:?} in {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }
}
