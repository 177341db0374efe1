//! Connecting: the options ([`ClientBuilder`]), the greeting and `qmp_capabilities`, and
//! starting a negotiated connection's tasks.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::AbortHandle;
use tracing::{debug, trace, warn, Instrument};

use super::connection::{deliver_event, lock, read_loop, write_loop, ConnShared, Pending};
use super::outbox::Outbox;
use super::{Backoff, Client, Conn, ConnectionState};
use crate::error::{Error, Result};
use crate::events::{Hub, DEFAULT_EVENT_BUFFER};
use crate::protocol::{self, Greeting, Incoming};
use crate::transport::framing::{Frame, LineReader, DEFAULT_MAX_LINE};
use crate::transport::{Endpoint, Halves, Transport, Writer};

/// Options for a connection. `Client::builder()` starts from the defaults.
///
/// # Timeouts
///
/// | limit | default | covers | set with |
/// |---|---|---|---|
/// | connect | 10 s | opening the socket (accept mode: QEMU connecting to us) | [`connect_timeout`](Self::connect_timeout) |
/// | negotiate | 10 s | the greeting and the `qmp_capabilities` reply | [`negotiate_timeout`](Self::negotiate_timeout) |
/// | command | none | each call, from when it is sent to its reply | [`command_timeout`](Self::command_timeout) |
/// | one call | the command limit | that call alone | [`Call::timeout`](crate::Call::timeout), [`ResponseFuture::timeout`](super::ResponseFuture::timeout), [`Call::wait_timeout`](crate::Call::wait_timeout) |
///
/// So a connect (or reconnect) never waits longer than the first two together, even for a
/// QEMU that accepts the connection but never answers (stopped, or hung). A call with a
/// limit fails with [`Error::Timeout`] when it passes; its reply, if it comes later, is
/// discarded by its id and reaches nobody. Without a limit a call waits as long as the
/// connection lives: some commands are slow by nature (`dump-guest-memory` with
/// `detach: false`, `query-qmp-schema` on a loaded host).
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(super) oob: bool,
    pub(super) connect_timeout: Duration,
    pub(super) negotiate_timeout: Duration,
    pub(super) command_timeout: Option<Duration>,
    pub(super) max_line: usize,
    pub(super) event_buffer: usize,
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
    /// answered with [`Error::Timeout`]; a late reply is discarded. A call's own limit
    /// ([`Call::timeout`](crate::Call::timeout)) replaces this one, longer or shorter.
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

    /// A client for `endpoint` that is not connected yet: subscribe to its events, then
    /// connect with [`Client::reconnect`] (or
    /// [`reconnect_with_backoff`](Client::reconnect_with_backoff)). Its subscribers receive
    /// every event of the connection, including those QEMU sends while the client
    /// negotiates, which a subscription taken after [`connect`](Self::connect) returns
    /// cannot see.
    ///
    /// ```no_run
    /// # async fn demo() -> qemu_qmp::Result<()> {
    /// use qemu_qmp::{api::EventKind, Client, EventFilter};
    ///
    /// let client = Client::builder().build(std::path::Path::new("/run/qemu/vm0.qmp"));
    /// let shutdowns = client.subscribe(EventFilter::kinds([EventKind::Shutdown]));
    /// client.reconnect().await?;
    /// # drop(shutdowns); Ok(()) }
    /// ```
    pub fn build(self, endpoint: impl Into<Endpoint>) -> Client {
        Client::unconnected(self, Some(endpoint.into()))
    }

    /// A client with no endpoint, not connected: subscribe, then hand it a connected
    /// stream with [`Client::reconnect_with`] (a socket accepted from QEMU, a test peer).
    pub fn build_without_endpoint(self) -> Client {
        Client::unconnected(self, None)
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

impl Client {
    pub(super) async fn establish(&self, transport: Transport) -> Result<()> {
        let result = self.establish_inner(transport).await;
        if result.is_err() {
            self.inner.state.send_replace(ConnectionState::Closed);
        }
        result
    }

    async fn establish_inner(&self, transport: Transport) -> Result<()> {
        let config = &self.inner.config;
        let Halves {
            reader,
            mut writer,
            fd_capable,
        } = transport.into_halves();
        let mut lines = LineReader::new(reader, config.max_line);
        let t = config.negotiate_timeout;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let hub = &self.inner.events;
        // The request id of `qmp_capabilities` names the connection to the event hub too.
        hub.begin(id);
        let negotiated =
            tokio::time::timeout(t, negotiate(&mut lines, &mut writer, config.oob, id, hub))
                .await
                .map_err(|_| Error::Timeout(t))
                .and_then(|r| r);
        let (greeting, oob) = match negotiated {
            Ok(done) => done,
            Err(e) => {
                hub.end(id);
                return Err(e);
            }
        };
        debug!(version = %greeting.version.qemu, oob, "negotiated");

        let outbox = Arc::new(Outbox::new());
        let shared = Arc::new(ConnShared {
            pending: Mutex::new(Pending {
                map: HashMap::default(),
                closed: false,
                peak: 0,
                tasks: Vec::new(),
            }),
            events: hub.clone(),
            conn_id: id,
            client: Arc::downgrade(&self.inner),
        });
        let conn = Arc::new(Conn {
            outbox: outbox.clone(),
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
        hub.up(id);
        self.inner.state.send_replace(ConnectionState::Running);
        let span = tracing::debug_span!("qmp", conn = id);
        let reader_task = tokio::spawn(read_loop(lines, shared.clone()).instrument(span.clone()));
        let writer_task = tokio::spawn(write_loop(outbox, writer, shared.clone()).instrument(span));
        {
            let mut pending = lock(&shared.pending);
            let handles = [reader_task.abort_handle(), writer_task.abort_handle()];
            if pending.closed {
                // Torn down already (QEMU exited at once): nothing is left to stop them.
                handles.iter().for_each(AbortHandle::abort);
            } else {
                pending.tasks.extend(handles);
            }
        }
        lock(&conn.tasks).extend([reader_task, writer_task]);
        Ok(())
    }
}

/// Reads the greeting and leaves capabilities negotiation mode, enabling `oob` if asked
/// for and offered. Events that come before the reply (QEMU sends them) go to `hub` as
/// events of connection `id`.
async fn negotiate<R: AsyncRead + Unpin>(
    lines: &mut LineReader<R>,
    writer: &mut Writer,
    want_oob: bool,
    id: u64,
    hub: &Hub,
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
        if let Some(name) = msg.event {
            debug!(event = %name, bytes = line.len(), "recv event during negotiation");
            deliver_event(hub, id, &name, msg.data, msg.timestamp);
            continue;
        }
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
