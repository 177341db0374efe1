//! Connecting again: [`Client::reconnect`] and its retrying forms, and closing.

use std::time::Duration;

use tracing::debug;

use super::connection::lock;
use super::{Client, ConnectionState};
use crate::error::{Error, Result};
use crate::transport::Transport;

/// Retry schedule for [`Client::reconnect_with_backoff`] and [`ClientBuilder::connect_with_retry`](super::ClientBuilder::connect_with_retry):
/// the delay starts at `initial`, doubles after each failure up to `max`, and gives up after
/// `attempts` tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Total number of tries (at least one is made).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            attempts: 20,
        }
    }
}

/// How long closing waits for a connection's tasks to stop by themselves.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Client {
    /// Dials the client's endpoint and negotiates: the first connection of a client from
    /// [`ClientBuilder::build`](super::ClientBuilder::build), or a fresh one. The old
    /// connection, if any, is closed first: its event streams end (subscribe again), except
    /// persistent ones, which yield [`Gap::Disconnected`](crate::events::Gap::Disconnected)
    /// and continue with the new connection's events.
    pub async fn reconnect(&self) -> Result<()> {
        let endpoint = self.inner.endpoint.clone().ok_or(Error::NoEndpoint)?;
        let _life = self.inner.lifecycle.lock().await;
        self.close_locked().await;
        self.inner.state.send_replace(ConnectionState::Connecting);
        let t = self.inner.config.connect_timeout;
        let dialled = tokio::time::timeout(t, endpoint.dial()).await;
        let transport = match dialled {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                self.inner.state.send_replace(ConnectionState::Closed);
                return Err(Error::Io(e));
            }
            Err(_) => {
                self.inner.state.send_replace(ConnectionState::Closed);
                return Err(Error::Timeout(t));
            }
        };
        self.establish(transport).await
    }

    /// [`reconnect`](Self::reconnect), retrying with back-off until it succeeds or the
    /// attempts run out (the last error is returned).
    pub async fn reconnect_with_backoff(&self, backoff: Backoff) -> Result<()> {
        let mut delay = backoff.initial;
        let mut attempt = 1;
        loop {
            match self.reconnect().await {
                Ok(()) => return Ok(()),
                Err(e @ Error::NoEndpoint) => return Err(e),
                Err(e) if attempt >= backoff.attempts.max(1) => return Err(e),
                Err(e) => {
                    debug!(attempt, error = %e, ?delay, "connect failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                    attempt += 1;
                }
            }
        }
    }

    /// Replaces the connection with a fresh one over `transport` (for example a new
    /// connection accepted from QEMU).
    pub async fn reconnect_with(&self, transport: impl Into<Transport>) -> Result<()> {
        let _life = self.inner.lifecycle.lock().await;
        self.close_locked().await;
        self.inner.state.send_replace(ConnectionState::Connecting);
        self.establish(transport.into()).await
    }

    /// Closes the connection: waiting callers get [`Error::Disconnected`], every event
    /// stream ends (persistent ones too: closing says no more events are wanted), and the
    /// state becomes [`ConnectionState::Closed`]. The handle stays usable for a reconnect,
    /// and subscriptions taken after this belong to the next connection.
    pub async fn close(&self) {
        let _life = self.inner.lifecycle.lock().await;
        // Before the teardown, so persistent streams simply end, as when the last handle
        // is dropped, rather than mark a gap that nothing will follow.
        self.inner.events.end_all();
        self.close_locked().await;
    }

    pub(super) async fn close_locked(&self) {
        let conn = lock(&self.inner.conn).take();
        let Some(conn) = conn else {
            self.inner.state.send_replace(ConnectionState::Closed);
            return;
        };
        self.inner
            .state
            .send_replace(ConnectionState::Disconnecting);
        conn.shared.teardown();
        let tasks = std::mem::take(&mut *lock(&conn.tasks));
        for mut task in tasks {
            // The tasks stop when told, but a writer blocked on the full socket of a
            // peer that stopped reading (a SIGSTOPped QEMU) cannot hear it: past a grace
            // period it is aborted, so closing never hangs on the peer.
            if tokio::time::timeout(CLOSE_GRACE, &mut task).await.is_err() {
                debug!("a connection task did not stop in time; aborted");
                task.abort();
                let _ = task.await;
            }
        }
        self.inner.state.send_replace(ConnectionState::Closed);
    }
}
