//! A blocking client for code that is not async, with the same features as [`Client`].
//!
//! It owns a small Tokio runtime, driven by a thread of its own, on which the connection's
//! reader and writer tasks run, so replies and events keep flowing while the calling thread
//! is busy.
//! Any number of threads may call it at once. Do not use it from inside an async runtime
//! (blocking there stalls that runtime; Tokio refuses with a panic): use [`Client`] there.

use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use crate::call::Call;
use crate::client::{Backoff, Client, ClientBuilder, ConnectionState};
use crate::command::{Command, ExecuteBlocking, OobCommand};
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventStream, Gap, ReceivedEvent};
use crate::protocol::Greeting;
use crate::transport::{Endpoint, Transport};

/// A blocking QMP client. Cheap to clone; clones share the connection and the runtime.
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: Client,
    rt: Arc<Driver>,
}

/// A current-thread Tokio runtime that a thread of its own drives (its sockets, timers and
/// the connection's tasks) until the last handle is gone. Callers wait on it through its
/// handle. A multi-thread runtime with one worker would do the same, but costs every
/// user's build tokio's `rt-multi-thread` feature.
#[derive(Debug)]
pub(crate) struct Driver {
    handle: Handle,
    /// Dropped with the last client handle, which ends the driving thread.
    _stop: oneshot::Sender<()>,
}

impl Driver {
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.handle.block_on(fut)
    }
}

pub(crate) fn runtime() -> Result<Arc<Driver>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("qmp-blocking".into())
        .spawn(move || {
            // Either outcome (a send or the sender dropped) means: stop.
            let _ = rt.block_on(stopped);
        })?;
    Ok(Arc::new(Driver {
        handle,
        _stop: stop,
    }))
}

impl BlockingClient {
    /// Dials `endpoint` with the default options.
    pub fn connect(endpoint: impl Into<Endpoint>) -> Result<Self> {
        Self::connect_with(ClientBuilder::new(), endpoint)
    }

    /// Dials `endpoint` with the given options.
    pub fn connect_with(builder: ClientBuilder, endpoint: impl Into<Endpoint>) -> Result<Self> {
        let rt = runtime()?;
        let client = rt.block_on(builder.connect(endpoint))?;
        Ok(BlockingClient { client, rt })
    }

    /// A client for `endpoint` that is not connected yet: subscribe, then
    /// [`reconnect`](Self::reconnect). See [`ClientBuilder::build`].
    pub fn build(builder: ClientBuilder, endpoint: impl Into<Endpoint>) -> Result<Self> {
        let rt = runtime()?;
        let client = builder.build(endpoint);
        Ok(BlockingClient { client, rt })
    }

    /// Dials `endpoint`, retrying with back-off (QEMU may not be listening yet).
    pub fn connect_with_retry(
        builder: ClientBuilder,
        endpoint: impl Into<Endpoint>,
        backoff: Backoff,
    ) -> Result<Self> {
        let rt = runtime()?;
        let client = rt.block_on(builder.connect_with_retry(endpoint, backoff))?;
        Ok(BlockingClient { client, rt })
    }

    /// Uses an already-connected Unix socket (fd passing available).
    pub fn from_unix_stream(
        builder: ClientBuilder,
        stream: std::os::unix::net::UnixStream,
    ) -> Result<Self> {
        let rt = runtime()?;
        stream.set_nonblocking(true)?;
        let client = rt.block_on(async {
            let stream = tokio::net::UnixStream::from_std(stream)?;
            builder.connect_transport(Transport::unix(stream)).await
        })?;
        Ok(BlockingClient { client, rt })
    }

    /// Accept mode: waits for QEMU (`-qmp unix:PATH,server=off`) to connect to `listener`.
    pub fn accept_unix(
        builder: ClientBuilder,
        listener: std::os::unix::net::UnixListener,
    ) -> Result<Self> {
        let rt = runtime()?;
        listener.set_nonblocking(true)?;
        let client = rt.block_on(async {
            let listener = tokio::net::UnixListener::from_std(listener)?;
            builder.accept_unix(&listener).await
        })?;
        Ok(BlockingClient { client, rt })
    }

    /// The async client underneath (for use from inside [`BlockingClient::block_on`]).
    pub fn as_async(&self) -> &Client {
        &self.client
    }

    /// Runs a future on the client's runtime and waits for it.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// Executes a command and decodes its typed return.
    pub fn execute<C: Command>(&self, cmd: C) -> Result<C::Returns> {
        self.rt.block_on(self.client.execute(cmd))
    }

    /// Executes an `allow-oob` command out of band.
    pub fn execute_oob<C: OobCommand>(&self, cmd: C) -> Result<C::Returns> {
        self.rt.block_on(self.client.execute_oob(cmd))
    }

    /// Executes a command with a file descriptor attached (duplicated; `fd` stays yours).
    pub fn execute_with_fd<C: Command>(&self, cmd: C, fd: impl AsFd) -> Result<C::Returns> {
        self.rt.block_on(self.client.execute_with_fd(cmd, fd))
    }

    /// Executes `name` with JSON arguments; returns the raw `return` value.
    pub fn execute_raw(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        self.rt.block_on(self.client.execute_raw(name, arguments))
    }

    /// [`execute_raw`](Self::execute_raw) out of band.
    pub fn execute_raw_oob(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        self.rt
            .block_on(self.client.execute_raw_oob(name, arguments))
    }

