//! The QAPI schema front end and Rust emitter behind `qemu-qmp`.
//!
//! The data flows one way, one module per step:
//! [`parse`] (lexer, parser, directives, doc blocks) -> `check` (shape of each expression)
//! -> `model` (resolved types, implicit types, semantic checks) -> emitters (`dump`, Rust).

pub mod ast;
pub mod doc;
pub mod error;
pub mod extract;
pub mod parse;
pub mod source;

pub use error::SchemaError;
