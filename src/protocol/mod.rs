//! The messages of the wire protocol: the greeting, requests, replies and events.
//!
//! Requests are serialised straight into the caller's line buffer; every incoming line is
//! parsed once into one struct, keeping a reply's `return` as raw JSON so the caller decodes
//! its typed value from that slice without a second pass over the whole message.
//!
//! No I/O here: the [`transport`](crate::transport) moves the bytes.
//!
//! The serde impls are written out, on the same helpers the generated bindings use: the
//! library depends on no proc-macro crate, so its build never waits for one.

mod greeting;
mod message;
mod request;
#[cfg(feature = "fake")]
pub(crate) mod server;

pub(crate) use greeting::parse_greeting;
pub use greeting::{Capability, Greeting, QemuVersion, VersionTriple};
pub use message::Timestamp;
pub(crate) use message::{parse_id, plain_reply, ErrorBody, Incoming};
pub(crate) use request::encode_request;

/// A short, lossy rendering of a line for log messages and errors.
pub(crate) fn preview(line: &[u8]) -> String {
    const MAX: usize = 200;
    let cut = &line[..line.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > MAX {
        s.push_str("...");
    }
    s
}
