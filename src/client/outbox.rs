//! The requests waiting for a connection's writer task: callers encode their request
//! straight into a shared byte queue, and the writer takes everything queued in one go.
//!
//! A channel of one `Vec` per request costs an allocation and a queue node per call; here
//! a call appends to the buffer already there (the writer hands the buffer back once it is
//! written), so a steady stream of calls allocates nothing, and whatever callers queue
//! while a write is in progress goes out in the next single write.

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::connection::lock;

/// A written buffer up to this capacity is kept for the next requests; a larger one (a
/// burst, a huge argument) is freed, so an idle connection holds little.
const KEEP: usize = 1024;

/// The most a fresh buffer reserves up front, sized after the last write.
const RESERVE: usize = 16 * 1024;

/// Requests queued for one connection's writer.
pub(super) struct Outbox {
    queue: Mutex<Queue>,
    /// Told when the queue goes from empty to not empty, and when the outbox closes.
    ready: Notify,
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
}

/// What the writer writes, in order.
pub(super) enum Chunk {
    /// Request lines, written together.
    Lines(Vec<u8>),
    /// One request line that carries descriptors (SCM_RIGHTS), written on its own.
    WithFds(Vec<u8>, Vec<OwnedFd>),
}

/// What [`Outbox::take`] found.
pub(super) enum Taken {
    /// Chunks were moved into the caller's vector.
    Chunks,
    /// Nothing is queued.
    Empty,
    /// Nothing is queued and nothing will be: every handle of the connection is gone.
    Closed,
}

impl Outbox {
    pub(super) fn new() -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
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
        let was_empty;
        let encoded;
        {
            let mut queue = lock(&self.queue);
            // "Empty" includes a lone chunk with no bytes (left by an encode that panicked):
            // the writer may be waiting, and only this push can wake it.
            was_empty = match queue.chunks.as_slice() {
                [] => true,
                [Chunk::Lines(buf)] => buf.is_empty(),
                _ => false,
            };
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
        }
        encoded?;
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Moves everything queued into `into` (which must be empty).
    pub(super) fn take(&self, into: &mut Vec<Chunk>) -> Taken {
        let mut queue = lock(&self.queue);
        std::mem::swap(&mut queue.chunks, into);
        match (into.is_empty(), queue.closed) {
            (false, _) => Taken::Chunks,
            (true, false) => Taken::Empty,
            (true, true) => Taken::Closed,
        }
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

    /// Waits until something may have been queued (or the outbox closed) since the last
    /// [`take`](Self::take) found nothing.
    pub(super) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// No more requests will come: the writer ends once the queue is written.
    pub(super) fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_one();
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
        assert!(matches!(outbox.take(&mut taken), Taken::Chunks));
        assert_eq!(lines(&taken), ["a\nb\n", "c\n +1 fds", "d\n"]);
        taken.clear();
        assert!(matches!(outbox.take(&mut taken), Taken::Empty));
        outbox.close();
        assert!(matches!(outbox.take(&mut taken), Taken::Closed));
    }

    #[test]
    fn a_failed_first_encode_leaves_no_empty_chunk() {
        let outbox = Outbox::new();
        assert!(outbox.push(Vec::new(), |_| Err::<(), _>(())).is_err());
        let mut taken = Vec::new();
        assert!(matches!(outbox.take(&mut taken), Taken::Empty));
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
        assert!(matches!(outbox.take(&mut taken), Taken::Chunks));
        assert_eq!(lines(&taken), ["whole\n"]);
    }
}
