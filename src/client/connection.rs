//! A connection's life after negotiation: the state its reader and writer tasks share
//! with callers (the pending map, the event hub), the two tasks, and the routing of each
//! incoming message to its caller or to the subscribers.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::AsyncRead;
use tokio::task::AbortHandle;
use tracing::{debug, trace, warn};

use super::outbox::{Chunk, Outbox, Taken};
use super::{ConnectionState, Inner};
use crate::error::{Error, Result};
use crate::events::{Hub, ReceivedEvent};
use crate::protocol::{self, ErrorBody, Incoming, Timestamp};
use crate::transport::framing::{Frame, LineReader};
use crate::transport::Writer;
use crate::Event;

/// What the reader and writer tasks share with callers.
pub(super) struct ConnShared {
    pub(super) pending: Mutex<Pending>,
    /// The client's event hub; `conn_id` names this connection to it.
    pub(super) events: Arc<Hub>,
    pub(super) conn_id: u64,
    pub(super) client: Weak<Inner>,
}

/// The pending table's capacity always kept: what a few calls at a time need.
const PENDING_KEEP: usize = 32;

pub(super) struct Pending {
    pub(super) map: HashMap<u64, Slot, BuildHasherDefault<IdHasher>>,
    pub(super) closed: bool,
    /// The most calls in flight since the table was last empty.
    pub(super) peak: usize,
    /// The reader and writer tasks, stopped by the teardown. Aborting them costs the
    /// running connection nothing, where a closing signal each task also waited on was
    /// polled at every wake-up (a tenth of the client's own work per request).
    pub(super) tasks: Vec<AbortHandle>,
}

/// Our ids are sequential integers we chose ourselves, so SipHash's protection against
/// chosen keys buys nothing; a multiplicative hash spreads them over the table's bits.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// One call's place in the pending table: the caller's waker until the reply comes, then
/// the reply until the caller takes it. A slot in the table the reader already locks costs
/// a call no allocation, where a oneshot channel per call cost one and a handful of atomic
/// operations on both sides.
pub(super) enum Slot {
    Waiting(Option<Waker>),
    Answered(Reply),
}

impl Pending {
    /// Removes call `id`'s slot.
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.map.remove(&id);
        // A burst's table is given back once the calls in flight are far fewer than it
        // was sized for, rather than kept for the connection's idle life. Steady
        // pipelining empties the table between waves of about the same size: it is kept.
        if self.map.is_empty() {
            if self.map.capacity() > PENDING_KEEP.max(4 * self.peak) {
                self.map.shrink_to_fit();
            }
            self.peak = 0;
        }
        slot
    }

    /// Answers every call still waiting with `err()`, and gives their wakers.
    fn answer_all(&mut self, err: impl Fn() -> Error) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for slot in self.map.values_mut() {
            if let Slot::Waiting(waker) = slot {
                wakers.extend(waker.take());
                *slot = Slot::Answered(Reply::Failed(err()));
            }
        }
        wakers
    }
}

pub(super) enum Reply {
    /// A `return` value, already checked to be JSON.
    Return(Box<RawValue>),
    /// A reply line of QEMU's plain form (see `protocol::plain_reply`) and where its
    /// `return` value lies, not checked yet: decoding it checks it.
    Plain {
        line: Box<str>,
        value: std::ops::Range<usize>,
    },
    Error(ErrorBody),
    Failed(Error),
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a single map or field update, so a panic elsewhere
    // cannot leave the data inconsistent: ignore poisoning instead of spreading it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnShared {
    /// Makes a slot for call `id`, unless the connection is closed.
    pub(super) fn register(&self, id: u64) -> Result<()> {
        let mut p = lock(&self.pending);
        if p.closed {
            return Err(Error::Disconnected);
        }
        p.map.insert(id, Slot::Waiting(None));
        p.peak = p.peak.max(p.map.len());
        Ok(())
    }

