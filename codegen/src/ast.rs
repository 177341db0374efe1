//! The parsed form of a schema file: QEMU's JSON dialect as a tree of values with positions.
//!
//! The dialect has only strings, booleans, arrays and objects; objects keep their key order
//! (it is meaningful: members are emitted in schema order).

pub use crate::name::Name;

use crate::doc::Doc;
pub(crate) use crate::file::{FileData, Kind, ParsedFile, Slot};
use crate::source::Info;
use std::sync::Arc;

/// One parsed top-level expression: a run of its file's flat array of values.
///
/// Strings are not copied out of the file's text: a value refers to its bytes by offset
/// (the few strings with an escape are unescaped once, after the text). Objects and
/// arrays are runs of the array (each value followed by its children, in order), not
/// vectors of their own, so a definition costs no allocation however many values it
/// has. Positions are byte offsets into the text, worked out into lines and columns only
/// when asked for ([`Node::info`]): nearly all of them never are.
///
/// Read it through the views [`Tree::root`] and [`Tree::dict`] give. Equal trees hold
/// equal values (wherever they come from).
#[derive(Clone)]
pub struct Tree {
    /// The file the values are in.
    file: Arc<ParsedFile>,
    /// The index of the root value in the file's array.
    root: u32,
    /// Where in the file's text the expression starts: at `start`.
    base: u32,
    start: Info,
}

impl Tree {
    /// The expression whose root is value `root` of `file`, starting at byte `base` of
    /// its text, which is at `start`.
    pub(crate) fn new(file: Arc<ParsedFile>, root: usize, base: usize, start: Info) -> Tree {
        Tree {
            file,
            root: root as u32,
            base: base as u32,
            start,
        }
    }

    /// The top-level value.
    pub fn root(&self) -> Node<'_> {
        Node {
            tree: self,
            index: self.root as usize,
        }
    }

    /// The top-level object (empty if the top-level value is not one, which the parser
    /// never lets through).
    pub fn dict(&self) -> Dict<'_> {
        match self.root().value() {
            Value::Dict(d) => d,
            _ => Dict {
                tree: self,
                first: 0,
                end: 0,
                len: 0,
            },
        }
    }

    /// Where the expression starts.
    pub fn start(&self) -> &Info {
        &self.start
    }

    #[inline]
    fn data(&self) -> &FileData {
        self.file.data()
    }

    #[inline]
    fn slot(&self, index: usize) -> Slot {
        self.data().slot(index)
    }

    #[inline]
    fn next(&self, index: usize) -> usize {
        self.data().next(index)
    }

    #[inline]
    fn str_at(&self, a: u32, b: u32) -> &str {
        self.data().str_at(a, b)
    }

    /// The index of the value of `key` in the object whose entries are the slots
    /// `first..end`.
    #[inline]
    fn find_key(&self, first: usize, end: usize, key: &str) -> Option<usize> {
        let data = self.data();
        let text = data.text.as_bytes();
        find_key(&data.slots, text, first, end, key.as_bytes(), |_| text)
    }

    /// The position of byte `pos` of the text.
    fn info_at(&self, pos: u32) -> Info {
        let before = self
            .data()
            .text
            .as_bytes()
            .get(self.base as usize..pos as usize)
            .unwrap_or_default();
        match memchr::memrchr(b'\n', before) {
            None => self.start.at_col(advance_col(self.start.col, before)),
            Some(nl) => {
                let lines = memchr::memchr_iter(b'\n', before).count() as u32;
                Info {
                    line: self.start.line + lines,
                    col: advance_col(1, &before[nl + 1..]),
                    ..self.start
                }
            }
        }
    }
}

impl PartialEq for Tree {
    fn eq(&self, other: &Tree) -> bool {
        self.start == other.start && same_value(self.root(), other.root())
    }
}

/// Whether `a` and `b` hold equal values.
fn same_value(a: Node<'_>, b: Node<'_>) -> bool {
    match (a.value(), b.value()) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_value(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k, p), (l, q))| k == l && same_value(p, q))
        }
        _ => false,
    }
}

/// The index of the value of `key` in the object whose entries are `slots[first..end]`,
/// keys' bytes in `text` (or, for [`Kind::EscapedStr`] keys, in `escaped(slot)`).
#[inline]
pub(crate) fn find_key<'s>(
    slots: &[Slot],
    text: &'s [u8],
    first: usize,
    end: usize,
    key: &[u8],
    escaped: impl Fn(Slot) -> &'s [u8],
) -> Option<usize> {
    let mut at = first;
    while at < end {
        let k = *slots.get(at)?;
        let v = slots.get(at + 1)?;
        if (k.b - k.a) as usize == key.len() {
            let bytes = match k.kind {
                Kind::EscapedStr => escaped(k),
                _ => text,
            };
            // Keys are a few bytes: compared inline rather than by a call to `memcmp`.
            let same = bytes
                .get(k.a as usize..k.b as usize)
                .is_some_and(|k| k.iter().zip(key).all(|(a, b)| a == b));
            if same {
                return Some(at + 1);
            }
        }
        at = match v.kind {
            Kind::List | Kind::Dict => v.a as usize,
            _ => at + 2,
        };
    }
    None
}

