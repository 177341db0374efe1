//! Typed bindings of `qemu-storage-daemon`'s schema (feature `storage-daemon`).
//!
//! The storage daemon speaks QMP with a greeting, like QEMU itself, so the same
//! [`Client`](crate::Client) (or [`BlockingClient`](crate::BlockingClient)) drives it; its
//! schema is a subset of QEMU's block API (block nodes, exports, jobs, character devices,
//! objects). Import this module's [`Commands`] instead of the crate's to get the methods of
//! the daemon's schema:
//!
//! ```no_run
//! use qemu_qmp::storage_daemon::{api, Commands};
//! use qemu_qmp::Client;
//!
//! # async fn demo() -> Result<(), qemu_qmp::Error> {
//! // qemu-storage-daemon --chardev socket,path=/tmp/qsd.sock,server=on,wait=off,id=m \
//! //                     --monitor chardev=m
//! let client = Client::connect(std::path::Path::new("/tmp/qsd.sock")).await?;
//! for node in client.query_named_block_nodes().await? {
//!     println!("{} ({})", node.node_name.unwrap_or_default(), node.drv);
//! }
//! # Ok(()) }
//! ```
//!
//! The types here are the daemon's own (`storage_daemon::api::BlockdevOptions` is not
//! `qemu_qmp::api::BlockdevOptions`): generated from the release list in
//! `schema/storage-daemon`, merged by the same rules as the QMP bindings, every QAPI module
//! of it. Events reach the client's subscriptions decoded as the crate's
//! [`Event`](crate::Event) (the daemon's events are QEMU's); [`Event::from_wire`] decodes
//! a received one's name and data into this module's type.

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
    //! The generated bindings of the storage daemon's schema: a type per QAPI type, a
    //! struct per command, the [`Event`] enum, the [`Commands`] trait and the tables
    //! [`COMMANDS`], [`EVENTS`] and [`RELEASES`].
    include!(concat!(env!("OUT_DIR"), "/qsd.rs"));
}

pub use api::{Commands, Event};
