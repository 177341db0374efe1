//! The async client: connect, negotiate, and one reader and one writer task per connection.
//!
//! A [`Client`] is a cheap handle (`Clone + Send + Sync`). Each call serialises its request
//! straight into a line buffer, registers a oneshot under a fresh id and hands the line to
//! the writer task, which owns the sending half of the socket. The reader task owns the
//! receiving half: it parses each line once, routes replies by id to their callers and
//! events to the subscribers. When the connection ends every waiting caller is answered
//! with [`Error::Disconnected`] and every event stream of that connection ends (persistent
//! ones, from [`Client::subscribe_persistent`], yield a gap marker and go on).
//!
//! The event subscribers belong to the client, not to a connection: a client made with
//! [`ClientBuilder::build`] exists before it connects, takes subscriptions, and connects
//! with [`Client::reconnect`], so no event of the first connection is missed, not even
//! those QEMU sends while the client negotiates.
//!
//! The files follow the data flow: [`ClientBuilder`] and negotiation (`connect.rs`), the
//! connection's tasks and routing (`connection.rs`), a call's reply (`response.rs`), and
//! reconnecting (`reconnect.rs`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::call::Call;
use crate::command::{Command, OobCommand};
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventStream, Hub};
use crate::protocol::{self, Greeting};
use crate::transport::Endpoint;

mod connect;
pub(crate) mod connection;
mod outbox;
mod reconnect;
mod response;

pub use connect::ClientBuilder;
use connection::{lock, ConnShared, PendingGuard};
use outbox::Outbox;
pub use reconnect::Backoff;
pub use response::ResponseFuture;
use response::Waiting;

/// The state of a client's connection, observable through [`Client::watch_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Dialling, reading the greeting or negotiating capabilities.
    Connecting,
    /// Negotiated; commands and events flow.
    Running,
    /// The connection is being torn down.
    Disconnecting,
    /// No connection (closed by either side, or a connect attempt failed).
    Closed,
}

/// A handle to a QMP connection. Cheap to clone; every clone shares the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientBuilder,
    endpoint: Option<Endpoint>,
    state: watch::Sender<ConnectionState>,
    conn: Mutex<Option<Arc<Conn>>>,
    next_id: AtomicU64,
    /// Serialises connect/reconnect/close so two of them never interleave.
    lifecycle: tokio::sync::Mutex<()>,
    /// The event subscribers, across connections.
    events: Arc<Hub>,
    /// The VM status and job trackers, started by their first user. A schema without
    /// the modules they read (a guest agent's as the main API) has none to start.
    #[cfg_attr(not(qmp_module = "run-state"), allow(dead_code))]
    trackers: crate::notify::Trackers,
}

/// A handle that does not keep the connection alive: background trackers hold one, so
/// dropping the user's last handle still ends everything.
#[derive(Clone)]
#[cfg_attr(not(qmp_module = "run-state"), allow(dead_code))]
pub(crate) struct WeakClient(std::sync::Weak<Inner>);

impl WeakClient {
    /// The client, if a handle to it is still held somewhere.
    #[cfg_attr(not(qmp_module = "run-state"), allow(dead_code))]
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No handle is left to reconnect with: every stream, persistent or not, is over.
        self.events.close();
    }
}

/// One negotiated connection.
struct Conn {
    outbox: Arc<Outbox>,
    shared: Arc<ConnShared>,
    greeting: Greeting,
    oob: bool,
    fd_capable: bool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The peer's `query-qmp-schema`, once someone asked for it: per connection, since a
    /// reconnect may reach another QEMU. Until it is set, calls are not checked against it.
    #[cfg(qmp_introspect)]
    schema: tokio::sync::OnceCell<Arc<crate::schema::LiveSchema>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Every handle is gone: the writer finishes what is queued and ends the
        // connection.
        self.outbox.close();
    }
}

