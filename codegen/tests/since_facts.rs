//! Since facts (the release that introduced a definition or member) survive the doc-free
//! extract: for every schema QEMU ships (QMP, guest agent, storage daemon) in all three
//! releases, the model of the QEMU tree (facts from doc comments) and the model of its
//! extract (facts from since markers) answer alike.

use qemu_qmp_codegen::extract;
use qemu_qmp_codegen::model::{EntityKind, Schema};
use qemu_qmp_codegen::parse::{parse_file, ParseOptions};
use std::path::{Path, PathBuf};

const RELEASES: [&str; 3] = ["qemu-7.2", "qemu-10.0", "qemu-10.2"];

const SCHEMAS: [&str; 3] = [
    "qapi/qapi-schema.json",
    "qga/qapi-schema.json",
    "storage-daemon/qapi/qapi-schema.json",
];

fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["qapi"])
}

/// Loads `path` as the CLI does: module (and since) markers honoured in an extract.
fn load(path: &Path) -> Schema {
    let options = ParseOptions {
        module_markers: extract::is_extract(path),
        ..Default::default()
    };
    qemu_qmp_codegen::load(path, options)
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()))
}

/// Writes the extract of `source` into its own folder under `dir` (two levels down: the
/// storage daemon's module markers climb two folders) and returns its path.
fn write_extract(source: &Path, dir: &Path, label: &str) -> PathBuf {
    let parsed =
        parse_file(source, ParseOptions::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
    let text = extract::extract(&parsed, source, label);
    assert!(
        !text.lines().any(|l| l.starts_with("##")),
        "{label}: the extract has a line starting with ##"
    );
    let folder = dir.join(label.replace('/', "_")).join("x");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("extract.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every since fact of `schema`, owned.
fn facts(schema: &Schema) -> Vec<(String, Option<String>, String)> {
    schema
        .since_facts()
        .into_iter()
        .map(|f| {
            (
                f.definition.to_string(),
                f.member.map(str::to_string),
                f.version.to_string(),
            )
        })
        .collect()
}

/// Every (definition, member) pair the lookups can be asked about: each definition with
/// the names of its members, enum values, branches, and its inline arguments or data.
fn questions(schema: &Schema) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for entity in schema.entities() {
        if entity.is_implicit() || entity.info.is_none() {
            continue;
        }
        let mut members: Vec<String> = Vec::new();
        let mut object_members = |id| {
            if let Some(object) = schema.entity(id).as_object() {
                members.extend(object.members().iter().map(|m| m.name.to_string()));
                if let Some(branches) = &object.branches {
                    members.extend(branches.variants.iter().map(|v| v.name.to_string()));
                }
            }
        };
        match &entity.kind {
            EntityKind::Command(c) => c.arg_type.into_iter().for_each(&mut object_members),
            EntityKind::Event(e) => e.arg_type.into_iter().for_each(&mut object_members),
            EntityKind::Enum(e) => members.extend(e.members.iter().map(|m| m.name.to_string())),
            EntityKind::Alternate(a) => {
                members.extend(a.variants.iter().map(|v| v.name.to_string()))
            }
            EntityKind::Object(_) => {
                if let Some(id) = schema.lookup_id(&entity.name) {
                    object_members(id);
                }
            }
            EntityKind::Array(_) | EntityKind::Builtin(_) => {}
        }
        out.push((entity.name.to_string(), members));
    }
    out
}

#[test]
fn a_tree_and_its_extract_state_the_same_since_facts() {
    let Some(shared) = shared_dir() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    for release in RELEASES {
        for schema_file in SCHEMAS {
            let label = format!("{release}/{schema_file}");
            let source = shared.join("qapi").join(release).join(schema_file);
            let tree = load(&source);
            let extract = load(&write_extract(&source, out_dir.path(), &label));

            let (want, got) = (facts(&tree), facts(&extract));
            assert!(
                want.iter().filter(|f| f.1.is_none()).count() > 10,
                "{label}: hardly any definition states its release: {want:?}"
            );
            if let Some(i) = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i)) {
                panic!(
                    "{label}: since fact {i} differs: tree {:?}, extract {:?}",
                    want.get(i),
                    got.get(i)
                );
            }

            let mut asked = 0;
            for (definition, members) in questions(&tree) {
                assert_eq!(
                    tree.since(&definition),
                    extract.since(&definition),
                    "{label}: since({definition})"
                );
                for member in members {
                    asked += 1;
                    assert_eq!(
                        tree.member_since(&definition, &member),
                        extract.member_since(&definition, &member),
                        "{label}: member_since({definition}, {member})"
                    );
                }
            }
            let members = want.iter().filter(|f| f.1.is_some()).count();
            println!(
                "{label}: {} since facts ({members} of members), {asked} members asked about",
                want.len()
            );
        }
    }
}

