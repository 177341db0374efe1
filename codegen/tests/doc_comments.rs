//! Documentation comments against QEMU's own front-end test cases and the real schemas of
//! three releases.
//!
//! The model (which connects members and features to their documentation) is not part of
//! this crate's parse step, so the tests that need it use a small stand-in, `connect`, that
//! walks the parsed expressions the way QEMU's schema does for the definitions those cases
//! use: inline members, implicit union bases, alternatives, member and definition features.

use qemu_qmp_codegen::ast::{Definition, Dict, TopLevel, Value};
use qemu_qmp_codegen::doc::{Doc, SectionKind};
use qemu_qmp_codegen::parse::{parse_file, parse_str, ParseOptions, ParsedSchema};
use qemu_qmp_codegen::source::Pragma;
use qemu_qmp_codegen::SchemaError;
use std::path::{Path, PathBuf};

/// The shared data, with QEMU's parser cases and schemas; `None` (after saying why)
/// outside CI.
fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["qapi-tests", "qapi"])
}

fn strict() -> ParseOptions {
    ParseOptions {
        strict: true,
        ..Default::default()
    }
}

/// The last `FILE:LINE[:COL]: ` position of an `.err` file, as (file name, line, column).
fn expected_position(err: &str) -> Option<(String, u32, Option<u32>)> {
    err.lines().rev().find_map(|line| {
        let (file, rest) = line.split_once(".json:")?;
        let mut parts = rest.splitn(3, ':');
        let line_no = parts.next()?.parse().ok()?;
        let col = parts.next().and_then(|c| c.parse().ok());
        let name = Path::new(&format!("{file}.json"))
            .file_name()?
            .to_str()?
            .to_string();
        Some((name, line_no, col))
    })
}

/// The error's position as (file name, line, column).
fn actual_position(err: &SchemaError) -> (String, u32, u32) {
    let info = err.info.as_ref().expect("every doc error has a position");
    let name = info
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    (name, info.line, info.col)
}

// ---------------------------------------------------------------------------------------
// Stand-in for the model's side of the documentation rules.

/// Names in a `features` list (strings or `{ 'name': ... }` objects).
fn feature_names(dict: Dict<'_>) -> Vec<String> {
    let Some(list) = dict.get("features").and_then(|f| f.value().as_list()) else {
        return Vec::new();
    };
    list.iter().filter_map(|n| name_of(n.value())).collect()
}

fn name_of(value: Value<'_>) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.to_string()),
        Value::Dict(d) => d.get("name")?.value().as_str().map(str::to_string),
        _ => None,
    }
}

/// The members of an inline `data` object as (name without `*`, member features).
fn object_members(data: Dict<'_>) -> Vec<(String, Vec<String>)> {
    data.iter()
        .map(|(key, node)| {
            let features = node
                .value()
                .as_dict()
                .map(feature_names)
                .unwrap_or_default();
            (key.trim_start_matches('*').to_string(), features)
        })
        .collect()
}

/// What QEMU connects to a definition's documentation: (role, name, features) per member.
fn documented_members(expr: Dict<'_>) -> Vec<(&'static str, String, Vec<String>)> {
    let data = expr.get("data").map(|d| d.value());
    let with_role = |role: &'static str, members: Vec<(String, Vec<String>)>| {
        members
            .into_iter()
            .map(|(n, f)| (role, n, f))
            .collect::<Vec<_>>()
    };
    if expr.contains("enum") {
        let members = data
            .and_then(Value::as_list)
            .into_iter()
            .flat_map(|values| values.iter())
            .filter_map(|v| {
                let features = v.value().as_dict().map(feature_names).unwrap_or_default();
                Some((name_of(v.value())?, features))
            })
            .collect();
        return with_role("value", members);
    }
    if expr.contains("union") {
        // Only an inline base is the union's own; a named base documents itself.
        let base = expr.get("base").and_then(|b| b.value().as_dict());
        return with_role("member", base.map(object_members).unwrap_or_default());
    }
    let boxed = expr.get("boxed").and_then(|b| b.value().as_bool()) == Some(true);
    let role = if expr.contains("alternate") {
        "alternative"
    } else if expr.contains("command") || expr.contains("event") {
        "argument"
    } else {
        "member"
    };
    match data {
        Some(Value::Dict(d)) if !boxed => with_role(role, object_members(d)),
        _ => Vec::new(),
    }
}

