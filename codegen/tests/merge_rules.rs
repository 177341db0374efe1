//! The release merge rules of `qemu_qmp_codegen::merge`, one test per rule, on small
//! schemas of our own; then the merge of the three shipped releases.

use qemu_qmp_codegen::merge::{merge, Merged, ReleaseSchema, ReleaseSet};
use qemu_qmp_codegen::model::{Builtin, EntityKind, Schema};
use qemu_qmp_codegen::parse::ParseOptions;
use std::path::{Path, PathBuf};

/// A schema from QAPI text.
fn schema(text: &str) -> Schema {
    let bytes = text.as_bytes().to_vec();
    qemu_qmp_codegen::load_with(
        Path::new("test/schema.json"),
        ParseOptions::default(),
        move |_| Ok(bytes.clone()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Releases `1.0`, `2.0`, ... of the texts, merged.
fn merged(texts: &[&str]) -> Merged {
    let releases: Vec<ReleaseSchema> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| ReleaseSchema::new(format!("{}.0", i + 1), schema(t)))
        .collect();
    match merge(&releases) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    }
}

/// `(optional, type name)` of member `member` of the object type (or a command's inline
/// arguments) called `owner`.
fn member(m: &Merged, owner: &str, member: &str) -> (bool, String) {
    let s = &m.schema;
    let entity = s.lookup(owner).unwrap_or_else(|| panic!("no {owner}"));
    let object = match &entity.kind {
        EntityKind::Object(o) => o,
        EntityKind::Command(c) => s
            .entity(c.arg_type.expect("arguments"))
            .as_object()
            .unwrap(),
        EntityKind::Event(e) => s.entity(e.arg_type.expect("data")).as_object().unwrap(),
        _ => panic!("{owner} has no members"),
    };
    let m = object
        .member(member)
        .unwrap_or_else(|| panic!("{owner} has no {member}"));
    let ty = s.entity(m.ty);
    let name = match &ty.kind {
        EntityKind::Array(a) => format!("[{}]", s.name(a.element)),
        _ => ty.name.to_string(),
    };
    (m.optional, name)
}

fn set(releases: &[usize]) -> ReleaseSet {
    releases.iter().copied().collect()
}

#[test]
fn rule_1_required_only_where_every_release_requires_it() {
    let m = merged(&[
        "{ 'struct': 'Info', 'data': { 'kept': 'int', 'dropped': 'str', 'loosened': 'str' } }
         { 'command': 'query-info', 'data': { 'x': 'int' }, 'returns': 'Info' }
         { 'event': 'CHANGED', 'data': { 'id': 'str' } }",
        "{ 'struct': 'Info', 'data': { 'kept': 'int', '*loosened': 'str', 'added': 'bool' } }
         { 'command': 'query-info', 'data': { 'x': 'int', 'y': 'int' }, 'returns': 'Info' }
         { 'event': 'CHANGED', 'data': { 'id': 'str', 'why': 'str' } }",
    ]);
    // Returns.
    assert_eq!(member(&m, "Info", "kept"), (false, "int".into()));
    assert_eq!(member(&m, "Info", "dropped"), (true, "str".into()));
    assert_eq!(member(&m, "Info", "loosened"), (true, "str".into()));
    assert_eq!(member(&m, "Info", "added"), (true, "bool".into()));
    // Arguments: 1.0 does not accept `y`, so it cannot be required.
    assert_eq!(member(&m, "query-info", "x"), (false, "int".into()));
    assert_eq!(member(&m, "query-info", "y"), (true, "int".into()));
    // Event data.
    assert_eq!(member(&m, "CHANGED", "id"), (false, "str".into()));
    assert_eq!(member(&m, "CHANGED", "why"), (true, "str".into()));

    let facts = m.facts.item("Info").unwrap();
    assert_eq!(facts.present, set(&[0, 1]));
    let added = facts.member("added").unwrap();
    assert_eq!(added.present, set(&[1]));
    let loosened = facts.member("loosened").unwrap();
    assert_eq!(loosened.optional, set(&[1]));
    assert_eq!(m.facts.describe(added.present), "QEMU 2.0; not in 1.0");
}

#[test]
fn rule_2_a_member_whose_type_changed_decodes_every_form() {
    let m = merged(&[
        "{ 'struct': 'Old', 'data': { 'name': 'str', 'size': 'int' } }
         { 'struct': 'Info', 'data': { 'mode': 'str', 'level': 'Level', 'addr': 'int',
           'small': 'uint8', 'ratio': 'int', 'where': 'str', 'parts': [ 'Old' ] } }
         { 'enum': 'Level', 'data': [ 'low', 'high' ] }
         { 'command': 'query-info', 'returns': 'Info' }",
        "{ 'struct': 'Old', 'data': { 'name': 'str', 'size': 'int' } }
         { 'struct': 'Part', 'data': { 'name': 'str', 'offset': 'int' } }
         { 'enum': 'Mode', 'data': [ 'fast', 'slow' ] }
         { 'enum': 'Level2', 'data': [ 'low', 'mid' ] }
         { 'struct': 'Where', 'data': { 'path': 'str' } }
         { 'struct': 'Info', 'data': { 'mode': 'Mode', 'level': 'Level2', 'addr': 'uint64',
           'small': 'uint16', 'ratio': 'number', 'where': 'Where', 'parts': [ 'Part' ] } }
         { 'command': 'query-info', 'returns': 'Info' }",
    ]);
    let s = &m.schema;
    // A string became an enum: the enum (unknown strings land in `Other`).
    assert_eq!(member(&m, "Info", "mode"), (true, "Mode".into()));
    // An enum replaced by another that exists alongside: the newer, with the older values.
    assert_eq!(member(&m, "Info", "level").1, "Level2");
    let values: Vec<&str> = s
        .lookup("Level2")
        .and_then(|e| e.as_enum())
        .unwrap()
        .members
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(values, ["low", "mid", "high"]);
    // Integers: the type holding both ranges; `int` and `uint64` need 128 bits.
    assert_eq!(member(&m, "Info", "small").1, "uint16");
    let info = m.facts.item("Info").unwrap();
    assert!(info.member("addr").unwrap().wide_int);
    assert!(!info.member("small").unwrap().wide_int);
    // An integer and a number: the number.
    assert_eq!(member(&m, "Info", "ratio").1, "number");
    // A string and a struct: an alternate of both, told apart by JSON type.
    let (optional, alternate) = member(&m, "Info", "where");
    assert!(optional);
    let alternate = s.lookup(&alternate).and_then(|e| e.as_alternate()).unwrap();
    let kinds: Vec<&str> = alternate.variants.iter().map(|v| s.name(v.ty)).collect();
    assert_eq!(kinds, ["Where", "str"]);
    // Two object types: the newer absorbs the older's members (optional unless both
    // require them).
    assert_eq!(member(&m, "Info", "parts").1, "[Part]");
    assert_eq!(member(&m, "Part", "name"), (false, "str".into()));
    assert_eq!(member(&m, "Part", "offset"), (true, "int".into()));
    assert_eq!(member(&m, "Part", "size"), (true, "int".into()));
    let part = m.facts.item("Part").unwrap();
    assert_eq!(part.absorbed, [("Old".to_string(), set(&[0]))]);
    // The rule used is recorded for rustdoc.
    let where_facts = info.member("where").unwrap();
    assert_eq!(where_facts.types.len(), 2);
    assert!(where_facts.rule.unwrap().contains("alternate"));
}

#[test]
fn rule_2_a_renamed_type_is_one_type_with_an_alias() {
    let m = merged(&[
        "{ 'enum': 'HashAlgorithm', 'data': [ 'md5', 'sha1' ] }
         { 'struct': 'Opts', 'data': { 'hash': 'HashAlgorithm' } }
         { 'command': 'set-opts', 'data': 'Opts' }",
        "{ 'enum': 'HashAlgo', 'data': [ 'sha1', 'sha256' ] }
         { 'struct': 'Opts', 'data': { 'hash': 'HashAlgo' } }
         { 'command': 'set-opts', 'data': 'Opts' }",
    ]);
    assert!(m.schema.lookup("HashAlgorithm").is_none());
    // A rename is the same type: still required.
    assert_eq!(member(&m, "Opts", "hash"), (false, "HashAlgo".into()));
    let values: Vec<&str> = m
        .schema
        .lookup("HashAlgo")
        .unwrap()
        .as_enum()
        .unwrap()
        .members
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(values, ["sha1", "sha256", "md5"]);
    assert_eq!(
        m.facts.aliases,
        [(
            "HashAlgorithm".to_string(),
            "HashAlgo".to_string(),
            set(&[0])
        )]
    );
}

#[test]
fn rule_2_a_struct_that_became_a_union() {
    let m = merged(&[
        "{ 'struct': 'Job', 'data': { 'type': 'str', 'id': 'str', 'synced': 'bool' } }
         { 'command': 'query-jobs', 'returns': [ 'Job' ] }",
        "{ 'enum': 'JobType', 'data': [ 'mirror', 'backup' ] }
         { 'struct': 'JobMirror', 'data': { 'synced': 'bool' } }
         { 'union': 'Job', 'base': { 'type': 'JobType', 'id': 'str' },
           'discriminator': 'type', 'data': { 'mirror': 'JobMirror' } }
         { 'command': 'query-jobs', 'returns': [ 'Job' ] }",
    ]);
    let job = m.schema.lookup("Job").unwrap().as_object().unwrap();
    let branches = job.branches.as_ref().expect("a union");
    assert_eq!(branches.tag, "type");
    assert_eq!(member(&m, "Job", "type"), (false, "JobType".into()));
    assert_eq!(member(&m, "Job", "id"), (false, "str".into()));
    // The branch's member moved out of the base; 1.0's jobs had no branch members.
    assert!(job.member("synced").is_none());
    assert_eq!(member(&m, "JobMirror", "synced"), (true, "bool".into()));
    assert!(!m.facts.item("Job").unwrap().tag_optional);
}

#[test]
fn rule_3_the_union_over_releases() {
    let m = merged(&[
        "{ 'enum': 'Kind', 'data': [ 'a', 'gone' ] }
         { 'struct': 'Alpha', 'data': { 'x': 'int' } }
         { 'union': 'Choice', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',
           'data': { 'a': 'Alpha' } }
         { 'command': 'old-only', 'data': { 'choice': 'Choice' } }
         { 'event': 'OLD_EVENT' }",
        "{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }
         { 'struct': 'Alpha', 'data': { 'x': 'int' } }
         { 'struct': 'Beta', 'data': { 'y': 'int' } }
         { 'union': 'Choice', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',
           'data': { 'a': 'Alpha', 'b': 'Beta' } }
         { 'command': 'new-only', 'data': { 'choice': 'Choice' } }
         { 'event': 'NEW_EVENT' }",
    ]);
    let s = &m.schema;
    let kinds: Vec<&str> = s
        .lookup("Kind")
        .unwrap()
        .as_enum()
        .unwrap()
        .members
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(kinds, ["a", "b", "gone"]);
    let u = s.lookup("Choice").unwrap().as_object().unwrap();
    let branches = u.branches.as_ref().unwrap();
    assert_eq!(s.name(branches.variant("b").unwrap().ty), "Beta");
    for name in ["old-only", "new-only", "OLD_EVENT", "NEW_EVENT"] {
        assert!(s.lookup(name).is_some(), "{name}");
    }
    assert_eq!(m.facts.item("old-only").unwrap().present, set(&[0]));
    assert_eq!(m.facts.item("NEW_EVENT").unwrap().present, set(&[1]));
    let kind = m.facts.item("Kind").unwrap();
    assert_eq!(kind.member("gone").unwrap().present, set(&[0]));
    assert_eq!(
        m.facts
            .item("Choice")
            .unwrap()
            .member("+b")
            .unwrap()
            .present,
        set(&[1])
    );
}

#[test]
fn rule_4_the_newest_form_speaks_and_oob_is_any_releases() {
    let m = merged(&[
        "{ 'command': 'c', 'allow-oob': true, 'features': [ 'unstable' ] }
         { 'struct': 'Settings', 'data': { 'm': { 'type': 'int', 'features': [ 'deprecated' ] } },
           'if': 'CONFIG_OLD' }",
        "{ 'command': 'c' }
         { 'struct': 'Settings', 'data': { 'm': 'int' } }",
    ]);
    let s = &m.schema;
    let c = s.lookup("c").unwrap();
    assert!(!c.is_unstable(), "2.0's features speak");
    assert!(c.as_command().unwrap().allow_oob, "1.0 allows oob");
    let facts = m.facts.item("c").unwrap();
    assert_eq!(facts.allow_oob, set(&[0]));
    assert_eq!(facts.unstable, set(&[0]));
    let st = s.lookup("Settings").unwrap();
    assert!(st.cond.is_none());
    let sf = m.facts.item("Settings").unwrap();
    assert_eq!(sf.conds.len(), 2);
    assert_eq!(sf.member("m").unwrap().deprecated, set(&[0]));
}

/// The shipped extracts, oldest first, as build.rs reads them.
fn shipped() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let list = std::fs::read_to_string(folder.join("releases")).unwrap();
    qemu_qmp_codegen::releases::parse_list(&list)
        .into_iter()
        .map(|f| folder.join(f))
        .collect()
}

