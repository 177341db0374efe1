//! Malformed schemas get an error with a position, never a panic or a hang.

use proptest::prelude::*;
use qemu_qmp_codegen::parse::{parse_file, parse_str, ParseOptions};
use qemu_qmp_codegen::{load, SchemaError};
use std::path::Path;

/// A small schema that exercises most of the grammar and every kind of definition, for
/// mutation; it passes the whole front end, so mutants reach the checks and the model too.
const SAMPLE: &str = "\
# A comment
##
# @Colour:
#
# A colour.
#
# @red: the red one
#
# @green: the green one
##
{ 'enum': 'Colour', 'data': [ 'red', { 'name': 'green', 'if': 'HAVE_GREEN' } ] }
{ 'struct': 'Point', 'data': { 'x': 'int', 'y': 'int' } }
{ 'struct': 'Pixel', 'base': 'Point',
  'data': { '*colour': 'Colour', 'tags': [ 'str' ],
            'old': { 'type': 'int', 'features': [ 'deprecated' ] } } }
{ 'union': 'Shape', 'base': { 'kind': 'Colour' }, 'discriminator': 'kind',
  'data': { 'red': 'Pixel' } }
{ 'alternate': 'PixelOrName', 'data': { 'pixel': 'Pixel', 'name': 'str' } }
{ 'command': 'paint', 'data': { 'at': 'PixelOrName' }, 'returns': [ 'Pixel' ],
  'allow-oob': true, 'features': [ 'deprecated' ] }
{ 'event': 'PAINTED', 'data': 'Shape', 'boxed': true, 'if': 'HAVE_EVENTS' }
{ 'pragma': { 'doc-required': false } }
";

thread_local! {
    /// One private folder per test thread: thousands of cases would otherwise each make
    /// and remove a folder.
    static SCRATCH: tempfile::TempDir = tempfile::tempdir().expect("temp dir");
}

/// Runs the whole front end (parse, check, model) on `text`, strictly.
fn parse_text(text: &[u8]) -> Result<(), SchemaError> {
    let path = SCRATCH.with(|dir| dir.path().join("schema.json"));
    std::fs::write(&path, text).expect("write schema");
    load(&path, strict()).map(|_| ())
}

fn strict() -> ParseOptions {
    ParseOptions {
        strict: true,
        ..Default::default()
    }
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
fn sample_passes_the_whole_front_end() {
    let schema = parse_str(Path::new("sample.json"), SAMPLE, ParseOptions::default())
        .expect("the sample parses");
    assert_eq!(schema.items.len(), 7);
    parse_text(SAMPLE.as_bytes()).expect("the sample checks and resolves");
}

/// Schemas the parser accepts but the checks or the model reject: each error names the
/// definition's line, as QEMU's do, and says what is wrong.
#[test]
fn errors_after_parsing_have_positions() {
    let cases: &[(&str, &str, u32, &str)] = &[
        (
            "unknown member type",
            "{ 'enum': 'Letter', 'data': [ 'a' ] }\n\n{ 'struct': 'Holder',\n  \
             'data': { 'x': 'Nowhere' } }\n",
            3,
            "unknown type 'Nowhere'",
        ),
        (
            "unknown return type",
            "\n{ 'command': 'draw', 'returns': 'Gone' }\n",
            2,
            "unknown type 'Gone'",
        ),
        (
            "unknown alternative",
            "{ 'struct': 'Other', 'data': {} }\n{ 'alternate': 'Alt',\n  \
             'data': { 'a': 'Other', 'b': 'Missing' } }\n",
            2,
            "unknown type 'Missing'",
        ),
        (
            "discriminator not an enum",
            "{ 'struct': 'ShapeBase', 'data': { 'kind': 'str' } }\n\
             { 'struct': 'Branch', 'data': {} }\n\
             { 'union': 'Shape', 'base': 'ShapeBase', 'discriminator': 'kind',\n  \
             'data': { 'a': 'Branch' } }\n",
            3,
            "must be of enum type",
        ),
        (
            "branch not a discriminator value",
            "{ 'enum': 'Letter', 'data': [ 'a', 'b' ] }\n\
             { 'struct': 'ShapeBase', 'data': { 'kind': 'Letter' } }\n\
             { 'union': 'Shape', 'base': 'ShapeBase', 'discriminator': 'kind',\n  \
             'data': { 'c': 'ShapeBase' } }\n",
            3,
            "not a value",
        ),
        (
            "base A base B base A",
            "{ 'struct': 'Other', 'data': {} }\n\
             { 'struct': 'Alpha', 'base': 'Beta', 'data': {} }\n\
             { 'struct': 'Beta', 'base': 'Alpha', 'data': {} }\n",
            2,
            "contains itself",
        ),
        (
            "base of itself",
            "{ 'struct': 'Alpha', 'base': 'Alpha', 'data': {} }\n",
            1,
            "contains itself",
        ),
        (
            "member clashes with the base's",
            "{ 'struct': 'Base', 'data': { 'x': 'int' } }\n\
             { 'struct': 'Sub', 'base': 'Base',\n  'data': { 'x': 'str' } }\n",
            2,
            "collides",
        ),
    ];
    for (name, text, line, words) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("schema.json");
        std::fs::write(&path, text).expect("write schema");
        parse_file(&path, strict()).unwrap_or_else(|e| panic!("{name}: parser rejects: {e}"));
        let err = load(&path, strict()).expect_err(name);
        let info = err
            .info
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no position: {err}"));
        assert_eq!(info.file.as_path(), path, "{name}: {err}");
        assert_eq!(info.line, *line, "{name}: {err}");
        assert!(
            err.message.contains(words),
            "{name}: {words:?} not in {err}"
        );
    }
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
    // A valid (CamelCase) name, only very long: the whole front end takes it.
    let big = format!("A{}", "a".repeat(10 << 20));
    let text = format!("{{ 'enum': '{big}', 'data': [] }}\n");
    let schema = parse_text(text.as_bytes());
    assert!(schema.is_ok(), "a long name is fine: {schema:?}");
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

/// The byte ranges of the sample's quoted strings (quotes included), outside comments.
fn string_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with('#') {
            let mut open = None;
            for (i, b) in line.bytes().enumerate() {
                if b == b'\'' {
                    match open.take() {
                        None => open = Some(i),
                        Some(start) => spans.push((offset + start, offset + i + 1)),
                    }
                }
            }
        }
        offset += line.len();
    }
    spans
}

