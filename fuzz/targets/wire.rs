//! Body of the `wire` fuzz target: the bytes a server sends, read by a real [`Client`] over
//! an in-memory stream while calls are in flight.
//!
//! Input: an 8-byte header, then the server's byte stream (greeting included).
//! - byte 0, options: bit 0 ask for `oob`; bit 1 a 250 ms command timeout; bits 2-3 the
//!   message cap (10 MiB, 256 B, 1 KiB, 128 B); bit 4 drop the first call's future at once;
//!   bit 5 a one-event subscriber buffer.
//! - byte 1: which calls are made (one bit each, see [`CALLS`]); their ids are 2, 3, ... in
//!   that order (1 is `qmp_capabilities`), skipping out-of-band calls refused locally.
//! - bytes 2-7: chunk sizes, used in turn: the stream is written `(b & 0x7f) + 1` bytes at
//!   a time, the reader given its turn after each; a set high bit first waits 100 ms.
//!
//! Time is paused (it only moves when every task waits), so timeouts cost nothing and a
//! run is the same every time. After the stream, the server waits until the client has
//! settled, answers one more call made then (the connection must still work), and closes.
//!
//! Invariants, besides no panic and no hang: every call is answered; a call answered with
//! a reply was sent one with its id (never another call's); errors are the ones the
//! situation allows; the event stream ends with the connection and accounts for every
//! event it does not deliver. When the stream is clean (one well-formed message a line),
//! each call's answer is exactly the first reply with its id, and the events are exactly
//! those sent.

use futures::StreamExt;
use qemu_qmp::{api, Client, ClientBuilder, ConnectionState, Error, ErrorClass, Transport};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const HEADER: usize = 8;
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// Long enough for every timer of the client to fire (the oversized-message deadline is 1 s).
const SETTLE: Duration = Duration::from_secs(10);
/// A bound on anything the harness waits for: reaching it is a hang.
const BOUND: Duration = Duration::from_secs(600);

/// The calls that may be in flight, in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Status,
    Version,
    Raw,
    YankOob,
    RawOob,
    Block,
    Stop,
    Schema,
}

const CALLS: [Call; 8] = [
    Call::Status,
    Call::Version,
    Call::Raw,
    Call::YankOob,
    Call::RawOob,
    Call::Block,
    Call::Stop,
    Call::Schema,
];

impl Call {
    fn is_oob(self) -> bool {
        matches!(self, Call::YankOob | Call::RawOob)
    }

    /// Starts the call (registering it, so its id is taken now) and spawns its wait.
    fn start(self, client: &Client) -> Started {
        fn spawn<T: DeserializeOwned + Send + 'static>(
            future: qemu_qmp::client::ResponseFuture<T>,
            got: fn(T) -> Got,
        ) -> Started {
            Started {
                dropped: false,
                task: Some(tokio::spawn(async move { future.await.map(got) })),
            }
        }
        match self {
            Call::Status => spawn(client.execute(api::QueryStatus::new()), Got::Status),
            Call::Version => spawn(client.execute(api::QueryVersion::new()), Got::Version),
            Call::Raw => spawn(client.execute_raw("fuzz-raw", None), Got::Value),
            Call::YankOob => spawn(client.execute_oob(api::QueryYank::new()), Got::Yank),
            Call::RawOob => spawn(
                client.execute_raw_oob("fuzz-raw-oob", Some(json!({"a": 1}))),
                Got::Value,
            ),
            Call::Block => spawn(client.execute(api::QueryBlock::new()), Got::Block),
            Call::Stop => spawn(client.execute(api::Stop::new()), |()| Got::Unit),
            Call::Schema => spawn(client.execute(api::QueryQmpSchema::new()), Got::Schema),
        }
    }
}

struct Started {
    dropped: bool,
    task: Option<JoinHandle<Result<Got, Error>>>,
}

/// A call's successful outcome.
#[derive(Debug)]
enum Got {
    Status(api::StatusInfo),
    Version(api::VersionInfo),
    Value(Value),
    Yank(Vec<api::YankInstance>),
    Block(Vec<api::BlockInfo>),
    Unit,
    Schema(Vec<api::SchemaInfo>),
}