/// Does for one definition what QEMU's schema does with its documentation: checks the
/// sections against the kind of definition, connects features and members, then rejects
/// documentation for things that do not exist.
fn connect(def: &Definition, doc: &mut Doc, pragma: &Pragma) -> Result<(), SchemaError> {
    let expr = def.expr.dict();
    doc.check_expr(expr.contains("command"), expr.contains("returns"))?;
    for feature in feature_names(expr) {
        doc.connect_feature(&feature, &def.info)?;
    }
    for (role, name, features) in documented_members(expr) {
        doc.connect_member(&name, role, &def.info, pragma)?;
        for feature in features {
            doc.connect_feature(&feature, &def.info)?;
        }
    }
    if expr.contains("command") && expr.contains("returns") {
        doc.ensure_returns(&def.info);
    }
    doc.check()
}

/// Runs [`connect`] over every documented definition, replacing `schema.docs` with the
/// connected documentation (free-form blocks kept in place).
fn connect_all(schema: &mut ParsedSchema) -> Result<(), SchemaError> {
    let mut connected = Vec::new();
    for item in &schema.items {
        if let TopLevel::Definition(def) = item {
            if let Some(doc) = &def.doc {
                let mut doc = doc.clone();
                connect(def, &mut doc, &schema.pragma)?;
                connected.push(doc);
            }
        }
    }
    // Definition docs appear in `docs` in the same order as the definitions.
    let mut connected = connected.into_iter();
    for doc in &mut schema.docs {
        if doc.symbol.is_some() {
            if let Some(c) = connected.next() {
                *doc = c;
            }
        }
    }
    Ok(())
}

