//! The server's side of the wire, for the fake server: reading a request, writing the
//! greeting, replies and events. Not on the client's hot path, so plain `serde_json::Value`s.

use serde_json::{json, Map, Value};

use super::{Greeting, Timestamp};
use crate::error::ErrorClass;

/// A request as a server reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedRequest {
    pub(crate) command: String,
    /// `None` when the request had no `arguments` member.
    pub(crate) arguments: Option<Value>,
    /// The request's `id`, any JSON value, echoed in the reply.
    pub(crate) id: Option<Value>,
    /// Sent with `exec-oob`.
    pub(crate) oob: bool,
}

/// Why a message is not a request; `id` is the message's id when it had a readable one,
/// so the error reply can carry it as QEMU's does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BadRequest {
    pub(crate) desc: String,
    pub(crate) id: Option<Value>,
}

/// Reads one request, checking its shape as QEMU does: an object with exactly one of
/// `execute` and `exec-oob` (a string), optional `arguments` (an object), optional `id`,
/// and nothing else.
pub(crate) fn parse_request(message: &[u8]) -> Result<ParsedRequest, BadRequest> {
    let value: Value = serde_json::from_slice(message).map_err(|e| BadRequest {
        desc: format!("JSON parse error: {e}"),
        id: None,
    })?;
    let Value::Object(mut map) = value else {
        return Err(BadRequest {
            desc: "QMP input must be a JSON object".into(),
            id: None,
        });
    };
    let id = map.remove("id");
    let bad = |desc: String| BadRequest {
        desc,
        id: id.clone(),
    };
    let (key, oob) = match (map.contains_key("execute"), map.contains_key("exec-oob")) {
        (true, false) => ("execute", false),
        (false, true) => ("exec-oob", true),
        (true, true) => {
            return Err(bad(
                "QMP input must have exactly one of 'execute' and 'exec-oob'".into(),
            ))
        }
        (false, false) => return Err(bad("QMP input lacks member 'execute'".into())),
    };
    let command = match map.remove(key) {
        Some(Value::String(name)) => name,
        _ => return Err(bad(format!("QMP input member '{key}' must be a string"))),
    };
    let arguments = match map.remove("arguments") {
        None => None,
        Some(args @ Value::Object(_)) => Some(args),
        Some(_) => return Err(bad("QMP input member 'arguments' must be an object".into())),
    };
    if let Some(extra) = map.keys().next() {
        return Err(bad(format!("QMP input member '{extra}' is unexpected")));
    }
    Ok(ParsedRequest {
        command,
        arguments,
        id,
        oob,
    })
}

/// `{"QMP": {"version": ..., "capabilities": [...]}}`, the release number under the
/// version's vendor key (QEMU's is `qemu`; another server may name itself).
pub(crate) fn greeting_message(greeting: &Greeting) -> Value {
    let mut version = Map::new();
    let triple = greeting.version.qemu;
    version.insert(
        greeting.version.vendor.clone(),
        json!({"major": triple.major, "minor": triple.minor, "micro": triple.micro}),
    );
    version.insert(
        "package".into(),
        Value::String(greeting.version.package.clone()),
    );
    let capabilities: Vec<Value> = greeting
        .capabilities
        .iter()
        .map(|c| Value::String(c.as_str().to_owned()))
        .collect();
    json!({"QMP": {"version": version, "capabilities": capabilities}})
}

/// A successful reply. A command without a return value answers `{}`, as QEMU does.
pub(crate) fn return_message(value: Value, id: Option<&Value>) -> Value {
    let value = if value.is_null() { json!({}) } else { value };
    with_id(json!({ "return": value }), id)
}

/// A failed reply.
pub(crate) fn error_message(class: &ErrorClass, desc: &str, id: Option<&Value>) -> Value {
    with_id(
        json!({"error": {"class": class.as_str(), "desc": desc}}),
        id,
    )
}

/// An event; `data` is left out when it is `null`, as QEMU leaves it out of events that
/// carry none.
pub(crate) fn event_message(name: &str, data: Value, timestamp: Timestamp) -> Value {
    let mut map = Map::new();
    map.insert("event".into(), Value::String(name.to_owned()));
    if !data.is_null() {
        map.insert("data".into(), data);
    }
    map.insert(
        "timestamp".into(),
        json!({"seconds": timestamp.seconds, "microseconds": timestamp.microseconds}),
    );
    Value::Object(map)
}

fn with_id(mut message: Value, id: Option<&Value>) -> Value {
    if let (Some(id), Value::Object(map)) = (id, &mut message) {
        map.insert("id".into(), id.clone());
    }
    message
}

/// A message's top-level members in QEMU's order: what the message is first, the `id`
/// last (clients that recover the id of an oversized reply look for it at the end).
struct InQemuOrder<'a>(&'a Value);

impl serde::Serialize for InQemuOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(map) = self.0 else {
            return self.0.serialize(serializer);
        };
        const FIRST: [&str; 6] = ["QMP", "event", "data", "timestamp", "return", "error"];
        let rank = |key: &str| match FIRST.iter().position(|k| *k == key) {
            Some(i) => i,
            None if key == "id" => FIRST.len() + 1,
            None => FIRST.len(),
        };
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_by_key(|(key, _)| rank(key));
        let mut out = serializer.serialize_map(Some(members.len()))?;
        for (key, value) in members {
            out.serialize_entry(key, value)?;
        }
        out.end()
    }
}

/// One message as bytes on the wire: compact and newline-ended, or QEMU's pretty form
/// (indented by four, every line ended by CRLF).
pub(crate) fn encode(message: &Value, pretty: bool) -> Vec<u8> {
    let message = InQemuOrder(message);
    let mut text = Vec::new();
    // Serialising JSON values into memory cannot fail.
    if !pretty {
        let _ = serde_json::to_writer(&mut text, &message);
        text.push(b'\n');
        return text;
    }
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    let _ = serde::Serialize::serialize(&message, &mut serializer);
    let mut out = Vec::with_capacity(text.len() + text.len() / 16 + 2);
    for byte in text {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_as_qemu_checks_them() {
        let ok = parse_request(br#"{"execute": "stop", "id": "a"}"#).unwrap();
        assert_eq!(ok.command, "stop");
        assert_eq!(ok.id, Some(json!("a")));
        assert!(!ok.oob && ok.arguments.is_none());
        let oob = parse_request(br#"{"exec-oob": "x", "arguments": {"a": 1}, "id": 1}"#).unwrap();
        assert!(oob.oob);
        assert_eq!(oob.arguments, Some(json!({"a": 1})));
        for (bad, has_id) in [
            (&br#"[1]"#[..], false),
            (br#"{"id": 3}"#, true),
            (br#"{"execute": 3, "id": 3}"#, true),
            (br#"{"execute": "x", "exec-oob": "x"}"#, false),
            (br#"{"execute": "x", "arguments": [], "id": 1}"#, true),
            (br#"{"execute": "x", "extra": 1}"#, false),
            (br#"{"execute": "#, false),
        ] {
            let e = parse_request(bad).unwrap_err();
            assert_eq!(e.id.is_some(), has_id, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn pretty_messages_end_every_line_in_crlf() {
        let bytes = encode(&json!({"return": {"a": [1]}, "id": 1}), true);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("{\r\n    \"return\": {"), "{text}");
        assert!(text.ends_with("}\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        assert_eq!(
            encode(&json!({"id": 2, "return": {}}), false),
            b"{\"return\":{},\"id\":2}\n"
        );
    }
}