    /// Hands `reply` to call `id` and wakes it; false when no call awaits that id (its
    /// future was dropped, or it was answered already).
    pub(super) fn answer(&self, id: u64, reply: Reply) -> bool {
        let waker = {
            let mut p = lock(&self.pending);
            match p.map.get_mut(&id) {
                Some(slot @ Slot::Waiting(_)) => {
                    match std::mem::replace(slot, Slot::Answered(reply)) {
                        Slot::Waiting(waker) => waker,
                        Slot::Answered(_) => None,
                    }
                }
                _ => return false,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// The caller's side: call `id`'s reply once it came (the slot is then gone), else
    /// `Pending` with the caller's waker kept.
    pub(super) fn poll_reply(&self, id: u64, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut p = lock(&self.pending);
        match p.map.get_mut(&id) {
            Some(Slot::Waiting(waker)) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Some(Slot::Answered(_)) => match p.remove(id) {
                Some(Slot::Answered(reply)) => Poll::Ready(reply),
                _ => Poll::Ready(Reply::Failed(Error::Disconnected)),
            },
            // Only the caller's own guard removes a slot before it is answered.
            None => Poll::Ready(Reply::Failed(Error::Disconnected)),
        }
    }

    /// Forgets call `id` (its future was dropped): a late reply is then nobody's.
    fn forget(&self, id: u64) {
        let slot = lock(&self.pending).remove(id);
        // Dropped outside the lock: a reply's buffer, a waker.
        drop(slot);
    }

    /// Answers every waiting caller with an error made by `err`.
    pub(super) fn fail_all(&self, err: impl Fn() -> Error) {
        let wakers = lock(&self.pending).answer_all(err);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Ends the connection's life: no new callers, all waiting ones answered, streams
    /// ended, both tasks told to stop, and the handle's state updated if this is still its
    /// current connection. Idempotent.
    pub(super) fn teardown(self: &Arc<Self>) {
        let (wakers, tasks) = {
            let mut p = lock(&self.pending);
            if p.closed {
                return;
            }
            p.closed = true;
            (
                p.answer_all(|| Error::Disconnected),
                std::mem::take(&mut p.tasks),
            )
        };
        let current = self.client.upgrade().filter(|inner| {
            lock(&inner.conn)
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(&c.shared, self))
        });
        if let Some(inner) = &current {
            inner.state.send_replace(ConnectionState::Disconnecting);
        }
        debug!(pending = wakers.len(), "connection closed");
        wakers.into_iter().for_each(Waker::wake);
        self.events.end(self.conn_id);
        // A task tearing down its own connection stops at its next await, which is
        // where it was going anyway.
        for task in tasks {
            task.abort();
        }
        if let Some(inner) = current {
            let mut conn = lock(&inner.conn);
            if conn.as_ref().is_some_and(|c| Arc::ptr_eq(&c.shared, self)) {
                *conn = None;
                inner.state.send_replace(ConnectionState::Closed);
            }
        }
    }
}

/// Removes a caller's pending entry if its future is dropped before the reply came, so
/// the late reply is recognised as nobody's (ids are never reused, so it cannot reach
/// anyone else).
pub(super) struct PendingGuard {
    pub(super) shared: Arc<ConnShared>,
    pub(super) id: u64,
    pub(super) armed: bool,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.forget(self.id);
        }
    }
}

/// Which of two futures finished first.
#[cfg(all(qmp_module = "job", qmp_module = "block-core"))]
pub(crate) enum Either<A, B> {
    First(A),
    Second(B),
}

/// Waits for whichever of `first` and `second` finishes first, polling `first` first.
/// `tokio::select!` does this too, but its macro crate would put syn on every user's build
/// path.
#[cfg(all(qmp_module = "job", qmp_module = "block-core"))]
pub(crate) async fn first_of<A: Future, B: Future>(
    mut first: std::pin::Pin<&mut A>,
    second: B,
) -> Either<A::Output, B::Output> {
    let mut second = std::pin::pin!(second);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = first.as_mut().poll(cx) {
            return Poll::Ready(Either::First(value));
        }
        second.as_mut().poll(cx).map(Either::Second)
    })
    .await
}