fn dump_docs(schema: &ParsedSchema) -> String {
    let mut out = String::new();
    for doc in &schema.docs {
        doc.dump(&mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------
// QEMU's test cases.

/// Negative cases that QEMU rejects after parsing: in the model (`connect` stands in for it
/// here) or, for the last two, in the expression checker, which is not this module's.
const MODEL_CASES: &[&str] = &[
    "doc-bad-alternate-member",
    "doc-bad-boxed-command-arg",
    "doc-bad-command-arg",
    "doc-bad-enum-member",
    "doc-bad-event-arg",
    "doc-bad-feature",
    "doc-bad-union-member",
    "doc-invalid-return",
    "doc-invalid-return2",
    "doc-undoc-feature",
];
const CHECKER_CASES: &[&str] = &["doc-bad-symbol", "doc-missing"];

struct Case {
    name: String,
    json: PathBuf,
    err: String,
    out: String,
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(dir)
        .expect("qapi-tests is readable")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .to_string();
            let err = std::fs::read_to_string(path.with_extension("err")).ok()?;
            let out = std::fs::read_to_string(path.with_extension("out")).ok()?;
            Some(Case {
                name,
                json: path,
                err,
                out,
            })
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Checks that `result` is an error at the position the `.err` file names; returns a
/// description of the mismatch otherwise.
fn check_rejection<T>(case: &Case, result: Result<T, SchemaError>) -> Result<(), String> {
    let (file, line, col) = expected_position(&case.err)
        .ok_or_else(|| format!("{}: no position in .err", case.name))?;
    let err = match result {
        Ok(_) => return Err(format!("{}: accepted, expected {file}:{line}", case.name)),
        Err(err) => err,
    };
    let (got_file, got_line, got_col) = actual_position(&err);
    let col_ok = col.map_or(true, |c| c == got_col);
    if got_file != file || got_line != line || !col_ok {
        return Err(format!(
            "{}: expected {file}:{line}{}, got {err}",
            case.name,
            col.map(|c| format!(":{c}")).unwrap_or_default()
        ));
    }
    Ok(())
}

#[test]
fn negative_doc_cases_are_rejected_where_qemu_rejects_them() {
    let Some(shared) = shared_dir() else { return };
    let mut run = 0;
    let mut failures = Vec::new();
    let mut later = Vec::new();
    for case in cases(&shared.join("qapi-tests")) {
        if !case.name.starts_with("doc-") || case.err.trim().is_empty() {
            continue;
        }
        let parsed = parse_file(&case.json, strict());
        if CHECKER_CASES.contains(&case.name.as_str()) {
            // Accepted by the parser; the checker rejects it.
            if let Err(err) = parsed {
                failures.push(format!("{}: the parser rejected it: {err}", case.name));
            }
            later.push(case.name);
            continue;
        }
        run += 1;
        let outcome = if MODEL_CASES.contains(&case.name.as_str()) {
            match parsed {
                Ok(mut schema) => check_rejection(&case, connect_all(&mut schema)),
                Err(err) => Err(format!("{}: the parser rejected it: {err}", case.name)),
            }
        } else {
            check_rejection(&case, parsed)
        };
        if let Err(why) = outcome {
            failures.push(why);
        }
    }
    println!(
        "negative doc cases: {} run, {} passed, {} failed; left to the checker: {}",
        run,
        run - failures.len(),
        failures.len(),
        later.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(run >= 30, "too few doc cases found ({run})");
}

#[test]
fn positive_cases_dump_their_docs_as_qemu_does() {
    let Some(shared) = shared_dir() else { return };
    let mut run = 0;
    let mut with_docs = Vec::new();
    let mut failures = Vec::new();
    for case in cases(&shared.join("qapi-tests")) {
        if !case.err.trim().is_empty() {
            continue;
        }
        run += 1;
        let mut schema = match parse_file(&case.json, strict()) {
            Ok(schema) => schema,
            Err(err) => {
                failures.push(format!("{}: rejected: {err}", case.name));
                continue;
            }
        };
        let expected = match case.out.find("\ndoc ") {
            Some(i) => &case.out[i + 1..],
            None if case.out.starts_with("doc ") => case.out.as_str(),
            None => "",
        };
        if !schema.docs.is_empty() {
            // Undocumented members get empty entries only once connected.
            if let Err(err) = connect_all(&mut schema) {
                failures.push(format!("{}: connecting docs failed: {err}", case.name));
                continue;
            }
            with_docs.push(case.name.clone());
        }
        let actual = dump_docs(&schema);
        if actual != expected {
            failures.push(format!(
                "{}: doc dump differs\n--- expected\n{expected}--- actual\n{actual}",
                case.name
            ));
        }
    }
    println!(
        "positive cases: {} run, {} passed, {} failed; with docs (connected by the \
         stand-in for the model): {}",
        run,
        run - failures.len(),
        failures.len(),
        with_docs.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        !with_docs.is_empty(),
        "doc-good.json was not among the cases"
    );
}

// ---------------------------------------------------------------------------------------
// The real schemas.

#[test]
fn real_schemas_parse_leniently_and_10_2_strictly() {
    let Some(shared) = shared_dir() else { return };
    let mut run = 0;
    let mut failures = Vec::new();
    for release in ["qemu-7.2", "qemu-10.0", "qemu-10.2"] {
        for schema in ["qapi", "qga", "storage-daemon/qapi"] {
            let path = shared
                .join("qapi")
                .join(release)
                .join(schema)
                .join("qapi-schema.json");
            run += 1;
            let parsed = match parse_file(&path, ParseOptions::default()) {
                Ok(parsed) => parsed,
                Err(err) => {
                    failures.push(format!("{release}/{schema}: {err}"));
                    continue;
                }
            };
            let strict_result = parse_file(&path, strict());
            let documented = parsed.docs.iter().filter(|d| d.symbol.is_some()).count();
            let stats = connect_stats(&parsed);
            println!(
                "{release}/{schema}: {} doc blocks ({documented} for definitions), {} \
                 warnings, strict: {}; connected {} members ({} undocumented, {} of them \
                 excused by pragma), {} features; {} problems",
                parsed.docs.len(),
                parsed.warnings.len(),
                match &strict_result {
                    Ok(_) => "accepted".to_string(),
                    Err(e) => format!("rejected ({})", e.message),
                },
                stats.members,
                stats.undocumented,
                stats.excused,
                stats.features,
                stats.problems.len(),
            );
            for problem in stats.problems.iter().take(5) {
                println!("    {problem}");
            }
            if release == "qemu-10.2" {
                // Each release's schema obeys its own release's rules.
                match strict_result {
                    Err(e) => failures.push(format!("{release}/{schema} strict: {e}")),
                    // The lenient readings of older styles must not change how a
                    // conforming schema reads.
                    Ok(strict_parsed) if dump_docs(&strict_parsed) != dump_docs(&parsed) => {
                        failures.push(format!("{release}/{schema}: lenient docs differ"));
                    }
                    Ok(_) => {}
                }
                if !parsed.warnings.is_empty() {
                    failures.push(format!(
                        "{release}/{schema}: warnings: {}",
                        parsed.warnings[0]
                    ));
                }
                if !stats.problems.is_empty() || stats.undocumented != stats.excused {
                    failures.push(format!(
                        "{release}/{schema}: {} undocumented, first problem: {:?}",
                        stats.undocumented,
                        stats.problems.first()
                    ));
                }
            }
        }
    }
    println!(
        "real schemas: {run} run, {} passed, {} failed",
        run - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[derive(Default)]
struct ConnectStats {
    members: usize,
    undocumented: usize,
    excused: usize,
    features: usize,
    problems: Vec<String>,
}

/// Connects every documented definition, counting members, undocumented ones (which older
/// releases allowed) and anything the documentation rules reject.
fn connect_stats(schema: &ParsedSchema) -> ConnectStats {
    let mut stats = ConnectStats::default();
    for item in &schema.items {
        let TopLevel::Definition(def) = item else {
            continue;
        };
        let Some(doc) = &def.doc else { continue };
        let mut doc = doc.clone();
        let excused = doc.symbol.as_ref().is_some_and(|s| {
            schema
                .pragma
                .documentation_exceptions
                .iter()
                .any(|e| e == s)
        });
        let expr = def.expr.dict();
        let mut result = doc.check_expr(expr.contains("command"), expr.contains("returns"));
        for feature in feature_names(expr) {
            stats.features += 1;
            result = result.and_then(|()| doc.connect_feature(&feature, &def.info));
        }
        for (role, name, features) in documented_members(expr) {
            stats.members += 1;
            if doc.member(&name).is_none() {
                stats.undocumented += 1;
                stats.excused += usize::from(excused);
            }
            result =
                result.and_then(|()| doc.connect_member(&name, role, &def.info, &schema.pragma));
            for feature in features {
                stats.features += 1;
                result = result.and_then(|()| doc.connect_feature(&feature, &def.info));
            }
        }
        if let Err(e) = result.and_then(|()| doc.check()) {
            stats.problems.push(e.to_string());
        }
    }
    stats
}

// ---------------------------------------------------------------------------------------
// Details the cases above do not pin down.

fn parse_doc(text: &str, strict: bool) -> Result<(Vec<Doc>, Vec<SchemaError>), SchemaError> {
    let schema = parse_str(
        Path::new("t.json"),
        text,
        ParseOptions {
            strict,
            ..Default::default()
        },
    )?;
    Ok((schema.docs, schema.warnings))
}

#[test]
fn accessors_give_the_emitter_what_it_needs() {
    let text = "\
##
# @frob:
#
# Frobnicates.
#
# @level: how hard,
#     in percent
#
# Features:
# @deprecated: Use @twiddle instead.
#
# Returns: the new state
#
# Since: 9.1
##
{ 'command': 'frob', 'data': { 'level': 'int' }, 'returns': 'State',
  'features': [ 'deprecated' ] }
";
    let (docs, warnings) = parse_doc(text, true).unwrap();
    assert!(warnings.is_empty());
    let doc = &docs[0];
    assert_eq!(doc.symbol.as_deref(), Some("frob"));
    assert_eq!(doc.body(), "Frobnicates.");
    assert_eq!(doc.member("level"), Some("how hard,\n    in percent"));
    assert_eq!(doc.feature("deprecated"), Some("Use @twiddle instead."));
    assert_eq!(doc.since(), Some("9.1"));
    assert_eq!(doc.tagged(SectionKind::Returns), Some("the new state"));
    let kinds: Vec<SectionKind> = doc.sections().map(|s| s.kind()).collect();
    assert_eq!(kinds, [SectionKind::Returns, SectionKind::Since]);
}

#[test]
fn old_note_and_example_sections_are_plain_text_when_lenient() {
    let text = "\
##
# @eject:
#
# @device: the device
#
# Notes: Ejecting an empty drive
#        succeeds.
#
# Since: 0.14
#
# Example:
#
# -> { \"execute\": \"eject\" }
# <- { \"return\": {} }
##
{ 'command': 'eject', 'data': { 'device': 'str' } }
";
    let err = parse_doc(text, true).unwrap_err();
    assert_eq!(err.info.as_ref().map(|i| i.line), Some(6), "{err}");
    let (docs, warnings) = parse_doc(text, false).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let doc = &docs[0];
    let plain: Vec<&str> = doc
        .sections()
        .filter(|s| s.kind() == SectionKind::Plain)
        .map(|s| doc.text(s))
        .collect();
    assert_eq!(
        plain,
        [
            "Notes: Ejecting an empty drive\n       succeeds.",
            "Example:\n\n-> { \"execute\": \"eject\" }\n<- { \"return\": {} }"
        ]
    );
    assert_eq!(doc.since(), Some("0.14"));
}

#[test]
fn unindented_continuations_stay_with_their_member_when_lenient() {
    let text = "\
##
# @Pixel:
#
# @x: the column,
# counted from the left
# @y: the row, counted
#     from the top
# Since: 1.0
##
{ 'struct': 'Pixel', 'data': { 'x': 'int', 'y': 'int' } }
";
    let (docs, warnings) = parse_doc(text, false).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let doc = &docs[0];
    assert_eq!(doc.member("x"), Some("the column,\ncounted from the left"));
    assert_eq!(doc.member("y"), Some("the row, counted\n    from the top"));
    assert_eq!(doc.since(), Some("1.0"));
    // QEMU 10.2 reads everything after the first line as one paragraph of the body: `y`
    // is left undocumented, which only the model can tell.
    let (docs, _) = parse_doc(text, true).unwrap();
    assert_eq!(docs[0].member("x"), Some("the column,"));
    assert_eq!(docs[0].member("y"), None);
}

#[test]
fn formatting_rules_are_warnings_when_lenient() {
    let long = format!("# {}\n", "word ".repeat(14).trim_end());
    let text = format!(
        "##\n# @thing:\n#\n# One sentence. Another one.\n{long}# https://example.org/{}\n##\n\
         {{ 'command': 'thing' }}\n",
        "x".repeat(80)
    );
    let err = parse_doc(&text, true).unwrap_err();
    let info = err.info.unwrap();
    assert_eq!((info.line, info.col), (4, 16), "{err}");
    let (_, warnings) = parse_doc(&text, false).unwrap();
    let lines: Vec<u32> = warnings
        .iter()
        .filter_map(|w| w.info.as_ref())
        .map(|i| i.line)
        .collect();
    assert_eq!(lines, [4, 5], "{warnings:?}");
}

#[test]
fn literal_blocks_are_exempt_from_prose_rules() {
    let text = "\
##
# @thing:
#
# .. qmp-example::
#
#    -> { \"execute\": \"thing\", \"arguments\": { \"a-very-long-argument\": 1 } }
#    <- { \"return\": {} }
#
# Text. Again checked.
##
{ 'command': 'thing' }
";
    let err = parse_doc(text, true).unwrap_err();
    assert_eq!(err.info.as_ref().map(|i| i.line), Some(9), "{err}");
}

#[test]
fn a_bad_line_is_reported_before_a_missing_end() {
    let err = parse_doc("##\n# @foo\n# text\n{ 'command': 'foo' }\n", true).unwrap_err();
    assert_eq!(err.info.as_ref().map(|i| i.line), Some(2), "{err}");
    let err = parse_doc("##\n# text\n## junk\n", true).unwrap_err();
    assert_eq!(err.info.as_ref().map(|i| i.line), Some(3), "{err}");
}

#[test]
fn undocumented_member_stubs_go_after_the_documented_ones() {
    let text = "\
{ 'pragma': { 'documentation-exceptions': [ 'T' ] } }
##
# @T:
#
# @a: first
##
{ 'struct': 'T', 'data': { 'a': 'int', 'b': 'int', 'c': 'int' } }
";
    let mut schema = parse_str(Path::new("t.json"), text, strict()).unwrap();
    connect_all(&mut schema).unwrap();
    let doc = &schema.docs[0];
    let names: Vec<&str> = doc.members().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(doc.all_sections()[2].is_stub());
}

#[test]
fn sentence_spacing_follows_qemus_exceptions() {
    let cases = [
        ("e.g. Foo is fine.", false),
        ("1. First item", false),
        ("  2. Second item", false),
        ("See (e.g. Bar). Then more", true),
        ("10. Tenth item", true),
        ("Lower. case follows", false),
        ("Question? (Yes)", true),
        ("Two.  Spaces", false),
        ("::", false),
    ];
    for (line, flagged) in cases {
        let text = format!("##\n# {line}\n##\n");
        let result = parse_doc(&text, true);
        assert_eq!(result.is_err(), flagged, "{line}: {result:?}");
    }
}
