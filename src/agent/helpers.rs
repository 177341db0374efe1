//! The agent's multi-call chores as one call each: running a program (`guest-exec` and
//! polling `guest-exec-status`) and reading or writing a whole file (`guest-file-*`).

use std::time::Duration;

use super::api;
use super::base64;
use super::client::AgentClient;
use crate::error::{Error, Result};

/// A program to run in the guest with [`AgentClient::exec`]: its path, arguments,
/// environment and standard input; its output is captured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exec {
    path: String,
    args: Vec<String>,
    env: Vec<String>,
    input: Option<Vec<u8>>,
    capture_output: bool,
    timeout: Option<Duration>,
}

impl Exec {
    /// Runs `path` (a path in the guest: the agent does not search `PATH`) without
    /// arguments, in the agent's environment, capturing its output, with no time limit.
    pub fn new(path: impl Into<String>) -> Self {
        Exec {
            path: path.into(),
            args: Vec::new(),
            env: Vec::new(),
            input: None,
            capture_output: true,
            timeout: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable. Giving any replaces the agent's whole environment
    /// with the ones given (that is what `guest-exec` does).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Bytes for the program's standard input (sent base64-encoded with the request).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Some(bytes.into());
        self
    }

    /// Whether stdout and stderr are captured (default yes); without, they are empty.
    pub fn capture_output(mut self, capture: bool) -> Self {
        self.capture_output = capture;
        self
    }

    /// Gives up polling after `timeout` with [`Error::Timeout`] (the program keeps
    /// running: the agent cannot stop it). Default: no limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn command(&self) -> api::GuestExecCommand {
        let mut cmd = api::GuestExecCommand::new(self.path.clone());
        if !self.args.is_empty() {
            cmd = cmd.arg(self.args.clone());
        }
        if !self.env.is_empty() {
            cmd = cmd.env(self.env.clone());
        }
        if let Some(input) = &self.input {
            cmd = cmd.input_data(base64::encode(input));
        }
        if self.capture_output {
            // A bool: every release takes it (10.0 also takes a mode).
            cmd = cmd.capture_output(api::GuestExecCaptureOutputForms::Boolean(true));
        }
        cmd
    }
}

/// How a program run by [`AgentClient::exec`] ended, and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// The guest's process id.
    pub pid: i64,
    /// The exit code, when the program exited normally.
    pub exit_code: Option<i64>,
    /// The signal that ended it, when one did (on Windows guests: the exception code).
    pub signal: Option<i64>,
    /// What it wrote to stdout (up to the agent's cap, 16 MiB).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr (up to the agent's cap, 16 MiB).
    pub stderr: Vec<u8>,
    /// Whether the agent cut stdout short at its cap.
    pub stdout_truncated: bool,
    /// Whether the agent cut stderr short at its cap.
    pub stderr_truncated: bool,
}

impl ExecOutput {
    /// Whether the program exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

fn decode_b64(text: Option<&str>, what: &str) -> Result<Vec<u8>> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => base64::decode(text).map_err(|e| Error::Protocol {
            message: format!(
                "the guest agent's {what} is not base64 (bad byte at offset {})",
                e.offset
            ),
        }),
    }
}

impl AgentClient {
    /// Runs a program in the guest and waits for it: `guest-exec`, then
    /// `guest-exec-status` polled with back-off ([`AgentBuilder::exec_poll`]) until it has
    /// exited; the output comes decoded. Each poll is a call of its own, so other callers'
    /// calls go in between.
    ///
    /// [`AgentBuilder::exec_poll`]: super::AgentBuilder::exec_poll
    pub async fn exec(&self, exec: Exec) -> Result<ExecOutput> {
        let started = self.execute(exec.command()).await?;
        let pid = started.pid;
        let deadline = exec.timeout.map(|t| (super::client::deadline_after(t), t));
        let (mut delay, max_delay) = self.options().exec_poll;
        loop {
            let status = self.execute(api::GuestExecStatusCommand::new(pid)).await?;
            if status.exited {
                return Ok(ExecOutput {
                    pid,
                    exit_code: status.exitcode,
                    signal: status.signal,
                    stdout: decode_b64(
                        status.out_data.as_deref(),
                        "out-data of guest-exec-status",
                    )?,
                    stderr: decode_b64(
                        status.err_data.as_deref(),
                        "err-data of guest-exec-status",
                    )?,
                    stdout_truncated: status.out_truncated.unwrap_or(false),
                    stderr_truncated: status.err_truncated.unwrap_or(false),
                });
            }
            if let Some((deadline, limit)) = deadline {
                if super::client::deadline_after(delay) > deadline {
                    return Err(Error::Timeout(limit));
                }
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2).min(max_delay);
        }
    }