/// How long the end of an oversized message may take before the calls in flight are
/// answered without knowing which of them it was for.
const OVERSIZED_LINE_DEADLINE: Duration = Duration::from_secs(1);

/// Awaits `future`, calling `on_deadline` once if it is still pending after `after`; the
/// future is never dropped early (a frame half read would be lost).
async fn until_deadline<F: Future>(
    future: F,
    after: Duration,
    on_deadline: impl FnOnce(),
) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut deadline = std::pin::pin!(tokio::time::sleep(after));
    let mut on_deadline = Some(on_deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(value);
        }
        if on_deadline.is_some() && deadline.as_mut().poll(cx).is_ready() {
            if let Some(call) = on_deadline.take() {
                call();
            }
        }
        Poll::Pending
    })
    .await
}

pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    mut lines: LineReader<R>,
    shared: Arc<ConnShared>,
) {
    let limit = lines.max();
    // Whether the calls in flight were failed for the oversized line being skipped.
    let mut overflow_answered = false;
    loop {
        let frame = if lines.is_skipping() {
            // The rest of an oversized line: its end names the call it answers, but a
            // server may hold it open. Past a deadline every call in flight is answered.
            // Boxed: this rare path's timer would otherwise make every connection's
            // reader task larger.
            let skip = Box::pin(until_deadline(
                lines.next_frame(),
                OVERSIZED_LINE_DEADLINE,
                || {
                    if !overflow_answered {
                        warn!(
                            limit,
                            "oversized message still not ended; failing calls in flight"
                        );
                        shared.fail_all(|| Error::MessageTooLarge {
                            size: limit + 1,
                            limit,
                        });
                        overflow_answered = true;
                    }
                },
            ));
            skip.await
        } else {
            lines.next_frame().await
        };
        match frame {
            Ok(Some(Frame::TooLong { size, .. })) if std::mem::take(&mut overflow_answered) => {
                warn!(size, limit, "oversized message skipped");
            }
            Ok(Some(frame)) => route(&shared, frame, limit),
            Ok(None) => {
                debug!("end of stream");
                break;
            }
            Err(e) => {
                debug!(error = %e, "read failed");
                break;
            }
        }
        // One unit of tokio's cooperative budget per message. A burst arrives many
        // messages to a read, so the socket (tokio's own yield point) is seldom polled:
        // without this the reader would run until the burst ends, and a subscriber
        // scheduled on the same worker could not drain its buffer before it overflowed.
        tokio::task::coop::consume_budget().await;
    }
    shared.teardown();
}

