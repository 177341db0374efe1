//! Malformed schemas get an error with a position, never a panic or a hang.

use proptest::prelude::*;
use qemu_qmp_codegen::parse::{parse_file, parse_str, ParseOptions};
use qemu_qmp_codegen::SchemaError;
use std::path::Path;

/// A small schema that exercises most of the grammar, for mutation.
const SAMPLE: &str = "\
# A comment
##
# @Colour:
#
# A colour.
#
# @red: the red one
##
{ 'enum': 'Colour', 'data': [ 'red', { 'name': 'green', 'if': 'HAVE_GREEN' } ] }
{ 'struct': 'Pixel', 'data': { 'x': 'int', '*colour': 'Colour' },
  'features': [ 'deprecated' ] }
{ 'command': 'paint', 'data': { 'at': 'Pixel' }, 'returns': [ 'Pixel' ],
  'allow-oob': true }
{ 'pragma': { 'doc-required': false } }
";

fn parse_text(text: &[u8]) -> Result<(), SchemaError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("schema.json");
    std::fs::write(&path, text).expect("write schema");
    parse_file(
        &path,
        ParseOptions {
            strict: true,
            ..Default::default()
        },
    )
    .map(|_| ())
}

/// The error names the file and a line inside it (or, for include problems, the directive).
fn assert_positioned(err: &SchemaError, lines: usize) {
    let info = err
        .info
        .as_ref()
        .unwrap_or_else(|| panic!("no position: {err}"));
    assert!(
        info.line >= 1 && info.line as usize <= lines + 1,
        "line {} out of range in: {err}",
        info.line
    );
    assert!(err.to_string().contains(": "), "no message: {err}");
}

#[test]
fn sample_parses() {
    let schema = parse_str(Path::new("sample.json"), SAMPLE, ParseOptions::default())
        .expect("the sample is valid");
    assert_eq!(schema.items.len(), 3);
}

#[test]
fn truncated_schema_is_an_error_at_every_cut() {
    for cut in 0..SAMPLE.len() {
        if !SAMPLE.is_char_boundary(cut) {
            continue;
        }
        let text = &SAMPLE[..cut];
        // Some cuts end between complete expressions: those are valid schemas.
        if let Err(err) = parse_text(text.as_bytes()) {
            assert_positioned(&err, text.lines().count());
        }
    }
}

#[test]
fn bad_quoting_is_reported_where_it_stands() {
    let cases: &[(&str, u32, &str)] = &[
        ("{ 'enum': \"Colour\" }\n", 1, "stray"),
        ("{ 'enum': 'Colour, 'data': [] }\n", 1, "stray 'data'"),
        ("\n{ 'enum': 'Col\nour' }\n", 2, "terminating"),
        ("{ 'enum': 'Col\\our' }\n", 1, "escape"),
        ("{ 'enum': 'Colour\u{e9}' }\n", 1, "character"),
    ];
    for (text, line, word) in cases {
        let err = parse_text(text.as_bytes()).expect_err(text);
        assert_eq!(err.info.as_ref().map(|i| i.line), Some(*line), "{err}");
        assert!(err.message.contains(word), "{word:?} not in {err}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let text = format!("{{ 'x': {}{} }}\n", "[".repeat(depth), "]".repeat(depth));
    let err = parse_text(text.as_bytes()).expect_err("too deep");
    assert!(err.message.contains("nesting"), "{err}");
}

#[test]
fn a_ten_megabyte_string_is_handled() {
    let big = "a".repeat(10 << 20);
    let text = format!("{{ 'enum': '{big}', 'data': [] }}\n");
    let schema = parse_text(text.as_bytes());
    assert!(schema.is_ok(), "a long name is syntactically fine");
    let unterminated = format!("{{ 'enum': '{big}\n");
    let err = parse_text(unterminated.as_bytes()).expect_err("unterminated");
    assert_eq!(err.info.as_ref().map(|i| (i.line, i.col)), Some((1, 11)));
}

#[test]
fn invalid_utf8_is_reported_with_its_position() {
    let mut text = b"{ 'enum': 'A', 'data': [] }\n# comment \xff\xfe\n".to_vec();
    text.extend_from_slice(b"{ 'enum': 'B', 'data': [] }\n");
    let err = parse_text(&text).expect_err("invalid UTF-8");
    let info = err.info.expect("position");
    assert_eq!((info.line, info.col), (2, 11));
}

#[test]
fn include_cycles_and_missing_includes_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("a.json", "{ 'include': 'b.json' }\n");
    write("b.json", "\n{ 'include': 'a.json' }\n");
    let err = parse_file(&dir.path().join("a.json"), ParseOptions::default()).expect_err("loop");
    let text = err.to_string();
    assert!(text.contains("In file included from"), "{text}");
    assert!(text.contains("b.json:2"), "{text}");
    assert!(err.message.contains("loop"), "{text}");

    write(
        "c.json",
        "{ 'enum': 'E', 'data': [] }\n{ 'include': 'nowhere.json' }\n",
    );
    let err = parse_file(&dir.path().join("c.json"), ParseOptions::default()).expect_err("missing");
    assert_eq!(err.info.as_ref().map(|i| i.line), Some(2), "{err}");
    assert!(err.message.contains("nowhere.json"), "{err}");

    // The same file included twice is read once, not reported as a loop.
    write(
        "d.json",
        "{ 'include': 'e.json' }\n{ 'include': 'e.json' }\n",
    );
    write("e.json", "{ 'enum': 'E', 'data': [] }\n");
    let schema = parse_file(&dir.path().join("d.json"), ParseOptions::default()).expect("diamond");
    assert_eq!(
        schema.items.len(),
        3,
        "two include directives and one definition"
    );
}

#[test]
fn a_missing_root_file_is_an_error() {
    let err = parse_file(
        Path::new("/nonexistent/qapi-schema.json"),
        ParseOptions::default(),
    )
    .expect_err("missing");
    assert!(
        err.to_string().contains("/nonexistent/qapi-schema.json"),
        "{err}"
    );
}

/// Byte-level mutations of the sample: each edit either still parses or gives an error with
/// a position; none panics.
fn mutate(text: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for &(at, op, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        match op % 3 {
            0 => bytes[at] = byte,
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, byte),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_schemas_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
    ) {
        let text = mutate(SAMPLE.as_bytes(), &edits);
        let lines = text.split(|&b| b == b'\n').count();
        if let Err(err) = parse_text(&text) {
            assert_positioned(&err, lines);
        }
    }

    #[test]
    fn mutations_from_the_grammar_alphabet_never_panic(
        edits in proptest::collection::vec(
            (any::<usize>(), any::<u8>(), prop::sample::select(b"{}[],:'#\\\n tf@".to_vec())),
            1..12,
        )
    ) {
        let text = mutate(SAMPLE.as_bytes(), &edits);
        let lines = text.split(|&b| b == b'\n').count();
        if let Err(err) = parse_text(&text) {
            assert_positioned(&err, lines);
        }
    }
}
