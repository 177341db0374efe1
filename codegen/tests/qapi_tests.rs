//! The front end against QEMU's own schema test suite (`../shared/qapi-tests`) and against
//! the real schemas of three QEMU releases (`../shared/qapi`).
//!
//! For every case `NAME.json` QEMU ships `NAME.out` (its front end's dump of the model) and
//! `NAME.err` (its error, empty when the schema is accepted). An accepted case must dump
//! exactly `NAME.out`; a rejected one must fail at the file and line QEMU's error names.
//!
//! Schemas are loaded by absolute path and the folder is cut out of messages afterwards,
//! as QEMU's test driver does, so the tests need not change the process-wide current
//! directory.

use qemu_qmp_codegen::dump::dump;
use qemu_qmp_codegen::parse::ParseOptions;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared data, with QEMU's parser cases; `None` (after saying why) outside CI.
fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["qapi-tests"])
}

/// The last `FILE:LINE:` or `FILE:LINE:COL:` position of an error text, as the file's
/// base name and the line.
fn last_position(text: &str) -> Option<(String, u32)> {
    text.lines().rev().find_map(|line| {
        let (file, rest) = line.split_once(':')?;
        if file.is_empty() || file.contains(' ') {
            return None;
        }
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[digits.len()..];
        if digits.is_empty() || !after.starts_with(':') {
            return None;
        }
        let base = Path::new(file).file_name()?.to_string_lossy().into_owned();
        Some((base, digits.parse().ok()?))
    })
}

/// The first line where `got` differs from `expected`, shown with both versions.
fn first_difference(expected: &str, got: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = got.lines().collect();
    let n = expected.len().max(got.len());
    for i in 0..n {
        let e = expected.get(i).copied();
        let g = got.get(i).copied();
        if e != g {
            let from = i.saturating_sub(2);
            let mut out = format!("first difference at line {}:\n", i + 1);
            for (j, line) in expected.iter().enumerate().take(i).skip(from) {
                out += &format!("   {:4} {line}\n", j + 1);
            }
            out += &format!("-  {:4} {}\n", i + 1, e.unwrap_or("<end of file>"));
            out += &format!("+  {:4} {}\n", i + 1, g.unwrap_or("<end of file>"));
            return out;
        }
    }
    "no difference".to_string()
}

/// Runs one case; `Err` says how it failed.
fn run_case(dir: &Path, name: &str, exact_messages: &mut usize) -> Result<(), String> {
    let json = dir.join(format!("{name}.json"));
    let expected_err = std::fs::read_to_string(dir.join(format!("{name}.err")))
        .map_err(|e| format!("can't read {name}.err: {e}"))?;
    let result = qemu_qmp_codegen::load(
        &json,
        ParseOptions {
            strict: true,
            ..Default::default()
        },
    );
    if expected_err.trim().is_empty() {
        let expected_out = std::fs::read_to_string(dir.join(format!("{name}.out")))
            .map_err(|e| format!("can't read {name}.out: {e}"))?;
        let schema = result.map_err(|e| format!("rejected a valid schema:\n{e}"))?;
        let got = dump(&schema);
        if got != expected_out {
            return Err(format!(
                "dump differs from {name}.out\n{}",
                first_difference(&expected_out, &got)
            ));
        }
        return Ok(());
    }
    let error = match result {
        Ok(_) => return Err(format!("accepted; QEMU says:\n{expected_err}")),
        Err(e) => e,
    };
    // Messages name files relative to the test folder, as in QEMU's test runs.
    let prefix = format!("{}/", dir.display());
    let got = format!("{error}\n").replace(&prefix, "");
    let want = last_position(&expected_err)
        .ok_or_else(|| format!("no position in {name}.err:\n{expected_err}"))?;
    let have = last_position(&got);
    if have.as_ref() != Some(&want) {
        return Err(format!(
            "rejected at {have:?} instead of {want:?}\nQEMU:\n{expected_err}ours:\n{got}"
        ));
    }
    if got == expected_err {
        *exact_messages += 1;
    }
    Ok(())
}

