//! A blocking guest-agent client for code that is not async, on the same machinery as
//! [`BlockingClient`](crate::BlockingClient): a small runtime driven by a thread of its
//! own runs the connection's task, and each call blocks the calling thread until its
//! reply. Any number of threads may call at once; they are answered in the order they
//! called. Do not use it from inside an async runtime: use [`AgentClient`] there.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::client::{AgentBuilder, AgentClient};
use super::helpers::{Exec, ExecOutput};
use crate::blocking::{runtime, Driver};
use crate::command::{Command, ExecuteBlocking, OobCommand};
use crate::error::{Error, Result};

/// A blocking guest-agent client. Cheap to clone; clones share the connection, its queue
/// and the runtime. The agent's [`Commands`](super::Commands) methods finish with
/// [`Call::wait`](crate::Call::wait).
#[derive(Clone, Debug)]
pub struct BlockingAgentClient {
    client: AgentClient,
    rt: Arc<Driver>,
}

impl BlockingAgentClient {
    /// Dials the agent's Unix socket with the default options.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(AgentBuilder::new(), path)
    }

    /// Dials the agent's Unix socket with the given options.
    pub fn connect_with(builder: AgentBuilder, path: impl AsRef<Path>) -> Result<Self> {
        let rt = runtime()?;
        let client = rt.block_on(builder.connect(path))?;
        Ok(BlockingAgentClient { client, rt })
    }

    /// Uses an already-connected Unix socket.
    pub fn from_unix_stream(
        builder: AgentBuilder,
        stream: std::os::unix::net::UnixStream,
    ) -> Result<Self> {
        let rt = runtime()?;
        stream.set_nonblocking(true)?;
        let client = rt.block_on(async {
            let stream = tokio::net::UnixStream::from_std(stream)?;
            builder.connect_unix_stream(stream).await
        })?;
        Ok(BlockingAgentClient { client, rt })
    }

    /// The async client underneath (for use from inside [`block_on`](Self::block_on)).
    pub fn as_async(&self) -> &AgentClient {
        &self.client
    }

    /// Runs a future on the client's runtime and waits for it.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// A handle to the same connection whose calls wait up to `timeout` for their reply.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        BlockingAgentClient {
            client: self.client.with_timeout(timeout),
            rt: self.rt.clone(),
        }
    }

    /// Executes a command and decodes its typed return.
    pub fn execute<C: Command>(&self, cmd: C) -> Result<C::Returns> {
        self.rt.block_on(self.client.execute(cmd))
    }

    /// Executes `name` with JSON arguments; returns the raw `return` value.
    pub fn execute_raw(
        &self,
        name: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        self.rt.block_on(self.client.execute_raw(name, arguments))
    }

    /// Syncs now: see [`AgentClient::sync`].
    pub fn sync(&self) -> Result<()> {
        self.rt.block_on(self.client.sync())
    }

    /// Runs a program in the guest and waits for it: see [`AgentClient::exec`].
    pub fn exec(&self, exec: Exec) -> Result<ExecOutput> {
        self.rt.block_on(self.client.exec(exec))
    }

    /// Reads a whole file of the guest: see [`AgentClient::read_file`].
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        self.rt.block_on(self.client.read_file(path))
    }

    /// Writes a whole file of the guest: see [`AgentClient::write_file`].
    pub fn write_file(&self, path: &str, bytes: &[u8]) -> Result<()> {
        self.rt.block_on(self.client.write_file(path, bytes))
    }

    /// Closes the connection; a later call dials again.
    pub fn close(&self) {
        self.rt.block_on(self.client.close())
    }
}

impl super::Executor for BlockingAgentClient {}

impl ExecuteBlocking for BlockingAgentClient {
    fn execute<C: Command>(&self, cmd: C) -> Result<C::Returns> {
        BlockingAgentClient::execute(self, cmd)
    }

    /// The agent has no out-of-band execution (it refuses `exec-oob`).
    fn execute_oob<C: OobCommand>(&self, _cmd: C) -> Result<C::Returns> {
        Err(Error::OobNotNegotiated)
    }
}
