//! Serving one connection: the greeting, negotiation, then every request answered from the
//! script, in-band ones queued and answered in order as QEMU does, out-of-band ones at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::script::{Action, Response};
use super::{lock, Connection, GreetingScript, Received, Shared};
use crate::error::ErrorClass;
use crate::protocol::server::{
    encode, error_message, event_message, greeting_message, parse_request, return_message,
    ParsedRequest,
};
use crate::protocol::Timestamp;
use crate::transport::framing::{Frame, LineReader, DEFAULT_MAX_LINE};
use crate::transport::{Halves, Transport};

/// In-band requests QEMU queues per monitor (with `oob` on) before it stops reading.
pub(super) const QEMU_IN_BAND_QUEUE: usize = 8;

/// The byte the guest agent's sync protocol marks a fresh start with.
const AGENT_DELIMITER: u8 = 0xFF;

fn strip_delimiters(mut line: &[u8]) -> &[u8] {
    while let Some(rest) = line.strip_prefix(&[AGENT_DELIMITER]) {
        line = rest;
    }
    line
}

/// The agent's own answer to its sync commands: `guest-sync-delimited` writes 0xFF before
/// the reply; both return the id they were given.
fn agent_sync(ctx: &Context, command: &str, arguments: &Value) -> Option<Response> {
    if !ctx.shared.options.guest_agent {
        return None;
    }
    let id = arguments.get("id").cloned().unwrap_or(Value::Null);
    let reply = serde_json::to_vec(&json!({ "return": id })).unwrap_or_default();
    let bytes = match command {
        "guest-sync-delimited" => [&[AGENT_DELIMITER][..], &reply, b"\n"].concat(),
        "guest-sync" => [&reply[..], b"\n"].concat(),
        _ => return None,
    };
    Some(Response::new(
        Duration::ZERO,
        Action::Raw(bytes),
        Vec::new(),
    ))
}

/// What the writer task sends.
pub(super) enum Out {
    Bytes(Vec<u8>),
    Close,
}

/// `message` as the fake writes it.
pub(super) fn line_of(message: &Value, pretty: bool) -> Vec<u8> {
    encode(message, pretty)
}

fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        microseconds: i64::from(since.subsec_micros()),
    }
}

/// Sends an event, stamped now, to every negotiated connection.
pub(super) fn broadcast_event(shared: &Shared, name: &str, data: Value) {
    let bytes = line_of(&event_message(name, data, now()), shared.options.pretty);
    for conn in lock(&shared.connections).iter() {
        if conn.negotiated.load(Ordering::Acquire) {
            let _ = conn.tx.send(Out::Bytes(bytes.clone()));
        }
    }
}

/// One connection's context, shared by its reader and its request handlers.
#[derive(Clone)]
struct Context {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Out>,
    connection: u64,
}

impl Context {
    fn send(&self, message: &Value) {
        let _ = self
            .tx
            .send(Out::Bytes(line_of(message, self.shared.options.pretty)));
    }

    fn record(&self, request: &ParsedRequest, arguments: &Value) -> Received {
        let received = Received {
            command: request.command.clone(),
            arguments: arguments.clone(),
            id: request.id.clone(),
            oob: request.oob,
            connection: self.connection,
        };
        lock(&self.shared.log).received.push(received.clone());
        received
    }
}

/// Serves `transport` until the client goes or the fake closes the connection.
pub(super) async fn serve(shared: Arc<Shared>, transport: Transport) {
    let Halves {
        reader, mut writer, ..
    } = transport.into_halves();
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let negotiated = Arc::new(AtomicBool::new(false));
    lock(&shared.connections).push(Connection {
        id: connection,
        tx: tx.clone(),
        negotiated: negotiated.clone(),
    });
    let writer_task = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Bytes(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        writer.shutdown().await;
    });
    let ctx = Context {
        shared: shared.clone(),
        tx,
        connection,
    };
    let agent = shared.options.guest_agent;
    if agent {
        negotiated.store(true, Ordering::Release);
    }
    match &shared.options.greeting {
        GreetingScript::Standard(greeting) => ctx.send(&greeting_message(greeting)),
        GreetingScript::Raw(bytes) => {
            let _ = ctx.tx.send(Out::Bytes(bytes.clone()));
        }
        GreetingScript::Silent => {}
    }
    for (name, data) in &shared.options.events_before_negotiation {
        ctx.send(&event_message(name, data.clone(), now()));
    }
    read_requests(&ctx, LineReader::new(reader, DEFAULT_MAX_LINE), &negotiated).await;
    lock(&shared.connections).retain(|c| c.id != connection);
    // Answers already queued still go out before the writer ends.
    drop(ctx);
    let _ = writer_task.await;
}