#[test]
fn qemu_front_end_test_suite() {
    let Some(shared) = shared_dir() else { return };
    let dir = std::fs::canonicalize(shared.join("qapi-tests")).expect("qapi-tests folder");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("qapi-tests folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();

    let (mut passed, mut failed, mut fragments, mut rejected) = (0, Vec::new(), Vec::new(), 0);
    let mut exact_messages = 0;
    for name in &names {
        // Files without results are pieces other cases include, not cases.
        if !dir.join(format!("{name}.err")).exists() {
            fragments.push(name.as_str());
            continue;
        }
        let is_error_case = std::fs::metadata(dir.join(format!("{name}.err")))
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if is_error_case {
            rejected += 1;
        }
        match run_case(&dir, name, &mut exact_messages) {
            Ok(()) => passed += 1,
            Err(why) => {
                println!("FAIL {name}: {why}\n");
                failed.push(name.as_str());
            }
        }
    }
    let cases = passed + failed.len();
    println!(
        "qapi-tests: {cases} cases, {passed} passed, {} failed",
        failed.len()
    );
    println!(
        "  ({} files are included pieces, not cases: {}; {exact_messages} of {rejected} \
         error messages match QEMU's word for word)",
        fragments.len(),
        fragments.join(", ")
    );
    assert!(cases > 200, "only {cases} cases found in {}", dir.display());
    assert!(failed.is_empty(), "failed cases: {}", failed.join(", "));
}

/// The schemas QEMU ships, each accepted by its own release, load in default mode.
#[test]
fn real_qemu_schemas_load() {
    let Some(shared) = shared_dir() else { return };
    let mut failed = Vec::new();
    for release in ["qemu-7.2", "qemu-10.0", "qemu-10.2"] {
        for schema in [
            "qapi/qapi-schema.json",
            "qga/qapi-schema.json",
            "storage-daemon/qapi/qapi-schema.json",
        ] {
            let path = shared.join("qapi").join(release).join(schema);
            match qemu_qmp_codegen::load(&path, ParseOptions::default()) {
                Ok(s) => {
                    println!("{release}/{schema}: {}", s.counts());
                    assert!(
                        s.counts().commands > 0,
                        "{release}/{schema} has no commands"
                    );
                }
                Err(e) => {
                    println!("{release}/{schema}: {e}");
                    failed.push(format!("{release}/{schema}"));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "schemas not loaded: {}",
        failed.join(", ")
    );
}

/// The model of QEMU 10.2's QMP schema has what the Rust emitter will walk: resolved
/// types, implicit argument types, flattened members and union branches.
#[test]
fn real_schema_model_is_resolved() {
    let Some(shared) = shared_dir() else { return };
    let path = shared.join("qapi/qemu-10.2/qapi/qapi-schema.json");
    let schema = qemu_qmp_codegen::load(&path, ParseOptions::default()).expect("loads");

    let (entity, cmd) = schema
        .commands()
        .find(|(e, _)| e.name == "query-status")
        .expect("query-status");
    assert!(cmd.arg_type.is_none());
    let ret = schema.entity(cmd.ret_type.expect("returns"));
    assert_eq!(ret.name, "StatusInfo");
    assert!(ret
        .as_object()
        .is_some_and(|o| o.member("running").is_some()));
    assert!(entity.doc.is_some(), "docs are attached");
    assert!(cmd.allow_preconfig);

    let (_, cmd) = schema
        .commands()
        .find(|(e, _)| e.name == "blockdev-add")
        .expect("blockdev-add");
    assert!(cmd.boxed);
    let arg = schema.entity(cmd.arg_type.expect("arguments"));
    let union = arg
        .as_object()
        .and_then(|o| o.branches.as_ref())
        .expect("a union");
    assert_eq!(union.tag, "driver");
    assert_eq!(schema.name(union.tag_type), "BlockdevDriver");
    let enum_values = schema
        .entity(union.tag_type)
        .as_enum()
        .expect("enum")
        .members
        .len();
    assert_eq!(union.variants.len(), enum_values, "one branch per driver");

    let (_, cmd) = schema
        .commands()
        .find(|(e, _)| e.name == "qmp_capabilities")
        .expect("qmp_capabilities");
    let arg = schema.entity(cmd.arg_type.expect("arguments"));
    assert_eq!(arg.name, "q_obj_qmp_capabilities-arg");
    assert!(arg.is_implicit());
    let enable = &arg.as_object().expect("object").members()[0];
    assert!(enable.optional);
    assert_eq!(schema.name(enable.ty), "QMPCapabilityList");
    let list = schema.entity(enable.ty).as_array().expect("array");
    assert_eq!(schema.name(list.element), "QMPCapability");

    let conditional = schema
        .entities()
        .iter()
        .filter(|e| e.cond.is_some())
        .count();
    assert!(conditional > 10, "conditions are kept");
    assert!(schema
        .entities()
        .iter()
        .any(|e| e.is_deprecated() || e.is_unstable()));
    assert_eq!(schema.modules()[0].name, "./builtin");
    assert_eq!(schema.modules()[1].name, "qapi-schema.json");
}

/// The command-line contract: `check` prints one line of counts, or the error on stderr
/// with status 1; `dump` prints the model.
#[test]
fn cli_check_and_dump() {
    let Some(shared) = shared_dir() else { return };
    let dir = shared.join("qapi-tests");
    let qapi = env!("CARGO_BIN_EXE_qapi");

    let out = Command::new(qapi)
        .args(["check", "--strict", "qapi-schema-test.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    assert_eq!(
        stdout.trim_end(),
        "23 commands, 13 events, 36 structs, 8 unions, 11 alternates, 9 enums"
    );

    let out = Command::new(qapi)
        .args(["check", "--strict", "union-bad-base.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = std::fs::read_to_string(dir.join("union-bad-base.err")).expect("err file");
    assert_eq!(stderr, expected);

    let out = Command::new(qapi)
        .args(["check", "include-nested-err.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("In file included from include-nested-err.json:1:\n"),
        "{stderr}"
    );

    let out = Command::new(qapi)
        .args(["dump", "include-simple.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let expected = std::fs::read_to_string(dir.join("include-simple.out")).expect("out file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
