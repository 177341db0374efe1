//! Recorded conversations: read and written in libvirt's `.replies` form (pretty JSON
//! objects separated by blank lines) or as JSON lines (one message a line), and replayed
//! by the fake server.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// How the fake server picks the recorded exchange that answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayOrder {
    /// Requests must come in the recorded order (a client's `qmp_capabilities` aside);
    /// one that is not the next recorded request is unscripted.
    InOrder,
    /// Any order: a request gets the reply of the first unused exchange with the same
    /// command and arguments (or, once all are used, the last of them again).
    ByRequest,
}

/// How a transcript is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TranscriptFormat {
    /// libvirt's capture form: each message pretty-printed, a blank line between them.
    /// The greeting is left out, as in libvirt's captures.
    Replies,
    /// One compact message a line, the greeting first.
    JsonLines,
}

impl TranscriptFormat {
    /// The form a file name asks for: `.jsonl` (or `.ndjson`) for JSON lines, anything
    /// else (`.replies`) for libvirt's.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => TranscriptFormat::JsonLines,
            _ => TranscriptFormat::Replies,
        }
    }
}

/// One request, its reply and the events that followed the reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Exchange {
    request: Value,
    reply: Option<Value>,
    events: Vec<Value>,
}

impl Exchange {
    /// The request message (`{"execute": ..., "arguments": ..., "id": ...}`).
    pub fn request(&self) -> &Value {
        &self.request
    }

