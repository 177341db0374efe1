//! The marker comments of a doc-free extract: what they look like. [`crate::extract`]
//! writes them; [`crate::parse`] reads them, at the start of a line, when
//! [`crate::parse::ParseOptions::module_markers`] is set. To any other reader (QEMU's own
//! parser included) they are plain comments, so an extract stays a valid schema.
//!
//! Their own module, below both: the writer and the reader share the syntax, not each
//! other.

/// Marks, in an extract, the source file the following definitions came from:
/// `# module: FILE`, `FILE` relative to the extract's folder. A plain comment to any QAPI
/// parser, so the extract stays a valid schema.
pub const MODULE_MARKER: &str = "# module: ";

/// States, in an extract, a since fact (see [`crate::facts`]) that the dropped doc
/// comments gave: `# since: NAME VERSION` for definition `NAME`, and
/// `# since: NAME MEMBER VERSION` for its member (enum value, branch) `MEMBER`, words
/// apart by white space, as names and versions hold none. The lines follow their
/// definition, its own first, then its members' in the order its doc block describes
/// them; `VERSION` is as QEMU writes it (`2.12`, `10.0.0`). `NAME` is the definition's
/// name as written (for a command's inline arguments or an event's inline data, the
/// command or event). Like [`MODULE_MARKER`], a plain comment to any QAPI parser (and
/// never a `##` doc block).
pub const SINCE_MARKER: &str = "# since: ";

/// Names, in an extract, the QEMU release its schema belongs to: `# qemu-release: 7.2.0`,
/// after the header, when the release was known (see
/// [`crate::parse::ParsedSchema::release`]).
pub const RELEASE_MARKER: &str = "# qemu-release: ";

/// How an extract starts; tells a reader to honour the markers.
pub const HEADER: &str = "# Doc-free extract of ";
