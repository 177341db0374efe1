//! The job tracker: `query-jobs` on every connection, after every job event, and every
//! [`POLL`] while a job runs (QEMU sends no event for progress).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::until::next_item;
use crate::api::{EventKind, JobInfo, JobStatus, JobType};
use crate::client::connection::{first_of, Either};
use crate::client::{Client, ConnectionState, WeakClient};
use crate::events::{EventFilter, EventStream, Gap};
use crate::{Commands, Event};

/// How often the progress of running jobs is read.
pub const POLL: Duration = Duration::from_millis(100);

/// How far a job has come, in units of QEMU's choosing (bytes, for block jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JobProgress {
    /// Work done.
    pub current: u64,
    /// Work there is (it may grow while the job runs).
    pub total: u64,
}

impl JobProgress {
    /// `current / total`, 0 when the total is 0.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.current as f64 / self.total as f64
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// It did its work.
    Completed,
    /// It failed, with QEMU's message.
    Failed(String),
    /// It was cancelled.
    Cancelled,
    /// The client was dropped before the job ended, so how it ended is not known.
    Unknown,
}

/// A job as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Job {
    /// Its id (a block job's is its device name unless one was given).
    pub id: String,
    /// What kind of job it is.
    pub kind: JobType,
    /// Its status; `Null` once QEMU has dismissed it.
    pub status: JobStatus,
    /// How far it has come.
    pub progress: JobProgress,
    /// How it ended, once it has.
    pub outcome: Option<JobOutcome>,
}

/// Every job of the tracker, by id; concluded ones are kept with their outcome.
pub(crate) type Snapshot = Arc<BTreeMap<String, Job>>;

/// The jobs QEMU runs, kept current: see [`Client::jobs`].
#[derive(Debug, Clone)]
pub struct Jobs {
    rx: watch::Receiver<Snapshot>,
}

impl Jobs {
    /// Every job seen since the tracker started, running or ended.
    pub fn list(&self) -> Vec<Job> {
        self.rx.borrow().values().cloned().collect()
    }

    /// The job `id`, as last seen.
    pub fn get(&self, id: &str) -> Option<Job> {
        self.rx.borrow().get(id).cloned()
    }

    /// Follows job `id` (which may not have started yet).
    pub fn job(&self, id: impl Into<String>) -> TrackedJob {
        TrackedJob {
            id: id.into(),
            rx: self.rx.clone(),
            last: None,
        }
    }

    /// A receiver of every change to the set of jobs.
    pub fn changes(&self) -> watch::Receiver<Arc<BTreeMap<String, Job>>> {
        self.rx.clone()
    }
}

/// One job, followed: its progress as it changes, and its outcome.
#[derive(Debug, Clone)]
pub struct TrackedJob {
    id: String,
    rx: watch::Receiver<Snapshot>,
    last: Option<JobProgress>,
}

impl TrackedJob {
    /// The job as last seen (`None` until it has been seen).
    pub fn current(&self) -> Option<Job> {
        self.rx.borrow().get(&self.id).cloned()
    }

    /// Waits until the job has ended, and says how.
    pub async fn wait(&mut self) -> JobOutcome {
        let id = self.id.clone();
        let ended = self
            .rx
            .wait_for(|jobs| jobs.get(&id).is_some_and(|j| j.outcome.is_some()))
            .await;
        match ended {
            Ok(jobs) => jobs
                .get(&id)
                .and_then(|j| j.outcome.clone())
                .unwrap_or(JobOutcome::Unknown),
            Err(_) => JobOutcome::Unknown,
        }
    }

