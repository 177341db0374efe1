//! The doc-free extracts: each checked-in `schema/qemu-RELEASE.json` (7.2, 10.0, 10.2) is
//! what the CLI writes for that release's QMP schema today (and `schema/qga/...`,
//! `schema/storage-daemon/...` for the guest agent's and the storage daemon's), and an extract has the same model as its source, for every
//! schema QEMU ships (QMP, guest agent, storage daemon) in all three releases.
//!
//! Models are compared through their dumps (QEMU's test format), without the doc blocks
//! and `include` lines, grouped per module: an extract replaces include directives with
//! module markers, so its modules come in the order of their first definition rather than
//! of their first inclusion, and its root module is the extract file itself.

use qemu_qmp_codegen::dump::dump;
use qemu_qmp_codegen::extract;
use qemu_qmp_codegen::parse::{parse_file, ParseOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The command that writes the checked-in extract `checked_in` (`schema/qemu-10.0.json`)
/// of `schema` in `release`'s tree (`qemu-10.0`), run from the workspace root.
fn regenerate(release: &str, schema: &str, checked_in: &str) -> String {
    format!(
        "cargo run -q -p qemu-qmp-codegen -- extract \
         ../shared/qapi/{release}/{schema} -o {checked_in}"
    )
}

/// Each schema with checked-in extracts, and the folder (of the workspace) they sit in.
const CHECKED_IN: [(&str, &str); 3] = [
    ("qapi/qapi-schema.json", "schema"),
    ("qga/qapi-schema.json", "schema/qga"),
    (
        "storage-daemon/qapi/qapi-schema.json",
        "schema/storage-daemon",
    ),
];

const RELEASES: [&str; 3] = ["qemu-7.2", "qemu-10.0", "qemu-10.2"];

const SCHEMAS: [&str; 3] = [
    "qapi/qapi-schema.json",
    "qga/qapi-schema.json",
    "storage-daemon/qapi/qapi-schema.json",
];

/// The root package's folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the codegen crate sits in the workspace")
        .to_path_buf()
}

/// The shared data, with QEMU's schemas; `None` (after saying why) outside CI.
fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["qapi"])
}

/// The origin the CLI names in an extract's header: the schema's path inside the QEMU
/// tree, after the release in the tree's `VERSION` file.
fn origin(release_dir: &Path, schema: &str) -> String {
    let version = std::fs::read_to_string(release_dir.join("VERSION")).expect("VERSION file");
    format!("QEMU {}'s {schema}", version.trim())
}

/// The first line where two texts differ, with a little context.
fn first_difference(expected: &str, got: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = got.lines().collect();
    for i in 0..expected.len().max(got.len()) {
        let (e, g) = (expected.get(i), got.get(i));
        if e != g {
            let mut out = format!("first difference at line {}:\n", i + 1);
            for line in &expected[i.saturating_sub(2)..i] {
                out += &format!("    {line}\n");
            }
            out += &format!("  - {}\n", e.unwrap_or(&"<end of file>"));
            out += &format!("  + {}\n", g.unwrap_or(&"<end of file>"));
            return out;
        }
    }
    "no difference".to_string()
}