    /// [`execute_raw`](Self::execute_raw) with a file descriptor attached.
    pub fn execute_raw_with_fd(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
        fd: impl AsFd,
    ) -> Result<serde_json::Value> {
        self.rt
            .block_on(self.client.execute_raw_with_fd(name, arguments, fd))
    }

    /// The connected QEMU's `query-qmp-schema`, fetched once per connection: see
    /// [`Client::schema`]. Needs the `introspect` feature (on by default).
    #[cfg(qmp_introspect)]
    pub fn schema(&self) -> Result<Arc<crate::schema::LiveSchema>> {
        self.rt.block_on(self.client.schema())
    }

    /// The schema of the current connection if [`schema`](Self::schema) has fetched it.
    #[cfg(qmp_introspect)]
    pub fn cached_schema(&self) -> Option<Arc<crate::schema::LiveSchema>> {
        self.client.cached_schema()
    }

    /// Subscribes to every event.
    pub fn events(&self) -> BlockingEvents {
        self.subscribe(EventFilter::all())
    }

    /// Subscribes to the events that pass `filter`, until the connection ends: see
    /// [`Client::subscribe`].
    pub fn subscribe(&self, filter: EventFilter) -> BlockingEvents {
        BlockingEvents {
            stream: self.client.subscribe(filter),
            rt: self.rt.clone(),
        }
    }

    /// Subscribes to the events that pass `filter`, across reconnects: see
    /// [`Client::subscribe_persistent`].
    pub fn subscribe_persistent(&self, filter: EventFilter) -> BlockingEvents {
        BlockingEvents {
            stream: self.client.subscribe_persistent(filter),
            rt: self.rt.clone(),
        }
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.client.state()
    }

    /// A receiver of state changes (`borrow()` reads it without blocking).
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.client.watch_state()
    }

    /// Blocks until the state satisfies `pred` or `timeout` passes.
    pub fn wait_for_state(
        &self,
        timeout: Duration,
        pred: impl FnMut(&ConnectionState) -> bool,
    ) -> Result<ConnectionState> {
        let mut rx = self.client.watch_state();
        self.rt.block_on(async {
            match tokio::time::timeout(timeout, rx.wait_for(pred)).await {
                Ok(Ok(state)) => Ok(*state),
                Ok(Err(_)) => Err(Error::Disconnected),
                Err(_) => Err(Error::Timeout(timeout)),
            }
        })
    }

    /// The greeting of the current connection.
    pub fn greeting(&self) -> Option<Greeting> {
        self.client.greeting()
    }

    /// Whether out-of-band execution was negotiated.
    pub fn oob_enabled(&self) -> bool {
        self.client.oob_enabled()
    }

    /// Dials the endpoint: the first time for a client from [`build`](Self::build), or
    /// again. See [`Client::reconnect`].
    pub fn reconnect(&self) -> Result<()> {
        self.rt.block_on(self.client.reconnect())
    }

    /// Dials the endpoint again, retrying with back-off.
    pub fn reconnect_with_backoff(&self, backoff: Backoff) -> Result<()> {
        self.rt
            .block_on(self.client.reconnect_with_backoff(backoff))
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.rt.block_on(self.client.close())
    }
}

impl crate::call::Executor for BlockingClient {}

impl ExecuteBlocking for BlockingClient {
    fn execute<C: Command>(&self, cmd: C) -> Result<C::Returns> {
        BlockingClient::execute(self, cmd)
    }

    fn execute_oob<C: OobCommand>(&self, cmd: C) -> Result<C::Returns> {
        BlockingClient::execute_oob(self, cmd)
    }
}

impl<C: Command> Call<'_, BlockingClient, C> {
    /// Executes the command and blocks until its reply or until `limit` passes
    /// ([`Error::Timeout`]; the late reply is discarded). The limit replaces the client's
    /// [`command_timeout`](ClientBuilder::command_timeout) for this call.
    pub fn wait_timeout(self, limit: Duration) -> Result<C::Returns> {
        let (client, command) = self.into_parts();
        client
            .rt
            .block_on(client.client.execute(command).timeout(limit))
    }
}

/// A blocking event subscription: an iterator that ends when the subscription does (see
/// [`Client::subscribe`] and [`Client::subscribe_persistent`]).
#[derive(Debug)]
pub struct BlockingEvents {
    stream: EventStream,
    rt: Arc<Driver>,
}

impl BlockingEvents {
    /// Waits up to `timeout` for the next item: `Ok(None)` when the stream has ended,
    /// `Err(Error::Timeout)` when nothing came in time.
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Result<ReceivedEvent, Gap>>> {
        let stream = &mut self.stream;
        self.rt.block_on(async {
            tokio::time::timeout(timeout, next(stream))
                .await
                .map_err(|_| Error::Timeout(timeout))
        })
    }

    /// The next buffered item without waiting.
    pub fn try_next(&mut self) -> Option<Result<ReceivedEvent, Gap>> {
        self.stream.try_next()
    }
}

async fn next(stream: &mut EventStream) -> Option<Result<ReceivedEvent, Gap>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

impl Iterator for BlockingEvents {
    type Item = Result<ReceivedEvent, Gap>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = &mut self.stream;
        self.rt.block_on(next(stream))
    }
}