/// The column reached from column `col` after the bytes `gap` (on one line): tabs
/// advance as QEMU counts them, a UTF-8 character counts once.
pub(crate) fn advance_col(mut col: u32, gap: &[u8]) -> u32 {
    // Nearly always plain ASCII without tabs, one column a byte: found with a
    // branch-free (vectorisable) pass instead of a decision per byte.
    let plain = gap
        .iter()
        .fold(true, |plain, &b| plain & (b != b'\t') & (b < 0x80));
    if plain {
        return col + gap.len() as u32;
    }
    for &b in gap {
        if b == b'\t' {
            col = (col + 7) % 8 + 1;
        } else if b & 0xc0 != 0x80 {
            // Not a UTF-8 continuation byte: a character starts here.
            col += 1;
        }
    }
    col
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.root(), f)
    }
}

/// One value of a [`Tree`], with its position.
#[derive(Clone, Copy)]
pub struct Node<'t> {
    tree: &'t Tree,
    index: usize,
}

impl<'t> Node<'t> {
    /// The value.
    #[inline]
    pub fn value(self) -> Value<'t> {
        let slot = self.tree.slot(self.index);
        match slot.kind {
            Kind::Str | Kind::EscapedStr => Value::Str(self.tree.str_at(slot.a, slot.b)),
            Kind::Bool => Value::Bool(slot.a != 0),
            Kind::List => Value::List(List {
                tree: self.tree,
                first: self.index + 1,
                end: slot.a as usize,
                len: slot.b as usize,
            }),
            Kind::Dict => Value::Dict(Dict {
                tree: self.tree,
                first: self.index + 1,
                end: slot.a as usize,
                len: slot.b as usize,
            }),
        }
    }

    /// Where the value's first token stands (worked out now, from the text).
    pub fn info(self) -> Info {
        self.tree.info_at(self.tree.slot(self.index).pos)
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.value(), f)
    }
}

/// One value of the schema's JSON dialect, as a view into a [`Tree`].
#[derive(Clone, Copy, Debug)]
pub enum Value<'t> {
    /// A single-quoted string (unescaped).
    Str(&'t str),
    /// `true` or `false`.
    Bool(bool),
    /// `[ ... ]`.
    List(List<'t>),
    /// `{ ... }`, keys unique and in source order.
    Dict(Dict<'t>),
}

impl<'t> Value<'t> {
    /// The string, if this is one.
    pub fn as_str(self) -> Option<&'t str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_dict(self) -> Option<Dict<'t>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_list(self) -> Option<List<'t>> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// An array of a [`Tree`]: its elements in order.
#[derive(Clone, Copy)]
pub struct List<'t> {
    tree: &'t Tree,
    /// The first element's index.
    first: usize,
    /// The index after the last element and its contents.
    end: usize,
    len: usize,
}

impl<'t> List<'t> {
    /// Number of elements.
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The first element, if any.
    pub fn first(self) -> Option<Node<'t>> {
        self.iter().next()
    }

    /// The elements, in order.
    pub fn iter(self) -> impl Iterator<Item = Node<'t>> {
        let tree = self.tree;
        let mut at = self.first;
        let end = self.end;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let node = Node { tree, index: at };
            at = tree.next(at);
            Some(node)
        })
    }
}

impl std::fmt::Debug for List<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An object of a [`Tree`]: key/value pairs in source order, keys unique.
#[derive(Clone, Copy)]
pub struct Dict<'t> {
    tree: &'t Tree,
    /// The first key's index.
    first: usize,
    /// The index after the last value and its contents.
    end: usize,
    len: usize,
}

impl<'t> Dict<'t> {
    /// The value of `key`, if present.
    pub fn get(self, key: &str) -> Option<Node<'t>> {
        // The checks ask for keys many times over: a tight loop over the slots, which
        // compares lengths before bytes.
        let tree = self.tree;
        tree.find_key(self.first, self.end, key)
            .map(|index| Node { tree, index })
    }

    /// Whether `key` is present.
    pub fn contains(self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries, in source order.
    pub fn iter(self) -> impl Iterator<Item = (&'t str, Node<'t>)> {
        let tree = self.tree;
        let mut at = self.first;
        let end = self.end;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let key = tree.slot(at);
            let value = Node {
                tree,
                index: at + 1,
            };
            at = tree.next(at + 1);
            Some((tree.str_at(key.a, key.b), value))
        })
    }

    /// The keys, in source order.
    pub fn keys(self) -> impl Iterator<Item = &'t str> {
        self.iter().map(|(k, _)| k)
    }

    /// Number of entries.
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One top-level expression of the schema, in the order the files were read (includes
/// expanded where they stand).
#[derive(Clone, Debug, PartialEq)]
pub enum TopLevel {
    /// An `include` directive; `file` is the included path joined to the including file's
    /// folder (as QEMU joins it). Kept so that the model knows which module a definition
    /// belongs to, even when the file had been included before and is not read again.
    Include {
        /// The joined path of the included file.
        file: std::path::PathBuf,
        /// Where the directive stands.
        info: Info,
    },
    /// A definition (`enum`, `struct`, `union`, `alternate`, `command`, `event`), not yet
    /// checked.
    Definition(Definition),
}

/// A definition as parsed, with the documentation comment that preceded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Definition {
    /// The expression: an object whose keys the checker validates (see [`Tree::dict`]).
    pub expr: Tree,
    /// Where the expression starts.
    pub info: Info,
    /// The definition's documentation block, if one preceded it.
    pub doc: Option<Doc>,
}
