//! The async guest-agent client: a cheap handle, and one task that owns the socket.
//!
//! The agent executes one command at a time and has no way to say which request a reply
//! answers once the two sides are out of step, so calls are not pipelined: each call is
//! queued on a channel in the order it was made, and the task takes them one by one. For
//! each it makes sure the stream is in step (a sync, see [`super::sync`], after a
//! (re)connect, a timeout, garbage or a command that answers nothing), writes the request
//! and reads until its reply or its deadline. The task finishes every exchange on its own:
//! a caller that stops waiting (its future dropped) leaves nothing half-read behind, and
//! the callers queued behind it are served in turn.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, trace, warn};

use super::sync::{self, SyncLine, SyncScan};
use crate::command::{Command, Execute, OobCommand};
use crate::error::{Error, Result};
use crate::protocol::{self, Incoming};
use crate::transport::framing::{Frame, LineReader};

/// The default cap on one message from the agent: 64 MiB. `guest-exec-status` carries up
/// to 16 MiB of output per stream, base64-encoded (a third larger), so QMP's 10 MiB would
/// cut real replies short.
pub const DEFAULT_MAX_AGENT_MESSAGE: usize = 64 * 1024 * 1024;

/// The future of one agent call.
pub type AgentFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// Options for a guest-agent connection; [`AgentClient::builder`] starts from the defaults.
#[derive(Debug, Clone)]
pub struct AgentBuilder {
    pub(super) call_timeout: Duration,
    pub(super) sync_timeout: Duration,
    pub(super) quiet_period: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) max_message: usize,
    pub(super) sync_every_call: bool,
    pub(super) exec_poll: (Duration, Duration),
    pub(super) file_chunk: usize,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder {
            call_timeout: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(5),
            quiet_period: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            max_message: DEFAULT_MAX_AGENT_MESSAGE,
            sync_every_call: false,
            exec_poll: (Duration::from_millis(10), Duration::from_millis(500)),
            file_chunk: 48 * 1024,
        }
    }
}

impl AgentBuilder {
    /// The defaults: 30 s a call, 5 s a sync (libvirt's), a 2 s quiet period for the
    /// commands that answer nothing on success, 10 s to connect, 64 MiB a message, a sync
    /// only when the stream may be out of step, `guest-exec` polled from 10 ms doubling to
    /// 500 ms, files moved 48 KiB a call.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a call waits for its reply once its request is written (default 30 s);
    /// [`AgentClient::with_timeout`] changes it for the calls of one handle. Time spent
    /// queued behind other calls does not count: every call ahead is bounded too.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long a sync waits for the agent's answer (default 5 s). A call whose sync gets
    /// none fails with [`Error::AgentUnresponsive`] and is not sent.
    pub fn sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = timeout;
        self
    }

    /// How long the agent must stay quiet after a command that answers nothing on success
    /// (`guest-shutdown`, `guest-suspend-*`) for the call to count as a success (default
    /// 2 s); the agent closing the connection counts at once, an error reply fails it.
    pub fn quiet_period(mut self, period: Duration) -> Self {
        self.quiet_period = period;
        self
    }

    /// How long dialling the socket may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The cap on one incoming message (default [`DEFAULT_MAX_AGENT_MESSAGE`]); a longer
    /// one fails its call with [`Error::MessageTooLarge`] and is skipped.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Syncs before every call, not only when the stream may be out of step (default
    /// off): for an agent that may restart unseen behind a connection that stays open
    /// (a guest's virtio-serial port), at the price of one round trip a call.
    pub fn sync_before_every_call(mut self, always: bool) -> Self {
        self.sync_every_call = always;
        self
    }

    /// How [`AgentClient::exec`] polls `guest-exec-status`: first after `initial`, the
    /// delay doubling up to `max` (default 10 ms to 500 ms).
    pub fn exec_poll(mut self, initial: Duration, max: Duration) -> Self {
        self.exec_poll = (initial, max.max(initial));
        self
    }

    /// How many bytes a `guest-file-read`/`guest-file-write` moves (default 48 KiB, at
    /// least 1).
    pub fn file_chunk_size(mut self, bytes: usize) -> Self {
        self.file_chunk = bytes.max(1);
        self
    }

    /// Dials the agent's Unix socket: `qemu-ga`'s own (`-m unix-listen -p PATH`), or the
    /// host side of a guest's virtio-serial chardev
    /// (`-chardev socket,path=PATH,server=on,wait=off,id=qga0`). There is no greeting;
    /// the first call syncs. After the connection breaks, the next call dials again.
    pub async fn connect(self, path: impl AsRef<Path>) -> Result<AgentClient> {
        let path = path.as_ref().to_owned();
        let conn = dial(&path, self.connect_timeout, self.max_message).await?;
        Ok(self.start(Some(path), Some(conn)))
    }

    /// Uses an already-open stream to the agent. When it breaks, calls fail with
    /// [`Error::Disconnected`]: there is nothing to dial again.
    pub async fn connect_stream<S>(self, stream: S) -> Result<AgentClient>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = crate::transport::stream::split(Box::pin(stream));
        let conn = Conn::new(Box::new(r), Box::new(w), self.max_message);
        Ok(self.start(None, Some(conn)))
    }

    /// [`connect_stream`](Self::connect_stream) for a connected Unix socket.
    pub async fn connect_unix_stream(self, stream: UnixStream) -> Result<AgentClient> {
        let (r, w) = stream.into_split();
        let conn = Conn::new(Box::new(r), Box::new(w), self.max_message);
        Ok(self.start(None, Some(conn)))
    }

    fn start(self, endpoint: Option<PathBuf>, conn: Option<Conn>) -> AgentClient {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            rx,
            endpoint: endpoint.clone(),
            conn,
            in_step: false,
            options: self.clone(),
        };
        tokio::spawn(task.run());
        AgentClient {
            timeout: self.call_timeout,
            shared: Arc::new(Shared {
                tx,
                next_id: AtomicU64::new(1),
                options: self,
                endpoint,
            }),
        }
    }
}

