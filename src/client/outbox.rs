//! The requests waiting for a connection's writer task: callers encode their request
//! straight into a shared byte queue, and the writer takes everything queued in one go.
//!
//! A channel of one `Vec` per request costs an allocation and a queue node per call; here
//! a call appends to the buffer already there (the writer hands the buffer back once it is
//! written), so a steady stream of calls allocates nothing, and whatever callers queue
//! while a write is in progress goes out in the next single write.

use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::connection::lock;

/// A written buffer up to this capacity is kept for the next requests; a larger one (a
/// burst, a huge argument) is freed, so an idle connection holds little.
const KEEP: usize = 1024;

/// The most a fresh buffer reserves up front, sized after the last write.
const RESERVE: usize = 16 * 1024;

/// Requests queued for one connection's writer.
pub(super) struct Outbox {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    chunks: Vec<Chunk>,
    /// An empty buffer kept from the last write, for the next requests.
    spare: Vec<u8>,
    /// The length of the last buffer written: a fresh one is allocated at that size at
    /// once, rather than grown request by request through a burst.
    last_len: usize,
    closed: bool,
    /// The writer, while it waits for requests: woken by the next push (or the close),
    /// under the lock the push takes anyway.
    writer: Option<Waker>,
}

/// What the writer writes, in order.
pub(super) enum Chunk {
    /// Request lines, written together.
    Lines(Vec<u8>),
    /// One request line that carries descriptors (SCM_RIGHTS), written on its own.
    WithFds(Vec<u8>, Vec<OwnedFd>),
}

/// What [`Outbox::poll_take`] found.
pub(super) enum Taken {
    /// Chunks were moved into the caller's vector.
    Chunks,
    /// Nothing is queued and nothing will be: every handle of the connection is gone.
    Closed,
}

impl Outbox {
    pub(super) fn new() -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
        }
    }

    /// Appends one request, written by `encode` at the end of the buffer it is given. If
    /// `encode` fails (or panics), what it wrote is removed, so the stream never carries
    /// half a request.
    pub(super) fn push<E>(
        &self,
        fds: Vec<OwnedFd>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let encoded;
        let writer;
        {
            let mut queue = lock(&self.queue);
            if fds.is_empty() {
                if !matches!(queue.chunks.last(), Some(Chunk::Lines(_))) {
                    let mut buf = std::mem::take(&mut queue.spare);
                    if buf.capacity() < queue.last_len {
                        buf = Vec::with_capacity(queue.last_len.min(RESERVE));
                    }
                    queue.chunks.push(Chunk::Lines(buf));
                }
                let Some(Chunk::Lines(buf)) = queue.chunks.last_mut() else {
                    unreachable!("a lines chunk was just made last");
                };
                encoded = {
                    let guard = Truncate::new(buf);
                    let encoded = encode(&mut *guard.buf);
                    if encoded.is_ok() {
                        guard.keep();
                    }
                    encoded
                };
                // An empty chunk left by a failed encode is dropped, so the writer never
                // wakes for nothing.
                if matches!(queue.chunks.last(), Some(Chunk::Lines(b)) if b.is_empty()) {
                    queue.chunks.pop();
                }
            } else {
                let mut line = Vec::with_capacity(96);
                encoded = encode(&mut line);
                if encoded.is_ok() {
                    queue.chunks.push(Chunk::WithFds(line, fds));
                }
            }
            // Set only while the writer waits on an empty queue.
            writer = if encoded.is_ok() {
                queue.writer.take()
            } else {
                None
            };
        }
        if let Some(writer) = writer {
            writer.wake();
        }
        encoded
    }

    /// Moves everything queued into `into` (which must be empty); when nothing is queued
    /// (and the outbox is open), `Pending` until a push.
    pub(super) fn poll_take(&self, into: &mut Vec<Chunk>, cx: &mut Context<'_>) -> Poll<Taken> {
        let mut queue = lock(&self.queue);
        std::mem::swap(&mut queue.chunks, into);
        if !into.is_empty() {
            return Poll::Ready(Taken::Chunks);
        }
        if queue.closed {
            return Poll::Ready(Taken::Closed);
        }
        if !queue
            .writer
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            queue.writer = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Gives back a written buffer for the next requests, if it is small.
    pub(super) fn recycle(&self, mut buf: Vec<u8>) {
        let len = buf.len();
        let keep = buf.capacity() <= KEEP;
        buf.clear();
        let mut queue = lock(&self.queue);
        queue.last_len = len;
        if keep && queue.spare.capacity() == 0 {
            queue.spare = buf;
            return;
        }
        drop(queue);
        // Freed outside the lock.
        drop(buf);
    }

    /// No more requests will come: the writer ends once the queue is written.
    pub(super) fn close(&self) {
        let writer = {
            let mut queue = lock(&self.queue);
            queue.closed = true;
            queue.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
    }
}

/// Cuts a buffer back to its length at creation unless [`keep`](Self::keep) is called.
struct Truncate<'a> {
    buf: &'a mut Vec<u8>,
    len: usize,
    kept: bool,
}