#[test]
fn checked_in_extracts_are_what_the_cli_writes() {
    let Some(shared) = shared_dir() else { return };
    let mut stale = Vec::new();
    for release in RELEASES {
        for (schema, folder) in CHECKED_IN {
            let checked_in = format!("{folder}/{release}.json");
            if let Err(why) = check_extract_is_fresh(&shared, release, schema, &checked_in) {
                println!("{why}");
                stale.push(checked_in);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "checked-in extracts not what `qapi extract` writes today: {stale:?} (see above)"
    );
}

/// Whether the extract `checked_in` (`schema/RELEASE.json`) is what the CLI writes for
/// that release's `schema` today (and the CLI writes what [`extract::extract`] does);
/// `Err` says how not.
fn check_extract_is_fresh(
    shared: &Path,
    release: &str,
    schema: &str,
    checked_in_name: &str,
) -> Result<(), String> {
    let release_dir = shared.join("qapi").join(release);
    let source = release_dir.join(schema);
    let checked_in = workspace_root().join(checked_in_name);

    let out_dir = tempfile::tempdir().unwrap();
    let written = out_dir.path().join(format!("{release}.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_qapi"))
        .arg("extract")
        .arg(&source)
        .arg("-o")
        .arg(&written)
        .output()
        .expect("run the qapi CLI");
    assert!(
        run.status.success(),
        "qapi extract failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = std::fs::read(&written).unwrap();

    // The CLI is a thin layer over the library: same bytes, same origin.
    let parsed = parse_file(&source, ParseOptions::default()).unwrap();
    let from_library = extract::extract(&parsed, &source, &origin(&release_dir, schema));
    assert!(
        from_library.as_bytes() == fresh,
        "the CLI and extract::extract disagree\n{}",
        first_difference(&from_library, &String::from_utf8_lossy(&fresh))
    );

    let current = std::fs::read(&checked_in).unwrap_or_default();
    if current != fresh {
        return Err(format!(
            "{} is not what `qapi extract` writes for {} today\n{}\nRegenerate it from the \
             workspace root with:\n    {}",
            checked_in.display(),
            source.display(),
            first_difference(
                &String::from_utf8_lossy(&current),
                &String::from_utf8_lossy(&fresh)
            ),
            regenerate(release, schema, checked_in_name),
        ));
    }
    println!(
        "{} is up to date ({} bytes)",
        checked_in.display(),
        fresh.len()
    );
    Ok(())
}

/// The entity lines of a dump, per module name; `include` lines, doc blocks and modules
/// without entities are left out. The root module (the first after `./builtin`) is filed
/// under `root_name`, merged with any module of that name.
fn entities_per_module(dump: &str, root_name: &str) -> BTreeMap<String, Vec<String>> {
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    let mut seen_modules = 0;
    for line in dump.lines() {
        // The doc blocks follow every module.
        if line.starts_with("doc ") {
            break;
        }
        if let Some(name) = line.strip_prefix("module ") {
            seen_modules += 1;
            current = if seen_modules == 2 {
                root_name.to_string()
            } else {
                name.to_string()
            };
            continue;
        }
        if line.starts_with("include ") {
            continue;
        }
        modules
            .entry(current.clone())
            .or_default()
            .push(line.to_string());
    }
    modules
}

/// The root module's name in a dump: the second `module` line.
fn root_module(dump: &str) -> String {
    dump.lines()
        .filter_map(|l| l.strip_prefix("module "))
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// Loads `path` as the CLI does (module markers honoured in extracts) and dumps it.
fn load_and_dump(path: &Path) -> (String, usize) {
    let options = ParseOptions {
        module_markers: extract::is_extract(path),
        ..Default::default()
    };
    let schema = qemu_qmp_codegen::load(path, options)
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()));
    (dump(&schema), schema.warnings().len())
}

/// Whether the extract at `extract_path` has the model of `source`; `Err` says how not.
fn same_model(source: &Path, extract_path: &Path) -> Result<String, String> {
    let (source_dump, _) = load_and_dump(source);
    let (extract_dump, extract_warnings) = load_and_dump(extract_path);
    if extract_warnings != 0 {
        return Err(format!("{extract_warnings} warnings reading the extract"));
    }
    if extract_dump.contains("\ndoc ") {
        return Err("the extract has doc blocks".to_string());
    }
    let root = root_module(&source_dump);
    let want = entities_per_module(&source_dump, &root);
    let got = entities_per_module(&extract_dump, &root);
    for (module, lines) in &want {
        match got.get(module) {
            None => {
                return Err(format!(
                    "module {module} is missing from the extract's model"
                ))
            }
            Some(got_lines) if got_lines != lines => {
                return Err(format!(
                    "module {module} differs\n{}",
                    first_difference(&lines.join("\n"), &got_lines.join("\n"))
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = got.keys().find(|m| !want.contains_key(*m)) {
        return Err(format!(
            "the extract's model has a module {extra} the source lacks"
        ));
    }
    let lines: usize = want.values().map(Vec::len).sum();
    Ok(format!("{} modules, {lines} entity lines", want.len()))
}

#[test]
fn checked_in_extracts_have_the_model_of_their_source() {
    let Some(shared) = shared_dir() else { return };
    let mut failed = Vec::new();
    for release in RELEASES {
        for (schema, folder) in CHECKED_IN {
            let source = shared.join("qapi").join(release).join(schema);
            let name = format!("{folder}/{release}.json");
            let checked_in = workspace_root().join(&name);
            match same_model(&source, &checked_in) {
                Ok(summary) => println!("{name}: same model as its source ({summary})"),
                Err(why) => {
                    println!(
                        "{name}: {why}\nRegenerate it with:\n    {}",
                        regenerate(release, schema, &name)
                    );
                    failed.push(name);
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "checked-in extracts with another model: {failed:?}"
    );
}

#[test]
fn every_schema_round_trips_through_an_extract() {
    let Some(shared) = shared_dir() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    let mut failed = Vec::new();
    for release in RELEASES {
        let release_dir = shared.join("qapi").join(release);
        for schema in SCHEMAS {
            let source = release_dir.join(schema);
            let parsed = parse_file(&source, ParseOptions::default())
                .unwrap_or_else(|e| panic!("{release}/{schema}: {e}"));
            let text = extract::extract(&parsed, &source, &origin(&release_dir, schema));
            // One folder per extract, two levels below the temporary folder: the storage
            // daemon's module markers climb two folders (`../../qapi/...`), and a marker
            // that climbs above `/` could not keep its name.
            let folder = out_dir.path().join(release).join(schema.replace('/', "_"));
            std::fs::create_dir_all(&folder).unwrap();
            let extract_path = folder.join("extract.json");
            std::fs::write(&extract_path, &text).unwrap();
            match same_model(&source, &extract_path) {
                Ok(summary) => println!(
                    "{release}/{schema}: extract of {} bytes, same model ({summary})",
                    text.len()
                ),
                Err(why) => {
                    println!("{release}/{schema}: {why}");
                    failed.push(format!("{release}/{schema}"));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "extracts that lose or change definitions: {failed:?}"
    );
}

#[test]
fn module_grouping_ignores_order_includes_and_the_root_name() {
    let source = "module ./builtin\nmodule qapi-schema.json\ninclude a.json\n\
                  include b.json\nmodule a.json\ninclude b.json\nenum A\n    member x\n\
                  module b.json\nobject B\ndoc freeform\n    body=\nenum Z\n";
    let extract = "module ./builtin\nmodule extract.json\nmodule b.json\nobject B\n\
                   module a.json\nenum A\n    member x\n";
    let root = root_module(source);
    assert_eq!(root, "qapi-schema.json");
    let want = entities_per_module(source, &root);
    assert_eq!(want, entities_per_module(extract, &root));
    assert_eq!(want.len(), 2, "{want:?}");
    let changed = extract.replace("member x", "member y");
    assert_ne!(want, entities_per_module(&changed, &root));
}

/// The comparison is not blind: an extract with one member made mandatory, or with one
/// definition moved to another module, does not pass.
#[test]
fn a_changed_extract_is_caught() {
    let Some(shared) = shared_dir() else { return };
    let release_dir = shared.join("qapi/qemu-10.0");
    let source = release_dir.join("qga/qapi-schema.json");
    let parsed = parse_file(&source, ParseOptions::default()).unwrap();
    let text = extract::extract(
        &parsed,
        &source,
        &origin(&release_dir, "qga/qapi-schema.json"),
    );
    let out_dir = tempfile::tempdir().unwrap();
    let folder = out_dir.path().join("a/b");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("extract.json");
    let marker = format!("{}qapi-schema.json", extract::MODULE_MARKER);
    let edits = [
        text.replacen("'*", "'", 1),
        text.replacen(
            &marker,
            &format!("{marker}\n{}elsewhere.json", extract::MODULE_MARKER),
            1,
        ),
    ];
    for edited in edits {
        assert_ne!(edited, text);
        std::fs::write(&path, &edited).unwrap();
        let result = same_model(&source, &path);
        assert!(result.is_err(), "not caught: {result:?}");
    }
}
