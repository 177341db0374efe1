//! The async client: connect, negotiate, and one reader and one writer task per connection.
//!
//! A [`Client`] is a cheap handle (`Clone + Send + Sync`). Each call serialises its request
//! straight into a line buffer, registers a oneshot under a fresh id and hands the line to
//! the writer task, which owns the sending half of the socket. The reader task owns the
//! receiving half: it parses each line once, routes replies by id to their callers and
//! events to the subscribers. When the connection ends every waiting caller is answered
//! with [`Error::Disconnected`] and every event stream ends.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{unix, TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn, Instrument};

use crate::command::{Command, OobCommand};
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventStream, Hub, ReceivedEvent, DEFAULT_EVENT_BUFFER};
use crate::framing::{Frame, LineReader, DEFAULT_MAX_LINE};
use crate::protocol::{self, ErrorBody, Greeting, Incoming};
use crate::stream;
use crate::Event;

/// Where to dial QEMU's QMP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path (`-qmp unix:PATH,server=on`). Supports fd passing.
    Unix(PathBuf),
    /// A TCP address, `host:port` (`-qmp tcp:HOST:PORT,server=on`).
    Tcp(String),
}

impl From<PathBuf> for Endpoint {
    fn from(p: PathBuf) -> Self {
        Endpoint::Unix(p)
    }
}

impl From<&std::path::Path> for Endpoint {
    fn from(p: &std::path::Path) -> Self {
        Endpoint::Unix(p.to_owned())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// An already-connected byte stream to a QMP server.
pub struct Transport {
    kind: TransportKind,
}

enum TransportKind {
    Unix(UnixStream),
    Tcp(TcpStream),
    Other(
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ),
}

impl Transport {
    /// A connected Unix socket (fd passing available).
    pub fn unix(stream: UnixStream) -> Self {
        Transport {
            kind: TransportKind::Unix(stream),
        }
    }

    /// A connected TCP socket.
    pub fn tcp(stream: TcpStream) -> Self {
        Transport {
            kind: TransportKind::Tcp(stream),
        }
    }

    /// Any other bidirectional stream (no fd passing).
    pub fn other<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (r, w) = crate::stream::split(Box::pin(stream));
        Transport {
            kind: TransportKind::Other(Box::new(r), Box::new(w)),
        }
    }
}

impl From<UnixStream> for Transport {
    fn from(s: UnixStream) -> Self {
        Transport::unix(s)
    }
}

impl From<TcpStream> for Transport {
    fn from(s: TcpStream) -> Self {
        Transport::tcp(s)
    }
}

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

/// Retry schedule for [`Client::reconnect_with_backoff`] and [`ClientBuilder::connect_with_retry`]:
/// the delay starts at `initial`, doubles after each failure up to `max`, and gives up after
/// `attempts` tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Total number of tries (at least one is made).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 20,
        }
    }
}

/// Options for a connection. `Client::builder()` starts from the defaults.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    oob: bool,
    connect_timeout: Duration,
    negotiate_timeout: Duration,
    command_timeout: Option<Duration>,
    max_line: usize,
    event_buffer: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            oob: true,
            connect_timeout: Duration::from_secs(10),
            negotiate_timeout: Duration::from_secs(10),
            command_timeout: None,
            max_line: DEFAULT_MAX_LINE,
            event_buffer: DEFAULT_EVENT_BUFFER,
        }
    }
}

impl ClientBuilder {
    /// The defaults: `oob` enabled when offered, 10 s connect and negotiation timeouts, no
    /// command timeout, a 10 MiB message cap, 1024 buffered events per subscriber.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to enable out-of-band execution when the server offers it (default true).
    pub fn oob(mut self, enable: bool) -> Self {
        self.oob = enable;
        self
    }

    /// Time allowed to open the socket (or, in accept mode, for QEMU to connect).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time allowed for the greeting and `qmp_capabilities`.
    pub fn negotiate_timeout(mut self, t: Duration) -> Self {
        self.negotiate_timeout = t;
        self
    }

    /// A default time limit for every command (none by default). A call that times out is
    /// answered with [`Error::Timeout`]; a late reply is discarded.
    pub fn command_timeout(mut self, t: Option<Duration>) -> Self {
        self.command_timeout = t;
        self
    }