/// A guest-agent client. Cheap to clone; clones share the connection and its queue.
///
/// Calls are answered one at a time in the order they were made (the agent executes one
/// command at a time); any number of tasks may call at once. Every call has a timeout
/// ([`AgentBuilder::call_timeout`], [`with_timeout`](Self::with_timeout)), after which the
/// stream is resynchronised before the next call.
#[derive(Clone, Debug)]
pub struct AgentClient {
    shared: Arc<Shared>,
    timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    tx: mpsc::UnboundedSender<Job>,
    next_id: AtomicU64,
    options: AgentBuilder,
    endpoint: Option<PathBuf>,
}

impl AgentClient {
    /// The default options, to change before connecting.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::new()
    }

    /// Dials the agent's Unix socket with the default options (see
    /// [`AgentBuilder::connect`]).
    pub async fn connect(path: impl AsRef<Path>) -> Result<AgentClient> {
        AgentBuilder::new().connect(path).await
    }

    /// A handle to the same connection whose calls wait up to `timeout` for their reply
    /// (a slow `guest-fsfreeze-freeze`, say).
    pub fn with_timeout(&self, timeout: Duration) -> AgentClient {
        AgentClient {
            shared: self.shared.clone(),
            timeout,
        }
    }

    /// The reply timeout of this handle's calls.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The socket path the client dials, if it was built from one.
    pub fn endpoint(&self) -> Option<&Path> {
        self.shared.endpoint.as_deref()
    }

    pub(super) fn options(&self) -> &AgentBuilder {
        &self.shared.options
    }

    /// Executes a command and decodes its typed return. The call is queued at once, so
    /// calls are answered in the order this method was called. Commands that answer nothing
    /// on success ([`Command::SUCCESS_RESPONSE`]) succeed when the agent stays quiet for
    /// the quiet period or closes the connection.
    pub fn execute<C: Command>(&self, cmd: C) -> AgentFuture<C::Returns> {
        let queued = self.submit(C::NAME, &cmd, C::SUCCESS_RESPONSE, self.timeout);
        Box::pin(async move {
            let raw = queued?.await.map_err(|_| Error::Disconnected)??;
            C::decode_return(&raw).map_err(|error| Error::Decode {
                command: C::NAME.to_string(),
                error,
            })
        })
    }

    /// Executes `name` with JSON arguments and gives back the raw `return` value.
    pub fn execute_raw(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> AgentFuture<serde_json::Value> {
        let queued = self.submit(name, &arguments, true, self.timeout);
        let name = name.to_string();
        Box::pin(async move {
            let raw = queued?.await.map_err(|_| Error::Disconnected)??;
            serde_json::from_str(raw.get()).map_err(|error| Error::Decode {
                command: name,
                error,
            })
        })
    }

    /// Syncs now (not only when the stream may be out of step): proves the agent answers.
    pub async fn sync(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .tx
            .send(Job::Sync { reply })
            .map_err(|_| Error::Disconnected)?;
        answer.await.map_err(|_| Error::Disconnected)?
    }

    /// Closes the connection (after the calls queued before this one); a later call dials
    /// again when the client was built from a path.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.shared.tx.send(Job::Close { reply }).is_ok() {
            let _ = done.await;
        }
    }

    /// Queues a request; the receiver gets its raw `return` value. Synchronous on purpose:
    /// the order of calls is the order of the queue, and a drop guard can queue a clean-up
    /// call (see `files.rs`).
    pub(super) fn submit<A: Serialize + ?Sized>(
        &self,
        name: &str,
        arguments: &A,
        reply_expected: bool,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Result<Box<RawValue>>>> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = Vec::new();
        protocol::encode_request(&mut line, name, arguments, id, false).map_err(|error| {
            Error::Encode {
                command: name.to_string(),
                error,
            }
        })?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            name: name.to_string(),
            line,
            id,
            reply_expected,
            timeout,
            reply,
        };
        self.shared
            .tx
            .send(Job::Call(request))
            .map_err(|_| Error::Disconnected)?;
        Ok(answer)
    }
}

