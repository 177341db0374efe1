//! What the fake answers: the scripted rules, then the replayed conversation.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::transcript::{ReplayOrder, Transcript};
use crate::error::ErrorClass;

/// A condition on a request's arguments.
pub(super) type Matcher = Box<dyn Fn(&Value) -> bool + Send + Sync>;

/// A computed answer: a return value or a QMP error.
pub(super) type Compute = Arc<dyn Fn(&Value) -> Result<Value, (ErrorClass, String)> + Send + Sync>;

/// What to send for a request.
#[derive(Clone)]
pub(super) enum Action {
    Return(Value),
    Error(ErrorClass, String),
    Compute(Compute),
    /// A recorded reply, sent as recorded but with the request's id.
    Recorded(Value),
    NoReply,
    Close,
    Raw(Vec<u8>),
    /// Bytes made from the request.
    RawWith(RawReply),
}

/// Makes the bytes of a hand-written reply from the request.
pub(super) type RawReply = Arc<dyn Fn(&super::Received) -> Vec<u8> + Send + Sync>;

/// An event to send after an answer.
#[derive(Clone, Debug)]
pub(super) struct ScriptedEvent {
    pub(super) after: Duration,
    pub(super) name: String,
    pub(super) data: Value,
}

/// An answer and what follows it.
#[derive(Clone)]
pub(super) struct Response {
    pub(super) delay: Duration,
    pub(super) action: Action,
    pub(super) then: Vec<ScriptedEvent>,
    /// Recorded events (whole messages), sent as they were after the answer.
    pub(super) recorded_events: Vec<Value>,
}

impl Response {
    pub(super) fn new(delay: Duration, action: Action, then: Vec<ScriptedEvent>) -> Self {
        Response {
            delay,
            action,
            then,
            recorded_events: Vec::new(),
        }
    }
}

pub(super) struct RuleEntry {
    pub(super) command: String,
    pub(super) matcher: Option<Matcher>,
    /// Uses left; `None` for unlimited.
    pub(super) remaining: Option<usize>,
    pub(super) response: Response,
}

#[derive(Default)]
pub(super) struct Script {
    pub(super) rules: Vec<RuleEntry>,
    pub(super) replay: Option<Replay>,
}

impl Script {
    /// The answer to `command` with `arguments`, if anything scripted or recorded one.
    pub(super) fn answer(&mut self, command: &str, arguments: &Value) -> Option<Response> {
        let rule = self.rules.iter_mut().find(|r| {
            r.command == command
                && r.remaining != Some(0)
                && r.matcher.as_ref().map_or(true, |m| m(arguments))
        });
        if let Some(rule) = rule {
            if let Some(n) = &mut rule.remaining {
                *n -= 1;
            }
            return Some(rule.response.clone());
        }
        self.replay.as_mut()?.answer(command, arguments)
    }
}

/// A recorded conversation being replayed.
pub(super) struct Replay {
    transcript: Transcript,
    order: ReplayOrder,
    used: Vec<bool>,
    /// In order: the next exchange expected.
    next: usize,
}

impl Replay {
    pub(super) fn new(transcript: Transcript, order: ReplayOrder) -> Self {
        let used = vec![false; transcript.exchanges().len()];
        Replay {
            transcript,
            order,
            used,
            next: 0,
        }
    }

    fn answer(&mut self, command: &str, arguments: &Value) -> Option<Response> {
        let exchanges = self.transcript.exchanges();
        let found = match self.order {
            ReplayOrder::InOrder => {
                // The client's own negotiation was answered by the server itself.
                while exchanges.get(self.next).is_some_and(|e| {
                    e.command() == "qmp_capabilities" && command != "qmp_capabilities"
                }) {
                    self.next += 1;
                }
                let candidate = exchanges.get(self.next)?;
                if candidate.command() != command || candidate.arguments() != *arguments {
                    return None;
                }
                self.next += 1;
                self.next - 1
            }
            ReplayOrder::ByRequest => {
                let unused = |i: &usize| !self.used[*i];
                let same = |i: &usize| {
                    exchanges[*i].command() == command && exchanges[*i].arguments() == *arguments
                };
                // The first unused exchange with these arguments; once all are used, the
                // last one again (a client may ask twice what was asked once).
                let all: Vec<usize> = (0..exchanges.len()).filter(same).collect();
                all.iter()
                    .copied()
                    .find(unused)
                    .or_else(|| all.last().copied())?
            }
        };
        self.used[found] = true;
        let exchange = &exchanges[found];
        let action = match exchange.reply() {
            Some(reply) => Action::Recorded(reply.clone()),
            None => Action::NoReply,
        };
        let mut response = Response::new(Duration::ZERO, action, Vec::new());
        response.recorded_events = exchange.events().to_vec();
        Some(response)
    }
}