    /// The cap on one incoming message in bytes (default 10 MiB, as libvirt's and
    /// qemu.qmp's). A message past it fails the calls it could answer as soon as it passes
    /// the cap, without waiting for its end, and is skipped.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }

    /// How many events a subscriber may have buffered before the oldest are dropped.
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// Dials `endpoint`, reads the greeting and negotiates.
    pub async fn connect(self, endpoint: impl Into<Endpoint>) -> Result<Client> {
        let endpoint = endpoint.into();
        let client = Client::unconnected(self, Some(endpoint));
        client.reconnect().await?;
        Ok(client)
    }

    /// Like [`connect`](Self::connect), retrying on failure (QEMU may not be listening yet).
    pub async fn connect_with_retry(
        self,
        endpoint: impl Into<Endpoint>,
        backoff: Backoff,
    ) -> Result<Client> {
        let client = Client::unconnected(self, Some(endpoint.into()));
        client.reconnect_with_backoff(backoff).await?;
        Ok(client)
    }

    /// Uses an already-connected stream.
    pub async fn connect_transport(self, transport: impl Into<Transport>) -> Result<Client> {
        let client = Client::unconnected(self, None);
        client.reconnect_with(transport).await?;
        Ok(client)
    }

    /// Accept mode over a Unix socket: waits (up to the connect timeout) for QEMU, started
    /// with `-qmp unix:PATH,server=off`, to connect to `listener`.
    pub async fn accept_unix(self, listener: &UnixListener) -> Result<Client> {
        let t = self.connect_timeout;
        let (stream, _) = tokio::time::timeout(t, listener.accept())
            .await
            .map_err(|_| Error::Timeout(t))??;
        self.connect_transport(stream).await
    }

    /// Accept mode over TCP (`-qmp tcp:HOST:PORT,server=off`).
    pub async fn accept_tcp(self, listener: &TcpListener) -> Result<Client> {
        let t = self.connect_timeout;
        let (stream, _) = tokio::time::timeout(t, listener.accept())
            .await
            .map_err(|_| Error::Timeout(t))??;
        self.connect_transport(stream).await
    }
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
}

/// One negotiated connection.
struct Conn {
    tx: mpsc::UnboundedSender<Outgoing>,
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

/// What the reader and writer tasks share with callers.
struct ConnShared {
    pending: Mutex<Pending>,
    events: Arc<Hub>,
    closing: watch::Sender<bool>,
    client: Weak<Inner>,
}

struct Pending {
    map: HashMap<u64, oneshot::Sender<Reply>, BuildHasherDefault<IdHasher>>,
    closed: bool,
}

/// Our ids are sequential integers we chose ourselves, so SipHash's protection against
/// chosen keys buys nothing; a multiplicative hash spreads them over the table's bits.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

enum Reply {
    Return(Box<RawValue>),
    Error(ErrorBody),
    Failed(Error),
}

struct Outgoing {
    line: Vec<u8>,
    fds: Vec<OwnedFd>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single map or field update, so a panic elsewhere
    // cannot leave the data inconsistent: ignore poisoning instead of spreading it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnShared {
    fn register(&self, id: u64) -> Result<oneshot::Receiver<Reply>> {
        let (tx, rx) = oneshot::channel();
        let mut p = lock(&self.pending);
        if p.closed {
            return Err(Error::Disconnected);
        }
        p.map.insert(id, tx);
        Ok(rx)
    }

    fn take(&self, id: u64) -> Option<oneshot::Sender<Reply>> {
        lock(&self.pending).map.remove(&id)
    }

    /// Answers every waiting caller with an error made by `err`.
    fn fail_all(&self, err: impl Fn() -> Error) {
        let drained: Vec<_> = lock(&self.pending).map.drain().collect();
        for (_, tx) in drained {
            let _ = tx.send(Reply::Failed(err()));
        }
    }

