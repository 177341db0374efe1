//! [`Call`]: a command about to be executed, and [`Executor`], what executes it.

use std::fmt;

/// Something that executes commands: the async client, the blocking client, a test double.
/// Implementing it gives a type the [`Commands`](crate::Commands) methods.
pub trait Executor {}

/// A command about to be executed, returned by the [`Commands`](crate::Commands) methods: set optional
/// arguments on it, then `.await` it (async executors) or call
/// [`wait`](Call::wait) (blocking ones).
#[must_use = "a command is only sent when the call is awaited or waited for"]
pub struct Call<'a, E: ?Sized, C> {
    executor: &'a E,
    /// Set directly by the generated setters (a closure through `map` costs every build).
    pub(crate) command: C,
}

impl<'a, E: ?Sized, C> Call<'a, E, C> {
    /// `command`, to be executed by `executor`.
    pub fn new(executor: &'a E, command: C) -> Self {
        Call { executor, command }
    }

    /// Changes the command before it is sent.
    pub fn map(self, change: impl FnOnce(C) -> C) -> Self {
        Call {
            executor: self.executor,
            command: change(self.command),
        }
    }

    /// The command as it would be sent.
    pub fn command(&self) -> &C {
        &self.command
    }

    /// The command, without executing it.
    pub fn into_command(self) -> C {
        self.command
    }

    /// The executor and the command.
    pub fn into_parts(self) -> (&'a E, C) {
        (self.executor, self.command)
    }
}

impl<E: ?Sized, C: fmt::Debug> fmt::Debug for Call<'_, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("command", &self.command)
            .finish()
    }
}