impl Client {
    /// Options for a new connection.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// Dials with the default options.
    pub async fn connect(endpoint: impl Into<Endpoint>) -> Result<Client> {
        ClientBuilder::new().connect(endpoint).await
    }

    pub(super) fn unconnected(config: ClientBuilder, endpoint: Option<Endpoint>) -> Client {
        let (state, _) = watch::channel(ConnectionState::Closed);
        Client {
            inner: Arc::new(Inner {
                config,
                endpoint,
                state,
                conn: Mutex::new(None),
                next_id: AtomicU64::new(1),
                lifecycle: tokio::sync::Mutex::new(()),
                events: Arc::new(Hub::default()),
                trackers: Default::default(),
            }),
        }
    }

    /// A handle that does not keep the client alive.
    #[cfg_attr(not(qmp_module = "run-state"), allow(dead_code))]
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    #[cfg_attr(not(qmp_module = "run-state"), allow(dead_code))]
    pub(crate) fn trackers(&self) -> &crate::notify::Trackers {
        &self.inner.trackers
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.subscribe()
    }

    /// The greeting of the current connection.
    pub fn greeting(&self) -> Option<Greeting> {
        self.current().ok().map(|c| c.greeting.clone())
    }

    /// Whether the current connection negotiated out-of-band execution.
    pub fn oob_enabled(&self) -> bool {
        self.current().is_ok_and(|c| c.oob)
    }