    /// The next change of the job's progress, for a progress bar; `None` once the job has
    /// ended (after its last progress was given) or the tracker is gone.
    pub async fn next_progress(&mut self) -> Option<JobProgress> {
        loop {
            let (progress, ended) = {
                let jobs = self.rx.borrow_and_update();
                match jobs.get(&self.id) {
                    Some(job) => (Some(job.progress), job.outcome.is_some()),
                    None => (None, false),
                }
            };
            if let Some(progress) = progress {
                if self.last != Some(progress) {
                    self.last = Some(progress);
                    return Some(progress);
                }
                if ended {
                    return None;
                }
            }
            self.rx.changed().await.ok()?;
        }
    }
}

impl Client {
    /// Every job QEMU runs (block jobs and the others), kept current: read with
    /// `query-jobs` when a connection comes up, after every JOB_STATUS_CHANGE and
    /// BLOCK_JOB_* event, and every [`POLL`] while a job runs, for its progress.
    /// [`TrackedJob::wait`] gives a job's outcome, with QEMU's error message when it
    /// failed.
    ///
    /// The first call starts the tracker (a task on the current tokio runtime); later
    /// calls share it. It lives as long as the client.
    pub fn jobs(&self) -> Jobs {
        let rx = self
            .trackers()
            .jobs
            .get_or_init(|| {
                let (tx, rx) = watch::channel(Snapshot::default());
                let events = self.subscribe_persistent(job_events());
                tokio::spawn(track(self.downgrade(), events, self.watch_state(), tx));
                rx
            })
            .clone();
        Jobs { rx }
    }
}

fn job_events() -> EventFilter {
    EventFilter::kinds([
        EventKind::JobStatusChange,
        EventKind::BlockJobCompleted,
        EventKind::BlockJobCancelled,
        EventKind::BlockJobError,
        EventKind::BlockJobReady,
        EventKind::BlockJobPending,
    ])
}

/// What the events said that `query-jobs` may no longer show (a job dismissed at once).
#[derive(Default)]
struct Heard {
    /// Outcomes from BLOCK_JOB_COMPLETED / BLOCK_JOB_CANCELLED, by job id.
    outcomes: BTreeMap<String, JobOutcome>,
    /// The progress those events report, the job's last.
    last_progress: BTreeMap<String, JobProgress>,
    /// A disconnection was seen while draining events.
    disconnected: bool,
}

fn progress(info: &JobInfo) -> JobProgress {
    JobProgress {
        current: u64::try_from(info.current_progress).unwrap_or(0),
        total: u64::try_from(info.total_progress).unwrap_or(0),
    }
}

/// The outcome of a job that has concluded (or vanished).
fn outcome_of(job: &Job, error: Option<&str>, heard: &Heard) -> JobOutcome {
    if let Some(known) = heard.outcomes.get(&job.id) {
        return known.clone();
    }
    match error {
        Some(message) => JobOutcome::Failed(message.to_owned()),
        None => JobOutcome::Completed,
    }
}

/// Reads `query-jobs` and merges it into the snapshot; `None` when the client is gone.
/// `after_gap`: events may have been missed, so a job that vanished ended unseen.
async fn refresh(
    client: &WeakClient,
    tx: &watch::Sender<Snapshot>,
    events: &mut EventStream,
    heard: &mut Heard,
    after_gap: bool,
) -> Option<()> {
    let infos = client.upgrade()?.query_jobs().await;
    // Events QEMU sent before this reply are buffered by now: a job's last events (its
    // outcome) come before it leaves the list, so hear them before reading the list.
    while let Some(item) = events.try_next() {
        match item {
            Ok(received) => hear(&received.event, heard),
            Err(Gap::Disconnected) => heard.disconnected = true,
            Err(_) => {}
        }
    }
    let Ok(infos) = infos else {
        return Some(());
    };
    let heard = &*heard;
    tx.send_if_modified(|snapshot| {
        let mut jobs = (**snapshot).clone();
        for info in &infos {
            let entry = jobs.entry(info.id.clone()).or_insert_with(|| Job {
                id: info.id.clone(),
                kind: info.r#type.clone(),
                status: info.status.clone(),
                progress: JobProgress::default(),
                outcome: None,
            });
            entry.status = info.status.clone();
            entry.progress = progress(info);
            if entry.outcome.is_none() && info.status == JobStatus::Concluded {
                entry.outcome = Some(outcome_of(entry, info.error.as_deref(), heard));
            }
        }
        // Jobs QEMU no longer lists were dismissed: they ended.
        for job in jobs.values_mut() {
            if !infos.iter().any(|i| i.id == job.id) && job.outcome.is_none() {
                job.status = JobStatus::Null;
                if let Some(last) = heard.last_progress.get(&job.id) {
                    job.progress = *last;
                }
                job.outcome = Some(match heard.outcomes.get(&job.id) {
                    Some(known) => known.clone(),
                    None if after_gap => JobOutcome::Unknown,
                    None => outcome_of(job, None, heard),
                });
            }
        }
        let changed = jobs != **snapshot;
        if changed {
            *snapshot = Arc::new(jobs);
        }
        changed
    });
    Some(())
}

