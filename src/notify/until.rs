//! Commands whose effect is an event: subscribe first, then send, then wait for the event,
//! so it cannot come and go between the reply and the subscription.

use std::future::IntoFuture;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use crate::client::Client;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventStream, Gap, ReceivedEvent};
use crate::Event;

/// The stream's next item (the one `StreamExt::next` would give), without the futures
/// crate.
pub(super) async fn next_item(
    events: &mut EventStream,
) -> Option<std::result::Result<ReceivedEvent, Gap>> {
    std::future::poll_fn(|cx| Pin::new(&mut *events).poll_next(cx)).await
}

impl Client {
    /// Executes `command` and waits for the first event that passes `filter` and
    /// `matches`, subscribing before the command is sent. Returns the command's reply
    /// and the event.
    ///
    /// Fails with [`Error::Timeout`] when no such event comes within `timeout` of sending
    /// (the reply included), with the command's own error if it fails, and with
    /// [`Error::Disconnected`] if the connection ends first. Events lost to a lagging
    /// buffer are not waited for: the filter should be narrow enough for that not to
    /// happen.
    ///
    /// ```no_run
    /// # async fn demo(client: qemu_qmp::Client) -> qemu_qmp::Result<()> {
    /// use std::time::Duration;
    /// use qemu_qmp::{api::{EventKind, Stop}, EventFilter};
    ///
    /// // Any command whose effect is an event: here `stop` and its STOP.
    /// let (_, stopped) = client
    ///     .execute_until(
    ///         Stop::new(),
    ///         EventFilter::kinds([EventKind::Stop]),
    ///         |_| true,
    ///         Duration::from_secs(5),
    ///     )
    ///     .await?;
    /// # let _ = stopped; Ok(()) }
    /// ```
    pub async fn execute_until<C: Command>(
        &self,
        command: C,
        filter: EventFilter,
        mut matches: impl FnMut(&Event) -> bool,
        timeout: Duration,
    ) -> Result<(C::Returns, ReceivedEvent)> {
        let mut events = self.subscribe(filter);
        let reply = self.execute(command).into_future();
        let waited = tokio::time::timeout(timeout, async {
            let returned = reply.await?;
            loop {
                match next_item(&mut events).await {
                    Some(Ok(received)) if matches(&received.event) => {
                        return Ok((returned, received));
                    }
                    Some(_) => continue,
                    None => return Err(Error::Disconnected),
                }
            }
        })
        .await;
        waited.unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// `device_del` of device `id`, resolved when QEMU reports it gone (DEVICE_DELETED
    /// naming it): unplugging may need the guest's cooperation, so the reply alone does
    /// not mean the device is gone.
    #[cfg(qmp_module = "qdev")]
    pub async fn device_del_and_wait(&self, id: &str, timeout: Duration) -> Result<ReceivedEvent> {
        let (_, deleted) = self
            .execute_until(
                crate::api::DeviceDel::new(id),
                EventFilter::kinds([crate::api::EventKind::DeviceDeleted]),
                |event| matches!(event, Event::DeviceDeleted(data) if data.device.as_deref() == Some(id)),
                timeout,
            )
            .await?;
        Ok(deleted)
    }

    /// `system_powerdown` (the ACPI power button), resolved when the guest has shut down
    /// (SHUTDOWN). A guest that ignores the button makes this time out.
    #[cfg(qmp_module = "run-state")]
    pub async fn system_powerdown_and_wait(&self, timeout: Duration) -> Result<ReceivedEvent> {
        let (_, shutdown) = self
            .execute_until(
                crate::api::SystemPowerdown,
                EventFilter::kinds([crate::api::EventKind::Shutdown]),
                |_| true,
                timeout,
            )
            .await?;
        Ok(shutdown)
    }

    /// `migrate` with `arguments`, resolved when the migration ends: `Ok` with the final
    /// status (`completed`, `failed` or `cancelled`) from the MIGRATION events.
    #[cfg(qmp_module = "migration")]
    pub async fn migrate_and_wait(
        &self,
        arguments: crate::api::Migrate,
        timeout: Duration,
    ) -> Result<crate::api::MigrationStatus> {
        use crate::api::MigrationStatus;
        let (_, ended) = self
            .execute_until(
                arguments,
                EventFilter::kinds([crate::api::EventKind::Migration]),
                |event| {
                    matches!(
                        event,
                        Event::Migration(data) if matches!(
                            data.status,
                            MigrationStatus::Completed | MigrationStatus::Failed | MigrationStatus::Cancelled
                        )
                    )
                },
                timeout,
            )
            .await?;
        match ended.event {
            Event::Migration(data) => Ok(data.status),
            _ => Err(Error::Protocol {
                message: "a MIGRATION event without its status".into(),
            }),
        }
    }
}
