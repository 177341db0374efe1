//! Byte streams to a QMP peer, below the protocol: where to dial ([`Endpoint`]), an open
//! stream ([`Transport`]), its sending half (with fd passing on Unix sockets) and the
//! [`framing`] that cuts the received bytes into messages. Nothing here knows a QMP
//! message; the client and the fake server both build on it.

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{unix, TcpStream, UnixStream};

pub(crate) mod fd;
pub mod framing;
pub(crate) mod stream;

/// Where to dial QEMU's QMP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path (`-qmp unix:PATH,server=on`). Supports fd passing.
    Unix(PathBuf),
    /// A TCP address, `host:port` (`-qmp tcp:HOST:PORT,server=on`).
    Tcp(String),
}

impl From<PathBuf> for Endpoint {
    fn from(p: PathBuf) -> Self {
        Endpoint::Unix(p)
    }
}

impl From<&std::path::Path> for Endpoint {
    fn from(p: &std::path::Path) -> Self {
        Endpoint::Unix(p.to_owned())
    }
}

impl std::str::FromStr for Endpoint {
    type Err = std::convert::Infallible;

    /// Reads an address as QEMU's `-qmp` option and tools write it: `unix:PATH`,
    /// `tcp:HOST:PORT`, or a bare path (the inverse of `Display`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if let Some(addr) = s.strip_prefix("tcp:") {
            Endpoint::Tcp(addr.to_owned())
        } else {
            Endpoint::Unix(PathBuf::from(s.strip_prefix("unix:").unwrap_or(s)))
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// An already-connected byte stream to a QMP server.
pub struct Transport {
    kind: TransportKind,
}

enum TransportKind {
    Unix(UnixStream),
    Tcp(TcpStream),
    Other(
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ),
}

impl Transport {
    /// A connected Unix socket (fd passing available).
    pub fn unix(stream: UnixStream) -> Self {
        Transport {
            kind: TransportKind::Unix(stream),
        }
    }

    /// A connected TCP socket.
    pub fn tcp(stream: TcpStream) -> Self {
        Transport {
            kind: TransportKind::Tcp(stream),
        }
    }

    /// Any other bidirectional stream (no fd passing).
    pub fn other<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (r, w) = stream::split(Box::pin(stream));
        Transport {
            kind: TransportKind::Other(Box::new(r), Box::new(w)),
        }
    }
}

impl From<UnixStream> for Transport {
    fn from(s: UnixStream) -> Self {
        Transport::unix(s)
    }
}

impl From<TcpStream> for Transport {
    fn from(s: TcpStream) -> Self {
        Transport::tcp(s)
    }
}

impl Endpoint {
    /// Opens a connection to the endpoint.
    pub async fn dial(&self) -> std::io::Result<Transport> {
        Ok(match self {
            Endpoint::Unix(p) => Transport::unix(UnixStream::connect(p).await?),
            Endpoint::Tcp(a) => Transport::tcp(TcpStream::connect(a.as_str()).await?),
        })
    }
}

/// The halves of an open transport, as the connection tasks use them.
pub(crate) struct Halves {
    pub(crate) reader: Box<dyn AsyncRead + Send + Unpin>,
    pub(crate) writer: Writer,
    /// Whether descriptors can travel with the bytes (a Unix socket).
    pub(crate) fd_capable: bool,
}

impl Transport {
    /// Splits the stream into its reading and writing halves.
    pub(crate) fn into_halves(self) -> Halves {
        match self.kind {
            TransportKind::Unix(s) => {
                let (r, w) = s.into_split();
                Halves {
                    reader: Box::new(r),
                    writer: Writer::Unix(w),
                    fd_capable: true,
                }
            }
            TransportKind::Tcp(s) => {
                // Requests are small and latency-bound: do not let Nagle hold them.
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                Halves {
                    reader: Box::new(r),
                    writer: Writer::Other(Box::new(w)),
                    fd_capable: false,
                }
            }
            TransportKind::Other(r, w) => Halves {
                reader: r,
                writer: Writer::Other(w),
                fd_capable: false,
            },
        }
    }
}

/// The sending half: a Unix socket keeps its concrete type so descriptors can go with
/// `sendmsg`; everything else is a plain byte sink.
pub(crate) enum Writer {
    Unix(unix::OwnedWriteHalf),
    Other(Box<dyn AsyncWrite + Send + Unpin>),
}

impl Writer {
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::Unix(w) => stream::write_all(w, bytes).await,
            Writer::Other(w) => {
                stream::write_all(w, bytes).await?;
                stream::flush(w).await
            }
        }
    }

    pub(crate) async fn write_with_fds(
        &mut self,
        bytes: &[u8],
        fds: &[OwnedFd],
    ) -> std::io::Result<()> {
        let Writer::Unix(w) = self else {
            return Err(std::io::Error::other("fd passing needs a Unix socket"));
        };
        let sent = fd::send_with_fds(w.as_ref(), bytes, fds).await?;
        stream::write_all(w, &bytes[sent..]).await
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Writer::Unix(w) => stream::shutdown(w).await,
            Writer::Other(w) => stream::shutdown(w).await,
        };
    }
}
