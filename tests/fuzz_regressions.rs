//! The fuzz targets' regression inputs, on stable: every file under
//! `fuzz/regressions/TARGET/` through the body of that target, the same code the fuzzer
//! runs (`fuzz/targets/TARGET.rs`). Each file is an input a fuzzer found once (minimised)
//! or a small hand-written seed; the fuzzing itself is not run here (see the README).

#[allow(dead_code)]
#[path = "../fuzz/targets/schema.rs"]
mod schema;
#[allow(dead_code)]
#[path = "../fuzz/targets/typed_decode.rs"]
mod typed_decode;
#[allow(dead_code)]
#[path = "../fuzz/targets/wire.rs"]
mod wire;

use std::path::PathBuf;

/// Runs every regression input of `target` through `body`; there must be some.
fn replay(target: &str, body: fn(&[u8])) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no regression inputs in {}",
        folder.display()
    );
    for input in &inputs {
        let data = std::fs::read(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        // The file's name in the failure says which input broke.
        let outcome = std::panic::catch_unwind(|| body(&data));
        if let Err(panic) = outcome {
            eprintln!("regression input {} fails", input.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn wire() {
    replay("wire", wire::run);
}

#[test]
fn typed_decode() {
    replay("typed_decode", typed_decode::run);
}

#[test]
fn schema() {
    replay("schema", schema::run);
}
