//! `qmp watch`: the VM's run state and its jobs, live, from the library's notifiers.
//!
//! On a terminal each job is a progress bar under a line with the VM's state; elsewhere
//! (a pipe, a log) each change is one line, so the same command serves people and scripts.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use qemu_qmp::notify::{Job, JobOutcome, VmStatus};
use qemu_qmp::ConnectionState;

use crate::failure::Failure;
use crate::{address, connect, ConnectOptions};

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The address (left out when $QMP_SOCKET holds it).
    #[arg(value_name = "ADDR", num_args = 0..=1)]
    words: Vec<String>,
    /// Stop after this many seconds (exit 0); by default, until interrupted or QEMU goes away.
    #[arg(long, value_name = "SECONDS", value_parser = crate::parse_seconds)]
    timeout: Option<f64>,
    /// One line per change even on a terminal (no progress bars).
    #[arg(long)]
    lines: bool,
    #[command(flatten)]
    connect: ConnectOptions,
}

pub async fn run(args: WatchArgs) -> Result<(), Failure> {
    let (endpoint, rest) = address::split(&args.words, 0)?;
    if let Some(extra) = rest.first() {
        return Err(Failure::usage(format!(
            "unexpected `{extra}`: `qmp watch [ADDR]`"
        )));
    }
    let client = connect::builder(&args.connect).build(endpoint.clone());
    // The trackers follow the client's connections: started before connecting, they read
    // the state as soon as the connection is up.
    let mut vm = client.vm_status();
    let mut jobs = client.jobs().changes();
    let mut state = client.watch_state();
    connect::connect(&client, &endpoint, &args.connect).await?;

    let mut view: Box<dyn View> = if std::io::stdout().is_terminal() && !args.lines {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::default())
    };
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs_f64(s));
    let sleep = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    view.vm(&vm.borrow_and_update());
    view.jobs(&jobs.borrow_and_update());
    let outcome = loop {
        tokio::select! {
            changed = vm.changed() => {
                if changed.is_err() { break Ok(()); }
                view.vm(&vm.borrow_and_update());
            }
            changed = jobs.changed() => {
                if changed.is_err() { break Ok(()); }
                view.jobs(&jobs.borrow_and_update());
            }
            changed = state.changed() => {
                let closed = changed.is_err() || *state.borrow_and_update() == ConnectionState::Closed;
                if closed {
                    break Err(Failure::connection(format!("QEMU closed the connection ({endpoint})")));
                }
            }
            _ = &mut sleep => break Ok(()),
            _ = tokio::signal::ctrl_c() => break Ok(()),
        }
    };
    view.finish();
    client.close().await;
    outcome
}

/// Where changes are shown.
trait View {
    fn vm(&mut self, status: &VmStatus);
    fn jobs(&mut self, jobs: &Arc<BTreeMap<String, Job>>);
    fn finish(&mut self) {}
}

/// `running`, `paused`, ... or `unknown` while it is not known.
fn vm_words(status: &VmStatus) -> String {
    match &status.state {
        Some(state) => {
            let cause = status
                .event
                .map(|e| format!(" (after {})", e.name()))
                .unwrap_or_default();
            format!("{}{cause}", state.as_str())
        }
        None => "unknown".into(),
    }
}

fn outcome_words(outcome: &JobOutcome) -> String {
    match outcome {
        JobOutcome::Completed => "completed".into(),
        JobOutcome::Failed(message) => format!("failed: {message}"),
        JobOutcome::Cancelled => "cancelled".into(),
        _ => "ended".into(),
    }
}

/// A job in one line: `backup0 backup running 33554432/67108864 (50%)`.
fn job_words(job: &Job) -> String {
    let mut line = format!(
        "{} {} {} {}/{} ({:.0}%)",
        job.id,
        job.kind.as_str(),
        job.status.as_str(),
        job.progress.current,
        job.progress.total,
        job.progress.fraction() * 100.0
    );
    if let Some(outcome) = &job.outcome {
        line.push_str(&format!(" {}", outcome_words(outcome)));
    }
    line
}

/// One line per change, for pipes and logs.
#[derive(Default)]
struct Lines {
    last_vm: Option<String>,
    last_jobs: HashMap<String, String>,
}

impl View for Lines {
    fn vm(&mut self, status: &VmStatus) {
        let words = vm_words(status);
        if self.last_vm.as_ref() != Some(&words) {
            println!("vm {words}");
            self.last_vm = Some(words);
        }
    }

    fn jobs(&mut self, jobs: &Arc<BTreeMap<String, Job>>) {
        for job in jobs.values() {
            let words = job_words(job);
            if self.last_jobs.get(&job.id) != Some(&words) {
                println!("job {words}");
                self.last_jobs.insert(job.id.clone(), words);
            }
        }
    }
}

/// A status line and a progress bar per job, redrawn in place.
struct Bars {
    multi: MultiProgress,
    status: ProgressBar,
    bars: HashMap<String, ProgressBar>,
    style: ProgressStyle,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let status = multi.add(ProgressBar::new_spinner());
        status.enable_steady_tick(Duration::from_millis(200));
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:40.cyan/blue}] {percent:>3}% {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Bars {
            multi,
            status,
            bars: HashMap::new(),
            style,
        }
    }
}

impl View for Bars {
    fn vm(&mut self, status: &VmStatus) {
        let colour = match (status.is_known(), status.running) {
            (false, _) => AnsiColor::Yellow,
            (true, true) => AnsiColor::Green,
            (true, false) => AnsiColor::Red,
        };
        let style = Style::new().bold().fg_color(Some(colour.into()));
        let words = vm_words(status);
        let words = if anstream::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            format!("{style}{words}{style:#}")
        } else {
            words
        };
        self.status.set_message(format!("VM {words}"));
    }

    fn jobs(&mut self, jobs: &Arc<BTreeMap<String, Job>>) {
        for job in jobs.values() {
            let bar = self.bars.entry(job.id.clone()).or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(job.progress.total));
                bar.set_style(self.style.clone());
                bar.set_prefix(job.id.clone());
                bar
            });
            bar.set_length(job.progress.total);
            bar.set_position(job.progress.current);
            let message = match &job.outcome {
                Some(outcome) => outcome_words(outcome),
                None => format!("{} {}", job.kind.as_str(), job.status.as_str()),
            };
            bar.set_message(message);
            if job.outcome.is_some() && !bar.is_finished() {
                bar.abandon();
            }
        }
    }

    fn finish(&mut self) {
        self.status.abandon();
    }
}
