//! Generates the QMP bindings from the QAPI schema into `OUT_DIR`.
//!
//! The schema is `schema/qemu-10.0.json` (a doc-free extract of QEMU 10.0's) unless
//! `QMP_SCHEMA` names another, such as a QEMU tree's `qapi/qapi-schema.json`, whose doc
//! comments then become rustdoc.

use std::path::PathBuf;

/// The QAPI modules that have a cargo feature of their own (QEMU 10.0's); a module of
/// another schema that is not listed here is always generated.
const MODULE_FEATURES: &[&str] = &[
    "error",
    "common",
    "sockets",
    "run-state",
    "crypto",
    "job",
    "block-core",
    "block",
    "block-export",
    "char",
    "dump",
    "net",
    "ebpf",
    "rocker",
    "tpm",
    "ui",
    "authz",
    "migration",
    "transaction",
    "trace",
    "compat",
    "control",
    "introspect",
    "qom",
    "qdev",
    "machine-common",
    "machine",
    "machine-target",
    "replay",
    "yank",
    "misc",
    "misc-target",
    "audio",
    "acpi",
    "pci",
    "stats",
    "virtio",
    "vfio",
    "cryptodev",
    "cxl",
    "uefi",
];

fn feature_enabled(name: &str) -> bool {
    let var = format!(
        "CARGO_FEATURE_{}",
        name.to_ascii_uppercase().replace('-', "_")
    );
    std::env::var_os(var).is_some()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=QMP_SCHEMA");
    let schema = std::env::var_os("QMP_SCHEMA")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("schema/qemu-10.0.json"));
    let started = std::time::Instant::now();
    let generation = qemu_qmp_codegen::rust::Builder::new(&schema)
        .unstable(feature_enabled("unstable"))
        .dynamic(feature_enabled("dynamic"))
        .modules(|module| !MODULE_FEATURES.contains(&module) || feature_enabled(module))
        .generate();
    let generation = match generation {
        Ok(generation) => generation,
        Err(e) => {
            eprintln!("{e}");
            panic!("cannot generate the QMP bindings from {}", schema.display());
        }
    };
    for input in &generation.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    if std::env::var_os("QMP_CODEGEN_TIMING").is_some() {
        println!(
            "cargo:warning=generated the bindings from {} in {:.3} s",
            schema.display(),
            started.elapsed().as_secs_f64()
        );
    }
}
