//! Schemas read through `load_with` (files from memory instead of the file system).

use qemu_qmp_codegen::parse::ParseOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A reader over `files`, which notes the paths it is asked for in `asked`.
fn reader(
    files: HashMap<PathBuf, String>,
    asked: Arc<Mutex<Vec<PathBuf>>>,
) -> impl FnMut(&Path) -> std::io::Result<Vec<u8>> + 'static {
    move |path| {
        if let Ok(mut asked) = asked.lock() {
            asked.push(path.to_path_buf());
        }
        files
            .get(path)
            .map(|text| text.clone().into_bytes())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not in memory"))
    }
}

#[test]
fn includes_are_asked_for_once_by_their_joined_paths() {
    let files = HashMap::from([
        (
            PathBuf::from("/mem/main.json"),
            "{ 'include': 'sub/a.json' }\n{ 'include': 'b.json' }\n\
             { 'struct': 'Main', 'data': { 'a': 'Alpha', 'b': 'Beta' } }\n"
                .to_string(),
        ),
        (
            PathBuf::from("/mem/sub/a.json"),
            "{ 'include': '../b.json' }\n{ 'struct': 'Alpha', 'data': { 'b': 'Beta' } }\n"
                .to_string(),
        ),
        // Asked for by the path that first names it, joined as written.
        (
            PathBuf::from("/mem/sub/../b.json"),
            "{ 'struct': 'Beta', 'data': { 'x': 'int' } }\n".to_string(),
        ),
    ]);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let schema = qemu_qmp_codegen::load_with(
        Path::new("/mem/main.json"),
        ParseOptions::default(),
        reader(files, asked.clone()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for name in ["Main", "Alpha", "Beta"] {
        assert!(schema.lookup(name).is_some(), "{name} missing");
    }
    // `b.json` is named twice (first as `sub/../b.json`) and read once.
    let asked = asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(
        asked,
        [
            PathBuf::from("/mem/main.json"),
            PathBuf::from("/mem/sub/a.json"),
            PathBuf::from("/mem/sub/../b.json"),
        ]
    );
}

#[test]
fn a_file_the_reader_lacks_is_an_error_at_the_include() {
    let files = HashMap::from([(
        PathBuf::from("/mem/main.json"),
        "{ 'struct': 'Main', 'data': {} }\n{ 'include': 'gone.json' }\n".to_string(),
    )]);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let e = qemu_qmp_codegen::load_with(
        Path::new("/mem/main.json"),
        ParseOptions::default(),
        reader(files, asked),
    )
    .expect_err("missing include");
    let text = e.to_string();
    assert!(text.contains("/mem/main.json:2"), "{text}");
    assert!(text.contains("can't read include file"), "{text}");
    assert!(text.contains("not in memory"), "{text}");
}

/// QEMU's own schema, its files handed over from memory, gives the model reading them
/// from disk gives.
#[test]
fn qemu_schema_from_memory_is_the_schema_from_disk() {
    let Some(shared) = qmp_shared_data::shared_dir(&["qapi/qemu-10.0/qapi/qapi-schema.json"])
    else {
        return;
    };
    let root = shared.join("qapi/qemu-10.0/qapi/qapi-schema.json");
    let from_disk =
        qemu_qmp_codegen::load(&root, ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(&dir).expect("schema folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("schema file");
            files.insert(path, text);
        }
    }
    let asked = Arc::new(Mutex::new(Vec::new()));
    let from_memory =
        qemu_qmp_codegen::load_with(&root, ParseOptions::default(), reader(files, asked.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        qemu_qmp_codegen::dump::dump(&from_memory),
        qemu_qmp_codegen::dump::dump(&from_disk)
    );
    let asked = asked.lock().map(|a| a.len()).unwrap_or_default();
    assert!(asked > 40, "only {asked} files read");
}
