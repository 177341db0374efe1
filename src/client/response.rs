//! [`ResponseFuture`]: one call's reply, awaited.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::{DeserializeOwned, IgnoredAny};

use super::connection::{PendingGuard, Reply};
use crate::error::{Error, Result};

/// The reply of one call, as a future: `Client::execute` and the generated methods return
/// it. It owns everything it needs (no borrow of the client), so it can be spawned, and
/// dropping it at any point is safe: the late reply is discarded.
#[must_use = "the reply is only received when the future is awaited"]
pub struct ResponseFuture<T> {
    pub(super) state: Result<Waiting, Option<Error>>,
    pub(super) command: Cow<'static, str>,
    pub(super) _returns: PhantomData<fn() -> T>,
}

pub(super) struct Waiting {
    pub(super) guard: PendingGuard,
    pub(super) deadline: Option<Deadline>,
}

/// A call's time limit. The timer is made on the first poll, inside the runtime: the
/// future may be made outside one (the blocking client does), where a timer cannot be.
pub(super) struct Deadline {
    limit: Duration,
    at: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// A deadline `limit` from now.
pub(super) fn deadline(limit: Duration) -> Deadline {
    let now = tokio::time::Instant::now();
    Deadline {
        limit,
        // A limit too large to add is no limit at all in practice: about 30 years.
        at: now
            .checked_add(limit)
            .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30)),
        sleep: None,
    }
}

impl Deadline {
    fn poll_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let at = self.at;
        self.sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

impl<T> ResponseFuture<T> {
    /// Gives the call a time limit of its own, counted from now, in place of the client's
    /// [`command_timeout`](super::ClientBuilder::command_timeout): past it the future
    /// yields [`Error::Timeout`], and the reply, if it comes later, is discarded (it is
    /// matched by id, so it can never answer another call).
    pub fn timeout(mut self, limit: Duration) -> Self {
        if let Ok(waiting) = &mut self.state {
            waiting.deadline = Some(deadline(limit));
        }
        self
    }

    pub(super) fn failed(command: Cow<'static, str>, error: Error) -> Self {
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
        let guard = &mut waiting.guard;
        if let Poll::Ready(reply) = guard.shared.poll_reply(guard.id, cx) {
            guard.armed = false;
            let out = outcome::<T>(&this.command, reply);
            this.state = Err(None);
            return Poll::Ready(out);
        }
        if let Some(deadline) = &mut waiting.deadline {
            if deadline.poll_passed(cx) {
                let limit = deadline.limit;
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

/// What a call yields for `reply`.
fn outcome<T: DeserializeOwned + 'static>(command: &str, reply: Reply) -> Result<T> {
    match reply {
        Reply::Return(raw) => decode::<T>(command, raw.get(), true),
        Reply::Plain { line, value } => match decode::<T>(command, &line[value.clone()], false) {
            // A type error can come before a syntax error further on: unless the value
            // is one JSON value, the line is what the general path makes of it.
            Err(e) if serde_json::from_str::<IgnoredAny>(&line[value]).is_ok() => Err(e),
            Err(_) => outcome::<T>(command, Reply::from_whole_line(&line)),
            decoded => decoded,
        },
        Reply::Error(e) => Err(Error::Qmp {
            class: e.class,
            desc: e.desc,
        }),
        Reply::Failed(e) => Err(e),
    }
}

/// Decodes a `return` value; `checked` says it is known to be JSON already.
fn decode<T: DeserializeOwned + 'static>(command: &str, value: &str, checked: bool) -> Result<T> {
    let failed = |error| Error::Decode {
        command: command.to_owned(),
        error,
    };
    // Commands without a return value are generated with `Returns = ()`, while QEMU
    // answers them with `{}`: accept any successful reply for them.
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
        if !checked {
            serde_json::from_str::<IgnoredAny>(value).map_err(failed)?;
        }
        return serde_json::from_str("null").map_err(failed);
    }
    serde_json::from_str(value).map_err(failed)
}