async fn read_requests<R: tokio::io::AsyncRead + Unpin>(
    ctx: &Context,
    mut lines: LineReader<R>,
    negotiated: &AtomicBool,
) {
    let mut oob = false;
    let agent = ctx.shared.options.guest_agent;
    // Created at negotiation: its size depends on whether `oob` was enabled. The agent
    // negotiates nothing.
    let mut in_band: Option<mpsc::Sender<(ParsedRequest, Received)>> =
        agent.then(|| start_in_band(ctx.clone(), 1));
    loop {
        // As QEMU does, a connection whose in-band queue is full is not read at all until
        // a slot frees: the client sees back-pressure (even its out-of-band requests wait
        // in the socket), not an error.
        let slot = match &in_band {
            Some(queue) => match queue.clone().reserve_owned().await {
                Ok(slot) => Some(slot),
                Err(_) => return,
            },
            None => None,
        };
        let line = match lines.next_frame().await {
            Ok(Some(Frame::Line(line))) => line.to_vec(),
            Ok(Some(Frame::TooLong { .. } | Frame::Overflowing { .. })) => continue,
            Ok(None) | Err(_) => return,
        };
        if ctx.tx.is_closed() {
            return;
        }
        let mut line = line.as_slice();
        if agent && line.first() == Some(&AGENT_DELIMITER) {
            // The agent's reader resets at 0xFF and reports the byte as a parse error,
            // which the client's sync discards.
            line = strip_delimiters(line);
            ctx.send(&error_message(
                &ErrorClass::GenericError,
                "JSON parse error: a stray 0xFF byte (reader reset)",
                None,
            ));
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
        }
        let request = match parse_request(line) {
            Ok(r) => r,
            Err(bad) => {
                ctx.send(&error_message(
                    &ErrorClass::GenericError,
                    &bad.desc,
                    bad.id.as_ref(),
                ));
                continue;
            }
        };
        let arguments = request
            .arguments
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let received = ctx.record(&request, &arguments);
        let Some(slot) = slot else {
            if let Some(enabled) = negotiate(ctx, &request, &arguments) {
                oob = enabled;
                negotiated.store(true, Ordering::Release);
                let size = if oob {
                    ctx.shared.options.in_band_queue
                } else {
                    1
                };
                in_band = Some(start_in_band(ctx.clone(), size));
            }
            continue;
        };
        if request.command == "qmp_capabilities" && !request.oob {
            ctx.send(&error_message(
                &ErrorClass::CommandNotFound,
                "capabilities were already negotiated on this connection",
                request.id.as_ref(),
            ));
            continue;
        }
        if request.oob {
            if let Some(refusal) = oob_refusal(&request, oob) {
                ctx.send(&error_message(
                    &ErrorClass::GenericError,
                    &refusal,
                    request.id.as_ref(),
                ));
                continue;
            }
            // Out of band: answered at once, overtaking whatever is queued in band.
            let ctx = ctx.clone();
            tokio::spawn(async move { handle(&ctx, request, received).await });
            continue;
        }
        slot.send((request, received));
    }
}

