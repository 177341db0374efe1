//! Event subscriptions: bounded per-subscriber buffers, typed or named filters, gaps.
//!
//! The event hub belongs to the [`Client`](crate::Client), not to one connection, so a
//! subscription can be taken before the client connects (see
//! [`ClientBuilder::build`](crate::ClientBuilder::build)) and receives the events QEMU sends
//! while the client negotiates, in order with the later ones.
//!
//! The reader task decodes each event once and offers it to every matching subscriber. A
//! subscriber's buffer never grows past its capacity: when it is full the oldest event is
//! dropped and counted, and the subscriber sees that count ([`Gap::Lagged`]) before the
//! events that follow the gap. Publishing never waits, so a slow or forgotten stream cannot
//! hold up replies or other subscribers.
//!
//! # How long a subscription lasts
//!
//! - [`Client::subscribe`](crate::Client::subscribe) (the default): the stream ends with its
//!   connection, the one current when it subscribed or, if there was none, the next one
//!   that delivers it an event or comes up. A loop over the stream therefore ends when
//!   QEMU goes away, which is what most code wants.
//! - [`Client::subscribe_persistent`](crate::Client::subscribe_persistent): the stream
//!   outlives connections. When one ends it yields [`Gap::Disconnected`] (events QEMU sent
//!   while no connection was up are lost), then continues with the next connection's
//!   events, if the client reconnects.
//!
//! Either kind ends on [`Client::close`](crate::Client::close) and when the last client
//! handle is dropped, after yielding what it already holds.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::api::EventKind;
use crate::protocol::Timestamp;
use crate::Event;

/// The default number of events a subscriber may fall behind before it misses some.
pub const DEFAULT_EVENT_BUFFER: usize = 1024;

/// An event as received: the typed value and when QEMU emitted it.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// The decoded event; unknown or undecodable ones are `Event::Other`.
    pub event: Event,
    /// QEMU's timestamp.
    pub timestamp: Timestamp,
}

/// A break in an event stream: events were lost at this point. An event stream yields
/// `Err(Gap)` between the events before and after it.
///
/// Neither is a failure of the stream (it goes on); both mean "what you know may be out of
/// date": re-read the state you track (`query-status`, `query-jobs`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Gap {
    /// The subscriber fell behind: this many events (the oldest in its buffer) were dropped
    /// since it last read.
    Lagged {
        /// How many events were lost at this point of the stream.
        missed: u64,
    },
    /// The connection ended (only persistent streams, from
    /// [`Client::subscribe_persistent`](crate::Client::subscribe_persistent), see this):
    /// whatever QEMU emitted until the next connection was never received. The events that
    /// follow come from the next connection.
    Disconnected,
}

impl Gap {
    /// How many events were lost, when that is known ([`Gap::Lagged`]).
    pub fn missed(&self) -> Option<u64> {
        match self {
            Gap::Lagged { missed } => Some(*missed),
            Gap::Disconnected => None,
        }
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gap::Lagged { missed } => write!(
                f,
                "the event subscriber fell behind and missed {missed} events"
            ),
            Gap::Disconnected => f.write_str(
                "the connection ended; events until the next connection were not received",
            ),
        }
    }
}

impl std::error::Error for Gap {}

/// Which events a subscriber receives: all of them, or those of the listed kinds and names.
///
/// ```
/// use qemu_qmp::{api::EventKind, EventFilter};
///
/// // Checked at compile time: `EventKind::Stp` would not compile.
/// let runstate = EventFilter::kinds([EventKind::Stop, EventKind::Resume]);
/// // An event the bindings do not know (a newer QEMU's, a vendor's), by its wire name.
/// let both = runstate.or_names(["X_VENDOR_EVENT"]);
/// assert!(both.matches("STOP") && both.matches("X_VENDOR_EVENT"));
/// assert!(!both.matches("SHUTDOWN"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `None`: every event. Kinds are kept as their `&'static` wire names, so matching is
    /// the same string comparison for both.
    names: Option<Vec<Cow<'static, str>>>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter { names: None }
    }

    /// Only events of these kinds (checked at compile time).
    pub fn kinds(kinds: impl IntoIterator<Item = EventKind>) -> Self {
        EventFilter {
            names: Some(Vec::new()),
        }
        .or_kinds(kinds)
    }

    /// Only events with one of these wire names (e.g. `"STOP"`): for events the bindings do
    /// not know. A misspelt name is accepted and never matches; prefer
    /// [`kinds`](Self::kinds) for known events.
    pub fn names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        EventFilter {
            names: Some(Vec::new()),
        }
        .or_names(names)
    }

    /// These kinds too (no change to a filter that passes every event).
    pub fn or_kinds(mut self, kinds: impl IntoIterator<Item = EventKind>) -> Self {
        if let Some(names) = &mut self.names {
            names.extend(kinds.into_iter().map(|k| Cow::Borrowed(k.name())));
        }
        self
    }

    /// These wire names too (no change to a filter that passes every event).
    pub fn or_names<I, S>(mut self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Some(names) = &mut self.names {
            names.extend(more.into_iter().map(|s| Cow::Owned(s.as_ref().to_owned())));
        }
        self
    }

    /// Whether an event of this wire name passes.
    pub fn matches(&self, name: &str) -> bool {
        match &self.names {
            None => true,
            Some(names) => names.iter().any(|n| n == name),
        }
    }
}