    /// Ends the connection's life: no new callers, all waiting ones answered, streams
    /// ended, both tasks told to stop, and the handle's state updated if this is still its
    /// current connection. Idempotent.
    fn teardown(self: &Arc<Self>) {
        let drained: Vec<_> = {
            let mut p = lock(&self.pending);
            if p.closed {
                return;
            }
            p.closed = true;
            p.map.drain().collect()
        };
        let current = self.client.upgrade().filter(|inner| {
            lock(&inner.conn)
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(&c.shared, self))
        });
        if let Some(inner) = &current {
            inner.state.send_replace(ConnectionState::Disconnecting);
        }
        debug!(pending = drained.len(), "connection closed");
        for (_, tx) in drained {
            let _ = tx.send(Reply::Failed(Error::Disconnected));
        }
        self.events.close();
        self.closing.send_replace(true);
        if let Some(inner) = current {
            let mut conn = lock(&inner.conn);
            if conn.as_ref().is_some_and(|c| Arc::ptr_eq(&c.shared, self)) {
                *conn = None;
                inner.state.send_replace(ConnectionState::Closed);
            }
        }
    }
}

/// Removes a caller's pending entry if its future is dropped before the reply came, so
/// the late reply is recognised as nobody's (ids are never reused, so it cannot reach
/// anyone else).
struct PendingGuard {
    shared: Arc<ConnShared>,
    id: u64,
    armed: bool,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.take(self.id);
        }
    }
}

/// The reply of one call, as a future: `Client::execute` and the generated methods return
/// it. It owns everything it needs (no borrow of the client), so it can be spawned, and
/// dropping it at any point is safe: the late reply is discarded.
#[must_use = "the reply is only received when the future is awaited"]
pub struct ResponseFuture<T> {
    state: Result<Waiting, Option<Error>>,
    command: Cow<'static, str>,
    _returns: PhantomData<fn() -> T>,
}

struct Waiting {
    rx: oneshot::Receiver<Reply>,
    guard: PendingGuard,
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
}

impl<T> ResponseFuture<T> {
    fn failed(command: Cow<'static, str>, error: Error) -> Self {
        ResponseFuture {
            state: Err(Some(error)),
            command,
            _returns: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + 'static> Future for ResponseFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let waiting = match &mut this.state {
            Err(e) => return Poll::Ready(Err(e.take().unwrap_or(Error::Disconnected))),
            Ok(w) => w,
        };
        if let Poll::Ready(reply) = Pin::new(&mut waiting.rx).poll(cx) {
            waiting.guard.armed = false;
            let out = match reply {
                Err(_) => Err(Error::Disconnected),
                Ok(Reply::Return(raw)) => decode::<T>(&this.command, &raw),
                Ok(Reply::Error(e)) => Err(Error::Qmp {
                    class: e.class,
                    desc: e.desc,
                }),
                Ok(Reply::Failed(e)) => Err(e),
            };
            this.state = Err(None);
            return Poll::Ready(out);
        }
        if let Some((sleep, limit)) = &mut waiting.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                let limit = *limit;
                // Dropping the waiting state removes the pending entry.
                this.state = Err(None);
                return Poll::Ready(Err(Error::Timeout(limit)));
            }
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("command", &self.command)
            .field("id", &self.state.as_ref().ok().map(|w| w.guard.id))
            .finish()
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

