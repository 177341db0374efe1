//! File descriptor passing (SCM_RIGHTS) over a Unix socket.
//!
//! QEMU attaches a received descriptor to the command whose bytes arrived with it, so the
//! descriptor must travel in the same `sendmsg` as (the start of) that command's line. The
//! writer task calls [`send_with_fds`] in place of a plain write, which keeps the command
//! and its descriptor in order with everything else on the socket.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// Sends as much of `bytes` as the socket takes in one `sendmsg`, with `fds` attached as
/// ancillary data. Returns how many bytes went; the caller writes the rest normally (the
/// descriptors travel with the first byte, so they are never sent twice).
pub(crate) async fn send_with_fds(
    stream: &UnixStream,
    bytes: &[u8],
    fds: &[OwnedFd],
) -> io::Result<usize> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    loop {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            let cmsgs = [ControlMessage::ScmRights(&raw)];
            sendmsg::<()>(
                stream.as_raw_fd(),
                &[IoSlice::new(bytes)],
                &cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
