//! What the VM and its jobs are doing, kept current from events: no socket of its own,
//! only the client's calls and subscriptions.
//!
//! - [`Client::vm_status`](crate::Client::vm_status): a [`watch`](tokio::sync::watch) of the VM's run state, read
//!   with `query-status` when a connection comes up and after every event that changes
//!   it (or a gap in the events).
//! - [`Client::jobs`](crate::Client::jobs): every job QEMU runs, from `query-jobs` and the job events, with
//!   progress and errors; [`TrackedJob::wait`](jobs::TrackedJob::wait) resolves when one concludes.
//! - Commands whose effect is an event, without the race of subscribing after sending:
//!   [`Client::execute_until`](crate::Client::execute_until), [`Client::device_del_and_wait`](crate::Client::device_del_and_wait),
//!   [`Client::system_powerdown_and_wait`](crate::Client::system_powerdown_and_wait) and [`Client::migrate_and_wait`](crate::Client::migrate_and_wait).
//!
//! A tracker is started by its first user and lives as long as the client: it holds no
//! handle that would keep the connection open, and it follows the client across
//! reconnects.

#[cfg(all(qmp_module = "job", qmp_module = "block-core"))]
mod jobs;
mod until;
#[cfg(qmp_module = "run-state")]
mod vm;

#[cfg(all(qmp_module = "job", qmp_module = "block-core"))]
pub use jobs::{Job, JobOutcome, JobProgress, Jobs, TrackedJob, POLL};
#[cfg(qmp_module = "run-state")]
pub use vm::VmStatus;

/// The trackers a client has started.
#[derive(Default)]
pub(crate) struct Trackers {
    #[cfg(qmp_module = "run-state")]
    vm: std::sync::OnceLock<tokio::sync::watch::Receiver<VmStatus>>,
    #[cfg(all(qmp_module = "job", qmp_module = "block-core"))]
    jobs: std::sync::OnceLock<tokio::sync::watch::Receiver<jobs::Snapshot>>,
}