impl super::Executor for AgentClient {}

impl Execute for AgentClient {
    type Future<T: DeserializeOwned + Send + 'static> = AgentFuture<T>;

    fn execute<C: Command>(&self, cmd: C) -> AgentFuture<C::Returns> {
        AgentClient::execute(self, cmd)
    }

    /// The agent has no out-of-band execution (it refuses `exec-oob`).
    fn execute_oob<C: OobCommand>(&self, _cmd: C) -> AgentFuture<C::Returns> {
        Box::pin(async { Err(Error::OobNotNegotiated) })
    }
}

enum Job {
    Call(Request),
    Sync { reply: oneshot::Sender<Result<()>> },
    Close { reply: oneshot::Sender<()> },
}

struct Request {
    name: String,
    /// The request as written, newline included.
    line: Vec<u8>,
    /// Its `id`, which the agent echoes in its reply.
    id: u64,
    reply_expected: bool,
    timeout: Duration,
    reply: oneshot::Sender<Result<Box<RawValue>>>,
}

impl Request {
    fn delimited(&self) -> bool {
        self.name == "guest-sync-delimited"
    }
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

struct Conn {
    reader: LineReader<Reader>,
    writer: Writer,
}

impl Conn {
    fn new(reader: Reader, writer: Writer, max_message: usize) -> Conn {
        Conn {
            reader: LineReader::new(reader, max_message),
            writer,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        crate::transport::stream::write_all(&mut self.writer, bytes).await?;
        crate::transport::stream::flush(&mut self.writer).await
    }
}

async fn dial(path: &Path, timeout: Duration, max_message: usize) -> Result<Conn> {
    let stream = match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(Error::Io(std::io::Error::new(
                e.kind(),
                format!(
                    "cannot connect to the guest agent at {}: {e}",
                    path.display()
                ),
            )))
        }
        Err(_) => return Err(Error::Timeout(timeout)),
    };
    let (r, w) = stream.into_split();
    Ok(Conn::new(Box::new(r), Box::new(w), max_message))
}

/// What reading for one reply came to.
enum Outcome {
    /// The reply (its `return`) or the agent's error.
    Reply(Result<Box<RawValue>>),
    /// Something that is not a reply to a command, in its place.
    Garbage(String),
    TooLarge(usize),
    Closed,
    Failed(std::io::Error),
}

/// The instant `after` from now, or a far one for a timeout too long to add.
pub(super) fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

