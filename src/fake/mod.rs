//! A fake QMP server for testing code that drives QEMU, without QEMU (feature `fake`).
//!
//! [`FakeQmp`] speaks the real protocol (greeting, `qmp_capabilities`, ids, out-of-band
//! execution with QEMU's queueing, events with timestamps, optionally QEMU's pretty
//! output) and answers what the test scripted, with the generated types:
//!
//! ```no_run
//! # async fn test() -> Result<(), Box<dyn std::error::Error>> {
//! use qemu_qmp::api::{QueryStatus, RunState, StatusInfo, Stop};
//! use qemu_qmp::fake::FakeQmp;
//! use qemu_qmp::Commands;
//!
//! let fake = FakeQmp::new();
//! fake.on::<QueryStatus>()
//!     .returns(StatusInfo::new(true, RunState::Running));
//! fake.on::<Stop>().then_emit(qemu_qmp::Event::Stop).returns(());
//!
//! let client = fake.client().await?;
//! assert!(client.query_status().await?.running);
//! client.stop().await?;
//! assert_eq!(fake.received_of::<Stop>()?.len(), 1);
//! # Ok(()) }
//! ```
//!
//! A command nobody scripted is answered with `CommandNotFound` and remembered: the test
//! fails when the last handle of the fake is dropped (or at [`FakeQmp::verify`]) with a
//! message naming the command and its arguments. What the server received can be read
//! back, typed, with [`FakeQmp::received_of`].
//!
//! The fake serves in-process over a socket pair ([`FakeQmp::client`],
//! [`FakeQmp::connect_pair`]), on a Unix socket path so that another program can use it in
//! place of QEMU ([`FakeQmp::listen_unix`]), or dials a client waiting in accept mode
//! ([`FakeQmp::connect_unix`]). It can also replay a recorded conversation
//! ([`Transcript`], [`FakeQmpBuilder::replay`]); [`Recorder`] records one between a client
//! and a real QEMU.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::client::{Client, ClientBuilder};
use crate::command::Command;
use crate::error::ErrorClass;
use crate::protocol::{Capability, Greeting, QemuVersion, VersionTriple};
use crate::transport::Transport;

mod record;
mod script;
mod serve;
mod transcript;

pub use record::Recorder;
use script::{Action, Response, RuleEntry, Script, ScriptedEvent};
pub use transcript::{Exchange, ReplayOrder, Transcript, TranscriptError, TranscriptFormat};

/// A scripted QMP server. Cheap to clone; every clone is the same server, and every
/// connection to it follows the same script.
#[derive(Clone)]
pub struct FakeQmp {
    handle: Arc<Handle>,
}

/// The user's handle: when the last one goes, unscripted commands fail the test.
struct Handle {
    shared: Arc<Shared>,
}

/// What the connections' tasks share with the handles.
struct Shared {
    options: Options,
    script: Mutex<Script>,
    log: Mutex<Log>,
    connections: Mutex<Vec<Connection>>,
    next_connection: AtomicU64,
}

/// The server's log of what it was sent.
#[derive(Default)]
struct Log {
    received: Vec<Received>,
    unscripted: Vec<Received>,
    /// How many of `unscripted` were already reported by `verify`.
    reported: usize,
}

/// A live connection, for events and closing from the handle.
struct Connection {
    id: u64,
    tx: mpsc::UnboundedSender<serve::Out>,
    /// Whether `qmp_capabilities` succeeded on it (QEMU sends events only then).
    negotiated: Arc<std::sync::atomic::AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is one update of a list; a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The greeting the fake sends first.
#[derive(Debug, Clone)]
enum GreetingScript {
    /// A well-formed greeting.
    Standard(Greeting),
    /// These bytes, whatever they are.
    Raw(Vec<u8>),
    /// Nothing: the server never greets.
    Silent,
}

#[derive(Debug, Clone)]
struct Options {
    greeting: GreetingScript,
    pretty: bool,
    refuse_negotiation: Option<(ErrorClass, String)>,
    reorder_replies: bool,
    allow_unscripted: bool,
    events_before_negotiation: Vec<(String, Value)>,
    in_band_queue: usize,
    /// Plays QEMU's guest agent instead of a QMP monitor.
    guest_agent: bool,
}

/// Options for a [`FakeQmp`]: the greeting, the output form and protocol behaviour.
/// [`FakeQmp::builder`] starts from a QEMU 10.0.0 that offers `oob`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct FakeQmpBuilder {
    version: VersionTriple,
    package: String,
    vendor: String,
    capabilities: Vec<Capability>,
    greeting_override: Option<GreetingScript>,
    options: Options,
    replay: Option<(Transcript, ReplayOrder)>,
}

