//! The doc-free extract: one self-contained schema file holding every definition of a
//! schema (includes inlined, conditions and features kept) and none of its doc comments.
//!
//! QEMU's schema is mostly prose under the GPL; the extract keeps only the facts the
//! generator needs, so a crate can build offline without carrying QEMU's text.

use crate::ast::{Definition, Dict, TopLevel, Value};
use crate::check::Meta;
use crate::parse::ParsedSchema;
use crate::source::Pragma;
use std::fmt::Write as _;
use std::path::Path;

/// The markers an extract carries (defined with their reader, see [`crate::marker`]).
pub use crate::marker::{HEADER, MODULE_MARKER, RELEASE_MARKER, SINCE_MARKER};

/// Whether the file at `path` is a doc-free extract (it starts with [`HEADER`]).
pub fn is_extract(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; HEADER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == HEADER.as_bytes())
}

/// Writes the extract of `schema`, read from the file `root`, as QAPI source text.
/// `origin` is named in the header.
pub fn extract(schema: &ParsedSchema, root: &Path, origin: &str) -> String {
    let folder = root.parent().unwrap_or_else(|| Path::new(""));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{HEADER}{origin}, written by `qapi extract`.\n\
         # Definitions only: names, members, types, conditions, features and flags,\n\
         # and the releases that introduced them."
    );
    if let Some(release) = schema.release {
        let _ = writeln!(out, "{RELEASE_MARKER}{release}");
    }
    write_pragma(&mut out, &schema.pragma);
    let mut current_module: Option<&Path> = None;
    for item in &schema.items {
        let TopLevel::Definition(def) = item else {
            continue;
        };
        let file = def.info.file.as_path();
        if current_module != Some(file) {
            let _ = writeln!(
                out,
                "\n{MODULE_MARKER}{}",
                module_name(file, folder).display()
            );
            current_module = Some(file);
        }
        write_definition(&mut out, def.expr.dict());
        write_since(&mut out, schema, def);
    }
    out
}

/// The module path relative to the folder the root schema sits in, so the extract does not
/// depend on where QEMU's tree was when it was made.
fn module_name<'p>(file: &'p Path, folder: &Path) -> &'p Path {
    let file = file.strip_prefix(folder).unwrap_or(file);
    let mut components = file.components();
    match components.next() {
        Some(std::path::Component::CurDir) => components.as_path(),
        _ => file,
    }
}

fn write_pragma(out: &mut String, pragma: &Pragma) {
    // Documentation pragmas are dropped with the documentation: an extract has none.
    let lists = [
        ("command-name-exceptions", &pragma.command_name_exceptions),
        (
            "command-returns-exceptions",
            &pragma.command_returns_exceptions,
        ),
        ("member-name-exceptions", &pragma.member_name_exceptions),
    ];
    let lists: Vec<_> = lists.iter().filter(|(_, v)| !v.is_empty()).collect();
    if lists.is_empty() {
        return;
    }
    out.push_str("\n{ 'pragma': {");
    for (i, (name, values)) in lists.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        let _ = write!(out, "'{name}': [");
        for (j, value) in values.iter().enumerate() {
            out.push_str(if j == 0 { "\n        " } else { ",\n        " });
            write_string(out, value);
        }
        out.push_str(" ]");
    }
    out.push_str(" } }\n");
}

/// The since markers of `def`: from its doc block, or for a definition without one (read
/// from an extract), from the since markers read.
fn write_since(out: &mut String, schema: &ParsedSchema, def: &Definition) {
    let dict = def.expr.dict();
    let name = Meta::ALL
        .iter()
        .find_map(|meta| match dict.get(meta.as_str())?.value() {
            Value::Str(name) => Some(name),
            _ => None,
        });
    let Some(name) = name.or(def.doc.as_ref().and_then(|d| d.symbol.as_deref())) else {
        return;
    };
    let mut write = |member: Option<&str>, version: &str| {
        if ![Some(name), member, Some(version)]
            .into_iter()
            .flatten()
            .all(crate::facts::is_word)
        {
            return;
        }
        out.push_str(SINCE_MARKER);
        out.push_str(name);
        if let Some(member) = member {
            out.push(' ');
            out.push_str(member);
        }
        out.push(' ');
        out.push_str(version);
        out.push('\n');
    };
    match &def.doc {
        Some(doc) => {
            if let Some(version) = doc.since_version() {
                write(None, version);
            }
            for (member, version) in doc.members_since() {
                write(Some(member), version);
            }
        }
        None => {
            for fact in schema.since.of(name) {
                write(fact.member, fact.version);
            }
        }
    }
}

/// One definition: its keys one per line, each value on one line.
fn write_definition(out: &mut String, entries: Dict<'_>) {
    out.push('{');
    for (i, (key, node)) in entries.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ",\n  " });
        write_string(out, key);
        out.push_str(": ");
        write_value(out, node.value());
    }
    out.push_str(" }\n");
}

fn write_value(out: &mut String, value: Value<'_>) {
    match value {
        Value::Str(s) => write_string(out, s),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { " " } else { ", " });
                write_value(out, item.value());
            }
            out.push_str(if items.is_empty() { "]" } else { " ]" });
        }
        Value::Dict(dict) => {
            out.push('{');
            for (i, (key, node)) in dict.iter().enumerate() {
                out.push_str(if i == 0 { " " } else { ", " });
                write_string(out, key);
                out.push_str(": ");
                write_value(out, node.value());
            }
            out.push_str(if dict.is_empty() { "}" } else { " }" });
        }
    }
}

/// A single-quoted string. The dialect's only escape is `\\`, and a parsed string never
/// holds a quote (the dialect cannot express one).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('\'');
    for ch in s.chars() {
        if ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('\'');
}
