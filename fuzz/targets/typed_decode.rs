//! Body of the `typed_decode` fuzz target: arbitrary bytes decoded as generated types.
//!
//! The first byte picks the decoder; the rest is the JSON. The by-name decoders
//! (`decode_return`, `decode_arguments`, `decode_event_data`) and the event decoder read a
//! name first, up to a newline: a name of the schema is used as it is, anything else picks
//! one of the real names, so every command and event is reachable from any bytes.
//!
//! Invariants: nothing panics; a value that decodes encodes, and what it encodes to
//! decodes again to an equal value that encodes the same (one round trip is a fixed
//! point); the client's event decoder and the by-name decoder agree.

use qemu_qmp::api;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt::Debug;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 24 {
        0 => event(rest),
        1 => typed::<api::StatusInfo>(rest),
        2 => typed::<api::VersionInfo>(rest),
        3 => typed::<Vec<api::SchemaInfo>>(rest),
        4 => typed::<api::BlockdevOptions>(rest),
        5 => typed::<Vec<api::BlockInfo>>(rest),
        6 => typed::<api::BlockdevRef>(rest),
        7 => typed::<api::BlockdevRefOrNull>(rest),
        8 => typed::<api::StrOrNull>(rest),
        9 => typed::<api::RunState>(rest),
        10 => typed::<api::Qcow2OverlapChecks>(rest),
        11 => typed::<Vec<api::MachineInfo>>(rest),
        12 => typed::<Vec<api::ObjectPropertyInfo>>(rest),
        13 => typed::<Vec<api::CpuDefinitionInfo>>(rest),
        14 => typed::<api::BlockJobInfo>(rest),
        15 => typed::<api::SevInfo>(rest),
        16 => typed::<api::SocketAddress>(rest),
        17 => typed::<Vec<api::YankInstance>>(rest),
        18 => typed::<api::CpuModelExpansionInfo>(rest),
        19 => typed::<qemu_qmp::Greeting>(rest),
        20 => by_name(Kind::Return, rest),
        21 => by_name(Kind::Arguments, rest),
        22 => by_name(Kind::EventData, rest),
        _ => typed::<Vec<api::ObjectTypeInfo>>(rest),
    }
}

/// Decodes `json` as `T` as the client does (from the reply's text), then checks the
/// round trip.
fn typed<T: DeserializeOwned + Serialize + PartialEq + Debug>(json: &[u8]) {
    let Ok(first) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let encoded = serde_json::to_string(&first)
        .unwrap_or_else(|e| panic!("{first:?} was decoded but does not encode: {e}"));
    let second: T = serde_json::from_str(&encoded)
        .unwrap_or_else(|e| panic!("{encoded} was written but does not decode: {e}"));
    assert_eq!(second, first, "decoded from {encoded}");
    let again = serde_json::to_string(&second)
        .unwrap_or_else(|e| panic!("{second:?} was decoded but does not encode: {e}"));
    assert_eq!(again, encoded, "a second round trip writes something else");
}

#[derive(Clone, Copy)]
enum Kind {
    Return,
    Arguments,
    EventData,
}

/// Splits `NAME\nJSON`; the name is one of `names`, the given one when it is among them.
fn split_name<'a>(data: &'a [u8], names: &[&'static str]) -> Option<(&'static str, &'a str)> {
    let (name, json) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let json = std::str::from_utf8(json).ok()?;
    let known = names.iter().find(|n| n.as_bytes() == name);
    let name = match known {
        Some(n) => *n,
        None => {
            let pick = name.iter().fold(0usize, |h, &b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            *names.get(pick % names.len().max(1))?
        }
    };
    Some((name, json))
}

fn command_names() -> Vec<&'static str> {
    api::COMMANDS.iter().map(|c| c.name).collect()
}

fn event_names() -> Vec<&'static str> {
    api::EVENTS.iter().map(|e| e.name).collect()
}

/// The by-name decoders give the value back as JSON: decoding that again gives it
/// unchanged.
fn by_name(kind: Kind, data: &[u8]) {
    let names = match kind {
        Kind::Return | Kind::Arguments => command_names(),
        Kind::EventData => event_names(),
    };
    let Some((name, json)) = split_name(data, &names) else {
        return;
    };
    let decode = |json: &str| match kind {
        Kind::Return => api::decode_return(name, json),
        Kind::Arguments => api::decode_arguments(name, json),
        Kind::EventData => api::decode_event_data(name, json),
    };
    let Ok(first) = decode(json) else {
        return;
    };
    let text = first.to_string();
    let second = decode(&text)
        .unwrap_or_else(|e| panic!("{name}: {text} was written but does not decode: {e}"));
    assert_eq!(
        second, first,
        "{name}: a second round trip writes something else"
    );
}

/// The client's event decoder (`Event::from_raw`, what the reader task calls), checked
/// against the by-name decoder of the same event's data.
fn event(data: &[u8]) {
    let Some((name, json)) = split_name(data, &event_names()) else {
        return;
    };
    let Ok(raw) = serde_json::from_str::<&RawValue>(json) else {
        return;
    };
    // As the reader task does: `"data": null` is no data.
    let raw = Some(raw).filter(|r| r.get() != "null");
    let Ok(first) = api::Event::from_raw(name, raw) else {
        return;
    };
    assert_eq!(first.name(), name, "decoded as another event");
    let Some(raw) = raw else {
        return;
    };
    let takes_data = api::EVENTS
        .iter()
        .find(|e| e.name == name)
        .is_some_and(|e| e.data.is_some());
    if !takes_data {
        // Events without data ignore whatever data comes.
        return;
    }
    let written: Value = api::decode_event_data(name, raw.get()).unwrap_or_else(|e| {
        panic!("{name}: Event::from_raw decodes {raw} but decode_event_data does not: {e}")
    });
    let second = api::Event::from_wire(name, written.clone())
        .unwrap_or_else(|e| panic!("{name}: {written} was written but does not decode: {e}"));
    assert_eq!(second, first, "{name}: decoded from {written}");
}