/// Reads until the reply to request `id`: replies to other requests (stale) are skipped.
/// Only a `delimited` request (`guest-sync-delimited`, which a caller may send too) has
/// its reply after a 0xFF; in any other reply the byte means it is no reply.
async fn read_reply(reader: &mut LineReader<Reader>, id: u64, delimited: bool) -> Outcome {
    loop {
        let frame = match reader.next_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Outcome::Closed,
            Err(e) => return Outcome::Failed(e),
        };
        let line = match frame {
            Frame::Line(line) => line,
            Frame::Overflowing { size } | Frame::TooLong { size, .. } => {
                return Outcome::TooLarge(size)
            }
        };
        let line = match line.iter().rposition(|&b| b == sync::DELIMITER) {
            Some(at) if delimited => &line[at + 1..],
            Some(_) => return Outcome::Garbage(protocol::preview(line)),
            None => line,
        };
        let Ok(msg) = serde_json::from_slice::<Incoming<'_>>(line) else {
            return Outcome::Garbage(protocol::preview(line));
        };
        if let Some(raw) = msg.id {
            if protocol::parse_id(raw) != Some(id) {
                trace!(line = %protocol::preview(line), "skipping a stale agent reply");
                continue;
            }
        }
        if let Some(error) = msg.error {
            return Outcome::Reply(Err(Error::Qmp {
                class: error.class,
                desc: error.desc,
            }));
        }
        match msg.ret {
            Some(ret) => return Outcome::Reply(Ok(ret)),
            None => return Outcome::Garbage(protocol::preview(line)),
        }
    }
}

/// The first of two futures to finish.
enum First<A, B> {
    Left(A),
    Right(B),
}

async fn first<A: Future, B: Future>(a: A, b: B) -> First<A::Output, B::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(First::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(First::Right(out));
        }
        Poll::Pending
    })
    .await
}

/// The connection task: owns the socket, takes the queued calls one by one.
struct Task {
    rx: mpsc::UnboundedReceiver<Job>,
    endpoint: Option<PathBuf>,
    conn: Option<Conn>,
    /// Whether nothing is outstanding on the stream: the last exchange ended with its
    /// reply (or a sync succeeded) since the connection was made.
    in_step: bool,
    options: AgentBuilder,
}

impl Task {
    async fn run(mut self) {
        while let Some(job) = self.rx.recv().await {
            match job {
                Job::Call(request) => self.call(request).await,
                Job::Sync { reply } => {
                    let mut redialled = false;
                    let result = self.prepare(true, &mut redialled).await;
                    let _ = reply.send(result);
                }
                Job::Close { reply } => {
                    self.conn = None;
                    self.in_step = false;
                    let _ = reply.send(());
                }
            }
        }
        debug!("guest agent client: the last handle is gone, closing");
    }

    async fn call(&mut self, mut request: Request) {
        if request.reply.is_closed() {
            // The caller gave up while queued: nothing was sent, nothing to read.
            return;
        }
        let result = self.exchange(&mut request).await;
        if let Err(e) = &result {
            debug!(command = %request.name, error = %e, "guest agent call failed");
        }
        let _ = request.reply.send(result);
    }

