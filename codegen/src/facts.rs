//! Since facts: the QEMU release that introduced a definition, or one of its members.
//!
//! QEMU states them in prose: a definition's doc block has a `Since: X.Y` section, and a
//! member's (enum value's, branch's) description may say `(since X.Y)`. A version number
//! is a fact rather than prose, so the doc-free extract keeps it, as marker comments (see
//! [`crate::marker::SINCE_MARKER`]); [`SinceFacts`] is what either source gives.
//!
//! The release a schema itself belongs to ([`Release`]) is a fact of the same kind: where
//! QEMU's front ends differ from release to release, the model follows the schema's own.

use crate::name::Name;
use std::collections::HashMap;

/// One since fact: `definition` (or its `member`) came in with release `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinceFact<'a> {
    /// The definition's name as written in the schema (for a command's or event's inline
    /// arguments, the command or event; for an enum's values, the enum).
    pub definition: &'a str,
    /// The member, enum value or branch the fact is about; `None` for the definition.
    pub member: Option<&'a str>,
    /// The release, as QEMU writes it (`2.12`, `7.1`, `10.0.0`).
    pub version: &'a str,
}

/// The since facts of one definition, as places in [`SinceFacts::raw`].
#[derive(Clone, Debug, Default)]
struct DefinitionFacts {
    /// The definition's name.
    definition: Span,
    since: Option<Span>,
    /// Member and version, in the order recorded: a definition has a handful, so a list
    /// beats a map.
    members: Vec<(Span, Span)>,
}

/// A byte range, start and end, of [`SinceFacts::raw`].
type Span = (u32, u32);

/// The facts of [`SinceFacts::raw`] by definition, and the definitions in order of their
/// first fact.
#[derive(Clone, Debug, Default)]
struct Index {
    by_definition: HashMap<Name, DefinitionFacts>,
    order: Vec<Name>,
}

/// Since facts by definition, in the order they were recorded; the first fact recorded
/// for a definition (or member) wins.
///
/// Kept as the text of the facts as recorded and indexed on the first question: an
/// extract of QEMU's schema states some 1,500, which a load would otherwise file one by
/// one in a table that nothing may ever read.
#[derive(Clone, Debug, Default)]
pub struct SinceFacts {
    /// One fact a line: `NAME VERSION` or `NAME MEMBER VERSION` (what a since marker
    /// says); lines that are no fact are skipped when indexing.
    raw: String,
    index: std::sync::OnceLock<Index>,
}

impl PartialEq for SinceFacts {
    fn eq(&self, other: &SinceFacts) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SinceFacts {}

impl SinceFacts {
    /// Records that `definition` (its `member`, when given) came in with `version`, unless
    /// a version is known for it already. A name or version that is empty or has white
    /// space in it makes no fact.
    pub fn insert(&mut self, definition: &str, member: Option<&str>, version: &str) {
        if ![Some(definition), member, Some(version)]
            .into_iter()
            .flatten()
            .all(is_word)
        {
            return;
        }
        let line = match member {
            Some(member) => format!("{definition} {member} {version}"),
            None => format!("{definition} {version}"),
        };
        self.read_marker(&line);
    }

    /// Records the fact a since marker states; `rest` is the marker line after
    /// [`crate::marker::SINCE_MARKER`]: `NAME VERSION` or `NAME MEMBER VERSION`. Anything
    /// else is not a fact, and is ignored (as the plain comment it is to other readers)
    /// when the facts are first asked for.
    #[inline]
    pub(crate) fn read_marker(&mut self, rest: &str) {
        // The index keeps 32-bit offsets: facts past 4 GiB of them are dropped.
        if self.raw.len() + rest.len() >= u32::MAX as usize {
            return;
        }
        self.raw.push_str(rest);
        self.raw.push('\n');
        self.index = std::sync::OnceLock::new();
    }

    /// The text of `span`.
    fn text(&self, (a, b): Span) -> &str {
        self.raw.get(a as usize..b as usize).unwrap_or_default()
    }

