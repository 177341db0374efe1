//! The recording proxy: sits between a client and a real QEMU, forwards every byte both
//! ways unchanged, and keeps the conversation as a [`Transcript`].

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use super::lock;
use super::transcript::Transcript;
use crate::transport::framing::{Frame, LineReader, DEFAULT_MAX_LINE};
use crate::transport::{Endpoint, Transport, Writer};

/// A recording proxy on a Unix socket: a client that connects to it (in place of QEMU's
/// socket) talks to `upstream` through it, and every message of the conversation is
/// recorded. Dropping it stops accepting and removes the socket file.
///
/// ```no_run
/// # async fn record() -> Result<(), Box<dyn std::error::Error>> {
/// use qemu_qmp::fake::{Recorder, TranscriptFormat};
/// use qemu_qmp::Endpoint;
///
/// let recorder = Recorder::listen_unix("/tmp/record.sock", Endpoint::Unix("/tmp/qmp.sock".into()))?;
/// // ... run a client against /tmp/record.sock ...
/// recorder.transcript().write("session.replies", TranscriptFormat::Replies)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Recorder {
    transcript: Arc<Mutex<Transcript>>,
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Listens at `listen`; each connection is forwarded to a new connection to `upstream`.
    /// Needs a tokio runtime.
    pub fn listen_unix(listen: impl AsRef<Path>, upstream: Endpoint) -> io::Result<Recorder> {
        let runtime = super::runtime()?;
        let path = listen.as_ref().to_owned();
        let listener = UnixListener::bind(&path)?;
        let transcript = Arc::new(Mutex::new(Transcript::new()));
        let recorded = transcript.clone();
        let task = runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(proxy(client, upstream.clone(), recorded.clone()));
            }
        });
        Ok(Recorder {
            transcript,
            path,
            task,
        })
    }

    /// The socket clients connect to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was recorded so far.
    pub fn transcript(&self) -> Transcript {
        lock(&self.transcript).clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn proxy(client: UnixStream, upstream: Endpoint, transcript: Arc<Mutex<Transcript>>) {
    let server = match upstream.dial().await {
        Ok(server) => server,
        Err(e) => {
            warn!(%upstream, error = %e, "recorder cannot reach the server; dropping the client");
            return;
        }
    };
    let to_server = server.into_halves();
    let to_client = Transport::unix(client).into_halves();
    let requests = tokio::spawn(pump(to_client.reader, to_server.writer, transcript.clone()));
    let replies = tokio::spawn(pump(to_server.reader, to_client.writer, transcript));
    let _ = requests.await;
    let _ = replies.await;
}

/// Forwards `from` to `to` byte for byte and records each message that passes.
async fn pump(
    from: Box<dyn AsyncRead + Send + Unpin>,
    mut to: Writer,
    transcript: Arc<Mutex<Transcript>>,
) {
    let copied = Arc::new(Mutex::new(Vec::new()));
    let mut messages = LineReader::new(
        Tee {
            inner: from,
            copy: copied.clone(),
        },
        DEFAULT_MAX_LINE,
    );
    loop {
        let frame = messages.next_frame().await;
        // Whatever was read goes on at once, whole messages or not.
        let bytes = std::mem::take(&mut *lock(&copied));
        if !bytes.is_empty() && to.write_all(&bytes).await.is_err() {
            break;
        }
        match frame {
            Ok(Some(Frame::Line(line))) => match serde_json::from_slice(line) {
                Ok(message) => {
                    if let Err(e) = lock(&transcript).push(message) {
                        debug!(error = %e, "message left out of the transcript");
                    }
                }
                Err(e) => debug!(error = %e, "malformed message forwarded, not recorded"),
            },
            Ok(Some(_)) => debug!("oversized message forwarded, not recorded"),
            Ok(None) | Err(_) => break,
        }
    }
    to.shutdown().await;
}

/// A reader that keeps a copy of every byte it reads.
struct Tee {
    inner: Box<dyn AsyncRead + Send + Unpin>,
    copy: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tee {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            lock(&self.copy).extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}
