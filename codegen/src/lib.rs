//! The QAPI schema front end and Rust emitter behind `qemu-qmp`.
//!
//! The data flows one way, one module per step:
//! [`parse`] (lexer, parser, directives, doc blocks) -> [`check`] (shape of each expression)
//! -> [`model`] (resolved types, implicit types, semantic checks) -> emitters ([`dump`],
//! Rust). [`load`] runs the front end in one call.
//!
//! The modules read bottom-up, as QEMU's front end does (source -> lexer/parser -> ...):
//! each uses only modules listed before it, never one after.
//!
//! 1. [`source`]: positions, file names, the pragmas. [`error`]: errors at positions.
//! 2. `name` ([`ast::Name`]): the strings a schema is made of. `common`
//!    ([`model::Cond`], [`model::Builtin`]): conditions and built-in types.
//!    [`facts`]: since facts and releases. [`marker`]: the syntax of an extract's markers.
//! 3. `file`: what one file's parse is made of (text, value slots, doc sections).
//! 4. [`doc`]: doc blocks, read into sections and asked about.
//! 5. [`ast`]: the value trees of definitions (with their doc blocks).
//! 6. [`parse`]: lexer and parser, `include` and `pragma`, the markers read.
//! 7. [`check`]: the shape of each expression.
//! 8. [`model`]: the resolved model; [`extract`]: the doc-free extract (markers written).
//! 9. [`merge`]: several releases' models made one, with the facts of each item;
//!    [`releases`]: the release and module lists a crate of bindings keeps.
//! 10. [`dump`], [`rust`]: what is made of the model (of one release, or merged).

pub mod ast;
pub mod check;
mod common;
pub mod diff;
pub mod doc;
pub mod dump;
pub mod error;
pub mod extract;
pub mod facts;
mod file;
pub mod marker;
pub mod merge;
pub mod model;
mod name;
pub mod parse;
pub mod releases;
pub mod rust;
pub mod source;

pub use error::SchemaError;
pub use model::Schema;

use std::path::Path;

/// Reads the schema file `path` (and what it includes), checks it and resolves it into a
/// [`Schema`]; the first broken rule is the error.
///
/// Messages name files as `path` names them, relative to the current directory when
/// `path` is relative.
pub fn load(path: &Path, options: parse::ParseOptions) -> Result<Schema, SchemaError> {
    Schema::from_parsed(parse::parse_file(path, options)?, path)
}

/// [`load`] as the generator reads a schema: leniently (every QEMU release's schema must
/// build, though QEMU tightened its documentation rules over time), honouring the module
/// markers when the file is a doc-free extract.
pub fn load_release_file(path: &Path) -> Result<Schema, SchemaError> {
    let options = parse::ParseOptions {
        strict: false,
        module_markers: extract::is_extract(path),
    };
    load(path, options)
}

/// [`load`], with `read` giving the contents of each file of the schema instead of the
/// file system (see [`parse::parse_file_with`]).
pub fn load_with(
    path: &Path,
    options: parse::ParseOptions,
    read: impl FnMut(&Path) -> std::io::Result<Vec<u8>> + 'static,
) -> Result<Schema, SchemaError> {
    Schema::from_parsed(parse::parse_file_with(path, options, read)?, path)
}