// Nearly every entry is an event, so an entry the size of an event costs less memory than
// a pointer to one on the heap (256 + 16 bytes) and no allocation.
#[allow(clippy::large_enum_variant)]
enum Entry {
    /// An event this subscriber alone receives: kept inline, with no allocation.
    Event(ReceivedEvent),
    /// An event several subscribers receive, shared between their queues.
    Shared(Arc<ReceivedEvent>),
    Gap(Gap),
}

impl Entry {
    fn is_event(&self) -> bool {
        matches!(self, Entry::Event(_) | Entry::Shared(_))
    }
}

struct Queue {
    items: VecDeque<Entry>,
    /// How many of `items` are events (the capacity counts only those).
    events: usize,
    closed: bool,
    waker: Option<Waker>,
    /// The connection this subscriber belongs to for now: the one whose end ends it (or,
    /// persistent, gives it a gap marker). `None` until one comes up or delivers it an event.
    bound: Option<u64>,
}

impl Queue {
    fn push_event(&mut self, event: Entry, capacity: usize) {
        if self.events >= capacity {
            self.drop_oldest_event();
        }
        self.items.push_back(event);
        self.events += 1;
    }

    /// Drops the oldest event and counts it in the gap markers around it. The markers
    /// before the next event left are folded into at most two (`Lagged`, then
    /// `Disconnected` if there was one): the order of lost events around a disconnection
    /// is not worth keeping, and a stream nobody reads while the client reconnects again
    /// and again must not grow.
    fn drop_oldest_event(&mut self) {
        let mut missed = 0;
        let mut disconnected = false;
        let mut dropped = false;
        while let Some(front) = self.items.front() {
            if dropped && front.is_event() {
                break;
            }
            match self.items.pop_front() {
                Some(Entry::Event(_) | Entry::Shared(_)) => {
                    dropped = true;
                    missed += 1;
                    self.events -= 1;
                }
                Some(Entry::Gap(Gap::Lagged { missed: m })) => missed += m,
                Some(Entry::Gap(Gap::Disconnected)) => disconnected = true,
                None => break,
            }
        }
        if disconnected {
            self.items.push_front(Entry::Gap(Gap::Disconnected));
        }
        if missed > 0 {
            self.items.push_front(Entry::Gap(Gap::Lagged { missed }));
        }
    }

    fn push_disconnected(&mut self) {
        // Several disconnections without an event between them are one gap.
        if !matches!(self.items.back(), Some(Entry::Gap(Gap::Disconnected))) {
            self.items.push_back(Entry::Gap(Gap::Disconnected));
        }
    }

    fn take(&mut self) -> Option<Result<ReceivedEvent, Gap>> {
        match self.items.pop_front()? {
            Entry::Gap(gap) => Some(Err(gap)),
            Entry::Event(ev) => {
                self.events -= 1;
                Some(Ok(ev))
            }
            Entry::Shared(ev) => {
                self.events -= 1;
                Some(Ok(
                    Arc::try_unwrap(ev).unwrap_or_else(|shared| (*shared).clone())
                ))
            }
        }
    }

    /// Ends the stream (after what it holds); the waker to wake.
    fn close(&mut self) -> Option<Waker> {
        self.closed = true;
        self.waker.take()
    }
}

struct Subscriber {
    filter: EventFilter,
    capacity: usize,
    persistent: bool,
    queue: Mutex<Queue>,
}

impl Subscriber {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue half-updated in a way
        // that matters (each step is a single push or pop), so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct HubState {
    subscribers: Vec<Arc<Subscriber>>,
    /// The client is gone: no new subscriber will ever receive anything.
    closed: bool,
    /// The connection (by its number) whose events are delivered now: open from the
    /// greeting on, through negotiation, until it ends. Events of any other are stale.
    open: Option<u64>,
    /// Whether `open` has finished negotiating.
    up: bool,
}