#[test]
fn the_shipped_releases_merge_and_every_definition_is_kept() {
    let files = shipped();
    assert!(files.len() >= 3, "{files:?}");
    let m = qemu_qmp_codegen::merge::load_releases(&files).unwrap();
    let labels: Vec<&str> = m.facts.releases.iter().map(String::as_str).collect();
    assert_eq!(labels, ["7.2", "10.0", "10.2"]);
    for (i, file) in files.iter().enumerate() {
        let release = qemu_qmp_codegen::load_release_file(file).unwrap();
        for (_, entity) in release.iter() {
            if entity.is_implicit() {
                continue;
            }
            let name = entity.name.as_str();
            let merged_name = m
                .facts
                .aliases
                .iter()
                .find(|(old, _, _)| old == name)
                .map_or(name, |(_, new, _)| new.as_str());
            let facts = m
                .facts
                .item(merged_name)
                .unwrap_or_else(|| panic!("{name} of {} is lost", labels[i]));
            assert!(
                facts.present.contains(i) || facts.former_names.iter().any(|(n, _)| n == name),
                "{name}: {:?}",
                facts.present
            );
        }
    }
    // The member of the issue: `acpi` of query-machines is absent from 7.2's replies.
    let acpi = m.facts.item("MachineInfo").unwrap().member("acpi").unwrap();
    assert_eq!(
        m.facts.describe(acpi.present),
        "QEMU 10.0, 10.2; not in 7.2"
    );
    let machine = m.schema.lookup("MachineInfo").unwrap().as_object().unwrap();
    assert!(machine.member("acpi").unwrap().optional);
    // `Since:` facts come through the doc-free extracts.
    assert_eq!(
        m.facts.item("query-status").unwrap().since.as_deref(),
        Some("0.14")
    );
    let shutdown = m.facts.item("SHUTDOWN").unwrap();
    assert_eq!(
        shutdown.member("reason").unwrap().since.as_deref(),
        Some("4.0")
    );
    // One release merged alone is itself.
    let alone = qemu_qmp_codegen::merge::load_releases(&files[1..2]).unwrap();
    let original = qemu_qmp_codegen::load_release_file(&files[1]).unwrap();
    assert_eq!(alone.schema.counts(), original.counts());
    for (_, entity) in original.iter() {
        let Some(object) = entity.as_object() else {
            continue;
        };
        if entity.is_implicit() {
            continue;
        }
        let merged = alone
            .schema
            .lookup(&entity.name)
            .unwrap()
            .as_object()
            .unwrap();
        let names = |o: &qemu_qmp_codegen::model::ObjectType| -> Vec<(String, bool)> {
            o.members()
                .iter()
                .map(|m| (m.name.to_string(), m.optional))
                .collect()
        };
        assert_eq!(names(merged), names(object), "{}", entity.name);
    }
    let _ = Builtin::Str;
}

/// The crate's cargo features name exactly the QAPI modules of the default bindings: a
/// release that brings a module (or drops one) fails here until Cargo.toml's `full` says so.
#[test]
fn the_module_features_are_the_merged_modules() {
    let files = shipped();
    let m = qemu_qmp_codegen::merge::load_releases(&files).unwrap();
    let mut modules: Vec<String> = m
        .schema
        .modules()
        .iter()
        .filter(|module| !module.is_builtin() && !module.items.is_empty())
        .map(|module| qemu_qmp_codegen::rust::module_feature(&module.name))
        .filter(|feature| feature != "qapi-schema")
        .collect();
    modules.sort();
    modules.dedup();
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .unwrap();
    let mut features = qemu_qmp_codegen::releases::module_features(&manifest);
    features.sort();
    assert_eq!(
        features, modules,
        "Cargo.toml's `full` feature list and the modules of schema/releases differ"
    );
}