/// Facts looked up by hand in QEMU's doc comments, asked of the tree and of its extract.
#[test]
fn known_since_facts() {
    let Some(shared) = shared_dir() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    type Fact = (&'static str, Option<&'static str>, Option<&'static str>);
    let known: [(&str, &[Fact]); 3] = [
        (
            "qemu-10.0/qapi/qapi-schema.json",
            &[
                ("query-status", None, Some("0.14")),
                // An event's inline data.
                ("SHUTDOWN", Some("reason"), Some("4.0")),
                ("SHUTDOWN", Some("guest"), Some("2.10")),
                // A command's inline arguments.
                ("block-commit", Some("backing-mask-protocol"), Some("9.0")),
                // Enum values.
                ("PCIELinkSpeed", None, Some("4.0")),
                ("PCIELinkSpeed", Some("32"), Some("9.0")),
                ("RunState", Some("colo"), Some("2.8")),
                // `(default: ..., since X.Y)`, and a struct member.
                ("BlockdevOptionsFile", Some("aio-max-batch"), Some("6.2")),
                // A union's base member.
                ("BlockJobInfo", Some("status"), Some("2.12")),
                // Members that came with their definition state nothing.
                ("SHUTDOWN", Some("nonexistent"), None),
                ("no-such-definition", None, None),
            ],
        ),
        (
            "qemu-7.2/qapi/qapi-schema.json",
            &[("query-status", None, Some("0.14"))],
        ),
        (
            "qemu-10.2/qga/qapi-schema.json",
            &[("guest-sync-delimited", None, Some("1.1"))],
        ),
    ];
    for (file, facts) in known {
        let source = shared.join("qapi").join(file);
        let tree = load(&source);
        let extract = load(&write_extract(&source, out_dir.path(), file));
        for (schema, from) in [(&tree, "tree"), (&extract, "extract")] {
            for &(definition, member, want) in facts {
                let got = match member {
                    None => schema.since(definition),
                    Some(member) => schema.member_since(definition, member),
                };
                assert_eq!(got, want, "{file} ({from}): {definition} {member:?}");
            }
        }
    }
}

/// The markers are read only when asked for (module markers on), and a hand-written
/// schema's markers count like an extract's.
#[test]
fn since_markers_need_module_markers() {
    let text = "{ 'enum': 'Abc', 'data': [ 'a', 'b' ] }\n\
                # since: Abc 1.2\n# since: Abc b 3.4\n  # since: Abc a 5.6\n# since: Abc x y 7.8\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, text).unwrap();
    let read = |module_markers| {
        let options = ParseOptions {
            module_markers,
            ..Default::default()
        };
        qemu_qmp_codegen::load(&path, options).unwrap()
    };
    let plain = read(false);
    assert_eq!(plain.since("Abc"), None);
    assert!(plain.since_facts().is_empty());
    let marked = read(true);
    assert_eq!(marked.since("Abc"), Some("1.2"));
    assert_eq!(marked.member_since("Abc", "b"), Some("3.4"));
    // Not at the start of a line: a comment only.
    assert_eq!(marked.member_since("Abc", "a"), None);
    assert_eq!(marked.since_facts().len(), 2);
}
