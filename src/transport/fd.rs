//! File descriptor passing (SCM_RIGHTS) over a Unix socket.
//!
//! QEMU attaches a received descriptor to the command whose bytes arrived with it, so the
//! descriptor must travel in the same `sendmsg` as (the start of) that command's line. The
//! writer task calls [`send_with_fds`] in place of a plain write, which keeps the command
//! and its descriptor in order with everything else on the socket.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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
            sendmsg_with_rights(stream.as_raw_fd(), bytes, &raw)
        });
        match sent {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One `sendmsg(2)` of `bytes` with an `SCM_RIGHTS` message carrying `fds`, without
/// `SIGPIPE`. Written against libc directly (tokio already depends on it): a wrapper crate
/// such as nix would cost every build of the library more than these lines.
fn sendmsg_with_rights(socket: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let payload = u32::try_from(std::mem::size_of_val(fds))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes from their argument.
    let (space, len) = unsafe { (libc::CMSG_SPACE(payload), libc::CMSG_LEN(payload)) };
    // u64 elements keep the buffer aligned for the cmsghdr at its start.
    let mut control = vec![0u64; (space as usize).div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data for which all zeroes is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer is aligned and CMSG_SPACE(payload) bytes long, so
        // CMSG_FIRSTHDR returns a header inside it with room for `payload` bytes of data
        // after it; the descriptors are copied into exactly that room.
        unsafe {
            let header = libc::CMSG_FIRSTHDR(&msg);
            if header.is_null() {
                return Err(io::Error::other("no room for the control message"));
            }
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = len as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(header).cast::<RawFd>(),
                fds.len(),
            );
        }
    }
    // SAFETY: every pointer in `msg` points into `bytes`, `iov` or `control`, which all
    // outlive the call; the kernel only reads through them.
    let sent = unsafe { libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) };
    // A negative return is an error, reported in errno.
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}
