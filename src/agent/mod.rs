//! The guest agent (feature `agent`): typed bindings of `qemu-ga`'s schema and a client.
//!
//! `qemu-ga` runs inside the guest and serves QMP-style JSON over a virtio-serial port
//! (whose host side is a Unix socket of QEMU's chardev) or a socket of its own. It differs
//! from QMP in ways the client handles: no greeting and no `qmp_capabilities`; one command
//! at a time; no reliable way to match replies to requests once the two sides are out of
//! step, hence the sync protocol (see below); and a few commands that answer nothing when
//! they succeed.
//!
//! ```no_run
//! use qemu_qmp::agent::{AgentClient, Commands, Exec};
//!
//! # async fn demo() -> Result<(), qemu_qmp::Error> {
//! // QEMU: -chardev socket,path=/tmp/qga.sock,server=on,wait=off,id=qga0
//! //       -device virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
//! let agent = AgentClient::connect("/tmp/qga.sock").await?;
//! agent.guest_ping().await?;
//! let os = agent.guest_get_osinfo().await?;
//! let run = agent.exec(Exec::new("/bin/uname").arg("-r")).await?;
//! println!("{:?}: {} ({:?})", os.pretty_name, run.stdout_lossy(), run.exit_code);
//! agent.write_file("/tmp/hello", b"hello").await?;
//! assert_eq!(agent.read_file("/tmp/hello").await?, b"hello");
//! # Ok(()) }
//! ```
//!
//! - **Sync.** Before the first call, and after anything that may leave the stream out of
//!   step (a reconnect, a timeout, a reply that is not one, a command that answers nothing),
//!   the client sends the byte 0xFF and `guest-sync-delimited` with a random id, drops
//!   everything up to the agent's 0xFF and then every reply but the one with that id. A
//!   sync that gets no answer ([`AgentBuilder::sync_timeout`], 5 s) fails the call with
//!   [`Error::AgentUnresponsive`](crate::Error::AgentUnresponsive), unsent.
//! - **One at a time, in order.** One task owns the socket; calls queue on a channel in
//!   the order they were made and are answered in that order, however many tasks call.
//!   A caller that gives up (its future dropped, or its timeout passed) leaves no
//!   half-read reply behind: the next call syncs past it.
//! - **No reply on success.** `guest-shutdown` and `guest-suspend-*`
//!   ([`Command::SUCCESS_RESPONSE`](crate::Command::SUCCESS_RESPONSE) false) succeed when
//!   the agent stays quiet for [`AgentBuilder::quiet_period`] or closes the connection;
//!   an error reply is still an error.
//! - **Chores as one call.** [`AgentClient::exec`] (start, poll with back-off, decoded
//!   output), [`AgentClient::read_file`] and [`AgentClient::write_file`] (in chunks, the
//!   handle always closed).
//! - [`BlockingAgentClient`] offers the same for code that is not async.
//!
//! The bindings ([`api`]) follow the rules of the QMP ones: one API for every release in
//! `schema/qga/releases` (QEMU 7.2, 10.0, 10.2), merged the same way, each item saying
//! where it exists ([`api::RELEASES`]). Their [`Commands`] trait is implemented for the
//! agent's executors only (the [`Executor`] marker), so the QMP client has no
//! `guest_ping()` and the agent client no `query_status()`.

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

mod base64;
mod blocking;
mod client;
mod helpers;
mod sync;

pub use api::Commands;
pub use blocking::BlockingAgentClient;
pub use client::{AgentBuilder, AgentClient, AgentFuture, DEFAULT_MAX_AGENT_MESSAGE};
pub use helpers::{Exec, ExecOutput};

/// What executes guest-agent commands: [`AgentClient`], [`BlockingAgentClient`], a test
/// double. Implementing it gives a type the agent's [`Commands`] methods (and only those:
/// the QMP [`Client`](crate::Client) does not get them, nor the agent client QMP's).
pub trait Executor {}
