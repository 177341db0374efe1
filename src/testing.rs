//! Starting a private QEMU for tests, examples and experiments.
//!
//! [`QemuBuilder`] launches `qemu-system-x86_64` with its QMP monitor on a socket in a fresh
//! private directory; the returned [`Qemu`] kills the process and removes the directory when
//! dropped, so many can run side by side and none outlives its owner.
//!
//! [`QemuGaBuilder`] and [`StorageDaemonBuilder`] do the same for the guest agent
//! (`qemu-ga -m unix-listen`, on the host, no VM needed) and `qemu-storage-daemon`.

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

/// Tries `attempt` until it succeeds, for up to 20 s, while the process `child` (`what`,
/// logging to `log`) starts up: a server creates its socket a moment after launch. Fails
/// at once, with the log, if the process has exited.
async fn connect_while_alive<T, F, Fut>(
    child: &mut Child,
    what: &str,
    log: &Path,
    mut attempt: F,
) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match attempt().await {
            Ok(c) => return Ok(c),
            Err(e) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(crate::Error::Io(io::Error::other(format!(
                        "{what} exited ({status}) before accepting a connection: {}",
                        fs::read_to_string(log).unwrap_or_default()
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
        let log = self.dir.join("qemu.log");
        connect_while_alive(&mut self.child, "QEMU", &log, || {
            let once = Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
                attempts: 1,
            };
            builder.clone().connect_with_retry(endpoint.clone(), once)
        })
        .await
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

/// Finds a program: `$var` if set (and an existing file), else `name` on `PATH` or in the
/// system folders (`qemu-ga` lives in `/usr/sbin`, often not on a user's `PATH`).
fn find_program(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Finds the guest agent: `$QMP_QEMU_GA` if set, else `qemu-ga` on `PATH` or in
/// `/usr/sbin` (Debian's `qemu-guest-agent` package).
pub fn find_qemu_ga() -> Option<PathBuf> {
    find_program("QMP_QEMU_GA", "qemu-ga")
}

/// Finds the storage daemon: `$QMP_STORAGE_DAEMON` if set, else `qemu-storage-daemon` on
/// `PATH` (it comes with QEMU's `qemu-system-common` package).
pub fn find_storage_daemon() -> Option<PathBuf> {
    find_program("QMP_STORAGE_DAEMON", "qemu-storage-daemon")
}

/// Finds `qemu-img`: `$QMP_QEMU_IMG` if set, else on `PATH` (Debian's `qemu-utils`).
pub fn find_qemu_img() -> Option<PathBuf> {
    find_program("QMP_QEMU_IMG", "qemu-img")
}

/// Options for a guest agent run on the host, without a VM:
/// `qemu-ga -m unix-listen -p DIR/qga.sock -t DIR/state` in a fresh private directory,
/// its configuration file ignored. It runs host commands for `guest-exec` as the user
/// running the test, so give tests only harmless ones.
#[derive(Debug, Clone)]
pub struct QemuGaBuilder {
    binary: PathBuf,
    args: Vec<OsString>,
}

impl QemuGaBuilder {
    /// An agent run from `binary`.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        QemuGaBuilder {
            binary: binary.into(),
            args: Vec::new(),
        }
    }

    /// Disables commands (`--block-rpcs`): a test of `guest-shutdown` must block it, or
    /// the agent would shut the host down.
    pub fn block_rpcs<I: IntoIterator<Item = S>, S: AsRef<str>>(self, rpcs: I) -> Self {
        let list: Vec<String> = rpcs.into_iter().map(|r| r.as_ref().to_string()).collect();
        self.arg(format!("--block-rpcs={}", list.join(",")))
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the agent.
    pub fn spawn(self) -> io::Result<QemuGa> {
        let dir = private_dir()?;
        let mut ga = QemuGa {
            child: None,
            socket: dir.join("qga.sock"),
            dir,
            builder: self,
        };
        ga.start()?;
        Ok(ga)
    }
}

/// A running guest agent on a private socket. Dropping it kills the process and removes
/// its private directory.
#[derive(Debug)]
pub struct QemuGa {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    builder: QemuGaBuilder,
}

impl QemuGa {
    fn start(&mut self) -> io::Result<()> {
        let state = self.dir.join("state");
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&state)?;
        let log = self.dir.join("qemu-ga.log");
        let spawned = Command::new(&self.builder.binary)
            .arg("-m")
            .arg("unix-listen")
            .arg("-p")
            .arg(&self.socket)
            .arg("-t")
            .arg(&state)
            .arg("-f")
            .arg(self.dir.join("qemu-ga.pid"))
            .args(&self.builder.args)
            // Not the host's /etc/qemu/qemu-ga.conf: only the options given here.
            .env("QGA_CONF", self.dir.join("no-such-qemu-ga.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            )
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", self.builder.binary.display()),
                )
            })?;
        self.child = Some(spawned);
        Ok(())
    }

    /// The agent's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The private directory (socket, state, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the agent logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("qemu-ga.log")).unwrap_or_default()
    }

    /// Kills the agent (SIGKILL) and reaps it; [`restart`](Self::restart) starts it again.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Kills the agent and starts it again on the same socket, as an agent restarting in
    /// a guest would.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        let _ = fs::remove_file(&self.socket);
        self.start()
    }

    /// Waits until the agent listens (it creates its socket a moment after launch), then
    /// connects an agent client. Fails at once with the agent's log if it has exited.
    #[cfg(feature = "agent")]
    pub async fn connect(
        &mut self,
        builder: crate::agent::AgentBuilder,
    ) -> crate::Result<crate::agent::AgentClient> {
        let socket = self.socket.clone();
        let log = self.dir.join("qemu-ga.log");
        let Some(child) = self.child.as_mut() else {
            return Err(crate::Error::Disconnected);
        };
        connect_while_alive(child, "qemu-ga", &log, || builder.clone().connect(&socket)).await
    }
}

