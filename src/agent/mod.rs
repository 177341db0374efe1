//! The guest agent (feature `agent`): typed bindings of `qemu-ga`'s schema and a client.

#[allow(
    deprecated,
    clippy::all,
    non_camel_case_types,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::invalid_rust_codeblocks
)]
pub mod api {
    //! The generated bindings of the guest agent's schema: a type per QAPI type, a struct
    //! per command, the [`Commands`] trait and the tables [`COMMANDS`] and [`RELEASES`].
    include!(concat!(env!("OUT_DIR"), "/qga.rs"));
}

pub use api::Commands;

/// What executes guest-agent commands: [`AgentClient`], its blocking twin, a test double.
/// Implementing it gives a type the agent's [`Commands`] methods (and only those: the QMP
/// [`Client`](crate::Client) does not get them, nor the agent client QMP's).
pub trait Executor {}
