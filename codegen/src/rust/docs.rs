//! rustdoc for generated items: QEMU's documentation (when the schema carries it), the
//! `if` condition, `Since`, and deprecation.

use crate::doc::Doc;
use crate::model::{Cond, Feature};
use proc_macro2::TokenStream;
use quote::quote;

/// Doc attributes for a definition.
pub(super) fn item(
    with_docs: bool,
    doc: Option<&Doc>,
    fallback: &str,
    cond: Option<&Cond>,
    features: &[Feature],
) -> TokenStream {
    let mut text = String::new();
    match doc.filter(|_| with_docs) {
        Some(doc) => {
            text.push_str(&rustdoc_text(doc.body()));
            for section in doc.sections() {
                let body = rustdoc_text(doc.text(section));
                if body.trim().is_empty() {
                    continue;
                }
                let kind = section.kind().as_str();
                if kind == "Since" {
                    continue;
                }
                paragraph(&mut text);
                if kind != "Plain" {
                    text.push_str(&format!("# {kind}\n\n"));
                }
                text.push_str(&body);
            }
            if let Some(since) = doc.since() {
                paragraph(&mut text);
                text.push_str(&format!("*Since: {}*", since.trim()));
            }
        }
        None => text.push_str(fallback),
    }
    notes(&mut text, cond, features);
    let deprecated = deprecation(doc.filter(|_| with_docs), features);
    let lines = doc_lines(&text);
    quote! {
        #(#[doc = #lines])*
        #deprecated
    }
}

/// Doc attributes for a member, enum value or branch named `name` of a definition.
pub(super) fn member(
    with_docs: bool,
    doc: Option<&Doc>,
    name: &str,
    cond: Option<&Cond>,
    features: &[Feature],
) -> TokenStream {
    let mut text = String::new();
    match doc.filter(|_| with_docs).and_then(|d| d.member(name)) {
        Some(description) if !description.trim().is_empty() => {
            text.push_str(&rustdoc_text(&dedent_continuation(description)))
        }
        _ => text.push_str(&format!("`{name}`")),
    }
    notes(&mut text, cond, features);
    let deprecated = if features.iter().any(Feature::is_deprecated) {
        quote!(#[deprecated])
    } else {
        quote!()
    };
    let lines = doc_lines(&text);
    quote! {
        #(#[doc = #lines])*
        #deprecated
    }
}

/// One attribute per line, each with the leading space `///` comments have, so the
/// formatted code shows `///` lines.
fn doc_lines(text: &str) -> Vec<String> {
    text.trim_end()
        .lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!(" {line}")
            }
        })
        .collect()
}

/// A member description's continuation lines are indented under its `@name:`; rustdoc
/// wants them flush.
fn dedent_continuation(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    let indent = rest
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = first.to_string();
    for line in rest {
        out.push('\n');
        out.push_str(line.get(indent..).unwrap_or(line.trim_start()));
    }
    out
}

fn paragraph(text: &mut String) {
    if !text.is_empty() {
        while !text.ends_with("\n\n") {
            text.push('\n');
        }
    }
}

fn notes(text: &mut String, cond: Option<&Cond>, features: &[Feature]) {
    if let Some(cond) = cond {
        paragraph(text);
        text.push_str(&format!(
            "Only in QEMU builds where `{cond}` holds (the schema's `if`)."
        ));
    }
    if features.iter().any(Feature::is_unstable) {
        paragraph(text);
        text.push_str("**Unstable**: may change or disappear in any QEMU release.");
    }
    let custom: Vec<&str> = features
        .iter()
        .filter(|f| !f.is_special())
        .map(|f| f.name.as_str())
        .collect();
    if !custom.is_empty() {
        paragraph(text);
        text.push_str(&format!("Features: `{}`.", custom.join("`, `")));
    }
}

fn deprecation(doc: Option<&Doc>, features: &[Feature]) -> TokenStream {
    if !features.iter().any(Feature::is_deprecated) {
        return quote!();
    }
    match doc.and_then(|d| d.feature("deprecated")) {
        Some(note) if !note.trim().is_empty() => {
            let note = note.split_whitespace().collect::<Vec<_>>().join(" ");
            let note = note.replace('@', "");
            quote!(#[deprecated(note = #note)])
        }
        _ => quote!(#[deprecated]),
    }
}

/// QAPI's reStructuredText-flavoured prose, made safe and readable for rustdoc: `@name`
/// references become code spans, and indented literal blocks become `text` code blocks (an
/// indented block would otherwise be compiled as a Rust doctest).
pub(super) fn rustdoc_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_block = false;
    let mut previous_blank = true;
    for line in text.lines() {
        // reStructuredText directives QEMU's docs use, in words rustdoc shows as they are.
        let directive = line.trim_start();
        let replaced;
        let line = if let Some(rest) = directive.strip_prefix(".. qmp-example::") {
            replaced = format!("Example:{rest}");
            replaced.as_str()
        } else if let Some(rest) = directive.strip_prefix(".. note::") {
            replaced = format!("Note:{rest}");
            replaced.as_str()
        } else if let Some(rest) = directive.strip_prefix(".. admonition::") {
            replaced = format!("{}:", rest.trim());
            replaced.as_str()
        } else {
            line
        };
        let indented = line.starts_with("   ") || line.starts_with('\t');
        let blank = line.trim().is_empty();
        if in_block && !indented && !blank {
            out.push_str("```\n");
            in_block = false;
        }
        if !in_block && indented && previous_blank {
            out.push_str("```text\n");
            in_block = true;
        }
        if in_block {
            out.push_str(line);
        } else {
            out.push_str(&code_spans(line.trim_end().trim_end_matches("::")));
            if line.trim_end().ends_with("::") {
                out.push(':');
            }
        }
        out.push('\n');
        previous_blank = blank;
    }
    if in_block {
        out.push_str("```\n");
    }
    out
}

/// `@name` -> `` `name` ``.
fn code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((_, ch)) = chars.next() {
        if ch == '@' && chars.peek().is_some_and(|(_, c)| c.is_ascii_alphanumeric()) {
            out.push('`');
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    out.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push('`');
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_literal_blocks() {
        let text = "Use @device-id here.\n\nExample::\n\n    -> { \"execute\": \"x\" }\n    <- {}\n\nDone.";
        let out = rustdoc_text(text);
        assert!(out.contains("Use `device-id` here."), "{out}");
        assert!(out.contains("```text\n    -> {"), "{out}");
        assert!(out.contains("<- {}\n\n```\nDone."), "{out}");
        assert!(out.contains("Example:\n"), "{out}");
    }
}