impl Default for FakeQmpBuilder {
    fn default() -> Self {
        FakeQmpBuilder {
            version: VersionTriple {
                major: 10,
                minor: 0,
                micro: 0,
            },
            package: "qemu-qmp fake".into(),
            vendor: "qemu".into(),
            capabilities: vec![Capability::Oob],
            greeting_override: None,
            options: Options {
                greeting: GreetingScript::Silent,
                pretty: false,
                refuse_negotiation: None,
                reorder_replies: false,
                allow_unscripted: false,
                events_before_negotiation: Vec::new(),
                in_band_queue: serve::QEMU_IN_BAND_QUEUE,
                guest_agent: false,
            },
            replay: None,
        }
    }
}

impl FakeQmpBuilder {
    /// The defaults: QEMU 10.0.0, `oob` offered, compact output, replies in order.
    pub fn new() -> Self {
        Self::default()
    }

    /// The QEMU release the greeting names.
    pub fn version(mut self, major: i64, minor: i64, micro: i64) -> Self {
        self.version = VersionTriple {
            major,
            minor,
            micro,
        };
        self
    }

    /// The greeting's `package` string.
    pub fn package(mut self, package: impl Into<String>) -> Self {
        self.package = package.into();
        self
    }

    /// The key of the greeting's version block (`qemu` by default): another vendor's
    /// server names itself there (StratoVirt's greeting has `version.StratoVirt`).
    pub fn vendor(mut self, vendor: impl Into<String>) -> Self {
        self.vendor = vendor.into();
        self
    }

    /// The capabilities the greeting offers (`oob` by default).
    pub fn capabilities(mut self, capabilities: impl IntoIterator<Item = Capability>) -> Self {
        self.capabilities = capabilities.into_iter().collect();
        self
    }

    /// Sends these bytes as the greeting instead (malformed ones included).
    pub fn raw_greeting(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.greeting_override = Some(GreetingScript::Raw(bytes.into()));
        self
    }

    /// Sends no greeting at all.
    pub fn no_greeting(mut self) -> Self {
        self.greeting_override = Some(GreetingScript::Silent);
        self
    }

    /// Writes every message in QEMU's pretty form (`-mon ...,pretty=on`: indented, over
    /// many CRLF-ended lines).
    pub fn pretty(mut self, pretty: bool) -> Self {
        self.options.pretty = pretty;
        self
    }

    /// Answers `qmp_capabilities` with this error.
    pub fn refuse_negotiation(mut self, class: ErrorClass, desc: impl Into<String>) -> Self {
        self.options.refuse_negotiation = Some((class, desc.into()));
        self
    }

    /// Lets in-band replies overtake each other when their delays say so (QEMU answers
    /// in-band commands strictly in order; out-of-band ones overtake them in any case).
    pub fn reorder_replies(mut self, reorder: bool) -> Self {
        self.options.reorder_replies = reorder;
        self
    }

    /// Lets commands nobody scripted pass without failing the test (they are still
    /// answered with `CommandNotFound` and listed in [`FakeQmp::unscripted`]).
    pub fn allow_unscripted(mut self, allow: bool) -> Self {
        self.options.allow_unscripted = allow;
        self
    }

    /// Sends this event right after the greeting, before the client negotiates (QEMU
    /// itself does not; other servers and proxies may).
    pub fn event_before_negotiation(mut self, name: impl Into<String>, data: Value) -> Self {
        self.options
            .events_before_negotiation
            .push((name.into(), data));
        self
    }

    /// How many in-band requests a connection queues before it stops reading (QEMU: 8
    /// with `oob` negotiated; without it, one at a time).
    pub fn in_band_queue(mut self, requests: usize) -> Self {
        self.options.in_band_queue = requests.max(1);
        self
    }

