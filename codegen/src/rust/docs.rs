//! rustdoc for generated items: QEMU's documentation (when the schema carries it), the
//! `if` condition, `Since`, and deprecation.

use crate::doc::Doc;
use crate::merge::{Facts, ItemFacts, MemberFacts, ReleaseSet};
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
    facts: &str,
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
        }
        None => text.push_str(fallback),
    }
    notes(&mut text, cond, features);
    if !facts.is_empty() {
        paragraph(&mut text);
        text.push_str(facts);
    }
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
    facts: &str,
) -> TokenStream {
    let mut text = String::new();
    match doc.filter(|_| with_docs).and_then(|d| d.member(name)) {
        Some(description) if !description.trim().is_empty() => {
            text.push_str(&rustdoc_text(&dedent_continuation(description)))
        }
        _ => text.push_str(&format!("`{name}`")),
    }
    notes(&mut text, cond, features);
    if !facts.is_empty() {
        paragraph(&mut text);
        text.push_str(facts);
    }
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

/// The release facts of a definition, as rustdoc: where it exists, since when, where it
/// was deprecated or unstable, its conditions, its wire name and old names.
pub(super) fn item_facts(facts: &Facts, item: &ItemFacts, wire: &str, kind: &str) -> String {
    let mut lines = vec![format!("**Releases:** {}.", facts.describe(item.present))];
    if let Some(since) = &item.since {
        lines.push(format!("Since QEMU {since} (QEMU's documentation)."));
    }
    lines.push(format!("Wire name: `{wire}` ({kind})."));
    if !item.allow_oob.is_empty() {
        lines.push(format!(
            "Out of band (`allow-oob`): {}.",
            in_releases(facts, item.allow_oob, item.present)
        ));
    }
    flagged(
        &mut lines,
        facts,
        "Deprecated",
        item.deprecated,
        item.present,
    );
    flagged(&mut lines, facts, "Unstable", item.unstable, item.present);
    conditions(&mut lines, facts, &item.conds);
    for (name, set) in &item.former_names {
        lines.push(format!("Named `{name}` in QEMU {}.", facts.list(*set)));
    }
    for (name, set) in &item.absorbed {
        lines.push(format!(
            "Also holds the values of `{name}`, which QEMU {} has in its place.",
            facts.list(*set)
        ));
    }
    bullets(&lines)
}

/// The release facts of a member (or enum value, branch, alternative) of `owner`.
pub(super) fn member_facts(facts: &Facts, owner: &ItemFacts, member: &MemberFacts) -> String {
    let mut lines = Vec::new();
    if member.present == owner.present {
        lines.push(format!("In {}.", where_all(facts, owner.present)));
    } else {
        lines.push(format!(
            "In QEMU {}; not in {}.",
            facts.list(member.present),
            facts.list(owner.present.minus(member.present))
        ));
    }
    if let Some(since) = &member.since {
        lines.push(format!("Since QEMU {since} (QEMU's documentation)."));
    }
    let optional = member.optional.intersection(member.present);
    if !optional.is_empty() && optional != member.present {
        lines.push(format!(
            "Optional in QEMU {}; required in {}.",
            facts.list(optional),
            facts.list(member.present.minus(optional))
        ));
    }
    flagged(
        &mut lines,
        facts,
        "Deprecated",
        member.deprecated,
        member.present,
    );
    flagged(
        &mut lines,
        facts,
        "Unstable",
        member.unstable,
        member.present,
    );
    conditions(&mut lines, facts, &member.conds);
    if !member.types.is_empty() {
        let types: Vec<String> = member
            .types
            .iter()
            .map(|(t, set)| format!("`{t}` in QEMU {}", facts.list(*set)))
            .collect();
        lines.push(format!("Its type differs: {}.", types.join("; ")));
        if let Some(rule) = member.rule {
            lines.push(format!("Here it is {rule}."));
        }
    }
    bullets(&lines)
}

fn bullets(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `every known QEMU (7.2, 10.0)` or `QEMU 10.0`.
fn where_all(facts: &Facts, set: ReleaseSet) -> String {
    if set == facts.all() {
        format!("every known QEMU ({})", facts.list(set))
    } else {
        format!("QEMU {}", facts.list(set))
    }
}

/// `every release that has it` or `QEMU 7.2`.
fn in_releases(facts: &Facts, set: ReleaseSet, present: ReleaseSet) -> String {
    if set == present {
        "in every release that has it".to_string()
    } else {
        format!("in QEMU {} only", facts.list(set))
    }
}

fn flagged(
    lines: &mut Vec<String>,
    facts: &Facts,
    what: &str,
    set: ReleaseSet,
    present: ReleaseSet,
) {
    if !set.is_empty() {
        lines.push(format!("{what} {}.", in_releases(facts, set, present)));
    }
}

fn conditions(lines: &mut Vec<String>, facts: &Facts, conds: &[(Option<String>, ReleaseSet)]) {
    if conds.len() > 1 {
        let each: Vec<String> = conds
            .iter()
            .map(|(c, set)| match c {
                Some(c) => format!("`{c}` in QEMU {}", facts.list(*set)),
                None => format!("none in QEMU {}", facts.list(*set)),
            })
            .collect();
        lines.push(format!("Its condition differs: {}.", each.join("; ")));
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
