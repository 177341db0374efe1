//! The seam between generated code and the transport: what a command is.

use std::future::{Future, IntoFuture};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::call::Call;

/// A QMP command: its arguments (the implementing value, serialised as the `arguments`
/// object) and the type of its successful return.
///
/// Implemented by the generated argument type of every command in the schema; the
/// transport uses only this trait and never names a QEMU command.
pub trait Command: Serialize + Send {
    /// The command's wire name, e.g. `query-status`.
    const NAME: &'static str;
    /// Whether the schema marks the command `allow-oob`.
    const ALLOW_OOB: bool;
    /// The typed value of a successful reply's `return` member.
    type Returns: DeserializeOwned + Send + 'static;
    /// The known QEMU releases whose schema has the command ([`crate::api::RELEASES`]);
    /// [`Releases::NONE`](crate::describe::Releases::NONE) for commands the bindings do
    /// not know. Documentation and a hint: the running QEMU's schema is the truth.
    const RELEASES: crate::describe::Releases = crate::describe::Releases::NONE;
    /// Whether the server answers a successful execution. False only for the few commands
    /// whose schema says `success-response: false` (the guest agent's `guest-shutdown` and
    /// `guest-suspend-*`): their success is the server going quiet or away.
    const SUCCESS_RESPONSE: bool = true;

    /// [`Command::RELEASES`].
    fn releases() -> crate::describe::Releases {
        Self::RELEASES
    }

    /// Whether QEMU `release` (`"7.2"`) has the command, as far as the bindings know.
    fn known_in(release: &str) -> bool {
        Self::RELEASES.contains(release)
    }

    /// Decodes a successful reply's `return` value. Commands that return nothing get `()`
    /// whatever QEMU sent (it sends `{}`).
    fn decode_return(value: &serde_json::value::RawValue) -> serde_json::Result<Self::Returns> {
        serde_json::from_str(value.get())
    }
}

/// A command the schema marks `allow-oob`: only these may be sent with `exec-oob`, so
/// asking for out-of-band execution of any other command does not compile.
pub trait OobCommand: Command {}

/// Something that executes commands asynchronously: the async [`Client`](crate::Client),
/// or a test double.
///
/// With it (and the [`Executor`](crate::call::Executor) marker) a type gets the generated
/// [`Commands`](crate::Commands) methods, whose [`Call`] values can be `.await`ed directly,
/// or sent out of band with [`Call::oob`] when the command allows it.
pub trait Execute {
    /// The future of one reply. The client's is a named, allocation-free type; a test
    /// double may use a boxed future.
    type Future<T: DeserializeOwned + Send + 'static>: Future<Output = Result<T, crate::Error>>
        + Send;

    /// Executes `cmd` and decodes its typed return.
    fn execute<C: Command>(&self, cmd: C) -> Self::Future<C::Returns>;

    /// Executes an `allow-oob` command out of band.
    fn execute_oob<C: OobCommand>(&self, cmd: C) -> Self::Future<C::Returns>;
}

/// Something that executes commands and blocks until the reply: the
/// [`BlockingClient`](crate::blocking::BlockingClient). Its [`Call`]s finish with
/// [`Call::wait`] (or [`Call::wait_oob`]).
pub trait ExecuteBlocking {
    /// Executes `cmd` and decodes its typed return.
    fn execute<C: Command>(&self, cmd: C) -> Result<C::Returns, crate::Error>;

    /// Executes an `allow-oob` command out of band.
    fn execute_oob<C: OobCommand>(&self, cmd: C) -> Result<C::Returns, crate::Error>;
}

impl<'a, E: Execute + ?Sized, C: Command> IntoFuture for Call<'a, E, C> {
    type Output = Result<C::Returns, crate::Error>;
    type IntoFuture = E::Future<C::Returns>;

    fn into_future(self) -> Self::IntoFuture {
        let (executor, command) = self.into_parts();
        executor.execute(command)
    }
}

impl<'a, E: Execute + ?Sized, C: OobCommand> Call<'a, E, C> {
    /// Sends the command out of band (`exec-oob`); only `allow-oob` commands have this.
    pub fn oob(self) -> E::Future<C::Returns> {
        let (executor, command) = self.into_parts();
        executor.execute_oob(command)
    }
}

impl<'a, E: ExecuteBlocking + ?Sized, C: Command> Call<'a, E, C> {
    /// Executes the command and blocks until its reply.
    pub fn wait(self) -> Result<C::Returns, crate::Error> {
        let (executor, command) = self.into_parts();
        executor.execute(command)
    }
}

impl<'a, E: ExecuteBlocking + ?Sized, C: OobCommand> Call<'a, E, C> {
    /// Executes the command out of band and blocks until its reply.
    pub fn wait_oob(self) -> Result<C::Returns, crate::Error> {
        let (executor, command) = self.into_parts();
        executor.execute_oob(command)
    }
}