    fn unconnected(config: ClientBuilder, endpoint: Option<Endpoint>) -> Client {
        let (state, _) = watch::channel(ConnectionState::Closed);
        Client {
            inner: Arc::new(Inner {
                config,
                endpoint,
                state,
                conn: Mutex::new(None),
                next_id: AtomicU64::new(1),
                lifecycle: tokio::sync::Mutex::new(()),
            }),
        }
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

    /// Subscribes to every event of the current connection.
    pub fn events(&self) -> EventStream {
        self.subscribe(EventFilter::all())
    }

    /// Subscribes to the events of the current connection that pass `filter`.
    ///
    /// The stream ends when the connection does; subscribe again after a reconnect.
    pub fn subscribe(&self, filter: EventFilter) -> EventStream {
        match self.current() {
            Ok(conn) => conn
                .shared
                .events
                .subscribe(filter, self.inner.config.event_buffer),
            Err(_) => EventStream::ended(),
        }
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
        let mut line = Vec::with_capacity(96);
        protocol::encode_request(&mut line, name, args, id, oob).map_err(|error| {
            Error::Encode {
                command: name.to_owned(),
                error,
            }
        })?;
        let rx = conn.shared.register(id)?;
        let guard = PendingGuard {
            shared: conn.shared.clone(),
            id,
            armed: true,
        };
        debug!(
            id,
            command = name,
            oob,
            bytes = line.len(),
            fds = fds.len(),
            "send"
        );
        conn.tx
            .send(Outgoing { line, fds })
            .map_err(|_| Error::Disconnected)?;
        let deadline = self
            .inner
            .config
            .command_timeout
            .map(|t| (Box::pin(tokio::time::sleep(t)), t));
        Ok(Waiting {
            rx,
            guard,
            deadline,
        })
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

    /// Dials the client's endpoint again and negotiates; the old connection, if any, is
    /// closed first. Event streams of the old connection have ended: subscribe again.
    pub async fn reconnect(&self) -> Result<()> {
        let endpoint = self.inner.endpoint.clone().ok_or(Error::NoEndpoint)?;
        let _life = self.inner.lifecycle.lock().await;
        self.close_locked().await;
        self.inner.state.send_replace(ConnectionState::Connecting);
        let t = self.inner.config.connect_timeout;
        let dialled = tokio::time::timeout(t, async {
            Ok::<_, std::io::Error>(match &endpoint {
                Endpoint::Unix(p) => Transport::unix(UnixStream::connect(p).await?),
                Endpoint::Tcp(a) => Transport::tcp(TcpStream::connect(a.as_str()).await?),
            })
        })
        .await;
        let transport = match dialled {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                self.inner.state.send_replace(ConnectionState::Closed);
                return Err(Error::Io(e));
            }
            Err(_) => {
                self.inner.state.send_replace(ConnectionState::Closed);
                return Err(Error::Timeout(t));
            }
        };
        self.establish(transport).await
    }

    /// [`reconnect`](Self::reconnect), retrying with back-off until it succeeds or the
    /// attempts run out (the last error is returned).
    pub async fn reconnect_with_backoff(&self, backoff: Backoff) -> Result<()> {
        let mut delay = backoff.initial;
        let mut attempt = 1;
        loop {
            match self.reconnect().await {
                Ok(()) => return Ok(()),
                Err(e @ Error::NoEndpoint) => return Err(e),
                Err(e) if attempt >= backoff.attempts.max(1) => return Err(e),
                Err(e) => {
                    debug!(attempt, error = %e, ?delay, "connect failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                    attempt += 1;
                }
            }
        }
    }

    /// Replaces the connection with a fresh one over `transport` (for example a new
    /// connection accepted from QEMU).
    pub async fn reconnect_with(&self, transport: impl Into<Transport>) -> Result<()> {
        let _life = self.inner.lifecycle.lock().await;
        self.close_locked().await;
        self.inner.state.send_replace(ConnectionState::Connecting);
        self.establish(transport.into()).await
    }

    /// Closes the connection: waiting callers get [`Error::Disconnected`], event streams
    /// end, and the state becomes [`ConnectionState::Closed`]. The handle stays usable for
    /// a reconnect.
    pub async fn close(&self) {
        let _life = self.inner.lifecycle.lock().await;
        self.close_locked().await;
    }

    async fn close_locked(&self) {
        let conn = lock(&self.inner.conn).take();
        let Some(conn) = conn else {
            self.inner.state.send_replace(ConnectionState::Closed);
            return;
        };
        self.inner
            .state
            .send_replace(ConnectionState::Disconnecting);
        conn.shared.teardown();
        let tasks = std::mem::take(&mut *lock(&conn.tasks));
        for t in tasks {
            let _ = t.await;
        }
        self.inner.state.send_replace(ConnectionState::Closed);
    }

    async fn establish(&self, transport: Transport) -> Result<()> {
        let result = self.establish_inner(transport).await;
        if result.is_err() {
            self.inner.state.send_replace(ConnectionState::Closed);
        }
        result
    }

    async fn establish_inner(&self, transport: Transport) -> Result<()> {
        let config = &self.inner.config;
        let (reader, mut writer, fd_capable): (Box<dyn AsyncRead + Send + Unpin>, _, _) =
            match transport.kind {
                TransportKind::Unix(s) => {
                    let (r, w) = s.into_split();
                    (Box::new(r), Writer::Unix(w), true)
                }
                TransportKind::Tcp(s) => {
                    // Requests are small and latency-bound: do not let Nagle hold them.
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    (Box::new(r), Writer::Other(Box::new(w)), false)
                }
                TransportKind::Other(r, w) => (r, Writer::Other(w), false),
            };
        let mut lines = LineReader::new(reader, config.max_line);
        let t = config.negotiate_timeout;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (greeting, oob) =
            tokio::time::timeout(t, negotiate(&mut lines, &mut writer, config.oob, id))
                .await
                .map_err(|_| Error::Timeout(t))??;
        debug!(version = %greeting.version.qemu, oob, "negotiated");

        let (tx, rx) = mpsc::unbounded_channel();
        let (closing, closing_rx) = watch::channel(false);
        let shared = Arc::new(ConnShared {
            pending: Mutex::new(Pending {
                map: HashMap::default(),
                closed: false,
            }),
            events: Arc::new(Hub::default()),
            closing,
            client: Arc::downgrade(&self.inner),
        });
        let conn = Arc::new(Conn {
            tx,
            shared: shared.clone(),
            greeting,
            oob,
            fd_capable,
            tasks: Mutex::new(Vec::new()),
            #[cfg(qmp_introspect)]
            schema: tokio::sync::OnceCell::new(),
        });
        // Publish the connection before the tasks start, so a teardown that races with
        // this (QEMU exiting at once) finds it current and updates the state.
        *lock(&self.inner.conn) = Some(conn.clone());
        self.inner.state.send_replace(ConnectionState::Running);
        let span = tracing::debug_span!("qmp", conn = id);
        let reader_task = tokio::spawn(
            read_loop(lines, shared.clone(), closing_rx.clone()).instrument(span.clone()),
        );
        let writer_task = tokio::spawn(write_loop(rx, writer, shared, closing_rx).instrument(span));
        lock(&conn.tasks).extend([reader_task, writer_task]);
        Ok(())
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

fn decode<T: DeserializeOwned + 'static>(command: &str, raw: &RawValue) -> Result<T> {
    // Commands without a return value are generated with `Returns = ()`, while QEMU
    // answers them with `{}`: accept any successful reply for them.
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
        return serde_json::from_str("null").map_err(|error| Error::Decode {
            command: command.to_owned(),
            error,
        });
    }
    serde_json::from_str(raw.get()).map_err(|error| Error::Decode {
        command: command.to_owned(),
        error,
    })
}

/// The sending half: a Unix socket keeps its concrete type so descriptors can go with
/// `sendmsg`; everything else is a plain byte sink.
enum Writer {
    Unix(unix::OwnedWriteHalf),
    Other(Box<dyn AsyncWrite + Send + Unpin>),
}

impl Writer {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::Unix(w) => stream::write_all(w, bytes).await,
            Writer::Other(w) => {
                stream::write_all(w, bytes).await?;
                stream::flush(w).await
            }
        }
    }