/// Handles a request before negotiation; `Some(oob)` once `qmp_capabilities` succeeded.
fn negotiate(ctx: &Context, request: &ParsedRequest, arguments: &Value) -> Option<bool> {
    let id = request.id.as_ref();
    if request.command != "qmp_capabilities" || request.oob {
        ctx.send(&error_message(
            &ErrorClass::CommandNotFound,
            "capabilities must be negotiated first, with 'qmp_capabilities'",
            id,
        ));
        return None;
    }
    if let Some((class, desc)) = &ctx.shared.options.refuse_negotiation {
        ctx.send(&error_message(class, desc, id));
        return None;
    }
    let offered: Vec<String> = match &ctx.shared.options.greeting {
        GreetingScript::Standard(greeting) => greeting
            .capabilities
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        // A greeting given as bytes: whatever the client asks for is taken as offered.
        GreetingScript::Raw(_) | GreetingScript::Silent => vec!["oob".into()],
    };
    let wanted = match arguments.get("enable") {
        None => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => {
            ctx.send(&error_message(
                &ErrorClass::GenericError,
                "'enable' must be a list of capability names",
                id,
            ));
            return None;
        }
    };
    for capability in &wanted {
        let name = capability.as_str().unwrap_or_default();
        if !offered.iter().any(|o| o == name) {
            ctx.send(&error_message(
                &ErrorClass::GenericError,
                &format!("capability '{capability}' is not offered"),
                id,
            ));
            return None;
        }
    }
    ctx.send(&return_message(json!({}), id));
    Some(wanted.iter().any(|c| c == "oob"))
}

/// Why QEMU would refuse this `exec-oob`, if it would.
fn oob_refusal(request: &ParsedRequest, oob: bool) -> Option<String> {
    if !oob {
        return Some("out-of-band execution was not negotiated on this connection".into());
    }
    if request.id.is_none() {
        return Some("an out-of-band command needs an 'id'".into());
    }
    let allowed = crate::describe::describe_command(&request.command).is_some_and(|c| c.allow_oob);
    if !allowed {
        return Some(format!(
            "the command '{}' cannot be executed out of band",
            request.command
        ));
    }
    None
}

/// The in-band queue of `size` and the task that answers it in order.
fn start_in_band(ctx: Context, size: usize) -> mpsc::Sender<(ParsedRequest, Received)> {
    let (queue, mut requests) = mpsc::channel::<(ParsedRequest, Received)>(size);
    tokio::spawn(async move {
        while let Some((request, received)) = requests.recv().await {
            if ctx.shared.options.reorder_replies {
                let ctx = ctx.clone();
                tokio::spawn(async move { handle(&ctx, request, received).await });
            } else {
                handle(&ctx, request, received).await;
            }
        }
    });
    queue
}

/// Answers one request from the script.
async fn handle(ctx: &Context, request: ParsedRequest, received: Received) {
    let arguments = &received.arguments;
    let response = lock(&ctx.shared.script).answer(&request.command, arguments);
    let id = request.id.as_ref();
    let response = response.or_else(|| agent_sync(ctx, &request.command, arguments));
    let Some(response) = response else {
        ctx.send(&error_message(
            &ErrorClass::CommandNotFound,
            &format!("fake QMP server: nothing scripted for {received}"),
            id,
        ));
        lock(&ctx.shared.log).unscripted.push(received);
        return;
    };
    let Response {
        delay,
        action,
        then,
        recorded_events,
    } = response;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match action {
        Action::Return(value) => ctx.send(&return_message(value, id)),
        Action::Error(class, desc) => ctx.send(&error_message(&class, &desc, id)),
        Action::Compute(compute) => match compute(arguments) {
            Ok(value) => ctx.send(&return_message(value, id)),
            Err((class, desc)) => ctx.send(&error_message(&class, &desc, id)),
        },
        Action::Recorded(mut reply) => {
            if let Value::Object(map) = &mut reply {
                match id {
                    Some(id) => map.insert("id".into(), id.clone()),
                    None => map.remove("id"),
                };
            }
            ctx.send(&reply);
        }
        Action::NoReply => {}
        Action::Close => {
            let _ = ctx.tx.send(Out::Close);
            return;
        }
        Action::Raw(bytes) => {
            let _ = ctx.tx.send(Out::Bytes(bytes));
        }
        Action::RawWith(make) => {
            let _ = ctx.tx.send(Out::Bytes(make(&received)));
        }
    }
    for event in recorded_events {
        ctx.send(&event);
    }
    // Events due at once follow the answer directly; later ones go out in their own time,
    // so the next request is not held up by them.
    let mut then = then.into_iter().peekable();
    while let Some(event) = then.next_if(|e| e.after.is_zero()) {
        ctx.send(&event_message(&event.name, event.data, now()));
    }
    if then.peek().is_none() {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut waited = Duration::ZERO;
        for event in then {
            if event.after > waited {
                tokio::time::sleep(event.after - waited).await;
                waited = event.after;
            }
            ctx.send(&event_message(&event.name, event.data, now()));
        }
    });
}