/// The subscribers of one client, across its connections.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscriber, of the running connection if there is one, else of the next.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        filter: EventFilter,
        capacity: usize,
        persistent: bool,
    ) -> EventStream {
        let mut state = self.lock();
        let sub = Arc::new(Subscriber {
            filter,
            capacity: capacity.max(1),
            persistent,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                events: 0,
                closed: state.closed,
                waker: None,
                bound: state.open.filter(|_| state.up),
            }),
        });
        if !state.closed {
            state.subscribers.push(sub.clone());
        }
        EventStream {
            sub,
            hub: Arc::downgrade(self),
        }
    }

    /// Connection `conn` is open (its greeting is being read): its events are delivered.
    pub(crate) fn begin(&self, conn: u64) {
        let mut state = self.lock();
        state.open = Some(conn);
        state.up = false;
    }

    /// Connection `conn` has negotiated: subscribers waiting for a connection now belong
    /// to it.
    pub(crate) fn up(&self, conn: u64) {
        let mut state = self.lock();
        if state.open != Some(conn) {
            return;
        }
        state.up = true;
        for sub in &state.subscribers {
            sub.lock().bound.get_or_insert(conn);
        }
    }

    /// Connection `conn` has ended (or failed to negotiate): its subscribers end, or, if
    /// persistent, are told of the gap and wait for the next connection. Idempotent.
    pub(crate) fn end(&self, conn: u64) {
        let mut wakers = Vec::new();
        {
            let mut state = self.lock();
            if state.open == Some(conn) {
                state.open = None;
                state.up = false;
            }
            state.subscribers.retain(|sub| {
                let mut q = sub.lock();
                if q.bound != Some(conn) {
                    return true;
                }
                if sub.persistent {
                    q.bound = None;
                    q.push_disconnected();
                    wakers.extend(q.waker.take());
                    true
                } else {
                    wakers.extend(q.close());
                    false
                }
            });
        }
        wake_all(wakers);
    }

    /// Whether anyone would receive an event of this name (so decoding can be skipped).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.lock()
            .subscribers
            .iter()
            .any(|s| s.filter.matches(name))
    }

    /// Offers one event of connection `conn` to every matching subscriber. Never blocks on
    /// a subscriber. An event of a connection that has ended meanwhile is dropped.
    pub(crate) fn publish(&self, conn: u64, name: &str, event: ReceivedEvent) {
        let state = self.lock();
        if state.open != Some(conn) {
            return;
        }
        let mut receivers = state.subscribers.iter().filter(|s| s.filter.matches(name));
        let Some(first) = receivers.next() else {
            return;
        };
        // The usual case, one subscriber for the event, needs no shared copy (an
        // allocation and two reference counts an event).
        let Some(second) = receivers.next() else {
            deliver(first, conn, Entry::Event(event));
            return;
        };
        let event = Arc::new(event);
        for sub in [first, second].into_iter().chain(receivers) {
            deliver(sub, conn, Entry::Shared(event.clone()));
        }
    }

    /// Ends every stream (after it drains what it holds), persistent ones too. Later
    /// subscriptions work as usual.
    pub(crate) fn end_all(&self) {
        let subs = std::mem::take(&mut self.lock().subscribers);
        wake_all(subs.iter().filter_map(|s| s.lock().close()).collect());
    }

    /// Ends every stream for good: the client is gone.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.end_all();
    }

    fn remove(&self, sub: &Arc<Subscriber>) {
        self.lock().subscribers.retain(|s| !Arc::ptr_eq(s, sub));
    }
}