impl Drop for QemuGa {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Options for a `qemu-storage-daemon` with its QMP monitor on a private socket
/// (`--chardev socket,path=DIR/qsd.sock,server=on,wait=off,id=...  --monitor chardev=...`).
#[derive(Debug, Clone)]
pub struct StorageDaemonBuilder {
    binary: PathBuf,
    args: Vec<OsString>,
}

impl StorageDaemonBuilder {
    /// A daemon run from `binary`, with nothing but its monitor.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        StorageDaemonBuilder {
            binary: binary.into(),
            args: Vec::new(),
        }
    }

    /// Adds an argument (`--blockdev ...`, `--nbd-server ...`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts the daemon.
    pub fn spawn(self) -> io::Result<StorageDaemon> {
        let dir = private_dir()?;
        let socket = dir.join("qsd.sock");
        let log = dir.join("qsd.log");
        let spawned = Command::new(&self.binary)
            .arg("--chardev")
            .arg(format!(
                "socket,path={},server=on,wait=off,id=qmp0",
                socket.display()
            ))
            .arg("--monitor")
            .arg("chardev=qmp0")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn();
        match spawned {
            Ok(child) => Ok(StorageDaemon { child, dir, socket }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", self.binary.display()),
                ))
            }
        }
    }
}

/// A running storage daemon. Dropping it kills the process and removes its private
/// directory (where tests may keep their images too).
#[derive(Debug)]
pub struct StorageDaemon {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl StorageDaemon {
    /// The monitor's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("qsd.log")).unwrap_or_default()
    }

    /// Connects a client, retrying while the daemon starts up; fails at once with its log
    /// if it has exited.
    pub async fn connect(&mut self, builder: ClientBuilder) -> crate::Result<Client> {
        let endpoint = Endpoint::Unix(self.socket.clone());
        let log = self.dir.join("qsd.log");
        connect_while_alive(&mut self.child, "qemu-storage-daemon", &log, || {
            builder.clone().connect(endpoint.clone())
        })
        .await
    }
}

impl Drop for StorageDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
