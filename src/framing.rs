//! JSON message framing with a size cap.
//!
//! QMP puts one JSON value on each line (QEMU ends them with `\r\n`), unless the monitor is
//! in pretty mode (`-mon ...,mode=control,pretty=on`): then each message spans many lines.
//! A line that opens an object without closing it starts such a message, and lines are
//! gathered, JSON strings and nesting followed, until the object closes. Compact lines take
//! the fast path (a line that opens and closes an object is one message, unscanned).
//!
//! A message longer than the cap is not buffered: its bytes are skipped up to the next
//! newline, so the stream stays in step and the caller gets a typed [`Frame::TooLong`]
//! instead of unbounded memory use.

use std::io;

use tokio::io::AsyncRead;

/// The default cap on one incoming message: 10 MiB (libvirt's and qemu.qmp's), far above
/// the largest real reply (`query-qmp-schema` is well under 1 MiB) but a bound all the same.
pub const DEFAULT_MAX_LINE: usize = 10 * 1024 * 1024;

/// How many trailing bytes of an oversized line are kept, so that the request id (which
/// QEMU writes last in a successful reply) can still be recovered.
const TAIL_KEEP: usize = 64;

/// One framed item read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line without its line terminator.
    Line(&'a [u8]),
    /// A line has just grown past the cap and its end has not come yet: reported at once,
    /// so the reader can answer its callers even if the server holds the line open. The
    /// rest of the line is skipped; it ends with a [`Frame::TooLong`] whose `announced` is
    /// true.
    Overflowing {
        /// The bytes of the line seen so far.
        size: usize,
    },
    /// A line longer than the cap; its content was skipped.
    TooLong {
        /// The line's length in bytes.
        size: usize,
        /// Its last bytes (at most 64), for diagnostics and id recovery.
        tail: &'a [u8],
        /// Whether a [`Frame::Overflowing`] came for this line first.
        announced: bool,
    },
}

/// Reads newline-terminated lines, each at most `max` bytes.
pub struct LineReader<R> {
    inner: R,
    /// Bytes read from `inner`; `buf[pos..filled]` are not consumed yet.
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    line: Vec<u8>,
    max: usize,
    /// The size so far of an oversized line whose [`Frame::Overflowing`] was returned.
    skipping: Option<usize>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps a reader with the given cap (bytes per line, terminator excluded).
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            filled: 0,
            line: Vec::new(),
            max,
            skipping: None,
        }
    }

    /// Whether the next frame continues an oversized line already reported as
    /// [`Frame::Overflowing`].
    pub fn is_skipping(&self) -> bool {
        self.skipping.is_some()
    }

    /// The configured cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The next non-empty line, or `None` at end of stream. A final line without a
    /// terminator is returned as a line.
    ///
    /// Not cancel-safe: dropping the future mid-line loses that line's bytes read so far.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        // A pretty-printed message being gathered: where its current line starts, and how
        // far its nesting is followed.
        let mut pretty: Option<(usize, Nesting)> = None;
        loop {
            // A line announced as overflowing carries on where the last call left it.
            let announced = self.skipping.is_some();
            let mut oversize = self.skipping.take();
            if !announced && pretty.is_none() {
                self.line.clear();
            }
            let mut saw_eof = false;
            loop {
                if self.pos == self.filled {
                    self.filled = crate::stream::read(&mut self.inner, &mut self.buf).await?;
                    self.pos = 0;
                }
                let avail = &self.buf[self.pos..self.filled];
                if avail.is_empty() {
                    saw_eof = true;
                    break;
                }
                let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
                    Some(i) => (&avail[..i], i + 1, true),
                    None => (avail, avail.len(), false),
                };
                match oversize.as_mut() {
                    Some(size) => {
                        *size += chunk.len();
                        keep_tail(&mut self.line, chunk);
                    }
                    // The cap excludes the terminator: a `\r` ending what has come so far
                    // may be the first byte of QEMU's CRLF, so it is not counted yet (it is
                    // once more of the line follows). Counting it refused a message of
                    // exactly the cap, as `MessageTooLarge { size: cap, limit: cap }`.
                    None if self.line.len() + chunk.len() - ends_in_cr(&self.line, chunk)
                        > self.max =>
                    {
                        let size = self.line.len() + chunk.len();
                        oversize = Some(size);
                        keep_tail(&mut self.line, chunk);
                        if !done {
                            // Its end is not here yet: say so now, skip the rest later.
                            self.pos += used;
                            self.skipping = Some(size);
                            return Ok(Some(Frame::Overflowing { size }));
                        }
                    }
                    None => self.line.extend_from_slice(chunk),
                }
                self.pos += used;
                if done {
                    break;
                }
            }
            if let Some(size) = oversize {
                let size = size - usize::from(self.line.last() == Some(&b'\r'));
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(Some(Frame::TooLong {
                    size,
                    tail: &self.line,
                    announced,
                }));
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let mut start = pretty.as_ref().map_or(0, |(start, _)| *start);
            // Inside a pretty message every line but the closing one is indented: a line
            // that is not shows the lines gathered were no message (a stray `{`). They are
            // dropped, as a malformed line would be, and this line read afresh.
            if pretty.is_some() && !continues_a_message(&self.line[start..]) {
                self.line.drain(..start);
                start = 0;
                pretty = None;
            }
            let this_line = &self.line[start..];
            let nesting = match pretty.take() {
                Some((_, mut nesting)) => {
                    nesting.follow(this_line);
                    Some(nesting)
                }
                None if opens_a_message(this_line) => {
                    let mut nesting = Nesting::default();
                    nesting.follow(this_line);
                    Some(nesting)
                }
                None => None,
            };
            if let Some(nesting) = nesting {
                if !nesting.closed() && !saw_eof {
                    self.line.push(b'\n');
                    pretty = Some((self.line.len(), nesting));
                    continue;
                }
                return Ok(Some(Frame::Line(&self.line)));
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                if saw_eof {
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some(Frame::Line(&self.line)));
        }
    }
}