/// Routes one incoming message. Nothing here can fail the connection: anything malformed
/// is logged and skipped, and a reply that cannot be attributed answers every caller in
/// flight (one of them will never get its real reply, and we cannot tell which).
fn route(shared: &Arc<ConnShared>, frame: Frame<'_>, limit: usize) {
    let line = match frame {
        Frame::Line(line) => line,
        // The rest is skipped by the reader, under a deadline (see `read_loop`).
        Frame::Overflowing { size } => {
            debug!(
                size,
                limit, "message over the size limit; skipping the rest"
            );
            return;
        }
        Frame::TooLong { size, tail, .. } => {
            let failure = || Reply::Failed(Error::MessageTooLarge { size, limit });
            match recover_id(tail).filter(|&id| shared.answer(id, failure())) {
                Some(id) => warn!(id, size, limit, "oversized reply skipped"),
                None => {
                    warn!(
                        size,
                        limit, "oversized message skipped; failing calls in flight"
                    );
                    shared.fail_all(|| Error::MessageTooLarge { size, limit });
                }
            }
            return;
        }
    };
    // QEMU's lines are UTF-8 (nearly always ASCII): checked once for the whole line, the
    // parser need not check each string again. A line that is not goes through the byte
    // parser, which says where it breaks.
    let parsed = match std::str::from_utf8(line) {
        Ok(text) => {
            if let Some((id, value)) = protocol::plain_reply(text) {
                let reply = Reply::Plain {
                    line: text.into(),
                    value,
                };
                answer_reply(shared, id, reply, line.len());
                return;
            }
            serde_json::from_str(text)
        }
        Err(_) => serde_json::from_slice(line),
    };
    let msg: Incoming = match parsed {
        Ok(m) => m,
        Err(e) => {
            // A reply that does not parse (invalid UTF-8 in a string, a truncated line, an
            // error without `class`) may still name its request: answer that caller now,
            // or it would wait for a reply that has come and gone.
            let failure = || Reply::Failed(does_not_parse(&e));
            if let Some(id) = unparsed_reply_id(line).filter(|&id| shared.answer(id, failure())) {
                warn!(id, error = %e, line = %protocol::preview(line), "reply that does not parse answered as a protocol error");
                return;
            }
            warn!(error = %e, line = %protocol::preview(line), "malformed message skipped");
            return;
        }
    };
    if let Some(name) = msg.event {
        debug!(event = %name, bytes = line.len(), "recv event");
        deliver_event(
            &shared.events,
            shared.conn_id,
            &name,
            msg.data,
            msg.timestamp,
        );
        return;
    }
    let reply = match (msg.ret, msg.error) {
        (Some(ret), _) => Reply::Return(ret),
        (None, Some(err)) => Reply::Error(err),
        (None, None) => {
            if msg.greeting.is_some() {
                warn!("unexpected second greeting ignored");
            } else {
                warn!(line = %protocol::preview(line), "message that is neither reply nor event skipped");
            }
            return;
        }
    };
    let Some(raw_id) = msg.id else {
        let what = match &reply {
            Reply::Error(e) => format!("{}: {}", e.class, e.desc),
            _ => "a successful reply".to_owned(),
        };
        warn!(reply = %what, "reply without an id; failing calls in flight");
        shared.fail_all(|| Error::Protocol {
            message: format!("the server sent a reply without an id ({what}); the outcome of the calls in flight is unknown"),
        });
        return;
    };
    let Some(id) = protocol::parse_id(raw_id) else {
        warn!(
            id = raw_id.get(),
            "reply with an id that is not ours skipped"
        );
        return;
    };
    answer_reply(shared, id, reply, line.len());
}

fn does_not_parse(e: &serde_json::Error) -> Error {
    Error::Protocol {
        message: format!("QEMU's reply does not parse: {e}"),
    }
}

impl Reply {
    /// What the general path makes of a reply line of the plain form whose value turned
    /// out not to be one JSON value: its whole envelope parsed.
    pub(super) fn from_whole_line(line: &str) -> Reply {
        match serde_json::from_str::<Incoming>(line) {
            Ok(Incoming { ret: Some(ret), .. }) => Reply::Return(ret),
            Ok(Incoming {
                error: Some(error), ..
            }) => Reply::Error(error),
            Ok(_) => Reply::Failed(Error::Protocol {
                message: "QEMU's reply has neither a return value nor an error".to_owned(),
            }),
            Err(e) => Reply::Failed(does_not_parse(&e)),
        }
    }
}

/// Hands a reply to the call it names, if one still awaits it.
fn answer_reply(shared: &ConnShared, id: u64, reply: Reply, bytes: usize) {
    let ok = matches!(reply, Reply::Return(_) | Reply::Plain { .. });
    if shared.answer(id, reply) {
        debug!(id, bytes, ok, "recv reply");
    } else {
        debug!(id, "reply for a call nobody awaits any more skipped");
    }
}