    async fn write_with_fds(&mut self, bytes: &[u8], fds: &[OwnedFd]) -> std::io::Result<()> {
        let Writer::Unix(w) = self else {
            return Err(std::io::Error::other("fd passing needs a Unix socket"));
        };
        let sent = crate::fd::send_with_fds(w.as_ref(), bytes, fds).await?;
        stream::write_all(w, &bytes[sent..]).await
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Writer::Unix(w) => stream::shutdown(w).await,
            Writer::Other(w) => stream::shutdown(w).await,
        };
    }
}

/// Reads the greeting and leaves capabilities negotiation mode, enabling `oob` if asked
/// for and offered.
async fn negotiate<R: AsyncRead + Unpin>(
    lines: &mut LineReader<R>,
    writer: &mut Writer,
    want_oob: bool,
    id: u64,
) -> Result<(Greeting, bool)> {
    let negotiation = |message: String| Error::Negotiation { message };
    let greeting = match lines.next_frame().await? {
        None => {
            return Err(negotiation(
                "the server closed the connection before greeting".into(),
            ))
        }
        Some(Frame::TooLong { size, .. } | Frame::Overflowing { size }) => {
            return Err(negotiation(format!(
                "greeting of {size} bytes or more exceeds the limit"
            )))
        }
        Some(Frame::Line(line)) => {
            trace!(bytes = line.len(), "recv greeting");
            protocol::parse_greeting(line).map_err(negotiation)?
        }
    };
    let oob = want_oob && greeting.offers_oob();
    let enable: &[&str] = if oob { &["oob"] } else { &[] };
    let args = serde_json::json!({ "enable": enable });
    let mut line = Vec::new();
    protocol::encode_request(&mut line, "qmp_capabilities", &args, id, false)
        .map_err(|e| negotiation(e.to_string()))?;
    debug!(id, command = "qmp_capabilities", bytes = line.len(), "send");
    writer.write_all(&line).await?;
    loop {
        // Messages before the reply (events) may come in a burst: yield as the reader does.
        tokio::task::coop::consume_budget().await;
        let line = match lines.next_frame().await? {
            None => {
                return Err(negotiation(
                    "the server closed the connection during negotiation".into(),
                ))
            }
            Some(Frame::TooLong { size, .. }) => {
                warn!(size, "oversized message during negotiation skipped");
                continue;
            }
            // Its end, a `TooLong`, is what is skipped.
            Some(Frame::Overflowing { .. }) => continue,
            Some(Frame::Line(line)) => line,
        };
        let msg: Incoming = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, line = %protocol::preview(line), "malformed message during negotiation skipped");
                continue;
            }
        };
        if msg.id.and_then(protocol::parse_id) != Some(id) {
            debug!(line = %protocol::preview(line), "message before negotiation finished ignored");
            continue;
        }
        if let Some(e) = msg.error {
            return Err(negotiation(format!(
                "qmp_capabilities failed: {}: {}",
                e.class, e.desc
            )));
        }
        return Ok((greeting, oob));
    }
}