/// Queues `entry` (an event of connection `conn`) for `sub` and wakes its reader.
fn deliver(sub: &Subscriber, conn: u64, entry: Entry) {
    let waker = {
        let mut q = sub.lock();
        q.bound.get_or_insert(conn);
        q.push_event(entry, sub.capacity);
        q.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// A subscription to a client's events, as a [`Stream`].
///
/// Yields `Ok(event)` in the order QEMU sent them, or `Err(Gap)` where events were lost:
/// [`Gap::Lagged`] because this subscriber fell behind by more than its buffer,
/// [`Gap::Disconnected`] (persistent streams) because the connection ended. How long it
/// lasts is described in [the module docs](crate::events#how-long-a-subscription-lasts).
/// Dropping it unsubscribes.
pub struct EventStream {
    sub: Arc<Subscriber>,
    hub: Weak<Hub>,
}

impl EventStream {
    /// The next item without waiting: `None` if nothing is buffered (or the stream ended).
    pub fn try_next(&mut self) -> Option<Result<ReceivedEvent, Gap>> {
        self.sub.lock().take()
    }

    /// Whether the stream outlives connections (see
    /// [`Client::subscribe_persistent`](crate::Client::subscribe_persistent)).
    pub fn is_persistent(&self) -> bool {
        self.sub.persistent
    }
}

impl Stream for EventStream {
    type Item = Result<ReceivedEvent, Gap>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.sub.lock();
        if let Some(item) = q.take() {
            return Poll::Ready(Some(item));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        match &q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(&self.sub);
        }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.sub.lock();
        f.debug_struct("EventStream")
            .field("filter", &self.sub.filter)
            .field("persistent", &self.sub.persistent)
            .field("buffered", &q.events)
            .field("closed", &q.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: i64) -> ReceivedEvent {
        ReceivedEvent {
            event: Event::Other {
                name: "X".into(),
                data: serde_json::json!(i),
            },
            timestamp: Timestamp {
                seconds: i,
                microseconds: 0,
            },
        }
    }

    fn seconds(item: Option<Result<ReceivedEvent, Gap>>) -> i64 {
        item.expect("an item").expect("an event").timestamp.seconds
    }

    #[test]
    fn lag_is_counted_and_order_kept() {
        let hub = Arc::new(Hub::default());
        hub.begin(1);
        hub.up(1);
        let mut s = hub.subscribe(EventFilter::all(), 3, false);
        let mut other = hub.subscribe(EventFilter::names(["Y"]), 3, false);
        for i in 0..10 {
            hub.publish(1, "X", ev(i));
        }
        assert_eq!(
            s.try_next().unwrap().unwrap_err(),
            Gap::Lagged { missed: 7 }
        );
        for i in 7..10 {
            assert_eq!(seconds(s.try_next()), i);
        }
        assert!(s.try_next().is_none());
        assert!(other.try_next().is_none());
        drop(other);
        assert_eq!(hub.lock().subscribers.len(), 1);
        hub.end(1);
        assert!(s.try_next().is_none());
        assert!(s.sub.lock().closed);
    }

    #[test]
    fn persistent_streams_mark_the_gap_and_continue() {
        let hub = Arc::new(Hub::default());
        let mut once = hub.subscribe(EventFilter::all(), 8, false);
        let mut lasting = hub.subscribe(EventFilter::all(), 8, true);
        // A connection attempt that fails before delivering anything binds nobody.
        hub.begin(1);
        hub.end(1);
        assert!(!once.sub.lock().closed);
        assert!(lasting.try_next().is_none());

        hub.begin(2);
        hub.publish(2, "X", ev(1)); // during negotiation
        hub.up(2);
        hub.publish(2, "X", ev(2));
        hub.end(2);
        // A stale event of the ended connection reaches nobody.
        hub.publish(2, "X", ev(99));
        hub.begin(3);
        hub.up(3);
        hub.publish(3, "X", ev(3));

        assert_eq!(seconds(once.try_next()), 1);
        assert_eq!(seconds(once.try_next()), 2);
        assert!(once.try_next().is_none());
        assert!(once.sub.lock().closed);

        assert_eq!(seconds(lasting.try_next()), 1);
        assert_eq!(seconds(lasting.try_next()), 2);
        assert_eq!(lasting.try_next().unwrap().unwrap_err(), Gap::Disconnected);
        assert_eq!(seconds(lasting.try_next()), 3);
        assert!(lasting.try_next().is_none());
        hub.end_all();
        assert!(lasting.sub.lock().closed);
    }

    #[test]
    fn gap_markers_stay_bounded_when_nobody_reads() {
        let hub = Arc::new(Hub::default());
        let mut s = hub.subscribe(EventFilter::all(), 2, true);
        for conn in 0..1000 {
            hub.begin(conn);
            hub.up(conn);
            hub.publish(conn, "X", ev(conn as i64));
            hub.end(conn);
        }
        assert!(
            s.sub.lock().items.len() <= 6,
            "{}",
            s.sub.lock().items.len()
        );
        assert_eq!(
            s.try_next().unwrap().unwrap_err(),
            Gap::Lagged { missed: 998 }
        );
        assert_eq!(s.try_next().unwrap().unwrap_err(), Gap::Disconnected);
        assert_eq!(seconds(s.try_next()), 998);
        assert_eq!(s.try_next().unwrap().unwrap_err(), Gap::Disconnected);
        assert_eq!(seconds(s.try_next()), 999);
        assert_eq!(s.try_next().unwrap().unwrap_err(), Gap::Disconnected);
        assert!(s.try_next().is_none());
    }

    // STOP is in the run-state module.
    #[cfg(feature = "run-state")]
    #[test]
    fn kinds_and_names_combine() {
        let f = EventFilter::kinds([EventKind::Stop]).or_names(["X_NEW"]);
        assert!(f.matches("STOP") && f.matches("X_NEW") && !f.matches("RESUME"));
        assert!(EventFilter::all()
            .or_kinds([EventKind::Stop])
            .matches("ANY"));
        assert!(!EventFilter::kinds([]).matches("STOP"));
    }
}
