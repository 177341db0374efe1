//! Typed, code-generated async bindings for QEMU's Machine Protocol (QMP).

#[allow(
    deprecated,
    clippy::all,
    non_camel_case_types,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::invalid_rust_codeblocks
)]
pub mod api;
pub mod call;
pub mod command;
pub mod describe;
#[doc(hidden)]
pub mod support;

pub use api::{Commands, Event};
pub use call::{Call, Executor};
pub use command::{Command, OobCommand};