impl Got {
    /// Whether this is what `ret`, a reply's `return`, decodes to for this call.
    fn is_decoded_from(&self, ret: &Value) -> bool {
        fn same<T: DeserializeOwned + PartialEq>(ret: &Value, got: &T) -> bool {
            decode_text::<T>(ret).is_some_and(|t| t == *got)
        }
        match self {
            Got::Status(t) => same(ret, t),
            Got::Version(t) => same(ret, t),
            Got::Value(v) => ret == v,
            Got::Yank(t) => same(ret, t),
            Got::Block(t) => same(ret, t),
            Got::Unit => true,
            Got::Schema(t) => same(ret, t),
        }
    }
}

/// Whether `ret` decodes as `call`'s return type.
fn decodes_as(call: Call, ret: &Value) -> bool {
    match call {
        Call::Status => decode_text::<api::StatusInfo>(ret).is_some(),
        Call::Version => decode_text::<api::VersionInfo>(ret).is_some(),
        Call::Raw | Call::RawOob | Call::Stop => true,
        Call::YankOob => decode_text::<Vec<api::YankInstance>>(ret).is_some(),
        Call::Block => decode_text::<Vec<api::BlockInfo>>(ret).is_some(),
        Call::Schema => decode_text::<Vec<api::SchemaInfo>>(ret).is_some(),
    }
}

/// Decodes from text, as the client does from the reply's raw slice.
fn decode_text<T: DeserializeOwned>(value: &Value) -> Option<T> {
    serde_json::from_str(&value.to_string()).ok()
}

struct Input<'a> {
    oob: bool,
    timeout: Option<Duration>,
    max: usize,
    drop_first: bool,
    lag: bool,
    calls: u8,
    chunks: [u8; HEADER - 2],
    stream: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Input<'a>> {
        let (header, stream) = data.split_at_checked(HEADER)?;
        let flags = header[0];
        let mut chunks = [0; HEADER - 2];
        chunks.copy_from_slice(&header[2..]);
        Some(Input {
            oob: flags & 1 != 0,
            timeout: (flags & 2 != 0).then_some(COMMAND_TIMEOUT),
            max: [10 << 20, 256, 1024, 128][usize::from((flags >> 2) & 3)],
            drop_first: flags & 16 != 0,
            lag: flags & 32 != 0,
            calls: header[1],
            chunks,
            stream,
        })
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some(input) = Input::parse(data) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(conversation(&input));
}

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("hangs: {what}"))
}

