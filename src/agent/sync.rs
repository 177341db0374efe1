//! The agent's sync protocol, without I/O: the byte that delimits a sync reply, the random
//! ids, and what a line read while syncing or while waiting for a reply means.
//!
//! The agent has no request ids of its own worth trusting across restarts and sends no
//! greeting, so a client cannot tell a stale reply (to a command that timed out) from a
//! fresh one. The sync does that: the client sends the byte 0xFF, which resets the agent's
//! JSON parser (it answers a parse error, to be discarded), then
//! `guest-sync-delimited {"id": N}` with a random N. The agent writes 0xFF before that
//! reply, so everything before the 0xFF is old, and the reply `{"return": N}` after it
//! says the stream is in step. 0xFF never occurs in JSON text (nor in UTF-8), so a line
//! holding it is never a reply to a command.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::value::RawValue;

/// The byte that delimits a sync reply (and that resets the agent's parser).
pub(crate) const DELIMITER: u8 = 0xFF;

/// A fresh random id for a sync, as a non-negative JSON integer (the agent's `int`).
pub(crate) fn random_id() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process (then per instance); hashing the
    // time and a counter with it gives ids that neither repeat within a process nor
    // across restarts of it.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    (hasher.finish() >> 1) as i64
}

/// The bytes of a sync request: the delimiter, then `guest-sync-delimited` with `id`.
pub(crate) fn sync_request(id: i64) -> Vec<u8> {
    let mut out = vec![DELIMITER];
    out.extend_from_slice(b"{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":");
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(b"}}\n");
    out
}

/// Where a sync stands while its reply is awaited: before the agent's delimiter,
/// everything is old and dropped unread.
#[derive(Debug)]
pub(crate) struct SyncScan {
    id: i64,
    delimited: bool,
}

/// What one line means to a sync in progress.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SyncLine {
    /// The reply to this sync: the stream is in step.
    Synced,
    /// Anything else (old replies, parse errors, garbage, another sync's reply): dropped.
    Discard,
}

impl SyncScan {
    /// A scan for the reply to the sync with `id`.
    pub(crate) fn new(id: i64) -> Self {
        SyncScan {
            id,
            delimited: false,
        }
    }

    /// Whether the agent's delimiter has been seen.
    #[cfg(test)]
    pub(crate) fn delimited(&self) -> bool {
        self.delimited
    }

    /// Takes one line (as framed: without its newline).
    pub(crate) fn line(&mut self, line: &[u8]) -> SyncLine {
        let rest = match line.iter().rposition(|&b| b == DELIMITER) {
            Some(i) => {
                self.delimited = true;
                &line[i + 1..]
            }
            None if !self.delimited => return SyncLine::Discard,
            None => line,
        };
        if returns_id(rest) == Some(self.id) {
            SyncLine::Synced
        } else {
            SyncLine::Discard
        }
    }
}

/// The integer in `{"return": N}`, if the line is such a reply.
fn returns_id(line: &[u8]) -> Option<i64> {
    let incoming: crate::protocol::Incoming<'_> = serde_json::from_slice(line).ok()?;
    let ret: &RawValue = incoming.ret.as_deref()?;
    ret.get().trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_non_negative() {
        let ids: std::collections::HashSet<i64> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id >= 0));
    }

    #[test]
    fn the_request_is_the_delimiter_then_one_line() {
        let bytes = sync_request(42);
        assert_eq!(bytes[0], DELIMITER);
        let json: serde_json::Value = serde_json::from_slice(&bytes[1..]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"execute": "guest-sync-delimited", "arguments": {"id": 42}})
        );
        assert_eq!(bytes.last(), Some(&b'\n'));
    }

    /// Before the agent's delimiter nothing counts, not even a reply that looks right:
    /// whatever comes before it is older than the sync.
    #[test]
    fn nothing_counts_before_the_delimiter() {
        let mut scan = SyncScan::new(7);
        assert_eq!(scan.line(br#"{"return": 7}"#), SyncLine::Discard);
        assert_eq!(
            scan.line(br#"{"error": {"class": "GenericError", "desc": "JSON parse error"}}"#),
            SyncLine::Discard
        );
        assert!(!scan.delimited());
        assert_eq!(scan.line(b"\xff{\"return\": 7}"), SyncLine::Synced);
    }

    /// Half a reply, then the delimiter, on one line: the part after the delimiter is read.
    #[test]
    fn a_partial_line_before_the_delimiter_is_dropped() {
        let mut scan = SyncScan::new(99);
        assert_eq!(
            scan.line(b"{\"return\": {\"pid\": 1\xff{\"return\": 99}"),
            SyncLine::Synced
        );
    }

    /// Another sync's reply (one that timed out) is dropped; after a delimiter, lines
    /// without one are still read; a 0xFF inside garbage only moves the start along.
    #[test]
    fn old_sync_replies_and_delimiters_inside_data_are_dropped() {
        let mut scan = SyncScan::new(5);
        assert_eq!(scan.line(b"\xff{\"return\": 4}"), SyncLine::Discard);
        assert!(scan.delimited());
        assert_eq!(scan.line(b"{\"return\": \"a\xffb\"}"), SyncLine::Discard);
        assert_eq!(scan.line(b"not json"), SyncLine::Discard);
        assert_eq!(scan.line(br#"{"return": 5, "id": 1}"#), SyncLine::Synced);
    }
}
