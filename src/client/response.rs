//! [`ResponseFuture`]: one call's reply, awaited.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

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
    pub(super) rx: oneshot::Receiver<Reply>,
    pub(super) guard: PendingGuard,
    pub(super) deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
}

impl<T> ResponseFuture<T> {
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