    /// The facts by definition, worked out on the first question.
    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut index = Index::default();
            let base = self.raw.as_ptr() as usize;
            let span = |word: &str| {
                let a = (word.as_ptr() as usize).wrapping_sub(base) as u32;
                (a, a + word.len() as u32)
            };
            for line in self.raw.lines() {
                let mut words = line.split_ascii_whitespace();
                let (Some(definition), Some(second)) = (words.next(), words.next()) else {
                    continue;
                };
                let (member, version) = match (words.next(), words.next()) {
                    (None, _) => (None, second),
                    (Some(version), None) => (Some(second), version),
                    (Some(_), Some(_)) => continue,
                };
                if version_prefix(version) != Some(version) {
                    continue;
                }
                let facts = match index.by_definition.get_mut(definition) {
                    Some(facts) => facts,
                    None => {
                        let name = Name::new(definition);
                        index.order.push(name.clone());
                        index.by_definition.entry(name).or_insert(DefinitionFacts {
                            definition: span(definition),
                            ..DefinitionFacts::default()
                        })
                    }
                };
                match member {
                    None => {
                        facts.since.get_or_insert(span(version));
                    }
                    Some(member) => {
                        let known = |&(m, _): &(Span, Span)| self.text(m) == member;
                        if !facts.members.iter().any(known) {
                            facts.members.push((span(member), span(version)));
                        }
                    }
                }
            }
            index
        })
    }

    /// The release that introduced `definition`.
    pub fn since(&self, definition: &str) -> Option<&str> {
        let since = self.index().by_definition.get(definition)?.since?;
        Some(self.text(since))
    }

    /// The release that introduced `member` of `definition`, when that was stated.
    pub fn member_since(&self, definition: &str, member: &str) -> Option<&str> {
        let facts = self.index().by_definition.get(definition)?;
        let &(_, version) = facts
            .members
            .iter()
            .find(|&&(m, _)| self.text(m) == member)?;
        Some(self.text(version))
    }

    /// The facts about `definition`: its own first, then its members' in recorded order.
    pub fn of(&self, definition: &str) -> impl Iterator<Item = SinceFact<'_>> {
        let facts = self.index().by_definition.get(definition);
        facts.into_iter().flat_map(|facts| self.facts_of(facts))
    }

    /// Every fact: definition after definition (in order of their first fact), each
    /// definition's own first.
    pub fn iter(&self) -> impl Iterator<Item = SinceFact<'_>> {
        let index = self.index();
        (index.order.iter())
            .filter_map(|name| index.by_definition.get(name))
            .flat_map(|facts| self.facts_of(facts))
    }

    fn facts_of<'a>(&'a self, facts: &'a DefinitionFacts) -> impl Iterator<Item = SinceFact<'a>> {
        let definition = self.text(facts.definition);
        let own = facts.since.map(|version| SinceFact {
            definition,
            member: None,
            version: self.text(version),
        });
        let members = facts
            .members
            .iter()
            .map(move |&(member, version)| SinceFact {
                definition,
                member: Some(self.text(member)),
                version: self.text(version),
            });
        own.into_iter().chain(members)
    }

    /// Whether no fact is known.
    pub fn is_empty(&self) -> bool {
        self.index().order.is_empty()
    }
}

/// Whether `text` reads back from a since marker as the one word it is: a word with white
/// space in it would read back as other words (such a name is no QAPI name, and such a
/// version no version).
pub(crate) fn is_word(text: &str) -> bool {
    !text.is_empty() && !text.contains(char::is_whitespace)
}

/// A QEMU release, `MAJOR.MINOR.MICRO` (`7.2.0`), ordered as releases are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// `7` of `7.2.0`.
    pub major: u16,
    /// `2` of `7.2.0`.
    pub minor: u16,
    /// `0` of `7.2.0`; 0 when not given.
    pub micro: u16,
}

impl Release {
    /// `MAJOR.MINOR.0`.
    pub const fn new(major: u16, minor: u16) -> Release {
        Release {
            major,
            minor,
            micro: 0,
        }
    }

    /// The release `text` names (as QEMU's `VERSION` file does: `7.2.0`, `10.0.2`; also
    /// `9.2`), white space around it allowed; `None` for anything else.
    pub fn parse(text: &str) -> Option<Release> {
        let text = text.trim();
        if version_prefix(text) != Some(text) {
            return None;
        }
        let mut parts = text.split('.').map(str::parse::<u16>);
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let micro = parts.next().transpose().ok()?.unwrap_or(0);
        parts.next().is_none().then_some(Release {
            major,
            minor,
            micro,
        })
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// The version a `Since:` section's text names: its first word, when that is a version
/// number (`2.1 (poweroff since 2.8)` gives `2.1`); `None` for anything else.
pub fn since_section_version(text: &str) -> Option<&str> {
    version_prefix(text.trim_start())
}

/// The version a member description states with `(since X.Y)` (any case, also later in
/// the parentheses: `(default: off, since 5.2)`); the first one, if several.
pub fn stated_since(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b's' | b'S' if depth > 0 => {
                let word = bytes.get(i..i + 5);
                if !word.is_some_and(|w| w.eq_ignore_ascii_case(b"since")) {
                    continue;
                }
                let starts_word = i
                    .checked_sub(1)
                    .and_then(|p| bytes.get(p))
                    .is_some_and(|&p| {
                        p == b'(' || p == b',' || p == b';' || p.is_ascii_whitespace()
                    });
                let rest = text.get(i + 5..).unwrap_or_default();
                if !starts_word || !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
                    continue;
                }
                if let Some(version) = version_prefix(rest.trim_start()) {
                    return Some(version);
                }
            }
            _ => {}
        }
    }
    None
}