    /// Reads a whole file of the guest (`guest-file-open` mode `r`, `guest-file-read` in
    /// chunks of [`AgentBuilder::file_chunk_size`], `guest-file-close`). The handle is
    /// closed in every case, even when a read fails or this future is dropped.
    ///
    /// [`AgentBuilder::file_chunk_size`]: super::AgentBuilder::file_chunk_size
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let handle = self
            .execute(api::GuestFileOpen::new(path).mode("r"))
            .await?;
        let guard = OpenFile {
            client: self,
            handle,
            open: true,
        };
        let chunk = i64::try_from(self.options().file_chunk).unwrap_or(i64::MAX);
        let read = async {
            let mut out = Vec::new();
            loop {
                let got = self
                    .execute(api::GuestFileReadCommand::new(handle).count(chunk))
                    .await?;
                out.extend(decode_b64(
                    Some(&got.buf_b64),
                    "buf-b64 of guest-file-read",
                )?);
                if got.eof || got.count == 0 {
                    return Ok(out);
                }
            }
        }
        .await;
        guard.close(read).await
    }

    /// Writes `bytes` to a file of the guest, creating or truncating it
    /// (`guest-file-open` mode `w`, `guest-file-write` in chunks of
    /// [`AgentBuilder::file_chunk_size`], `guest-file-close`). The handle is closed in
    /// every case, even when a write fails or this future is dropped.
    ///
    /// [`AgentBuilder::file_chunk_size`]: super::AgentBuilder::file_chunk_size
    pub async fn write_file(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let handle = self
            .execute(api::GuestFileOpen::new(path).mode("w"))
            .await?;
        let guard = OpenFile {
            client: self,
            handle,
            open: true,
        };
        let write = async {
            for chunk in bytes.chunks(self.options().file_chunk) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let len = i64::try_from(rest.len()).unwrap_or(i64::MAX);
                    let wrote = self
                        .execute(
                            api::GuestFileWriteCommand::new(handle, base64::encode(rest))
                                .count(len),
                        )
                        .await?;
                    let Some(written) = usize::try_from(wrote.count)
                        .ok()
                        .filter(|&n| n > 0 && n <= rest.len())
                    else {
                        return Err(Error::Protocol {
                            message: format!(
                                "guest-file-write of {} bytes to {path} wrote {}",
                                rest.len(),
                                wrote.count
                            ),
                        });
                    };
                    rest = &rest[written..];
                }
            }
            Ok(())
        }
        .await;
        guard.close(write).await
    }
}

/// A guest file handle that is closed however the work on it ends: by
/// [`OpenFile::close`], or, if the future doing the work is dropped, by a close queued
/// from `drop` (queued at once, so it runs right after whatever call was in flight).
struct OpenFile<'a> {
    client: &'a AgentClient,
    handle: i64,
    open: bool,
}

impl OpenFile<'_> {
    /// Closes the handle and gives `work`'s result, or the close's error if only that failed.
    async fn close<T>(mut self, work: Result<T>) -> Result<T> {
        self.open = false;
        let closed = self
            .client
            .execute(api::GuestFileClose::new(self.handle))
            .await;
        let value = work?;
        closed.map(|()| value)
    }
}

impl Drop for OpenFile<'_> {
    fn drop(&mut self) {
        if self.open {
            let args = api::GuestFileClose::new(self.handle);
            let _ = self
                .client
                .submit("guest-file-close", &args, true, self.client.timeout());
        }
    }
}
