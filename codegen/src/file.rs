//! What one schema file's parse is made of, shared by everything made from it: the text,
//! the values of its definitions in one flat array (read through the views of
//! [`crate::ast`]) and the sections of its doc blocks (read through [`crate::doc`]).
//!
//! Below both: a definition's tree and a doc block refer into the same file's data, and
//! neither needs the other to do so.

use std::sync::OnceLock;

/// What was parsed from one schema file, kept for as long as something made from it is:
/// the file's text, the values of all its definitions in one flat array, and its doc
/// comments' section lines (see [`crate::doc`]). Shared (one `Arc` per file) by its
/// definitions' [`Tree`](crate::ast::Tree)s and its doc sections, so that neither copies text, and a
/// definition costs no allocation of its own.
///
/// Completed once the whole file has been read: the trees and sections are made before,
/// and read only after.
#[derive(Default)]
pub(crate) struct ParsedFile(OnceLock<FileData>);

impl ParsedFile {
    /// The file's data; empty until complete.
    #[inline]
    pub(crate) fn data(&self) -> &FileData {
        static EMPTY: FileData = FileData::new(String::new());
        self.0.get().unwrap_or(&EMPTY)
    }

    /// Completes the file with `data`. Gives the text of `data` back if the file was
    /// complete already.
    pub(crate) fn finish(&self, data: FileData) -> Option<String> {
        self.0.set(data).err().map(|data| data.text)
    }
}

/// The contents of a complete [`ParsedFile`].
pub(crate) struct FileData {
    /// The file's text, then the unescaped forms of its strings that had an escape.
    pub(crate) text: String,
    /// The values of every definition of the file, in source order.
    pub(crate) slots: Vec<Slot>,
    /// The lines of text of every doc section of the file (see [`crate::doc`]).
    pub(crate) pieces: Vec<(u32, u32)>,
    /// The sections of the file's doc blocks, one block's after the other's.
    pub(crate) sections: Vec<Section>,
    /// The doc sections' lines joined, once a section of several lines is asked for.
    pub(crate) joined: OnceLock<(Box<str>, Box<[u32]>)>,
}

impl FileData {
    /// `text` alone: no values, no doc sections.
    pub(crate) const fn new(text: String) -> FileData {
        FileData {
            text,
            slots: Vec::new(),
            pieces: Vec::new(),
            sections: Vec::new(),
            joined: OnceLock::new(),
        }
    }

    /// The slot at `index`: out of range (which the views never ask for) reads as an
    /// empty string rather than a panic.
    #[inline]
    pub(crate) fn slot(&self, index: usize) -> Slot {
        self.slots.get(index).copied().unwrap_or(Slot {
            kind: Kind::Str,
            pos: 0,
            a: 0,
            b: 0,
        })
    }

    /// The index after the value at `index` and its contents.
    #[inline]
    pub(crate) fn next(&self, index: usize) -> usize {
        let slot = self.slot(index);
        match slot.kind {
            Kind::List | Kind::Dict => slot.a as usize,
            _ => index + 1,
        }
    }

    /// The bytes `a..b` of the text as a string.
    #[inline]
    pub(crate) fn str_at(&self, a: u32, b: u32) -> &str {
        self.text.get(a as usize..b as usize).unwrap_or_default()
    }
}

/// What a [`Slot`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string; `a..b` are its bytes in the text.
    Str,
    /// A string with an escape while its file is read: `a..b` are its unescaped bytes in
    /// the parser's side buffer, which is put after the file's text at the end.
    EscapedStr,
    /// `false` (`a == 0`) or `true`.
    Bool,
    /// An array: `b` elements; the slots up to `a` (exclusive) are its contents.
    List,
    /// An object: `b` entries, each a key (a string slot) followed by its value; the
    /// slots up to `a` (exclusive) are its contents.
    Dict,
}

/// One value in a file's flat array of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) kind: Kind,
    /// Byte offset of the value's first token in the text.
    pub(crate) pos: u32,
    /// See [`Kind`].
    pub(crate) a: u32,
    /// See [`Kind`].
    pub(crate) b: u32,
}

/// What a section of a doc block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Untagged text: the introduction, or a paragraph among the later sections.
    Plain,
    /// The description of a member, argument, enum value or alternative.
    Member,
    /// The description of a feature.
    Feature,
    /// `Returns:`, what a command returns.
    Returns,
    /// `Errors:`, the errors a command may fail with.
    Errors,
    /// `Since:`, the release that introduced the definition.
    Since,
    /// `TODO:`, a note for QEMU's developers.
    Todo,
}

/// Where the name a section describes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameAt {
    /// A section that describes no member or feature.
    None,
    /// The bytes `a..b` of the block's source, where its `@name:` line names it.
    Text(u32, u32),
    /// The block's own names (see the block's own names), for a stub: at this index.
    Own(u32),
}

/// One section of a doc block: its kind, the member or feature it describes, and its text
/// without the tag, as written (indentation of continuation lines kept, surrounding blank
/// lines dropped).
///
/// Small (32 bytes): a schema has thousands. The name and the text are where the block
/// finds them (see `Doc::section_name`, `Doc::text`); the file and include chain of
/// its position are the block's.
#[derive(Clone)]
pub struct Section {
    pub(crate) kind: SectionKind,
    /// A member or feature of the definition answers to this description.
    pub(crate) connected: bool,
    /// Inserted for something the block does not describe, so it has no text of its own.
    pub(crate) stub: bool,
    pub(crate) name: NameAt,
    /// `fingerprint` (in [`crate::doc`]) of the kind and name (0 without a name), so that looking a
    /// description up compares names only where it is likely to be the one.
    pub(crate) key: u32,
    /// What the section's text is made of: the pieces `start..end` of its block's source
    /// (an empty range for a section with no text of its own). The source itself is held
    /// once by the block: one shared pointer per section cost a share of loading (and
    /// more of dropping) a schema.
    pub(crate) start: u32,
    pub(crate) end: u32,
    /// The line the section starts on.
    pub(crate) line: u32,
}