async fn conversation(input: &Input<'_>) {
    let (ours, theirs) = tokio::io::duplex(4096);
    let (mut from_client, mut to_client) = tokio::io::split(theirs);
    // Whatever the client writes is read (and kept for the checks), so it never blocks.
    let requests = tokio::spawn(async move {
        let mut seen = Vec::new();
        let _ = from_client.read_to_end(&mut seen).await;
        seen
    });
    let (settled_tx, settled_rx) = oneshot::channel::<()>();
    let (sync_tx, sync_rx) = oneshot::channel::<Option<u64>>();
    let stream = input.stream.to_vec();
    let chunks = input.chunks;
    let server = tokio::spawn(async move {
        let mut rest = &stream[..];
        for &chunk in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            if chunk & 0x80 != 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let n = (usize::from(chunk & 0x7f) + 1).min(rest.len());
            if to_client.write_all(&rest[..n]).await.is_err() {
                break;
            }
            rest = &rest[n..];
            tokio::task::yield_now().await;
        }
        // Ends a last line the stream left open, as any next message would.
        let _ = to_client.write_all(b"\n").await;
        tokio::time::sleep(SETTLE).await;
        let _ = settled_tx.send(());
        if let Ok(Some(id)) = sync_rx.await {
            let reply = format!("{{\"return\": {{\"sync\": {id}}}, \"id\": {id}}}\r\n");
            let _ = to_client.write_all(reply.as_bytes()).await;
        }
        let _ = to_client.shutdown().await;
    });

    let builder = ClientBuilder::new()
        .oob(input.oob)
        .command_timeout(input.timeout)
        .max_message_size(input.max)
        .negotiate_timeout(Duration::from_secs(5))
        .event_buffer(if input.lag { 1 } else { 1024 });
    let client = match builder.connect_transport(Transport::other(ours)).await {
        Ok(client) => client,
        Err(error) => {
            assert!(
                matches!(
                    error,
                    Error::Negotiation { .. } | Error::Timeout(_) | Error::Io(_)
                ),
                "connecting failed with {error:?}"
            );
            drop(sync_tx);
            let _ = within("the server after a failed connect", server).await;
            let _ = within("the request reader", requests).await;
            return;
        }
    };
    let mut events = client.events();

    let mut next_id = 2u64;
    let mut calls: Vec<(Call, Option<u64>, Started)> = Vec::new();
    for (bit, call) in CALLS.iter().enumerate() {
        if input.calls & (1 << bit) == 0 {
            continue;
        }
        let id = if call.is_oob() && !client.oob_enabled() {
            None
        } else {
            next_id += 1;
            Some(next_id - 1)
        };
        let mut started = call.start(&client);
        if input.drop_first && calls.is_empty() {
            // Dropping a call's future must leave its late reply to nobody.
            if let Some(task) = started.task.take() {
                task.abort();
            }
            started.dropped = true;
        }
        calls.push((*call, id, started));
    }

    within("the server's stream", settled_rx)
        .await
        .expect("the server task ended early");
    let sync = if client.state() == ConnectionState::Running {
        let id = next_id;
        let future = client.execute_raw("fuzz-sync", None);
        let _ = sync_tx.send(Some(id));
        Some((id, future))
    } else {
        let _ = sync_tx.send(None);
        None
    };
    if let Some((id, future)) = sync {
        let answer = within("the call made after the stream", future).await;
        match answer {
            Ok(value) => assert_eq!(value, json!({"sync": id}), "the call after the stream"),
            Err(e) => panic!("the connection is not usable after the stream: {e:?}"),
        }
    }

    let mut outcomes = Vec::new();
    for (call, id, started) in calls {
        if started.dropped {
            continue;
        }
        let Some(task) = started.task else { continue };
        let outcome = within("a call in flight", task)
            .await
            .unwrap_or_else(|e| panic!("{call:?} panicked: {e}"));
        outcomes.push((call, id, outcome));
    }
    let received: Vec<_> = within("the event stream's end", events.by_ref().collect()).await;
    let mut state = client.watch_state();
    within(
        "the state after the end of the stream",
        state.wait_for(|s| *s == ConnectionState::Closed),
    )
    .await
    .expect("the state channel closed");
    drop(client);
    within("the server", server).await.expect("the server task");
    let sent = within("the request reader", requests)
        .await
        .expect("the request reader task");

    check_requests(&sent);
    check_outcomes(input, &outcomes);
    let script = Script::of(input);
    if let Some(script) = &script {
        script.check(input, &outcomes);
    }
    check_events(&received, script.as_ref());
}

/// The requests the client wrote: one JSON object a line, ids unique.
fn check_requests(sent: &[u8]) {
    let mut ids = HashSet::new();
    for line in sent.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let request: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!(
                "the client wrote a line that is not JSON ({e}): {:?}",
                String::from_utf8_lossy(line)
            )
        });
        assert!(
            request.get("execute").or(request.get("exec-oob")).is_some(),
            "{request}"
        );
        let id = request["id"].as_u64().expect("a request id");
        assert!(ids.insert(id), "id {id} sent twice");
    }
}

/// Every JSON object that starts somewhere in the stream and has an integer id, by id: a
/// superset of the replies the client can have read from it.
fn replies_by_id(stream: &[u8]) -> HashMap<u64, Vec<Map<String, Value>>> {
    let mut found: HashMap<u64, Vec<Map<String, Value>>> = HashMap::new();
    for (at, _) in stream.iter().enumerate().filter(|(_, &b)| b == b'{') {
        let mut values = serde_json::Deserializer::from_slice(&stream[at..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(object))) = values.next() {
            if let Some(id) = object.get("id").and_then(Value::as_u64) {
                found.entry(id).or_default().push(object);
            }
        }
    }
    found
}

