//! The doc-free extract: one self-contained schema file holding every definition of a
//! schema (includes inlined, conditions and features kept) and none of its doc comments.
//!
//! QEMU's schema is mostly prose under the GPL; the extract keeps only the facts the
//! generator needs, so a crate can build offline without carrying QEMU's text.

use crate::ast::{Dict, TopLevel, Value};
use crate::parse::{ParsedSchema, Pragma};
use std::fmt::Write as _;
use std::path::Path;

/// Marks, in an extract, the source file the following definitions came from. A plain
/// comment to any QAPI parser, so the extract stays a valid schema.
pub const MODULE_MARKER: &str = "# module: ";

/// How an extract starts; tells a reader to honour the module markers.
pub const HEADER: &str = "# Doc-free extract of ";

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
         # Definitions only: names, members, types, conditions, features and flags."
    );
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
fn write_string(out: &mut String, s: &str) {
    out.push('\'');
    for ch in s.chars() {
        if ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('\'');
}
