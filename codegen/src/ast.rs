//! The parsed form of a schema file: QEMU's JSON dialect as a tree of values with positions.
//!
//! The dialect has only strings, booleans, arrays and objects; objects keep their key order
//! (it is meaningful: members are emitted in schema order).

use crate::doc::Doc;
use crate::source::Info;

/// One value of the schema's JSON dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A single-quoted string.
    Str(String),
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
    pub entries: Vec<(String, Node)>,
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
