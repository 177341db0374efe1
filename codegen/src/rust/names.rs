//! QAPI names to Rust names: CamelCase types and variants, snake_case fields and methods,
//! keywords escaped, clashes after conversion resolved deterministically.

use std::collections::HashMap;

/// Words Rust reserves: as fields or methods they are written as raw identifiers (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers: they get a trailing underscore instead.
const NOT_RAW: &[&str] = &["crate", "self", "super", "Self"];

/// The words of a QAPI name: split at `-`, `_`, `.`, `+` and at lower-to-upper case changes
/// (`dirtyRate` -> `dirty`, `Rate`), keeping runs of capitals together (`ACPIOSTInfo` stays
/// one word: splitting acronyms would guess wrongly as often as rightly).
fn words(name: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for part in name.split(['-', '_', '.', '+']) {
        let bytes = part.as_bytes();
        let mut start = 0;
        for i in 1..bytes.len() {
            if bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase() {
                words.push(&part[start..i]);
                start = i;
            }
        }
        if start < part.len() {
            words.push(&part[start..]);
        }
    }
    words
}

/// `query-status` -> `QueryStatus`, `x86_64` -> `X86_64`, `3des` -> `V3des`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in words(name) {
        // Two digits either side of a word break would merge into a different number.
        if out.ends_with(|c: char| c.is_ascii_digit())
            && word.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push('_');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `ret-type` -> `ret_type`, `dirtyRate` -> `dirty_rate`, `type` -> `r#type`.
pub fn snake(name: &str) -> String {
    let mut out = words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    escape_keyword(out)
}

/// Escapes a Rust keyword used as an identifier.
pub fn escape_keyword(ident: String) -> String {
    if NOT_RAW.contains(&ident.as_str()) {
        format!("{ident}_")
    } else if KEYWORDS.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else {
        ident
    }
}

/// Hands out identifiers in one namespace, so that two QAPI names that convert to the same
/// Rust name stay apart: the first keeps it, later ones get `_2`, `_3`, ... in the order they
/// are asked for (schema order, so the result is deterministic).
#[derive(Debug, Default)]
pub struct Namespace {
    taken: HashMap<String, usize>,
}

impl Namespace {
    /// An empty namespace.
    pub fn new() -> Namespace {
        Namespace::default()
    }

    /// Reserves `ident` (e.g. a name the hand-written code uses) so nothing else gets it.
    pub fn reserve(&mut self, ident: &str) {
        self.taken.entry(ident.to_string()).or_insert(1);
    }

    /// Whether `ident` is taken.
    pub fn is_taken(&self, ident: &str) -> bool {
        self.taken.contains_key(ident)
    }

    /// `ident` if free, else `alternative` (made unique if need be): for names where a
    /// suffix that says something reads better than a number.
    pub fn claim_or(&mut self, ident: String, alternative: String) -> String {
        if self.is_taken(&ident) {
            self.claim(alternative)
        } else {
            self.claim(ident)
        }
    }

    /// A unique identifier based on `ident`.
    pub fn claim(&mut self, ident: String) -> String {
        match self.taken.get_mut(&ident) {
            None => {
                self.taken.insert(ident.clone(), 1);
                ident
            }
            Some(count) => {
                *count += 1;
                let candidate = match ident.strip_prefix("r#") {
                    Some(bare) => format!("{bare}_{count}"),
                    None => format!("{ident}_{count}"),
                };
                if !self.taken.contains_key(&candidate) {
                    self.taken.insert(candidate.clone(), 1);
                    return candidate;
                }
                // The suffixed name was itself taken: the count is already past it, so
                // claiming again tries the next one.
                self.claim(ident)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case() {
        assert_eq!(camel("query-status"), "QueryStatus");
        assert_eq!(camel("StatusInfo"), "StatusInfo");
        assert_eq!(camel("ACPIOSTInfo"), "ACPIOSTInfo");
        assert_eq!(camel("BLOCK_JOB_COMPLETED"), "BLOCKJOBCOMPLETED");
        assert_eq!(
            camel(&"BLOCK_JOB_COMPLETED".to_ascii_lowercase()),
            "BlockJobCompleted"
        );
        assert_eq!(camel("block_resize"), "BlockResize");
        assert_eq!(camel("x86_64"), "X86_64");
        assert_eq!(camel("2_5"), "V2_5");
        assert_eq!(camel("3des"), "V3des");
        assert_eq!(camel("q_obj_Foo-arg"), "QObjFooArg");
        assert_eq!(camel("aes-128"), "Aes128");
    }

    #[test]
    fn snake_case() {
        assert_eq!(snake("ret-type"), "ret_type");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(snake("dirtyRate"), "dirty_rate");
        assert_eq!(snake("CPU"), "cpu");
        assert_eq!(snake("query-status"), "query_status");
        assert_eq!(snake("0"), "_0");
    }

    #[test]
    fn clashes_are_resolved_in_order() {
        let mut ns = Namespace::new();
        ns.reserve("Event");
        assert_eq!(ns.claim("Event".into()), "Event_2");
        assert_eq!(ns.claim("AB".into()), "AB");
        assert_eq!(ns.claim("AB".into()), "AB_2");
        assert_eq!(ns.claim("AB_3".into()), "AB_3");
        assert_eq!(ns.claim("AB".into()), "AB_4");
        assert_eq!(ns.claim("r#type".into()), "r#type");
        assert_eq!(ns.claim("r#type".into()), "type_2");
    }
}