/// Which of two futures finished first.
enum Either<A, B> {
    First(A),
    Second(B),
}

/// Waits for whichever of `first` and `second` finishes first, polling `first` first (a
/// closing connection wins over more input). `tokio::select!` does this too, but its macro
/// crate would put syn on every user's build path.
async fn first_of<A: Future, B: Future>(
    mut first: Pin<&mut A>,
    second: B,
) -> Either<A::Output, B::Output> {
    let mut second = std::pin::pin!(second);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = first.as_mut().poll(cx) {
            return Poll::Ready(Either::First(value));
        }
        second.as_mut().poll(cx).map(Either::Second)
    })
    .await
}

/// The second future's output, or `None` when the first finished (its output, which may
/// hold a lock guard, dropped here rather than kept across an await).
fn second_of<A, B>(either: Either<A, B>) -> Option<B> {
    match either {
        Either::First(_) => None,
        Either::Second(value) => Some(value),
    }
}

/// How long the end of an oversized message may take before the calls in flight are
/// answered without knowing which of them it was for.
const OVERSIZED_LINE_DEADLINE: Duration = Duration::from_secs(1);

/// Awaits `future`, calling `on_deadline` once if it is still pending after `after`; the
/// future is never dropped early (a frame half read would be lost).
async fn until_deadline<F: Future>(
    future: F,
    after: Duration,
    on_deadline: impl FnOnce(),
) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut deadline = std::pin::pin!(tokio::time::sleep(after));
    let mut on_deadline = Some(on_deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(value);
        }
        if on_deadline.is_some() && deadline.as_mut().poll(cx).is_ready() {
            if let Some(call) = on_deadline.take() {
                call();
            }
        }
        Poll::Pending
    })
    .await
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut lines: LineReader<R>,
    shared: Arc<ConnShared>,
    mut closing: watch::Receiver<bool>,
) {
    let limit = lines.max();
    // One wait for the connection's whole life: a fresh one per message would register
    // and unregister a waiter on the watch channel every time, about a tenth of the
    // client's own work per request.
    let mut closed = std::pin::pin!(closing.wait_for(|c| *c));
    // Whether the calls in flight were failed for the oversized line being skipped.
    let mut overflow_answered = false;
    loop {
        let frame = if lines.is_skipping() {
            // The rest of an oversized line: its end names the call it answers, but a
            // server may hold it open. Past a deadline every call in flight is answered.
            let skip = until_deadline(lines.next_frame(), OVERSIZED_LINE_DEADLINE, || {
                if !overflow_answered {
                    warn!(
                        limit,
                        "oversized message still not ended; failing calls in flight"
                    );
                    shared.fail_all(|| Error::MessageTooLarge {
                        size: limit + 1,
                        limit,
                    });
                    overflow_answered = true;
                }
            });
            second_of(first_of(closed.as_mut(), skip).await)
        } else {
            second_of(first_of(closed.as_mut(), lines.next_frame()).await)
        };
        // The connection is closing.
        let Some(frame) = frame else {
            break;
        };
        match frame {
            Ok(Some(Frame::TooLong { size, .. })) if std::mem::take(&mut overflow_answered) => {
                warn!(size, limit, "oversized message skipped");
            }
            Ok(Some(frame)) => route(&shared, frame, limit),
            Ok(None) => {
                debug!("end of stream");
                break;
            }
            Err(e) => {
                debug!(error = %e, "read failed");
                break;
            }
        }
        // One unit of tokio's cooperative budget per message. A burst arrives many
        // messages to a read, so the socket (tokio's own yield point) is seldom polled:
        // without this the reader would run until the burst ends, and a subscriber
        // scheduled on the same worker could not drain its buffer before it overflowed.
        tokio::task::coop::consume_budget().await;
    }
    shared.teardown();
}

