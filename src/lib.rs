#![doc = include_str!("../README.md")]
//!
//! ## Inside
//!
//! Data flows socket → [`transport`] and its [`framing`](transport::framing) (JSON
//! messages, size-capped) → [`protocol`] messages → routing in the
//! [`client`] (one reader and one writer task per connection, replies matched by id, events
//! fanned out through [`events`]) → the typed API ([`Command`] types, the [`Commands`]
//! methods and [`Event`]). [`blocking`] wraps the same client for code that is not async.
//! [`schema`] indexes what the connected QEMU itself says it supports
//! ([`Client::schema`]), which typed calls are checked against once it is known.
//!
//! ```no_run
//! use futures::StreamExt;
//! use qemu_qmp::{Client, Commands, Event, EventFilter, EventKind};
//!
//! # async fn tour() -> Result<(), qemu_qmp::Error> {
//! // QEMU started with `-qmp unix:/tmp/qmp.sock,server=on,wait=off`.
//! let client = Client::connect(std::path::Path::new("/tmp/qmp.sock")).await?;
//! let status = client.query_status().await?;
//! println!("running: {}", status.running);
//!
//! let mut stops = client.subscribe(EventFilter::kinds([EventKind::Stop]));
//! client.stop().await?;
//! if let Some(Ok(received)) = stops.next().await {
//!     assert!(matches!(received.event, Event::Stop));
//! }
//! // Only allow-oob commands have `.oob()`; its reply may overtake in-band ones.
//! let _ = client.migrate_pause().oob().await;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "agent")]
pub mod agent;
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
pub mod blocking;
pub mod call;
pub mod client;
pub mod command;
pub mod describe;
pub mod error;
pub mod events;
#[cfg(feature = "fake")]
pub mod fake;
pub mod notify;
pub mod protocol;
#[cfg(qmp_introspect)]
pub mod schema;
#[cfg(feature = "storage-daemon")]
pub mod storage_daemon;
#[doc(hidden)]
pub mod support;
pub mod testing;
pub mod transport;

pub use api::{Commands, Event, EventKind};
pub use blocking::{BlockingClient, BlockingEvents};
pub use call::{Call, Executor};
pub use client::{Backoff, Client, ClientBuilder, ConnectionState};
pub use command::{Command, Execute, ExecuteBlocking, OobCommand};
pub use error::{Error, ErrorClass, Result};
pub use events::{EventFilter, EventStream, Gap, ReceivedEvent};
pub use protocol::{Capability, Greeting, QemuVersion, Timestamp, VersionTriple};
#[cfg(qmp_introspect)]
pub use schema::{LiveSchema, PathError};
pub use transport::{Endpoint, Transport};
