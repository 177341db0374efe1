//! The VM status tracker: `query-status` on every connection and after every event that
//! changes the run state.

use tokio::sync::watch;

use super::until::next_item;
use crate::api::{EventKind, RunState};
use crate::client::{Client, ConnectionState, WeakClient};
use crate::events::{EventFilter, EventStream, Gap};
use crate::{Commands, Event};

/// The VM's run state as the client last learnt it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VmStatus {
    /// QEMU's run state; `None` while it is not known (before the first `query-status`
    /// of a connection, and while disconnected).
    pub state: Option<RunState>,
    /// Whether the VM is running (`false` while not known).
    pub running: bool,
    /// The event that last changed the state, if an event did (`None` when it was read
    /// on connecting, or the event is one the bindings do not know).
    pub event: Option<EventKind>,
}

impl VmStatus {
    const UNKNOWN: VmStatus = VmStatus {
        state: None,
        running: false,
        event: None,
    };

    /// Whether the state is known (the client is connected and has read it).
    pub fn is_known(&self) -> bool {
        self.state.is_some()
    }
}

/// The events after which the run state is read again. MIGRATION is named rather than
/// typed so the tracker does not need the `migration` feature.
fn run_state_events() -> EventFilter {
    EventFilter::kinds([
        EventKind::Stop,
        EventKind::Resume,
        EventKind::Shutdown,
        EventKind::Reset,
        EventKind::Suspend,
        EventKind::SuspendDisk,
        EventKind::Wakeup,
        EventKind::GuestPanicked,
        EventKind::GuestCrashloaded,
        EventKind::Watchdog,
    ])
    .or_names(["MIGRATION"])
}

/// What an event says of the state before QEMU confirms it: `None` when it does not say.
fn implied(event: &Event) -> Option<(RunState, bool)> {
    Some(match event {
        Event::Stop => (RunState::Paused, false),
        Event::Resume | Event::Wakeup => (RunState::Running, true),
        Event::Shutdown(_) => (RunState::Shutdown, false),
        Event::Suspend | Event::SuspendDisk => (RunState::Suspended, false),
        Event::GuestPanicked(_) => (RunState::GuestPanicked, false),
        _ => return None,
    })
}

impl Client {
    /// The VM's run state, kept current: read with `query-status` when a connection
    /// comes up, and again after each event that changes it (STOP, RESUME, SHUTDOWN,
    /// RESET, SUSPEND, WAKEUP, GUEST_PANICKED, MIGRATION, ...) or a gap in the events.
    /// While disconnected it is unknown ([`VmStatus::is_known`]).
    ///
    /// The first call starts the tracker (a task on the current tokio runtime, so call it
    /// from within one); later calls share it. It lives as long as the client.
    pub fn vm_status(&self) -> watch::Receiver<VmStatus> {
        self.trackers()
            .vm
            .get_or_init(|| {
                let (tx, rx) = watch::channel(VmStatus::UNKNOWN);
                let events = self.subscribe_persistent(run_state_events());
                tokio::spawn(track(self.downgrade(), events, self.watch_state(), tx));
                rx
            })
            .clone()
    }
}

fn publish(tx: &watch::Sender<VmStatus>, status: VmStatus) {
    tx.send_if_modified(|current| {
        let changed = *current != status;
        *current = status;
        changed
    });
}

/// Reads the state from QEMU; `false` when the client is gone.
async fn refresh(
    client: &WeakClient,
    tx: &watch::Sender<VmStatus>,
    event: Option<EventKind>,
) -> bool {
    let Some(client) = client.upgrade() else {
        return false;
    };
    if let Ok(info) = client.query_status().await {
        publish(
            tx,
            VmStatus {
                state: Some(info.status),
                running: info.running,
                event,
            },
        );
    }
    true
}

async fn track(
    client: WeakClient,
    mut events: EventStream,
    mut states: watch::Receiver<ConnectionState>,
    tx: watch::Sender<VmStatus>,
) {
    loop {
        // Connected first; a closed client's state never changes again, and its sender
        // goes with it.
        if states
            .wait_for(|s| *s == ConnectionState::Running)
            .await
            .is_err()
        {
            return;
        }
        if !refresh(&client, &tx, None).await {
            return;
        }
        loop {
            match next_item(&mut events).await {
                Some(Ok(received)) => {
                    let kind = received.event.kind();
                    if let Some((state, running)) = implied(&received.event) {
                        publish(
                            &tx,
                            VmStatus {
                                state: Some(state),
                                running,
                                event: kind,
                            },
                        );
                    }
                    // The event's own word is a guess (STOP may mean an I/O error, a
                    // debug stop, ...): QEMU's answer settles it.
                    if !refresh(&client, &tx, kind).await {
                        return;
                    }
                }
                Some(Err(Gap::Disconnected)) => {
                    publish(&tx, VmStatus::UNKNOWN);
                    break;
                }
                Some(Err(_)) => {
                    if !refresh(&client, &tx, None).await {
                        return;
                    }
                }
                None => {
                    // Closed (or every handle gone): the stream is over. A closed
                    // client may connect again, so follow it with a fresh subscription.
                    publish(&tx, VmStatus::UNKNOWN);
                    let Some(again) = client.upgrade() else {
                        return;
                    };
                    events = again.subscribe_persistent(run_state_events());
                    drop(again);
                    if states.changed().await.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}