/// Answers that the stream could have caused, whatever the stream.
fn check_outcomes(input: &Input<'_>, outcomes: &[(Call, Option<u64>, Result<Got, Error>)]) {
    let needs_replies = outcomes.iter().any(|(_, _, outcome)| {
        matches!(
            outcome,
            Ok(_) | Err(Error::Qmp { .. } | Error::Decode { .. })
        )
    });
    let replies = if needs_replies {
        replies_by_id(input.stream)
    } else {
        HashMap::new()
    };
    for (call, id, outcome) in outcomes {
        let Some(id) = *id else {
            assert!(
                matches!(outcome, Err(Error::OobNotNegotiated)),
                "{call:?} needs oob, which was not negotiated: {outcome:?}"
            );
            continue;
        };
        let mut with_id = replies.get(&id).into_iter().flatten();
        match outcome {
            Ok(got) => assert!(
                with_id.any(|m| m.get("return").is_some_and(|r| got.is_decoded_from(r))),
                "{call:?} (id {id}) was answered {got:?}, which no reply with its id says"
            ),
            Err(Error::Qmp { class, desc }) => {
                assert!(
                with_id.any(|m| m.get("return").is_none()
                    && m.get("error").is_some_and(|e| {
                        e.get("class").and_then(Value::as_str).map(ErrorClass::from_wire)
                            == Some(class.clone())
                            && e.get("desc").and_then(Value::as_str).unwrap_or_default() == desc
                    })),
                "{call:?} (id {id}) was answered {class}: {desc}, which no reply with its id says"
            )
            }
            Err(Error::Decode { .. }) => assert!(
                with_id.any(|m| m.get("return").is_some()),
                "{call:?} (id {id}) failed to decode a reply never sent: {outcome:?}"
            ),
            Err(Error::Timeout(_)) => assert!(
                input.timeout.is_some(),
                "{call:?} timed out without a timeout"
            ),
            Err(Error::MessageTooLarge { size, limit }) => {
                assert_eq!(*limit, input.max, "{call:?}: the limit named");
                assert!(
                    size > limit,
                    "{call:?}: {size} bytes are within the limit {limit}"
                );
            }
            Err(Error::Disconnected | Error::Protocol { .. }) => {}
            Err(other) => panic!("{call:?} (id {id}): an error this cannot cause: {other:?}"),
        }
    }
}

/// How many events a gap lost. The stream is not persistent, so a gap is never a
/// disconnection marker.
fn lagged(gap: &qemu_qmp::Gap) -> u64 {
    match gap.missed() {
        Some(n) => n,
        None => panic!("a stream that ends with its connection yielded {gap:?}"),
    }
}

/// The events received: in order, each delivered once, every gap counted.
fn check_events(
    received: &[Result<qemu_qmp::ReceivedEvent, qemu_qmp::Gap>],
    script: Option<&Script>,
) {
    let Some(script) = script else {
        for item in received {
            if let Err(gap) = item {
                assert!(lagged(gap) > 0, "a gap of no events reported");
            }
        }
        return;
    };
    let mut missed = 0u64;
    let mut delivered = Vec::new();
    for item in received {
        match item {
            Ok(event) => delivered.push((event.event.name().to_owned(), event.timestamp)),
            Err(gap) => {
                let n = lagged(gap);
                assert!(n > 0, "a gap of no events reported");
                missed += n;
            }
        }
    }
    assert_eq!(
        delivered.len() as u64 + missed,
        script.events.len() as u64,
        "events sent {:?}, delivered {delivered:?}, {missed} reported missed",
        script.events
    );
    // Delivered in order: a subsequence of those sent.
    let mut sent = script.events.iter();
    for event in &delivered {
        assert!(
            sent.any(|e| e == event),
            "{event:?} delivered out of order or never sent: sent {:?}",
            script.events
        );
    }
}

/// What a clean stream says: the reply each id gets first and the events, after the
/// negotiation (messages before the `qmp_capabilities` reply are not routed).
struct Script {
    replies: HashMap<u64, Map<String, Value>>,
    events: Vec<(String, qemu_qmp::Timestamp)>,
}