/// Decodes an event of connection `conn` and hands it to the subscribers, unless none
/// wants it (then it is not decoded at all).
pub(super) fn deliver_event(
    hub: &Hub,
    conn: u64,
    name: &str,
    data: Option<&RawValue>,
    timestamp: Option<Timestamp>,
) {
    if !hub.wants(name) {
        return;
    }
    // `"data": null` means the same as no data.
    let data = data.filter(|raw| raw.get() != "null");
    let event = match Event::from_raw(name, data) {
        Ok(ev) => ev,
        Err(e) => {
            warn!(event = %name, error = %e, "event data does not match the schema; delivered as Other");
            Event::Other {
                name: name.to_string(),
                // The raw slice is valid JSON (the whole line parsed), so this parse
                // cannot fail; Null is only a formality.
                data: data
                    .and_then(|raw| serde_json::from_str(raw.get()).ok())
                    .unwrap_or(serde_json::Value::Null),
            }
        }
    };
    let timestamp = timestamp.unwrap_or_default();
    hub.publish(conn, name, ReceivedEvent { event, timestamp });
}

/// Finds `"id": N` at the end of an oversized line's tail: QEMU writes the id last in a
/// successful reply, which is the only kind of message that grows that large.
/// The request id of a message that did not parse as a message, when it is a reply:
/// from the JSON when that is well formed (an error object without `class`), else from its
/// text (invalid UTF-8, a truncated line). Events carry no id, so they never match.
fn unparsed_reply_id(line: &[u8]) -> Option<u64> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
        let is_reply = value.get("return").is_some() || value.get("error").is_some();
        return value
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .filter(|_| is_reply);
    }
    let text = String::from_utf8_lossy(line);
    if !(text.contains("\"return\"") || text.contains("\"error\"")) {
        return None;
    }
    recover_id(text.as_bytes())
}

fn recover_id(tail: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(tail).ok().or_else(|| {
        // The tail may start inside a multi-byte character.
        (1..4).find_map(|skip| std::str::from_utf8(tail.get(skip..)?).ok())
    })?;
    let at = text.rfind("\"id\"")?;
    let rest = text[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let after = rest[digits..].trim_start();
    if after.starts_with('}') || after.starts_with(',') {
        rest[..digits].parse().ok()
    } else {
        None
    }
}

pub(super) async fn write_loop(outbox: Arc<Outbox>, mut writer: Writer, shared: Arc<ConnShared>) {
    // What the last take found: swapped with the outbox's queue, so steady traffic
    // allocates no queue either.
    let mut taken = Vec::new();
    // Until `Taken::Closed`: every handle is gone, so the connection is no longer wanted.
    'outer: while let Taken::Chunks =
        std::future::poll_fn(|cx| outbox.poll_take(&mut taken, cx)).await
    {
        for chunk in taken.drain(..) {
            match chunk {
                Chunk::Lines(lines) => {
                    trace!(bytes = lines.len(), "write");
                    if let Err(e) = writer.write_all(&lines).await {
                        debug!(error = %e, "write failed");
                        break 'outer;
                    }
                    outbox.recycle(lines);
                }
                Chunk::WithFds(line, fds) => {
                    trace!(bytes = line.len(), fds = fds.len(), "write with fds");
                    // Boxed, as the reader's rare path is: its readiness wait would make
                    // every connection's writer task larger.
                    if let Err(e) = Box::pin(writer.write_with_fds(&line, &fds)).await {
                        debug!(error = %e, "write with fds failed");
                        break 'outer;
                    }
                    // `fds` drops here: our duplicates close once the kernel holds them.
                }
            }
        }
    }
    writer.shutdown().await;
    shared.teardown();
}

#[cfg(test)]
mod tests {
    use super::recover_id;

    #[test]
    fn recovers_trailing_ids() {
        assert_eq!(recover_id(b"xxxx], \"id\": 42}"), Some(42));
        assert_eq!(recover_id(b"xxxx],\"id\":7,\"x\":1}"), Some(7));
        assert_eq!(recover_id(b"\"id\": \"str\"}"), None);
        assert_eq!(recover_id(b"no id here"), None);
    }
}
