//! Event subscriptions: bounded per-subscriber buffers, optional name filters, lag counts.
//!
//! The reader task decodes each event once and offers it to every matching subscriber. A
//! subscriber's buffer never grows past its capacity: when it is full the oldest event is
//! dropped and counted, and the subscriber sees that count ([`Lagged`]) before the events
//! that follow the gap. Publishing never waits, so a slow or forgotten stream cannot hold
//! up replies or other subscribers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

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

/// The subscriber fell behind and this many events were dropped from its buffer (the
/// oldest ones) since it last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged {
    /// How many events were lost at this point of the stream.
    pub missed: u64,
}

impl std::fmt::Display for Lagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the event subscriber fell behind and missed {} events",
            self.missed
        )
    }
}

impl std::error::Error for Lagged {}

/// Which events a subscriber receives.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    names: Option<Box<[Box<str>]>>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        EventFilter { names: None }
    }

    /// Only events with one of these wire names (e.g. `"STOP"`).
    pub fn names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        EventFilter {
            names: Some(names.into_iter().map(|s| s.as_ref().into()).collect()),
        }
    }

    /// Whether an event of this wire name passes.
    pub fn matches(&self, name: &str) -> bool {
        match &self.names {
            None => true,
            Some(names) => names.iter().any(|n| &**n == name),
        }
    }
}

struct Queue {
    items: VecDeque<Arc<ReceivedEvent>>,
    missed: u64,
    closed: bool,
    waker: Option<Waker>,
}

struct Subscriber {
    filter: EventFilter,
    capacity: usize,
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
    closed: bool,
}

/// The set of subscribers of one connection.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscriber; if the connection is already closed its stream ends at once.
    pub(crate) fn subscribe(self: &Arc<Self>, filter: EventFilter, capacity: usize) -> EventStream {
        let sub = Arc::new(Subscriber {
            filter,
            capacity: capacity.max(1),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                missed: 0,
                closed: false,
                waker: None,
            }),
        });
        let mut state = self.lock();
        if state.closed {
            sub.lock().closed = true;
        } else {
            state.subscribers.push(sub.clone());
        }
        EventStream {
            sub,
            hub: Arc::downgrade(self),
        }
    }

    /// Whether anyone would receive an event of this name (so decoding can be skipped).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.lock()
            .subscribers
            .iter()
            .any(|s| s.filter.matches(name))
    }

    /// Offers one event to every matching subscriber. Never blocks on a subscriber.
    pub(crate) fn publish(&self, name: &str, event: ReceivedEvent) {
        let event = Arc::new(event);
        let state = self.lock();
        for sub in state.subscribers.iter().filter(|s| s.filter.matches(name)) {
            let waker = {
                let mut q = sub.lock();
                if q.items.len() >= sub.capacity {
                    q.items.pop_front();
                    q.missed += 1;
                }
                q.items.push_back(event.clone());
                q.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Ends every stream (after it drains what it already holds).
    pub(crate) fn close(&self) {
        let subs = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.subscribers)
        };
        for sub in subs {
            let waker = {
                let mut q = sub.lock();
                q.closed = true;
                q.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn remove(&self, sub: &Arc<Subscriber>) {
        self.lock().subscribers.retain(|s| !Arc::ptr_eq(s, sub));
    }
}

/// A subscription to the events of one connection, as a [`Stream`].
///
/// Yields `Ok(event)` in the order QEMU sent them, or `Err(Lagged)` where events were lost
/// because this subscriber fell behind by more than its buffer. Ends when the connection
/// closes. Dropping it unsubscribes.
pub struct EventStream {
    sub: Arc<Subscriber>,
    hub: Weak<Hub>,
}

impl EventStream {
    /// A stream that is already over (for a client with no connection).
    pub(crate) fn ended() -> Self {
        let hub = Arc::new(Hub::default());
        hub.close();
        hub.subscribe(EventFilter::all(), 1)
    }

    /// The next item without waiting: `None` if nothing is buffered (or the stream ended).
    pub fn try_next(&mut self) -> Option<Result<ReceivedEvent, Lagged>> {
        let mut q = self.sub.lock();
        take_item(&mut q)
    }
}

fn take_item(q: &mut Queue) -> Option<Result<ReceivedEvent, Lagged>> {
    if q.missed > 0 {
        let missed = std::mem::take(&mut q.missed);
        return Some(Err(Lagged { missed }));
    }
    q.items
        .pop_front()
        .map(|ev| Ok(Arc::try_unwrap(ev).unwrap_or_else(|shared| (*shared).clone())))
}

impl Stream for EventStream {
    type Item = Result<ReceivedEvent, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.sub.lock();
        if let Some(item) = take_item(&mut q) {
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
            .field("buffered", &q.items.len())
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

    #[test]
    fn lag_is_counted_and_order_kept() {
        let hub = Arc::new(Hub::default());
        let mut s = hub.subscribe(EventFilter::all(), 3);
        let mut other = hub.subscribe(EventFilter::names(["Y"]), 3);
        for i in 0..10 {
            hub.publish("X", ev(i));
        }
        assert_eq!(s.try_next().unwrap().unwrap_err(), Lagged { missed: 7 });
        for i in 7..10 {
            assert_eq!(s.try_next().unwrap().unwrap().timestamp.seconds, i);
        }
        assert!(s.try_next().is_none());
        assert!(other.try_next().is_none());
        drop(other);
        assert_eq!(hub.lock().subscribers.len(), 1);
        hub.close();
        assert!(s.try_next().is_none());
    }
}