/// Routes one incoming message. Nothing here can fail the connection: anything malformed
/// is logged and skipped, and a reply that cannot be attributed answers every caller in
/// flight (one of them will never get its real reply, and we cannot tell which).
fn route(shared: &Arc<ConnShared>, frame: Frame<'_>, limit: usize) {
    let line = match frame {
        Frame::Line(line) => line,
        // The rest is skipped by the reader, under a deadline (see `read_loop`).
        Frame::Overflowing { size } => {
            debug!(
                size,
                limit, "message over the size limit; skipping the rest"
            );
            return;
        }
        Frame::TooLong { size, tail, .. } => {
            match recover_id(tail).and_then(|id| shared.take(id).map(|tx| (id, tx))) {
                Some((id, tx)) => {
                    warn!(id, size, limit, "oversized reply skipped");
                    let _ = tx.send(Reply::Failed(Error::MessageTooLarge { size, limit }));
                }
                None => {
                    warn!(
                        size,
                        limit, "oversized message skipped; failing calls in flight"
                    );
                    shared.fail_all(|| Error::MessageTooLarge { size, limit });
                }
            }
            return;
        }
    };
    let msg: Incoming = match serde_json::from_slice(line) {
        Ok(m) => m,
        Err(e) => {
            // A reply that does not parse (invalid UTF-8 in a string, a truncated line, an
            // error without `class`) may still name its request: answer that caller now,
            // or it would wait for a reply that has come and gone.
            if let Some((id, tx)) =
                unparsed_reply_id(line).and_then(|id| shared.take(id).map(|tx| (id, tx)))
            {
                warn!(id, error = %e, line = %protocol::preview(line), "reply that does not parse answered as a protocol error");
                let _ = tx.send(Reply::Failed(Error::Protocol {
                    message: format!("QEMU's reply does not parse: {e}"),
                }));
                return;
            }
            warn!(error = %e, line = %protocol::preview(line), "malformed message skipped");
            return;
        }
    };
    if let Some(name) = msg.event {
        debug!(event = %name, bytes = line.len(), "recv event");
        if !shared.events.wants(&name) {
            return;
        }
        // `"data": null` means the same as no data.
        let data = msg.data.filter(|raw| raw.get() != "null");
        let event = match Event::from_raw(&name, data) {
            Ok(ev) => ev,
            Err(e) => {
                warn!(event = %name, error = %e, "event data does not match the schema; delivered as Other");
                Event::Other {
                    name: name.to_string(),
                    // The raw slice is valid JSON (the whole line parsed), so this parse
                    // cannot fail; Null is only a formality.
                    data: data
                        .and_then(|raw| serde_json::from_str(raw.get()).ok())
                        .unwrap_or(serde_json::Value::Null),
                }
            }
        };
        let timestamp = msg.timestamp.unwrap_or_default();
        shared
            .events
            .publish(&name, ReceivedEvent { event, timestamp });
        return;
    }
    let reply = match (msg.ret, msg.error) {
        (Some(ret), _) => Reply::Return(ret),
        (None, Some(err)) => Reply::Error(err),
        (None, None) => {
            if msg.greeting.is_some() {
                warn!("unexpected second greeting ignored");
            } else {
                warn!(line = %protocol::preview(line), "message that is neither reply nor event skipped");
            }
            return;
        }
    };
    let Some(raw_id) = msg.id else {
        let what = match &reply {
            Reply::Error(e) => format!("{}: {}", e.class, e.desc),
            _ => "a successful reply".to_owned(),
        };
        warn!(reply = %what, "reply without an id; failing calls in flight");
        shared.fail_all(|| Error::Protocol {
            message: format!("the server sent a reply without an id ({what}); the outcome of the calls in flight is unknown"),
        });
        return;
    };
    let Some(id) = protocol::parse_id(raw_id) else {
        warn!(
            id = raw_id.get(),
            "reply with an id that is not ours skipped"
        );
        return;
    };
    match shared.take(id) {
        Some(tx) => {
            debug!(
                id,
                bytes = line.len(),
                ok = matches!(reply, Reply::Return(_)),
                "recv reply"
            );
            let _ = tx.send(reply);
        }
        None => debug!(id, "reply for a call nobody awaits any more skipped"),
    }
}

