//! Starting a private QEMU for tests, examples and experiments.
//!
//! [`QemuBuilder`] launches `qemu-system-x86_64` with its QMP monitor on a socket in a fresh
//! private directory; the returned [`Qemu`] kills the process and removes the directory when
//! dropped, so many can run side by side and none outlives its owner.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Backoff, Client, ClientBuilder};
use crate::transport::Endpoint;

/// The QEMU binary name looked up on `PATH`.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// Finds QEMU: `$QMP_QEMU` if set (and an existing file), else `qemu-system-x86_64` on
/// `PATH`.
pub fn find_qemu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("QMP_QEMU") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(QEMU_BINARY))
        .find(|p| p.is_file())
}

/// How QEMU's monitor and the client find each other.
#[derive(Debug, Clone)]
enum Qmp {
    /// QEMU listens on a Unix socket in the private directory.
    UnixServer,
    /// QEMU connects to a Unix socket someone else listens on (accept mode).
    UnixClient(PathBuf),
    /// QEMU listens on TCP.
    TcpServer(String),
    /// QEMU connects to a TCP listener (accept mode).
    TcpClient(String),
}

/// Options for a QEMU process.
#[derive(Debug, Clone)]
pub struct QemuBuilder {
    binary: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    qmp: Qmp,
    pretty: bool,
}

impl QemuBuilder {
    /// A QEMU with no machine (`-M none -nodefaults -display none`), QMP on a private Unix
    /// socket. Replace the machine with [`machine_args`](Self::machine_args).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        QemuBuilder {
            binary: binary.into(),
            args: ["-M", "none"].iter().map(OsString::from).collect(),
            envs: Vec::new(),
            qmp: Qmp::UnixServer,
            pretty: false,
        }
    }

    /// Replaces the machine arguments (default `-M none`), e.g.
    /// `["-M", "pc", "-accel", "tcg", "-m", "3G", "-S"]`.
    pub fn machine_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an argument after the machine arguments.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable for QEMU (e.g. `QEMU_MODULE_DIR`).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// QEMU's pretty mode: every message it sends spans many lines
    /// (`-mon chardev=...,mode=control,pretty=on`). With QMP on the private Unix socket
    /// only (the default); the other modes ignore it.
    pub fn pretty(mut self, pretty: bool) -> Self {
        self.pretty = pretty;
        self
    }

    /// Accept mode: QEMU connects to `path`, where the caller already listens.
    pub fn qmp_connect_to_unix(mut self, path: impl Into<PathBuf>) -> Self {
        self.qmp = Qmp::UnixClient(path.into());
        self
    }

    /// QEMU listens for QMP on TCP `host:port`.
    pub fn qmp_tcp_server(mut self, addr: impl Into<String>) -> Self {
        self.qmp = Qmp::TcpServer(addr.into());
        self
    }

    /// Accept mode over TCP: QEMU connects to `host:port`, where the caller listens.
    pub fn qmp_connect_to_tcp(mut self, addr: impl Into<String>) -> Self {
        self.qmp = Qmp::TcpClient(addr.into());
        self
    }

    /// Starts QEMU.
    pub fn spawn(self) -> io::Result<Qemu> {
        let dir = private_dir()?;
        let socket = dir.join("qmp.sock");
        let log = dir.join("qemu.log");
        let qmp = match &self.qmp {
            Qmp::UnixServer => format!("unix:{},server=on,wait=off", socket.display()),
            Qmp::UnixClient(p) => format!("unix:{},server=off", p.display()),
            Qmp::TcpServer(a) => format!("tcp:{a},server=on,wait=off"),
            Qmp::TcpClient(a) => format!("tcp:{a},server=off"),
        };
        let monitor: Vec<OsString> = match (&self.qmp, self.pretty) {
            (Qmp::UnixServer, true) => vec![
                "-chardev".into(),
                format!(
                    "socket,id=qmp0,path={},server=on,wait=off",
                    socket.display()
                )
                .into(),
                "-mon".into(),
                "chardev=qmp0,mode=control,pretty=on".into(),
            ],
            _ => vec!["-qmp".into(), qmp.into()],
        };
        let endpoint = match self.qmp {
            Qmp::UnixServer => Some(Endpoint::Unix(socket)),
            Qmp::TcpServer(a) => Some(Endpoint::Tcp(a)),
            _ => None,
        };
        let spawned = Command::new(&self.binary)
            .args(&self.args)
            .args(["-nodefaults", "-display", "none"])
            .args(&monitor)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", self.binary.display()),
                ));
            }
        };
        Ok(Qemu {
            child,
            dir,
            endpoint,
        })
    }
}

fn private_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("qemu-qmp-{}-{n}-{nanos:x}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "cannot create a private temporary directory",
    ))
}

/// A running QEMU. Dropping it kills the process and removes its private directory.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    dir: PathBuf,
    endpoint: Option<Endpoint>,
}

impl Qemu {
    /// Where QEMU listens for QMP (none in accept mode).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// The process's private directory (its log and socket live here).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What QEMU wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default()
    }

    /// Connects a client, retrying while QEMU starts up (it creates its socket a moment
    /// after launch). Fails at once with QEMU's log if the process has exited.
    pub async fn connect(&mut self, builder: ClientBuilder) -> crate::Result<Client> {
        let endpoint = self.endpoint.clone().ok_or(crate::Error::NoEndpoint)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let once = Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
                attempts: 1,
            };
            match builder
                .clone()
                .connect_with_retry(endpoint.clone(), once)
                .await
            {
                Ok(c) => return Ok(c),
                Err(e) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(crate::Error::Io(io::Error::other(format!(
                            "QEMU exited ({status}) before accepting a connection: {}",
                            self.log()
                        ))));
                    }
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