    /// The command's name.
    pub fn command(&self) -> &str {
        self.request
            .get("execute")
            .or_else(|| self.request.get("exec-oob"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The request's arguments (`{}` when it had none).
    pub fn arguments(&self) -> Value {
        self.request
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// The reply message, if one was recorded.
    pub fn reply(&self) -> Option<&Value> {
        self.reply.as_ref()
    }

    /// The reply's `return` value, if it succeeded.
    pub fn returned(&self) -> Option<&Value> {
        self.reply.as_ref()?.get("return")
    }

    /// The events recorded after the request (whole messages).
    pub fn events(&self) -> &[Value] {
        &self.events
    }
}

/// A QMP conversation: the greeting (if recorded), and each request with its reply and
/// the events after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    greeting: Option<Value>,
    /// Events before the first request.
    early_events: Vec<Value>,
    exchanges: Vec<Exchange>,
}

/// A transcript that does not read: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptError {
    /// The file, when read from one.
    pub path: Option<PathBuf>,
    /// 1-based line of the offending message.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TranscriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self
            .path
            .as_deref()
            .map_or_else(|| "<transcript>".into(), |p| p.display().to_string());
        write!(f, "{path}:{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for TranscriptError {}

/// 1-based line and column of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a transcript in either form (both are a stream of JSON objects).
    pub fn parse(text: &str) -> Result<Self, TranscriptError> {
        let mut transcript = Transcript::new();
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        loop {
            // Where the next message starts, for errors about it as a whole.
            let rest = &text[stream.byte_offset()..];
            let start = stream.byte_offset() + (rest.len() - rest.trim_start().len());
            let Some(next) = stream.next() else { break };
            let message = next.map_err(|e| TranscriptError {
                path: None,
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
            transcript.push(message).map_err(|message| {
                let (line, column) = position(text, start);
                TranscriptError {
                    path: None,
                    line,
                    column,
                    message,
                }
            })?;
        }
        Ok(transcript)
    }

    /// Reads a transcript file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TranscriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| TranscriptError {
            path: Some(path.to_owned()),
            line: 1,
            column: 1,
            message: format!("cannot read: {e}"),
        })?;
        Transcript::parse(&text).map_err(|e| TranscriptError {
            path: Some(path.to_owned()),
            ..e
        })
    }

    /// Adds one message in the order of the conversation: a greeting, a request, a reply
    /// (paired with its request by id) or an event.
    pub fn push(&mut self, message: Value) -> Result<(), String> {
        let Value::Object(map) = &message else {
            return Err("a QMP message must be a JSON object".into());
        };
        if map.contains_key("QMP") {
            self.greeting = Some(message);
        } else if map.contains_key("execute") || map.contains_key("exec-oob") {
            self.exchanges.push(Exchange {
                request: message,
                reply: None,
                events: Vec::new(),
            });
        } else if map.contains_key("event") {
            match self.exchanges.last_mut() {
                Some(last) => last.events.push(message),
                None => self.early_events.push(message),
            }
        } else if map.contains_key("return") || map.contains_key("error") {
            let id = map.get("id");
            let waiting = self
                .exchanges
                .iter_mut()
                .rev()
                .filter(|e| e.reply.is_none())
                .find(|e| id.is_none() || e.request.get("id") == id);
            match waiting {
                Some(exchange) => exchange.reply = Some(message),
                None => {
                    return Err(format!(
                        "a reply (id {}) that answers no recorded request",
                        id.map_or_else(|| "none".into(), Value::to_string)
                    ))
                }
            }
        } else {
            return Err("neither a greeting, a request, a reply nor an event".into());
        }
        Ok(())
    }

    /// The recorded greeting.
    pub fn greeting(&self) -> Option<&Value> {
        self.greeting.as_ref()
    }

    /// The exchanges, in the order their requests were sent.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// Every message in conversation order (greeting first; each request, its reply, the
    /// events after it).
    pub fn messages(&self) -> impl Iterator<Item = &Value> {
        self.greeting.iter().chain(&self.early_events).chain(
            self.exchanges
                .iter()
                .flat_map(|e| std::iter::once(&e.request).chain(&e.reply).chain(&e.events)),
        )
    }

    /// The transcript in `format`.
    pub fn render(&self, format: TranscriptFormat) -> String {
        let mut out = String::new();
        match format {
            TranscriptFormat::Replies => {
                for message in self.messages().filter(|m| m.get("QMP").is_none()) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    // A `Value` always serialises.
                    out.push_str(&serde_json::to_string_pretty(message).unwrap_or_default());
                    out.push('\n');
                }
            }
            TranscriptFormat::JsonLines => {
                for message in self.messages() {
                    out.push_str(&message.to_string());
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Writes the transcript to `path` in `format`.
    pub fn write(&self, path: impl AsRef<Path>, format: TranscriptFormat) -> io::Result<()> {
        std::fs::write(path, self.render(format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_replies_by_id_and_keeps_events_after_them() {
        let text = r#"{"QMP": {"version": {}, "capabilities": []}}
{"execute": "a", "id": 1}
{"execute": "b", "arguments": {"x": 1}, "id": 2}
{"return": {"b": true}, "id": 2}
{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}
{"return": {}, "id": 1}
"#;
        let t = Transcript::parse(text).unwrap();
        assert!(t.greeting().is_some());
        let [a, b] = t.exchanges() else {
            panic!("two exchanges")
        };
        assert_eq!(a.command(), "a");
        assert_eq!(a.arguments(), json!({}));
        assert_eq!(a.returned(), Some(&json!({})));
        assert_eq!(b.arguments(), json!({"x": 1}));
        assert_eq!(b.returned(), Some(&json!({"b": true})));
        assert_eq!(b.events().len(), 1);
        // Both forms read back as the same conversation.
        for format in [TranscriptFormat::JsonLines, TranscriptFormat::Replies] {
            let again = Transcript::parse(&t.render(format)).unwrap();
            assert_eq!(again.exchanges(), t.exchanges(), "{format:?}");
        }
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Transcript::parse("{\"execute\": \"a\", \"id\": 1}\n\n  [1]\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3), "{e}");
        let e = Transcript::parse("{\"return\": {}, \"id\": 9}").unwrap_err();
        assert!(e.message.contains("answers no recorded request"), "{e}");
        let e = Transcript::parse("{\"execute\": \"a\"}\n{\"execute\": ").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