    async fn connect(&mut self) -> Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        let Some(path) = &self.endpoint else {
            return Err(Error::Disconnected);
        };
        let conn = dial(path, self.options.connect_timeout, self.options.max_message).await?;
        debug!(path = %path.display(), "guest agent: connected");
        self.conn = Some(conn);
        self.in_step = false;
        Ok(())
    }

    /// Connects if need be and syncs if the stream may be out of step (or `always`). A
    /// connection found dead in the sync is dialled again once (unless `redialled`).
    async fn prepare(&mut self, always: bool, redialled: &mut bool) -> Result<()> {
        loop {
            self.connect().await?;
            if self.in_step && !always {
                return Ok(());
            }
            match self.sync().await {
                Ok(()) => return Ok(()),
                Err(e) if self.conn.is_none() && self.endpoint.is_some() && !*redialled => {
                    debug!(error = %e, "guest agent: connection lost while idle, dialling again");
                    *redialled = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops a broken connection; the error a call gets for it.
    fn broken(&mut self, error: Option<std::io::Error>) -> Error {
        self.conn = None;
        self.in_step = false;
        match error {
            Some(e) if !is_disconnect(&e) => Error::Io(e),
            _ => Error::Disconnected,
        }
    }

    /// Brings the stream in step: the delimiter, `guest-sync-delimited` with a fresh id,
    /// and everything dropped up to its reply.
    async fn sync(&mut self) -> Result<()> {
        let waited = self.options.sync_timeout;
        let deadline = deadline_after(waited);
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Disconnected);
        };
        let id = sync::random_id();
        trace!(id, "guest agent: sync");
        match timeout_at(deadline, conn.write(&sync::sync_request(id))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.broken(Some(e))),
            Err(_) => return Err(Error::AgentUnresponsive { waited }),
        }
        let mut scan = SyncScan::new(id);
        let mut dropped = 0usize;
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Err(Error::Disconnected);
            };
            let frame = match timeout_at(deadline, conn.reader.next_frame()).await {
                Err(_) => {
                    warn!(?waited, "guest agent: no answer to guest-sync-delimited");
                    return Err(Error::AgentUnresponsive { waited });
                }
                Ok(Err(e)) => return Err(self.broken(Some(e))),
                Ok(Ok(None)) => return Err(self.broken(None)),
                Ok(Ok(Some(frame))) => frame,
            };
            if let Frame::Line(line) = frame {
                if scan.line(line) == SyncLine::Synced {
                    if dropped > 0 {
                        debug!(dropped, "guest agent: in step, older lines dropped");
                    }
                    self.in_step = true;
                    return Ok(());
                }
            }
            dropped += 1;
        }
    }

    async fn exchange(&mut self, request: &mut Request) -> Result<Box<RawValue>> {
        // A connection that died while idle (the agent restarted) shows only now, in the
        // sync or the write; nothing of this call has reached an agent then, so it is
        // dialled again, once.
        let mut redialled = false;
        let deadline = loop {
            self.prepare(self.options.sync_every_call, &mut redialled)
                .await?;
            let Some(conn) = self.conn.as_mut() else {
                return Err(Error::Disconnected);
            };
            // Until its reply has been read, the stream is out of step.
            self.in_step = false;
            let deadline = deadline_after(request.timeout);
            trace!(command = %request.name, id = request.id, "guest agent: sending");
            match timeout_at(deadline, conn.write(&request.line)).await {
                Ok(Ok(())) => break deadline,
                Ok(Err(e)) => {
                    let error = self.broken(Some(e));
                    if self.endpoint.is_some() && !redialled {
                        debug!(%error, "guest agent: connection lost while idle, dialling again");
                        redialled = true;
                        continue;
                    }
                    return Err(error);
                }
                Err(_) => return Err(Error::Timeout(request.timeout)),
            }
        };
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Disconnected);
        };
        if !request.reply_expected {
            return self.await_quiet(request).await;
        }
        let outcome = first(
            timeout_at(
                deadline,
                read_reply(&mut conn.reader, request.id, request.delimited()),
            ),
            request.reply.closed(),
        )
        .await;
        match outcome {
            First::Left(Ok(outcome)) => self.settle(outcome, &request.name),
            First::Left(Err(_)) => Err(Error::Timeout(request.timeout)),
            // Nobody waits for this reply any more: the next call syncs past it.
            First::Right(()) => Err(Error::Disconnected),
        }
    }

    /// A command that answers nothing on success: the agent staying quiet, or going away,
    /// is the success; an error reply is still an error.
    async fn await_quiet(&mut self, request: &Request) -> Result<Box<RawValue>> {
        let quiet = self.options.quiet_period;
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Disconnected);
        };
        let nothing = || {
            RawValue::from_string("{}".to_string()).map_err(|error| Error::Decode {
                command: "a command without a success reply".to_string(),
                error,
            })
        };
        match tokio::time::timeout(
            quiet,
            read_reply(&mut conn.reader, request.id, request.delimited()),
        )
        .await
        {
            // The stream stays out of step: the agent may be on its way down.
            Err(_) => nothing(),
            Ok(Outcome::Closed | Outcome::Failed(_)) => {
                self.conn = None;
                nothing()
            }
            Ok(outcome) => self.settle(outcome, "a command without a success reply"),
        }
    }

    /// The result of a call from what reading for its reply came to.
    fn settle(&mut self, outcome: Outcome, command: &str) -> Result<Box<RawValue>> {
        match outcome {
            Outcome::Reply(result) => {
                self.in_step = true;
                result
            }
            Outcome::Garbage(preview) => Err(Error::Protocol {
                message: format!(
                    "the guest agent answered `{command}` with something that is not a \
                     reply: {preview} (the stream is resynchronised before the next call)"
                ),
            }),
            Outcome::TooLarge(size) => Err(Error::MessageTooLarge {
                size,
                limit: self.options.max_message,
            }),
            Outcome::Closed => Err(self.broken(None)),
            Outcome::Failed(e) => Err(self.broken(Some(e))),
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof | NotConnected
    )
}