/// The version number `text` starts with: two or more runs of digits joined by dots, not
/// followed by a letter, digit, `_` or `-` (`2.6.0-test4` is no release of QEMU's).
fn version_prefix(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut parts = 0;
    loop {
        let digits = bytes[end..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            break;
        }
        end += digits;
        parts += 1;
        let dot_then_digit =
            bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if !dot_then_digit {
            break;
        }
        end += 1;
    }
    let next = bytes.get(end).copied();
    let ends_word = !next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (parts >= 2 && ends_word).then(|| &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read() {
        let mut facts = SinceFacts::default();
        for line in [
            "A 1.0",
            "  A   x   2.0  ",
            "B y 3.0 extra",
            "C",
            "C not-a-version",
            "C x 4.0-rc1",
            "",
        ] {
            facts.read_marker(line);
        }
        let all: Vec<_> = facts
            .iter()
            .map(|f| (f.definition, f.member, f.version))
            .collect();
        assert_eq!(all, [("A", None, "1.0"), ("A", Some("x"), "2.0")]);
    }

    #[test]
    fn releases() {
        assert_eq!(Release::parse("7.2.0\n"), Some(Release::new(7, 2)));
        let r = Release::parse("10.0.2").unwrap();
        assert_eq!((r.major, r.minor, r.micro), (10, 0, 2));
        assert_eq!(r.to_string(), "10.0.2");
        assert_eq!(Release::parse("9.2"), Some(Release::new(9, 2)));
        assert!(Release::new(7, 2) < Release::new(9, 2));
        assert!(Release::new(9, 2) < Release::parse("10.0.2").unwrap());
        for bad in ["", "7", "7.2.0.1", "7.2-rc1", "99999.1", "x.y"] {
            assert_eq!(Release::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn since_sections() {
        assert_eq!(since_section_version("7.1"), Some("7.1"));
        assert_eq!(since_section_version(" 10.2.0\n"), Some("10.2.0"));
        assert_eq!(
            since_section_version("2.1 (poweroff since 2.8)"),
            Some("2.1")
        );
        assert_eq!(
            since_section_version("2.2; 'Unknown' since 2.4"),
            Some("2.2")
        );
        assert_eq!(since_section_version("2.12."), Some("2.12"));
        for bad in ["", "soon", "7", "7.", ".7", "2.6.0-test4", "2.x", "v2.1"] {
            assert_eq!(since_section_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stated_in_descriptions() {
        let cases = [
            ("the size (since 2.12)", Some("2.12")),
            ("the size (Since 2.4 (drive-backup)", Some("2.4")),
            ("on or off (default: off,\nsince 5.2)", Some("5.2")),
            ("(since\n   9.0; default: 10)", Some("9.0")),
            ("(since 2.4 )", Some("2.4")),
            ("(since Linux 2.6.33) then (since 3.1)", Some("3.1")),
            ("since 2.12, not in parentheses", None),
            ("(ever since 2.12)", Some("2.12")),
            ("(sincere 2.12)", None),
            ("(nonsince 2.12)", None),
            ("(since", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(stated_since(text), want, "{text:?}");
        }
    }

    #[test]
    fn first_fact_wins_and_order_is_kept() {
        let mut facts = SinceFacts::default();
        facts.insert("B", Some("x"), "2.0");
        facts.insert("A", None, "1.0");
        facts.insert("B", None, "1.5");
        facts.insert("B", None, "9.9");
        facts.insert("B", Some("x"), "9.9");
        assert_eq!(facts.since("B"), Some("1.5"));
        assert_eq!(facts.member_since("B", "x"), Some("2.0"));
        assert_eq!(facts.member_since("B", "y"), None);
        assert_eq!(facts.since("C"), None);
        let all: Vec<_> = facts
            .iter()
            .map(|f| (f.definition, f.member, f.version))
            .collect();
        assert_eq!(
            all,
            [
                ("B", None, "1.5"),
                ("B", Some("x"), "2.0"),
                ("A", None, "1.0")
            ]
        );
    }
}