    /// Plays QEMU's guest agent (`qemu-ga`) instead of a QMP monitor: no greeting and no
    /// negotiation, one command at a time, no out-of-band execution; the byte 0xFF resets
    /// the reader (answered with a parse error, as the agent answers it), and
    /// `guest-sync-delimited` / `guest-sync` are answered as the agent answers them (the
    /// former after a 0xFF) unless a rule scripts them otherwise, as for faults in the
    /// sync. Commands are scripted as usual, with the agent's types
    /// (`qemu_qmp::agent::api`, feature `agent`).
    pub fn guest_agent(mut self) -> Self {
        self.options.guest_agent = true;
        self.options.in_band_queue = 1;
        self.greeting_override = Some(GreetingScript::Silent);
        self
    }

    /// Answers from a recorded conversation: requests that match one of its exchanges
    /// get its reply (with the request's own id) and the events recorded after it. Rules
    /// scripted with [`FakeQmp::on`] are tried first. The transcript's greeting, if it has
    /// one, replaces the configured one.
    pub fn replay(mut self, transcript: Transcript, order: ReplayOrder) -> Self {
        self.replay = Some((transcript, order));
        self
    }

    /// The server.
    pub fn build(mut self) -> FakeQmp {
        // A capture without its greeting (libvirt's have none) still says which QEMU
        // answered it, in its `query-version`.
        if let Some((transcript, _)) = &self.replay {
            let version = transcript
                .exchanges()
                .iter()
                .find(|e| e.command() == "query-version")
                .and_then(|e| serde_json::from_value::<QemuVersion>(e.returned()?.clone()).ok());
            if let Some(version) = version {
                self.version = version.qemu;
                self.package = version.package;
            }
        }
        let mut options = self.options;
        let replay_greeting = self
            .replay
            .as_ref()
            .and_then(|(t, _)| t.greeting().cloned());
        options.greeting = match (self.greeting_override, replay_greeting) {
            (Some(over), _) => over,
            (None, Some(recorded)) => {
                GreetingScript::Raw(serve::line_of(&recorded, options.pretty))
            }
            (None, None) => {
                let mut version = QemuVersion::new(self.version, self.package);
                version.vendor = self.vendor;
                GreetingScript::Standard(Greeting {
                    version,
                    capabilities: self.capabilities,
                })
            }
        };
        let mut script = Script::default();
        if let Some((transcript, order)) = self.replay {
            script.replay = Some(script::Replay::new(transcript, order));
        }
        FakeQmp {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    options,
                    script: Mutex::new(script),
                    log: Mutex::new(Log::default()),
                    connections: Mutex::new(Vec::new()),
                    next_connection: AtomicU64::new(1),
                }),
            }),
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Received {
    /// The command's name.
    pub command: String,
    /// Its arguments (`{}` when the request had none).
    pub arguments: Value,
    /// The request's id, if it had one.
    pub id: Option<Value>,
    /// Whether it came with `exec-oob`.
    pub oob: bool,
    /// Which connection it came on (numbered from 1 in the order they were made).
    pub connection: u64,
}

