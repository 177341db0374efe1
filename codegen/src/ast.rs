//! The parsed form of a schema file: QEMU's JSON dialect as a tree of values with positions.
//!
//! The dialect has only strings, booleans, arrays and objects; objects keep their key order
//! (it is meaningful: members are emitted in schema order).

use crate::doc::Doc;
use crate::source::Info;

/// A string of the schema (a name, a type, a key, a condition symbol), as the parsed tree
/// and the model hold it: up to 23 bytes inline, longer ones shared, so that making,
/// copying and dropping one costs no allocation in nearly every case (a schema has some
/// ten thousand, nearly all short). It dereferences to `str`, compares with `str` and
/// `String`, and formats (`Display` and `Debug`) as the string does.
#[derive(Clone, Default)]
pub struct Name(smol_str::SmolStr);

// Compared, ordered and hashed as the `str` (hashing alike is what lets maps keyed by
// names be looked up with a `&str`), inline: SmolStr's own `eq` is an out-of-line call.
impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Name {
    /// A copy of `text`.
    #[inline]
    pub fn new(text: &str) -> Name {
        Name(smol_str::SmolStr::new(text))
    }

    /// `text` itself, without a copy.
    pub const fn new_static(text: &'static str) -> Name {
        Name(smol_str::SmolStr::new_static(text))
    }

    /// The pieces of `parts` one after the other, built without an allocation when short.
    pub fn concat(parts: &[&str]) -> Name {
        Name(parts.iter().copied().collect())
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(smol_str::SmolStr::from(text))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0.as_str().to_string()
    }
}

/// One value of the schema's JSON dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A single-quoted string.
    Str(Name),
    /// `true` or `false`.
    Bool(bool),
    /// `[ ... ]`.
    List(Vec<Node>),
    /// `{ ... }`, keys unique and in source order.
    Dict(Dict),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_list(&self) -> Option<&[Node]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A value with the position of its first token.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub info: Info,
}

/// An object: key/value pairs in source order, keys unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict {
    /// The entries, in source order.
    pub entries: Vec<(Name, Node)>,
}

impl Dict {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, if present, to change or take apart.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys, in source order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
    /// The expression: an object whose keys the checker validates.
    pub expr: Dict,
    /// Where the expression starts.
    pub info: Info,
    /// The definition's documentation block, if one preceded it.
    pub doc: Option<Doc>,
}