impl<'a> Truncate<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        let len = buf.len();
        Truncate {
            buf,
            len,
            kept: false,
        }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Truncate<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.buf.truncate(self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the writer would find now, without waiting.
    fn take(outbox: &Outbox, into: &mut Vec<Chunk>) -> Option<Taken> {
        let waker = futures::task::noop_waker();
        match outbox.poll_take(into, &mut Context::from_waker(&waker)) {
            Poll::Ready(taken) => Some(taken),
            Poll::Pending => None,
        }
    }

    fn lines(chunks: &[Chunk]) -> Vec<String> {
        chunks
            .iter()
            .map(|c| match c {
                Chunk::Lines(b) => String::from_utf8_lossy(b).into_owned(),
                Chunk::WithFds(b, fds) => {
                    format!("{} +{} fds", String::from_utf8_lossy(b), fds.len())
                }
            })
            .collect()
    }

    #[test]
    fn requests_queue_in_order_and_a_failed_encode_leaves_nothing() {
        let outbox = Outbox::new();
        outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"a\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        assert!(outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"half");
                Err(())
            })
            .is_err());
        outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"b\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        let fd = std::fs::File::open("/dev/null").unwrap();
        outbox
            .push(vec![fd.into()], |b| {
                b.extend_from_slice(b"c\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"d\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        let mut taken = Vec::new();
        assert!(matches!(take(&outbox, &mut taken), Some(Taken::Chunks)));
        assert_eq!(lines(&taken), ["a\nb\n", "c\n +1 fds", "d\n"]);
        taken.clear();
        assert!(take(&outbox, &mut taken).is_none());
        outbox.close();
        assert!(matches!(take(&outbox, &mut taken), Some(Taken::Closed)));
    }

    #[test]
    fn a_waiting_writer_is_woken_by_a_push_and_by_the_close() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl futures::task::ArcWake for Count {
            fn wake_by_ref(this: &Arc<Self>) {
                this.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = futures::task::waker(count.clone());
        let mut cx = Context::from_waker(&waker);
        let outbox = Outbox::new();
        let mut taken = Vec::new();
        assert!(outbox.poll_take(&mut taken, &mut cx).is_pending());
        // A failed encode queues nothing and wakes nobody.
        assert!(outbox.push(Vec::new(), |_| Err::<(), _>(())).is_err());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"a\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            outbox.poll_take(&mut taken, &mut cx),
            Poll::Ready(Taken::Chunks)
        ));
        taken.clear();
        assert!(outbox.poll_take(&mut taken, &mut cx).is_pending());
        outbox.close();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            outbox.poll_take(&mut taken, &mut cx),
            Poll::Ready(Taken::Closed)
        ));
    }

    #[test]
    fn a_failed_first_encode_leaves_no_empty_chunk() {
        let outbox = Outbox::new();
        assert!(outbox.push(Vec::new(), |_| Err::<(), _>(())).is_err());
        let mut taken = Vec::new();
        assert!(take(&outbox, &mut taken).is_none());
    }

    #[test]
    fn a_panicking_encode_leaves_nothing() {
        let outbox = std::sync::Arc::new(Outbox::new());
        let shared = outbox.clone();
        let panicked = std::thread::spawn(move || {
            let _ = shared.push(Vec::new(), |b| {
                b.extend_from_slice(b"half");
                if b.len() > 1 {
                    panic!("a Serialize impl that panics");
                }
                Ok::<_, ()>(())
            });
        })
        .join();
        assert!(panicked.is_err());
        outbox
            .push(Vec::new(), |b| {
                b.extend_from_slice(b"whole\n");
                Ok::<_, ()>(())
            })
            .unwrap();
        let mut taken = Vec::new();
        assert!(matches!(take(&outbox, &mut taken), Some(Taken::Chunks)));
        assert_eq!(lines(&taken), ["whole\n"]);
    }
}