impl Received {
    /// The arguments decoded as command `C`'s.
    pub fn arguments_as<C: DeserializeOwned>(&self) -> serde_json::Result<C> {
        serde_json::from_value(self.arguments.clone())
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` with arguments {}{}",
            self.command,
            self.arguments,
            if self.oob { " (out of band)" } else { "" }
        )
    }
}

/// Commands the server received that nothing scripted: the error of
/// [`FakeQmp::verify`].
#[derive(Debug, Clone)]
pub struct Unscripted {
    /// The requests, in the order they came.
    pub requests: Vec<Received>,
}

impl fmt::Display for Unscripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the fake QMP server received {} command(s) nothing scripted:",
            self.requests.len()
        )?;
        for r in &self.requests {
            write!(f, "\n  {r}")?;
        }
        write!(
            f,
            "\nscript them with FakeQmp::on, or build the server with allow_unscripted(true)"
        )
    }
}

impl std::error::Error for Unscripted {}

impl Default for FakeQmp {
    fn default() -> Self {
        FakeQmp::new()
    }
}

impl FakeQmp {
    /// A server with the default options (see [`FakeQmpBuilder::new`]).
    pub fn new() -> Self {
        FakeQmpBuilder::new().build()
    }

    /// Options for a server.
    pub fn builder() -> FakeQmpBuilder {
        FakeQmpBuilder::new()
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Scripts the answer to command `C`: finish the returned rule with
    /// [`returns`](Rule::returns), [`error`](Rule::error) or another answer. Rules are
    /// tried in the order they were made; one limited with [`times`](Rule::times) is
    /// skipped once used up.
    pub fn on<C: Command + DeserializeOwned>(&self) -> Rule<'_, C> {
        Rule {
            fake: self,
            spec: RuleSpec::new(C::NAME),
            _command: PhantomData,
        }
    }

    /// Scripts the answer to a command by name, with JSON arguments and returns: for
    /// commands the bindings do not know.
    pub fn on_command(&self, name: impl Into<String>) -> RawRule<'_> {
        RawRule {
            fake: self,
            spec: RuleSpec::new(name),
        }
    }

    /// Sends a typed event to every negotiated connection now, stamped with the current
    /// time.
    pub fn emit(&self, event: &crate::Event) {
        self.emit_raw(event.name(), event.data_value());
    }

    /// Sends an event by name with JSON data (`Null` for none) to every negotiated
    /// connection now: for events the bindings do not know, or malformed data.
    pub fn emit_raw(&self, name: &str, data: Value) {
        serve::broadcast_event(self.shared(), name, data);
    }

    /// Sends these bytes to every connection now, as they are (for malformed input).
    pub fn send_raw(&self, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        for conn in lock(&self.shared().connections).iter() {
            let _ = conn.tx.send(serve::Out::Bytes(bytes.clone()));
        }
    }

    /// Closes every connection, as a QEMU that exits.
    pub fn close_connections(&self) {
        for conn in lock(&self.shared().connections).iter() {
            let _ = conn.tx.send(serve::Out::Close);
        }
    }

    /// How many connections are open.
    pub fn connections(&self) -> usize {
        lock(&self.shared().connections).len()
    }

    /// Serves a new in-process connection and returns the client's end (a Unix socket
    /// pair, so descriptors can be passed). Needs a tokio runtime.
    pub fn connect_pair(&self) -> io::Result<Transport> {
        let runtime = runtime()?;
        let (client, server) = UnixStream::pair()?;
        runtime.spawn(serve::serve(self.shared().clone(), Transport::unix(server)));
        Ok(Transport::unix(client))
    }

    /// A client connected to a new in-process connection, with the default options.
    pub async fn client(&self) -> crate::Result<Client> {
        self.client_with(ClientBuilder::new()).await
    }

    /// A client connected to a new in-process connection, with `builder`'s options.
    pub async fn client_with(&self, builder: ClientBuilder) -> crate::Result<Client> {
        builder.connect_transport(self.connect_pair()?).await
    }

    /// Listens on a Unix socket at `path` and serves everyone who connects, until the
    /// returned [`Listening`] is dropped (which removes the socket file). Another program
    /// can use it in place of QEMU's `-qmp unix:PATH,server=on`.
    pub fn listen_unix(&self, path: impl AsRef<Path>) -> io::Result<Listening> {
        let runtime = runtime()?;
        let path = path.as_ref().to_owned();
        let listener = tokio::net::UnixListener::bind(&path)?;
        let shared = self.shared().clone();
        let task = runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve::serve(shared.clone(), Transport::unix(stream)));
            }
        });
        Ok(Listening { path, task })
    }

    /// Accept mode: connects to a client listening at `path` (as QEMU does with
    /// `-qmp unix:PATH,server=off`) and serves that connection in the background.
    pub async fn connect_unix(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let stream = UnixStream::connect(path).await?;
        tokio::spawn(serve::serve(self.shared().clone(), Transport::unix(stream)));
        Ok(())
    }

    /// Every request received so far (negotiation included), in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared().log).received.clone()
    }

    /// The arguments of every `C` received so far, typed.
    pub fn received_of<C: Command + DeserializeOwned>(&self) -> serde_json::Result<Vec<C>> {
        lock(&self.shared().log)
            .received
            .iter()
            .filter(|r| r.command == C::NAME)
            .map(Received::arguments_as)
            .collect()
    }

    /// The requests nothing scripted, so far.
    pub fn unscripted(&self) -> Vec<Received> {
        lock(&self.shared().log).unscripted.clone()
    }

    /// Fails if any command came that nothing scripted. Those it reports no longer fail
    /// the test when the fake is dropped.
    pub fn verify(&self) -> Result<(), Unscripted> {
        let mut log = lock(&self.shared().log);
        log.reported = log.unscripted.len();
        if log.unscripted.is_empty() {
            Ok(())
        } else {
            Err(Unscripted {
                requests: log.unscripted.clone(),
            })
        }
    }

    fn add_rule(&self, entry: RuleEntry) {
        lock(&self.shared().script).rules.push(entry);
    }
}

impl fmt::Debug for FakeQmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeQmp")
            .field("connections", &self.connections())
            .field("received", &lock(&self.shared().log).received.len())
            .finish()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.shared.options.allow_unscripted || std::thread::panicking() {
            return;
        }
        let log = lock(&self.shared.log);
        if log.unscripted.len() > log.reported {
            let unscripted = Unscripted {
                requests: log.unscripted[log.reported..].to_vec(),
            };
            drop(log);
            panic!("{unscripted}");
        }
    }
}

fn runtime() -> io::Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .map_err(|_| io::Error::other("the fake QMP server needs a tokio runtime to run in"))
}

/// A Unix socket the fake serves on; dropping it stops accepting and removes the file
/// (connections already made go on).
#[derive(Debug)]
pub struct Listening {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a rule does besides its answer, shared by [`Rule`] and [`RawRule`].
struct RuleSpec {
    command: String,
    matcher: Option<script::Matcher>,
    times: Option<usize>,
    delay: Duration,
    then: Vec<ScriptedEvent>,
}

impl RuleSpec {
    fn new(command: impl Into<String>) -> Self {
        RuleSpec {
            command: command.into(),
            matcher: None,
            times: None,
            delay: Duration::ZERO,
            then: Vec::new(),
        }
    }

    fn finish(self, fake: &FakeQmp, action: Action) {
        fake.add_rule(RuleEntry {
            command: self.command,
            matcher: self.matcher,
            remaining: self.times,
            response: Response::new(self.delay, action, self.then),
        });
    }
}

/// A rule for command `C`, being scripted: conditions and timing first, then the answer.
#[must_use = "a rule is only added by its answer: `returns`, `error`, ..."]
pub struct Rule<'f, C> {
    fake: &'f FakeQmp,
    spec: RuleSpec,
    _command: PhantomData<fn(C)>,
}

impl<C: Command + DeserializeOwned> Rule<'_, C> {
    /// Applies only to requests whose typed arguments pass `predicate` (arguments that do
    /// not decode as `C`'s never do).
    pub fn when(mut self, predicate: impl Fn(&C) -> bool + Send + Sync + 'static) -> Self {
        self.spec.matcher = Some(Box::new(move |args: &Value| {
            serde_json::from_value::<C>(args.clone()).is_ok_and(|c| predicate(&c))
        }));
        self
    }

    /// Applies to the first `n` matching requests only.
    pub fn times(mut self, n: usize) -> Self {
        self.spec.times = Some(n);
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.spec.delay = delay;
        self
    }

    /// After answering, sends this typed event.
    pub fn then_emit(self, event: crate::Event) -> Self {
        self.then_emit_after(Duration::ZERO, event)
    }

    /// `after` the answer, sends this typed event.
    pub fn then_emit_after(self, after: Duration, event: crate::Event) -> Self {
        let data = event.data_value();
        self.then_emit_raw_after(after, event.name().to_owned(), data)
    }

    /// After answering, sends this event by name (JSON data; `Null` for none).
    pub fn then_emit_raw(self, name: impl Into<String>, data: Value) -> Self {
        self.then_emit_raw_after(Duration::ZERO, name, data)
    }

    /// `after` the answer, sends this event.
    pub fn then_emit_raw_after(
        mut self,
        after: Duration,
        name: impl Into<String>,
        data: Value,
    ) -> Self {
        self.spec.then.push(ScriptedEvent {
            after,
            name: name.into(),
            data,
        });
        self
    }

    /// Answers with this return value.
    pub fn returns(self, value: C::Returns)
    where
        C::Returns: Serialize,
    {
        let action = match serde_json::to_value(&value) {
            Ok(v) => Action::Return(v),
            Err(e) => Action::Error(
                ErrorClass::GenericError,
                format!("fake QMP server: the scripted return does not serialise: {e}"),
            ),
        };
        self.spec.finish(self.fake, action);
    }

    /// Answers with what `reply` makes of the typed arguments: a return value, or a QMP
    /// error as `(class, description)`.
    pub fn returns_with(
        self,
        reply: impl Fn(C) -> Result<C::Returns, (ErrorClass, String)> + Send + Sync + 'static,
    ) where
        C::Returns: Serialize,
    {
        let action = Action::Compute(Arc::new(move |args: &Value| {
            let command = serde_json::from_value::<C>(args.clone()).map_err(|e| {
                (
                    ErrorClass::GenericError,
                    format!("fake QMP server: arguments do not decode: {e}"),
                )
            })?;
            let value = reply(command)?;
            serde_json::to_value(&value).map_err(|e| {
                (
                    ErrorClass::GenericError,
                    format!("fake QMP server: the scripted return does not serialise: {e}"),
                )
            })
        }));
        self.spec.finish(self.fake, action);
    }

    /// Answers with a QMP error.
    pub fn error(self, class: ErrorClass, desc: impl Into<String>) {
        self.spec
            .finish(self.fake, Action::Error(class, desc.into()));
    }

    /// Never answers (the caller waits, as for a hung QEMU).
    pub fn no_reply(self) {
        self.spec.finish(self.fake, Action::NoReply);
    }

    /// Closes the connection instead of answering.
    pub fn close_connection(self) {
        self.spec.finish(self.fake, Action::Close);
    }

    /// Sends these bytes instead of an answer (malformed replies, replies to other ids).
    pub fn raw(self, bytes: impl Into<Vec<u8>>) {
        self.spec.finish(self.fake, Action::Raw(bytes.into()));
    }

    /// Sends the bytes `reply` makes from the request's id (JSON; `Null` when it had
    /// none) instead of an answer: a hand-written reply that still names its request.
    pub fn raw_with(self, reply: impl Fn(&Value) -> Vec<u8> + Send + Sync + 'static) {
        self.spec.finish(
            self.fake,
            Action::RawWith(Arc::new(move |request: &Received| {
                reply(request.id.as_ref().unwrap_or(&Value::Null))
            })),
        );
    }

    /// Sends the bytes `reply` makes from the whole request (its id and arguments)
    /// instead of an answer.
    pub fn raw_from(self, reply: impl Fn(&Received) -> Vec<u8> + Send + Sync + 'static) {
        self.spec
            .finish(self.fake, Action::RawWith(Arc::new(reply)));
    }
}

/// A rule for a command by name, being scripted (see [`FakeQmp::on_command`]).
#[must_use = "a rule is only added by its answer: `returns`, `error`, ..."]
pub struct RawRule<'f> {
    fake: &'f FakeQmp,
    spec: RuleSpec,
}

impl RawRule<'_> {
    /// Applies only to requests whose arguments pass `predicate`.
    pub fn when(mut self, predicate: impl Fn(&Value) -> bool + Send + Sync + 'static) -> Self {
        self.spec.matcher = Some(Box::new(predicate));
        self
    }

    /// Applies to the first `n` matching requests only.
    pub fn times(mut self, n: usize) -> Self {
        self.spec.times = Some(n);
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.spec.delay = delay;
        self
    }

    /// `after` the answer, sends this event (JSON data; `Null` for none).
    pub fn then_emit_raw_after(
        mut self,
        after: Duration,
        name: impl Into<String>,
        data: Value,
    ) -> Self {
        self.spec.then.push(ScriptedEvent {
            after,
            name: name.into(),
            data,
        });
        self
    }

    /// Answers with this JSON return value (`Null` answers `{}`).
    pub fn returns(self, value: Value) {
        self.spec.finish(self.fake, Action::Return(value));
    }

    /// Answers with a QMP error.
    pub fn error(self, class: ErrorClass, desc: impl Into<String>) {
        self.spec
            .finish(self.fake, Action::Error(class, desc.into()));
    }

    /// Never answers.
    pub fn no_reply(self) {
        self.spec.finish(self.fake, Action::NoReply);
    }

    /// Closes the connection instead of answering.
    pub fn close_connection(self) {
        self.spec.finish(self.fake, Action::Close);
    }

    /// Sends these bytes instead of an answer.
    pub fn raw(self, bytes: impl Into<Vec<u8>>) {
        self.spec.finish(self.fake, Action::Raw(bytes.into()));
    }

    /// Sends the bytes `reply` makes from the whole request (its id and arguments)
    /// instead of an answer.
    pub fn raw_from(self, reply: impl Fn(&Received) -> Vec<u8> + Send + Sync + 'static) {
        self.spec
            .finish(self.fake, Action::RawWith(Arc::new(reply)));
    }
}
