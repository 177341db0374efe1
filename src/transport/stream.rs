//! The few byte-stream operations the client needs, on tokio's `AsyncRead`/`AsyncWrite`
//! traits alone: writing a whole buffer, flushing, shutting down, and splitting a stream
//! into a reading and a writing half.
//!
//! tokio's `io-util` feature has all of these, but also a great deal more (and the `bytes`
//! crate), which every build of the library would compile for these few lines.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes all of `bytes`.
pub(crate) async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    mut bytes: &[u8],
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = poll_fn(|cx| Pin::new(&mut *writer).poll_write(cx, bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Flushes buffered output.
pub(crate) async fn flush<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *writer).poll_flush(cx)).await
}

/// Shuts the writing direction down.
pub(crate) async fn shutdown<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *writer).poll_shutdown(cx)).await
}

/// One half of a stream split by [`split`]; both halves lock the stream for the length of
/// one poll, never across an await.
pub(crate) struct Half<S>(Arc<Mutex<S>>);

/// Splits a bidirectional stream into a reading and a writing half.
pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> (Half<S>, Half<S>) {
    let shared = Arc::new(Mutex::new(stream));
    (Half(shared.clone()), Half(shared))
}

impl<S> Half<S> {
    fn lock(&self) -> MutexGuard<'_, S> {
        // A panic while polling the stream poisons the lock; the stream itself is still
        // whatever the panicking poll left, which is all a caller could have anyway.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Half<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Half<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.lock()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.lock()).poll_shutdown(cx)
    }
}