impl Script {
    /// The script of a stream of one well-formed message a line (the first the greeting),
    /// none past the cap; `None` for any other stream.
    fn of(input: &Input<'_>) -> Option<Script> {
        let mut lines = input
            .stream
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
        lines.next()?;
        let mut negotiated = false;
        let mut script = Script {
            replies: HashMap::new(),
            events: Vec::new(),
        };
        for line in lines {
            if line.len() > input.max {
                return None;
            }
            let Strict(Value::Object(message)) = serde_json::from_slice::<Strict>(line).ok()?
            else {
                return None;
            };
            match Message::of(&message)? {
                Message::Event(name, timestamp) => {
                    if negotiated {
                        script.events.push((name, timestamp));
                    }
                }
                Message::Reply(1) if !negotiated => negotiated = true,
                Message::Reply(_) if !negotiated => {}
                Message::Reply(id) => {
                    script.replies.entry(id).or_insert(message);
                }
            }
        }
        negotiated.then_some(script)
    }

    fn check(&self, input: &Input<'_>, outcomes: &[(Call, Option<u64>, Result<Got, Error>)]) {
        for (call, id, outcome) in outcomes {
            let Some(id) = id else { continue };
            if input.timeout.is_some() && matches!(outcome, Err(Error::Timeout(_))) {
                continue;
            }
            let Some(reply) = self.replies.get(id) else {
                assert!(
                    matches!(outcome, Err(Error::Disconnected)),
                    "{call:?} (id {id}) had no reply, yet: {outcome:?}"
                );
                continue;
            };
            match (reply.get("return"), outcome) {
                (Some(ret), Ok(got)) => assert!(
                    got.is_decoded_from(ret),
                    "{call:?} (id {id}): sent {ret}, answered {got:?}"
                ),
                (Some(ret), Err(Error::Decode { .. })) => assert!(
                    !decodes_as(*call, ret),
                    "{call:?} (id {id}): {ret} decodes, yet: {outcome:?}"
                ),
                (None, Err(Error::Qmp { class, desc })) => {
                    let error = &reply["error"];
                    assert_eq!(
                        Some(class.clone()),
                        error["class"].as_str().map(ErrorClass::from_wire)
                    );
                    assert_eq!(error["desc"].as_str().unwrap_or_default(), desc);
                }
                _ => panic!("{call:?} (id {id}): sent {reply:?}, answered {outcome:?}"),
            }
        }
    }
}

enum Message {
    Reply(u64),
    Event(String, qemu_qmp::Timestamp),
}

impl Message {
    /// A reply with one of our ids or an event, exactly as QEMU writes them; `None` for
    /// anything else (which the clean script does not model).
    fn of(message: &Map<String, Value>) -> Option<Message> {
        let keys = |allowed: &[&str]| message.keys().all(|k| allowed.contains(&k.as_str()));
        if let Some(name) = message.get("event") {
            let name = name.as_str()?;
            if !keys(&["event", "data", "timestamp"]) {
                return None;
            }
            let timestamp = match message.get("timestamp") {
                None | Some(Value::Null) => qemu_qmp::Timestamp::default(),
                Some(t) => qemu_qmp::Timestamp {
                    seconds: t.get("seconds")?.as_i64()?,
                    microseconds: t.get("microseconds")?.as_i64()?,
                },
            };
            return Some(Message::Event(name.to_owned(), timestamp));
        }
        if !keys(&["return", "error", "id"]) {
            return None;
        }
        let id = message.get("id")?.as_u64()?;
        if let Some(error) = message.get("error") {
            error.get("class")?.as_str()?;
            if let Some(desc) = error.get("desc") {
                desc.as_str()?;
            }
        } else {
            message.get("return")?;
        }
        Some(Message::Reply(id))
    }
}

/// A JSON value that has no object with a key twice (the client and `Value` disagree on
/// which of two counts, so a clean stream has none).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;
        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = Strict;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON without duplicate keys")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
                Ok(Strict(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
                Ok(Strict(Value::String(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Strict, E> {
                Ok(Strict(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
                let mut out = Vec::new();
                while let Some(Strict(v)) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Strict(Value::Array(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let Strict(value) = map.next_value()?;
                    if out.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                }
                Ok(Strict(Value::Object(out)))
            }
        }
        deserializer.deserialize_any(StrictVisitor)
    }
}
