//! `--launch`: the shell starts QEMU itself, with its monitor on one end of a socket pair
//! made before QEMU runs, so there is no socket path to race for and no connect to retry.
//! QEMU's output comes back as notices; leaving the shell ends QEMU.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Notices;
use crate::failure::Failure;

/// The descriptor QEMU finds its end of the socket pair at.
const CHILD_FD: i32 = 3;

/// The chardev id of the shell's monitor.
const CHARDEV_ID: &str = "qmp-shell";

/// A QEMU the shell started. Dropping it kills QEMU.
pub struct Launched {
    child: Child,
}

impl Launched {
    /// Starts `argv` (the QEMU binary and its arguments) with a QMP monitor on a socket
    /// pair; gives the shell's end. QEMU's stdout and stderr lines become notices.
    pub fn spawn(argv: &[String], notices: &Notices) -> Result<(Launched, UnixStream), Failure> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Failure::usage(
                "--launch needs QEMU's command line after `--`: `qmp shell --launch -- qemu-system-x86_64 -M none`",
            ));
        };
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Failure::other(format!("cannot create a socket pair: {e}")))?;
        let fd = theirs.as_raw_fd();
        let mut command = Command::new(program);
        command
            .args(args)
            .arg("-chardev")
            .arg(format!("socket,id={CHARDEV_ID},fd={CHILD_FD}"))
            .arg("-mon")
            .arg(format!("chardev={CHARDEV_ID},mode=control"))
            // QEMU must not read the terminal the shell is editing lines on.
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec the closure only makes async-signal-safe calls
        // (fcntl, dup2, prctl) on descriptors it owns, and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if fd == CHILD_FD {
                    // Already in place: only the close-on-exec flag has to go.
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, CHILD_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Should the shell die without ending QEMU (a SIGKILL), QEMU goes too.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| Failure::other(format!("cannot start {program}: {e}")))?;
        drop(theirs);
        if let Some(out) = child.stdout.take() {
            forward(out, notices.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, notices.clone());
        }
        Ok((Launched { child }, ours))
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// QEMU's exit status if it has ended within `wait`.
    pub fn exited_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                // Not ours to wait for any more (reaped elsewhere): as good as ended.
                Err(_) => return None,
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Kills QEMU and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies QEMU's output lines to the notices, prefixed, until QEMU closes it.
fn forward(stream: impl Read + Send + 'static, notices: Notices) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => notices.say(format!("qemu: {line}")),
                Err(_) => break,
            }
        }
    });
}