    /// The endpoint this client dials on [`reconnect`](Self::reconnect), if any.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.inner.endpoint.as_ref()
    }

    fn current(&self) -> Result<Arc<Conn>> {
        lock(&self.inner.conn).clone().ok_or(Error::Disconnected)
    }

    /// Subscribes to every event: [`subscribe`](Self::subscribe) with
    /// [`EventFilter::all`].
    pub fn events(&self) -> EventStream {
        self.subscribe(EventFilter::all())
    }

    /// Subscribes to the events that pass `filter`, until the connection ends.
    ///
    /// The stream belongs to the current connection, or, if there is none (a client from
    /// [`ClientBuilder::build`] not yet connected, or one between connections), to the next
    /// one, from its greeting on: events QEMU sends while the client negotiates are
    /// delivered too, in order. It ends when that connection does (after yielding what it
    /// holds), so a loop over it finishes when QEMU goes away; subscribe again after a
    /// reconnect, or use [`subscribe_persistent`](Self::subscribe_persistent).
    pub fn subscribe(&self, filter: EventFilter) -> EventStream {
        self.inner
            .events
            .subscribe(filter, self.inner.config.event_buffer, false)
    }

    /// Subscribes to the events that pass `filter`, across reconnects.
    ///
    /// Like [`subscribe`](Self::subscribe), but the stream does not end with a connection:
    /// it yields [`Gap::Disconnected`](crate::events::Gap::Disconnected) where one ended
    /// (what QEMU emitted until the next connection is lost; re-read the state you track),
    /// then the next connection's events, once [`reconnect`](Self::reconnect) or its kin
    /// succeeds. It ends on [`close`](Self::close) or when the last handle is dropped. Not
    /// the default because a loop over it waits through a disconnection instead of ending:
    /// something must reconnect.
    pub fn subscribe_persistent(&self, filter: EventFilter) -> EventStream {
        self.inner
            .events
            .subscribe(filter, self.inner.config.event_buffer, true)
    }

    /// Executes a command and decodes its typed return.
    ///
    /// The request is encoded and queued when this is called; the returned future waits
    /// for the reply. Many calls may be in flight at once from any number of tasks.
    ///
    /// Once [`schema`](Self::schema) has been fetched for the current connection, a command
    /// that QEMU's schema lacks fails with [`Error::NotOffered`] without being sent.
    pub fn execute<C: Command>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        self.start(Cow::Borrowed(C::NAME), &cmd, false, Vec::new(), true)
    }

    /// Executes an `allow-oob` command out of band (`exec-oob`): its reply may overtake
    /// in-band commands sent before it. Needs the `oob` capability.
    pub fn execute_oob<C: OobCommand>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        self.start(Cow::Borrowed(C::NAME), &cmd, true, Vec::new(), true)
    }

    /// Executes a command with a file descriptor attached (SCM_RIGHTS), as `getfd` and
    /// `add-fd` expect. The descriptor is duplicated; `fd` itself stays open and yours.
    /// Needs a Unix socket connection.
    pub fn execute_with_fd<C: Command>(&self, cmd: C, fd: impl AsFd) -> ResponseFuture<C::Returns> {
        match fd.as_fd().try_clone_to_owned() {
            Ok(dup) => self.start(Cow::Borrowed(C::NAME), &cmd, false, vec![dup], true),
            Err(e) => ResponseFuture::failed(Cow::Borrowed(C::NAME), Error::Io(e)),
        }
    }

    /// The escape hatch: executes `name` with JSON `arguments` (or none) and returns the raw
    /// `return` value.
    ///
    /// Raw calls are never checked against the [`schema`](Self::schema): they are for what
    /// the schema does not describe (or describes wrongly), so QEMU itself answers, with
    /// `CommandNotFound` for a command it lacks.
    pub fn execute_raw(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> ResponseFuture<serde_json::Value> {
        self.start(
            Cow::Owned(name.to_owned()),
            &arguments,
            false,
            Vec::new(),
            false,
        )
    }

    /// [`execute_raw`](Self::execute_raw) out of band. QEMU rejects it unless the command
    /// is `allow-oob`.
    pub fn execute_raw_oob(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> ResponseFuture<serde_json::Value> {
        self.start(
            Cow::Owned(name.to_owned()),
            &arguments,
            true,
            Vec::new(),
            false,
        )
    }

    /// [`execute_raw`](Self::execute_raw) with a file descriptor attached.
    pub fn execute_raw_with_fd(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
        fd: impl AsFd,
    ) -> ResponseFuture<serde_json::Value> {
        let name = Cow::Owned(name.to_owned());
        match fd.as_fd().try_clone_to_owned() {
            Ok(dup) => self.start(name, &arguments, false, vec![dup], false),
            Err(e) => ResponseFuture::failed(name, Error::Io(e)),
        }
    }

    /// Encodes the request into its line, registers the caller and queues the line for the
    /// writer task: the only work per call besides parsing the reply. `checked`: refuse a
    /// command the connection's schema lacks, if that schema is known.
    fn start<T, A: Serialize + ?Sized>(
        &self,
        name: Cow<'static, str>,
        args: &A,
        oob: bool,
        fds: Vec<OwnedFd>,
        checked: bool,
    ) -> ResponseFuture<T> {
        let started = self
            .current()
            .and_then(|conn| self.try_start(&conn, &name, args, oob, fds, checked));
        match started {
            Ok(waiting) => ResponseFuture {
                state: Ok(waiting),
                command: name,
                _returns: PhantomData,
            },
            Err(e) => ResponseFuture::failed(name, e),
        }
    }

    fn try_start<A: Serialize + ?Sized>(
        &self,
        conn: &Conn,
        name: &str,
        args: &A,
        oob: bool,
        fds: Vec<OwnedFd>,
        checked: bool,
    ) -> Result<Waiting> {
        // One atomic load while the schema is unknown, one hash lookup once it is.
        #[cfg(qmp_introspect)]
        if checked {
            if let Some(schema) = conn.schema.get() {
                if !schema.has_command(name) {
                    debug!(command = name, "not in the connection's schema; not sent");
                    return Err(Error::not_offered(name));
                }
            }
        }
        #[cfg(not(qmp_introspect))]
        let _ = checked;
        if oob && !conn.oob {
            return Err(Error::OobNotNegotiated);
        }
        if !fds.is_empty() && !conn.fd_capable {
            return Err(Error::FdPassingUnsupported);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        // Registered before the request can reach the writer: the reply may come the
        // moment it is written.
        conn.shared.register(id)?;
        let guard = PendingGuard {
            shared: conn.shared.clone(),
            id,
            armed: true,
        };
        let fd_count = fds.len();
        let mut bytes = 0;
        conn.outbox
            .push(fds, |buf| {
                let start = buf.len();
                let encoded = protocol::encode_request(buf, name, args, id, oob);
                bytes = buf.len() - start;
                encoded
            })
            .map_err(|error| Error::Encode {
                command: name.to_owned(),
                error,
            })?;
        debug!(id, command = name, oob, bytes, fds = fd_count, "send");
        let deadline = self.inner.config.command_timeout.map(response::deadline);
        Ok(Waiting { guard, deadline })
    }

    /// The connected QEMU's own account of what it supports (its `query-qmp-schema`),
    /// indexed for lookups: see [`LiveSchema`](crate::schema::LiveSchema).
    ///
    /// Fetched once per connection: later calls return the same schema, concurrent first
    /// callers share one fetch, and after a [`reconnect`](Self::reconnect) the next call
    /// fetches it again (the QEMU may have changed). From the first fetch on, typed calls
    /// of a command the schema lacks fail with [`Error::NotOffered`] before anything is
    /// sent. Needs the `introspect` feature (on by default).
    #[cfg(qmp_introspect)]
    pub async fn schema(&self) -> Result<Arc<crate::schema::LiveSchema>> {
        use crate::api::{QueryQmpSchema, SchemaInfo};
        let conn = self.current()?;
        let schema = conn
            .schema
            .get_or_try_init(|| async {
                // Sent on this connection, not whichever is current when the reply comes,
                // so the schema cached here is this QEMU's.
                let waiting = self.try_start(
                    &conn,
                    QueryQmpSchema::NAME,
                    &QueryQmpSchema,
                    false,
                    Vec::new(),
                    false,
                )?;
                let reply: ResponseFuture<Vec<SchemaInfo>> = ResponseFuture {
                    state: Ok(waiting),
                    command: Cow::Borrowed(QueryQmpSchema::NAME),
                    _returns: PhantomData,
                };
                let entries = reply.await?;
                debug!(entries = entries.len(), "schema fetched");
                Ok::<_, Error>(Arc::new(crate::schema::LiveSchema::from_entries(entries)))
            })
            .await?;
        Ok(schema.clone())
    }

    /// The schema of the current connection if [`schema`](Self::schema) has fetched it,
    /// without fetching.
    #[cfg(qmp_introspect)]
    pub fn cached_schema(&self) -> Option<Arc<crate::schema::LiveSchema>> {
        self.current().ok()?.schema.get().cloned()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("state", &self.state())
            .finish()
    }
}

impl crate::call::Executor for Client {}

impl<C: Command> Call<'_, Client, C> {
    /// Sends the command with a time limit of its own, which replaces the client's
    /// [`command_timeout`](ClientBuilder::command_timeout) for this call: past it the call
    /// fails with [`Error::Timeout`] and QEMU's late reply is discarded.
    ///
    /// ```no_run
    /// # async fn demo(client: qemu_qmp::Client) -> qemu_qmp::Result<()> {
    /// use qemu_qmp::Commands;
    /// use std::time::Duration;
    ///
    /// let status = client.query_status().timeout(Duration::from_secs(2)).await?;
    /// // Out of band: set the limit on the reply's future.
    /// client.migrate_pause().oob().timeout(Duration::from_secs(2)).await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(self, limit: Duration) -> ResponseFuture<C::Returns> {
        let (client, command) = self.into_parts();
        client.execute(command).timeout(limit)
    }
}

impl crate::command::Execute for Client {
    type Future<T: DeserializeOwned + Send + 'static> = ResponseFuture<T>;

    fn execute<C: Command>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        Client::execute(self, cmd)
    }

    fn execute_oob<C: OobCommand>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        Client::execute_oob(self, cmd)
    }
}