/// 1 when the bytes read so far of a line (`line`, then `chunk`) end in `\r`, else 0.
fn ends_in_cr(line: &[u8], chunk: &[u8]) -> usize {
    let last = chunk.last().or(line.last());
    usize::from(last == Some(&b'\r'))
}

/// Whether a line is the first of a pretty-printed message: QEMU writes the opening brace
/// alone on it. A compact message opens and closes on its line and is never scanned.
fn opens_a_message(line: &[u8]) -> bool {
    line.trim_ascii() == b"{"
}

/// Whether a line can follow the first of a pretty-printed message: indented, blank, or
/// the closing brace.
fn continues_a_message(line: &[u8]) -> bool {
    match line.first() {
        None => true,
        Some(b) if b.is_ascii_whitespace() => true,
        Some(_) => line.trim_ascii().first() == Some(&b'}'),
    }
}

/// How deep a pretty-printed message's nesting is, followed byte by byte outside its
/// strings.
#[derive(Clone, Copy, Debug, Default)]
struct Nesting {
    depth: usize,
    opened: bool,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    fn follow(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// Whether the outermost value has closed.
    fn closed(&self) -> bool {
        self.opened && self.depth == 0
    }
}

/// Keeps the last `TAIL_KEEP` bytes of what `buf` already holds followed by `chunk`.
fn keep_tail(buf: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= TAIL_KEEP {
        buf.clear();
        buf.extend_from_slice(&chunk[chunk.len() - TAIL_KEEP..]);
    } else {
        buf.extend_from_slice(chunk);
        if buf.len() > TAIL_KEEP {
            buf.drain(..buf.len() - TAIL_KEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            out.push(match f {
                Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Frame::Overflowing { size } => format!("overflowing {size}"),
                Frame::TooLong { size, tail, .. } => {
                    format!("too long {size} ..{}", String::from_utf8_lossy(tail))
                }
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_and_caps() {
        let long = format!("{}{}\r\n", "x".repeat(100), "end-of-line");
        let input = format!("{{\"a\":1}}\r\n\n{long}{{\"b\":2}}\npartial");
        let got = frames(input.as_bytes(), 50).await;
        assert_eq!(got[0], "{\"a\":1}");
        assert!(got[1].starts_with("too long 111 ..") && got[1].ends_with("end-of-line"));
        assert_eq!(got[2], "{\"b\":2}");
        assert_eq!(got[3], "partial");
        assert_eq!(got.len(), 4);
    }

    /// A line that outgrows the cap before its end has been read is reported at once,
    /// then skipped to its end.
    #[tokio::test]
    async fn an_overflowing_line_is_reported_before_its_end() {
        let (mut server, client) = tokio::io::duplex(64);
        let mut r = LineReader::new(client, 10);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            server.write_all(b"0123456789abcdef").await.unwrap();
            server
        });
        assert_eq!(
            r.next_frame().await.unwrap(),
            Some(Frame::Overflowing { size: 16 })
        );
        let mut server = writer.await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut server, b"gh\r\n{\"ok\":1}\n")
            .await
            .unwrap();
        drop(server);
        match r.next_frame().await.unwrap() {
            Some(Frame::TooLong {
                size, announced, ..
            }) => assert_eq!((size, announced), (18, true)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.next_frame().await.unwrap(),
            Some(Frame::Line(b"{\"ok\":1}"))
        );
        assert_eq!(r.next_frame().await.unwrap(), None);
    }

    /// QEMU's pretty mode: messages over many CRLF-ended lines, braces inside strings not
    /// counted, compact lines around them still one message each.
    #[tokio::test]
    async fn pretty_printed_messages_are_gathered() {
        let input = "{\r\n    \"QMP\": {\r\n        \"version\": \"a } b { \\\" c\"\r\n    }\r\n}\r\n\
                     {\"return\": {}, \"id\": 1}\r\n{\r\n    \"return\": [\r\n        1\r\n    ],\r\n    \"id\": 2\r\n}\r\n";
        let got = frames(input.as_bytes(), 1024).await;
        assert_eq!(got.len(), 3, "{got:?}");
        for frame in &got {
            let value: serde_json::Value = serde_json::from_str(frame).expect(frame);
            assert!(value.is_object());
        }
        assert!(got[0].contains("a } b {"));
        assert_eq!(got[1], "{\"return\": {}, \"id\": 1}");
    }

    /// A stray `{` line, or a line that merely starts with one, swallows nothing: the
    /// compact messages after it are read as they are.
    #[tokio::test]
    async fn a_stray_brace_does_not_swallow_what_follows() {
        let input =
            "{this is not json\r\n{\"a\": 1}\r\n{\r\n{\"b\": 2}\r\n{\r\n    \"c\": 3\r\n}\r\n";
        let got = frames(input.as_bytes(), 1024).await;
        assert_eq!(
            got,
            vec![
                "{this is not json".to_string(),
                "{\"a\": 1}".to_string(),
                "{\"b\": 2}".to_string(),
                "{\r\n    \"c\": 3\r\n}".replace("\r\n", "\n")
            ]
        );
    }

    #[tokio::test]
    async fn exact_cap_is_allowed() {
        let got = frames(b"12345\n123456\n", 5).await;
        assert_eq!(
            got,
            vec!["12345".to_string(), "too long 6 ..123456".to_string()]
        );
    }

    /// The cap excludes a CRLF terminator too, however the reads split it (found by the
    /// `wire` fuzz target: a CRLF-ended message of exactly the cap was refused).
    #[tokio::test]
    async fn exact_cap_is_allowed_with_crlf() {
        let input = b"12345\r\n123456\r\n1234\r5\r\n";
        let want = vec![
            "12345".to_string(),
            "too long 6 ..123456".to_string(),
            "too long 6 ..1234\r5".to_string(),
        ];
        assert_eq!(frames(input, 5).await, want);
        // A byte a read: the `\r` arrives before anyone knows a `\n` follows.
        let mut r = LineReader::new(OneByte(input), 5);
        let mut got = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            got.push(match f {
                Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Frame::Overflowing { .. } => continue,
                Frame::TooLong { size, tail, .. } => {
                    format!("too long {size} ..{}", String::from_utf8_lossy(tail))
                }
            });
        }
        assert_eq!(got, want);
    }

    /// A reader that hands out one byte a read.
    struct OneByte<'a>(&'a [u8]);

    impl tokio::io::AsyncRead for OneByte<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if let Some((first, rest)) = self.0.split_first() {
                buf.put_slice(&[*first]);
                self.0 = rest;
            }
            std::task::Poll::Ready(Ok(()))
        }
    }
}
