//! The built-in `QType` is dumped as each release's own front end has it: with
//! `prefix QTYPE` up to QEMU 9.1 (so for 7.2's schemas), without from 9.2 on (10.0, 10.2,
//! and QEMU's parser test cases, which are 10.2's). The release comes from the QEMU tree's
//! `VERSION` file, or from an extract's release marker.

use qemu_qmp_codegen::dump::dump;
use qemu_qmp_codegen::extract;
use qemu_qmp_codegen::facts::Release;
use qemu_qmp_codegen::parse::{parse_file, parse_str, ParseOptions};
use qemu_qmp_codegen::Schema;
use std::path::{Path, PathBuf};

const SCHEMAS: [&str; 3] = [
    "qapi/qapi-schema.json",
    "qga/qapi-schema.json",
    "storage-daemon/qapi/qapi-schema.json",
];

/// Each release, with whether its front end gave QType a prefix.
const RELEASES: [(&str, bool); 3] = [
    ("qemu-7.2", true),
    ("qemu-10.0", false),
    ("qemu-10.2", false),
];

fn load(path: &Path) -> Schema {
    let options = ParseOptions {
        module_markers: extract::is_extract(path),
        ..Default::default()
    };
    qemu_qmp_codegen::load(path, options)
        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()))
}

/// The dump's `enum QType` line and the one after it (`prefix ...` or the first member).
fn qtype_lines(schema: &Schema) -> String {
    let text = dump(schema);
    let mut lines = text.lines().skip_while(|l| *l != "enum QType");
    let first = lines.next().unwrap_or("<no enum QType>");
    format!("{first}\n{}", lines.next().unwrap_or_default())
}

fn expected(prefixed: bool) -> &'static str {
    if prefixed {
        "enum QType\n    prefix QTYPE"
    } else {
        "enum QType\n    member none"
    }
}

#[test]
fn every_schema_and_its_extract_dump_qtype_as_its_release_did() {
    let Some(shared) = qmp_shared_data::shared_dir(&["qapi"]) else {
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    for (release, prefixed) in RELEASES {
        for schema_file in SCHEMAS {
            let label = format!("{release}/{schema_file}");
            let source = shared.join("qapi").join(release).join(schema_file);
            let tree = load(&source);
            assert_eq!(qtype_lines(&tree), expected(prefixed), "{label}");
            let version =
                std::fs::read_to_string(shared.join("qapi").join(release).join("VERSION")).unwrap();
            assert_eq!(tree.release(), Release::parse(&version), "{label}");

            let parsed = parse_file(&source, ParseOptions::default()).unwrap();
            let text = extract::extract(&parsed, &source, &label);
            let folder: PathBuf = out_dir.path().join(label.replace('/', "_")).join("x");
            std::fs::create_dir_all(&folder).unwrap();
            let path = folder.join("extract.json");
            std::fs::write(&path, text).unwrap();
            let from_extract = load(&path);
            assert_eq!(from_extract.release(), tree.release(), "{label} (extract)");
            assert_eq!(
                qtype_lines(&from_extract),
                expected(prefixed),
                "{label} (extract)"
            );
        }
    }
}

#[test]
fn shipped_extracts_dump_qtype_as_their_release_did() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (release, prefixed) in RELEASES {
        let path = root.join(format!("schema/{release}.json"));
        assert_eq!(qtype_lines(&load(&path)), expected(prefixed), "{release}");
    }
}

/// Outside a QEMU tree the release is unknown and the newest behaviour applies; a caller
/// who knows better says so in the parsed schema.
#[test]
fn release_unknown_or_given() {
    let text = "{ 'enum': 'Abc', 'data': [ 'a' ] }\n";
    let path = Path::new("somewhere/qapi/schema.json");
    let parsed = parse_str(path, text, ParseOptions::default()).unwrap();
    assert_eq!(parsed.release, None);
    let schema = Schema::from_parsed(parsed.clone(), path).unwrap();
    assert_eq!(qtype_lines(&schema), expected(false));
    for (release, prefixed) in [((9, 1), true), ((9, 2), false), ((7, 2), true)] {
        let mut parsed = parsed.clone();
        parsed.release = Some(Release::new(release.0, release.1));
        let schema = Schema::from_parsed(parsed, path).unwrap();
        assert_eq!(qtype_lines(&schema), expected(prefixed), "{release:?}");
    }
}

/// The release marker is read only with module markers on, and a broken one is ignored.
#[test]
fn release_marker() {
    let text = "# qemu-release: 8.0.1\n{ 'enum': 'Abc', 'data': [ 'a' ] }\n";
    let path = Path::new("x.json");
    let read = |text: &str, module_markers| {
        let options = ParseOptions {
            module_markers,
            ..Default::default()
        };
        parse_str(path, text, options).unwrap().release
    };
    assert_eq!(read(text, false), None);
    assert_eq!(
        read(text, true),
        Some(Release {
            major: 8,
            minor: 0,
            micro: 1
        })
    );
    assert_eq!(read(&text.replace("8.0.1", "eight"), true), None);
}

/// A `VERSION` file counts where a QEMU tree has it, beside `qapi/`, `qga/` and
/// `storage-daemon/`, and nowhere else.
#[test]
fn version_file_of_a_qemu_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("VERSION"), "8.1.0\n").unwrap();
    let text = "{ 'enum': 'Abc', 'data': [ 'a' ] }\n";
    let cases = [
        ("qapi/qapi-schema.json", Some(Release::new(8, 1))),
        ("qga/qapi-schema.json", Some(Release::new(8, 1))),
        (
            "storage-daemon/qapi/qapi-schema.json",
            Some(Release::new(8, 1)),
        ),
        ("elsewhere/qapi/qapi-schema.json", None),
        ("elsewhere/qapi-schema.json", None),
        ("qapi-schema.json", None),
    ];
    for (file, want) in cases {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let parsed = parse_file(&path, ParseOptions::default()).unwrap();
        assert_eq!(parsed.release, want, "{file}");
    }
    // A development tree's release (9.1.50 comes before 9.2) as the model sees it.
    let nested = dir.path().join("tree");
    std::fs::create_dir_all(nested.join("storage-daemon/qapi")).unwrap();
    std::fs::write(nested.join("VERSION"), "9.1.50\n").unwrap();
    let path = nested.join("storage-daemon/qapi/qapi-schema.json");
    std::fs::write(&path, text).unwrap();
    let schema = load(&path);
    assert_eq!(schema.release(), Release::parse("9.1.50"));
    assert_eq!(qtype_lines(&schema), expected(true));
    // Not a release: ignored.
    std::fs::write(nested.join("VERSION"), "tomorrow\n").unwrap();
    assert_eq!(load(&path).release(), None);
}