/// Finds `"id": N` at the end of an oversized line's tail: QEMU writes the id last in a
/// successful reply, which is the only kind of message that grows that large.
/// The request id of a message that did not parse as a message, when it is a reply:
/// from the JSON when that is well formed (an error object without `class`), else from its
/// text (invalid UTF-8, a truncated line). Events carry no id, so they never match.
fn unparsed_reply_id(line: &[u8]) -> Option<u64> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
        let is_reply = value.get("return").is_some() || value.get("error").is_some();
        return value
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .filter(|_| is_reply);
    }
    let text = String::from_utf8_lossy(line);
    if !(text.contains("\"return\"") || text.contains("\"error\"")) {
        return None;
    }
    recover_id(text.as_bytes())
}

fn recover_id(tail: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(tail).ok().or_else(|| {
        // The tail may start inside a multi-byte character.
        (1..4).find_map(|skip| std::str::from_utf8(tail.get(skip..)?).ok())
    })?;
    let at = text.rfind("\"id\"")?;
    let rest = text[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let after = rest[digits..].trim_start();
    if after.starts_with('}') || after.starts_with(',') {
        rest[..digits].parse().ok()
    } else {
        None
    }
}

async fn write_loop(
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut writer: Writer,
    shared: Arc<ConnShared>,
    mut closing: watch::Receiver<bool>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    // One wait for the whole loop, as in `read_loop`.
    let mut closed = std::pin::pin!(closing.wait_for(|c| *c));
    'outer: loop {
        let Either::Second(first) = first_of(closed.as_mut(), rx.recv()).await else {
            break;
        };
        // No sender left: every handle is gone, so the connection is no longer wanted.
        let Some(mut msg) = first else { break };
        // Batch whatever else is already queued into one write.
        loop {
            if msg.fds.is_empty() {
                buf.extend_from_slice(&msg.line);
            } else {
                if !buf.is_empty() {
                    trace!(bytes = buf.len(), "write");
                    if let Err(e) = writer.write_all(&buf).await {
                        debug!(error = %e, "write failed");
                        break 'outer;
                    }
                    buf.clear();
                }
                trace!(
                    bytes = msg.line.len(),
                    fds = msg.fds.len(),
                    "write with fds"
                );
                if let Err(e) = writer.write_with_fds(&msg.line, &msg.fds).await {
                    debug!(error = %e, "write with fds failed");
                    break 'outer;
                }
                // `msg.fds` drops here: our duplicates close once the kernel holds them.
            }
            if buf.len() >= 256 * 1024 {
                break;
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            trace!(bytes = buf.len(), "write");
            if let Err(e) = writer.write_all(&buf).await {
                debug!(error = %e, "write failed");
                break;
            }
            buf.clear();
        }
    }
    writer.shutdown().await;
    shared.teardown();
}

impl crate::call::Executor for Client {}

impl crate::command::Execute for Client {
    type Future<T: DeserializeOwned + Send + 'static> = ResponseFuture<T>;

    fn execute<C: Command>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        Client::execute(self, cmd)
    }

    fn execute_oob<C: OobCommand>(&self, cmd: C) -> ResponseFuture<C::Returns> {
        Client::execute_oob(self, cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::recover_id;

    #[test]
    fn recovers_trailing_ids() {
        assert_eq!(recover_id(b"xxxx], \"id\": 42}"), Some(42));
        assert_eq!(recover_id(b"xxxx],\"id\":7,\"x\":1}"), Some(7));
        assert_eq!(recover_id(b"\"id\": \"str\"}"), None);
        assert_eq!(recover_id(b"no id here"), None);
    }
}