/// Strings a mutant may put where a string stood: the sample's own names and keys, and
/// words that mean something to the checks, so mutants stay parseable but get their
/// definitions' meaning wrong (unknown or wrong-kind types, bad keys, clashes, cycles).
const WORDS: &[&str] = &[
    "'int'",
    "'str'",
    "'any'",
    "'null'",
    "'number'",
    "'bool'",
    "'size'",
    "'base'",
    "'data'",
    "'if'",
    "'features'",
    "'type'",
    "'name'",
    "'boxed'",
    "'union'",
    "'struct'",
    "'enum'",
    "'alternate'",
    "'command'",
    "'event'",
    "'discriminator'",
    "'returns'",
    "'prefix'",
    "'gen'",
    "'Shape'",
    "'Pixel'",
    "'Point'",
    "'Colour'",
    "'PixelOrName'",
    "'PAINTED'",
    "'paint'",
    "'*x'",
    "'x'",
    "'kind'",
    "'red'",
    "'green'",
    "'q_obj_x'",
    "'deprecated'",
    "'unstable'",
    "''",
    "'Nowhere'",
    "'ColourList'",
    "'has-x'",
];

/// Replaces the `n`th quoted string (modulo their number) by `WORDS[w]`, for each edit.
fn swap_strings(text: &str, edits: &[(usize, usize)]) -> String {
    let mut text = text.to_string();
    for &(n, w) in edits {
        let spans = string_spans(&text);
        if spans.is_empty() {
            break;
        }
        let (start, end) = spans[n % spans.len()];
        text.replace_range(start..end, WORDS[w % WORDS.len()]);
    }
    text
}

#[test]
fn string_swaps_keep_the_sample_parseable() {
    let spans = string_spans(SAMPLE);
    assert!(spans.len() > 40, "{} strings", spans.len());
    let swapped = swap_strings(SAMPLE, &[(0, 0), (7, 3), (30, 12)]);
    parse_str(Path::new("sample.json"), &swapped, ParseOptions::default())
        .expect("swapping strings keeps the syntax");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn meaning_mutations_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<usize>()), 1..6)
    ) {
        let text = swap_strings(SAMPLE, &edits);
        let lines = text.lines().count();
        if let Err(err) = parse_text(text.as_bytes()) {
            assert_positioned(&err, lines);
        }
    }

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