/// Applies what an event says at once, before `query-jobs` confirms it.
fn hear(event: &Event, heard: &mut Heard) {
    match event {
        Event::BlockJobCompleted(data) => {
            let outcome = match &data.error {
                Some(message) => JobOutcome::Failed(message.clone()),
                None => JobOutcome::Completed,
            };
            heard.outcomes.insert(data.device.clone(), outcome);
            heard
                .last_progress
                .insert(data.device.clone(), block_progress(data.offset, data.len));
        }
        Event::BlockJobCancelled(data) => {
            heard
                .outcomes
                .insert(data.device.clone(), JobOutcome::Cancelled);
            heard
                .last_progress
                .insert(data.device.clone(), block_progress(data.offset, data.len));
        }
        _ => {}
    }
}

fn block_progress(offset: i64, len: i64) -> JobProgress {
    JobProgress {
        current: u64::try_from(offset).unwrap_or(0),
        total: u64::try_from(len).unwrap_or(0),
    }
}

fn any_running(tx: &watch::Sender<Snapshot>) -> bool {
    tx.borrow().values().any(|j| j.outcome.is_none())
}

async fn track(
    client: WeakClient,
    mut events: EventStream,
    mut states: watch::Receiver<ConnectionState>,
    tx: watch::Sender<Snapshot>,
) {
    let mut heard = Heard::default();
    let mut after_gap = false;
    loop {
        if states
            .wait_for(|s| *s == ConnectionState::Running)
            .await
            .is_err()
        {
            return;
        }
        if refresh(
            &client,
            &tx,
            &mut events,
            &mut heard,
            std::mem::take(&mut after_gap),
        )
        .await
        .is_none()
        {
            return;
        }
        loop {
            if std::mem::take(&mut heard.disconnected) {
                after_gap = true;
                break;
            }
            // While a job runs its progress is polled; otherwise only events wake us.
            let next = if any_running(&tx) {
                let item = std::pin::pin!(next_item(&mut events));
                match first_of(item, tokio::time::sleep(POLL)).await {
                    Either::First(item) => Some(item),
                    Either::Second(()) => None,
                }
            } else {
                Some(next_item(&mut events).await)
            };
            match next {
                // The poll.
                None => {}
                Some(Some(Ok(received))) => hear(&received.event, &mut heard),
                Some(Some(Err(Gap::Disconnected))) => {
                    after_gap = true;
                    break;
                }
                Some(Some(Err(_))) => after_gap = true,
                Some(None) => {
                    after_gap = true;
                    let Some(again) = client.upgrade() else {
                        return;
                    };
                    events = again.subscribe_persistent(job_events());
                    drop(again);
                    if states.changed().await.is_err() {
                        return;
                    }
                    break;
                }
            }
            if refresh(
                &client,
                &tx,
                &mut events,
                &mut heard,
                std::mem::take(&mut after_gap),
            )
            .await
            .is_none()
            {
                return;
            }
        }
    }
}
