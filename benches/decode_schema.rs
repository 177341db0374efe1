//! Decoding the biggest reply QEMU sends, `query-qmp-schema` (about 240 KB), into its typed
//! return versus parsing it into `serde_json::Value`, measured side by side in one run.
//!
//! ```sh
//! cargo bench --bench decode_schema --all-features      # QMP_BENCH_QUICK=1: a smoke run
//! ```
//!
//! The reply is QEMU 10.0's, taken from libvirt's capture `caps_10.0.0_x86_64.replies` in
//! `../shared/corpus` (or `QMP_SHARED_DIR`), with the capture's pretty-printing removed so
//! the input is what QEMU puts on the wire (members in QEMU's order). Each contender runs
//! in rounds, alternating, and the best round counts: the ratios are typed / `Value` and
//! typed / `IgnoredAny` (the cost of only checking the JSON).

use qemu_qmp::Command;
use serde_json::value::RawValue;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["corpus/libvirt-replies"])
}

/// The `return` of the capture's `query-qmp-schema` request, as raw JSON text.
fn schema_reply(capture: &str) -> String {
    let mut wanted_id = None;
    for message in serde_json::Deserializer::from_str(capture)
        .into_iter::<serde_json::Map<String, serde_json::Value>>()
    {
        let message = message.expect("capture is a JSON stream");
        if message.get("execute").and_then(|e| e.as_str()) == Some("query-qmp-schema") {
            wanted_id = message.get("id").cloned();
        } else if wanted_id.is_some() && message.get("id") == wanted_id.as_ref() {
            if let Some(ret) = message.get("return") {
                let raw = find_return_text(capture, ret);
                return raw;
            }
        }
    }
    panic!("no query-qmp-schema reply in the capture");
}

/// The reply's text with the members in the order QEMU sent them: `Value` sorts object
/// members, and the order matters to unions (QEMU sends branch members before the
/// discriminator), so the text is cut from the capture rather than re-serialised.
fn find_return_text(capture: &str, parsed: &serde_json::Value) -> String {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(rename = "return", borrow)]
        ret: Option<&'a RawValue>,
    }
    for reply in serde_json::Deserializer::from_str(capture).into_iter::<Reply>() {
        let Some(raw) = reply.expect("capture is a JSON stream").ret else {
            continue;
        };
        if raw.get().starts_with('[') && raw.get().len() > 100_000 {
            let text = minify(raw.get());
            let check: serde_json::Value = serde_json::from_str(&text).expect("minified JSON");
            assert_eq!(&check, parsed);
            return text;
        }
    }
    panic!("no large array reply in the capture");
}

/// `json` without white space outside strings.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_whitespace() {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

fn time(mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

type Returns = <qemu_qmp::api::QueryQmpSchema as Command>::Returns;

// One function per contender, never inlined, so that a profiler can count each one alone:
// `valgrind --tool=callgrind --toggle-collect=decode_schema::typed_pass`.

#[inline(never)]
fn typed_pass(raw: &RawValue, times: usize) {
    for _ in 0..times {
        let decoded: Returns =
            qemu_qmp::api::QueryQmpSchema::decode_return(black_box(raw)).expect("typed");
        black_box(decoded);
    }
}

#[inline(never)]
fn value_pass(raw: &RawValue, times: usize) {
    for _ in 0..times {
        let parsed: serde_json::Value = serde_json::from_str(black_box(raw.get())).expect("Value");
        black_box(parsed);
    }
}

#[inline(never)]
fn ignored_pass(raw: &RawValue, times: usize) {
    for _ in 0..times {
        let skipped: serde::de::IgnoredAny =
            serde_json::from_str(black_box(raw.get())).expect("IgnoredAny");
        black_box(skipped);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let Some(shared) = shared_dir() else { return };
    let capture_path = shared.join("corpus/libvirt-replies/caps_10.0.0_x86_64.replies");
    let capture = std::fs::read_to_string(&capture_path)
        .unwrap_or_else(|e| panic!("{}: {e}", capture_path.display()));
    let text = schema_reply(&capture);
    let raw: Box<RawValue> = serde_json::from_str(&text).expect("raw");

    let typed = qemu_qmp::api::QueryQmpSchema::decode_return(&raw).expect("typed decode");
    let value: serde_json::Value = serde_json::from_str(&text).expect("Value parse");
    println!(
        "query-qmp-schema reply: {} bytes, {} entities",
        text.len(),
        value.as_array().map_or(0, Vec::len)
    );
    assert_eq!(typed.len(), value.as_array().map_or(0, Vec::len));

    let quick = std::env::var("QMP_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (rounds, per_round) = if quick { (3, 2) } else { (30, 10) };
    let mut best_typed = Duration::MAX;
    let mut best_value = Duration::MAX;
    let mut best_ignored = Duration::MAX;
    for _ in 0..rounds {
        best_typed = best_typed.min(time(|| typed_pass(&raw, per_round)));
        best_value = best_value.min(time(|| value_pass(&raw, per_round)));
        best_ignored = best_ignored.min(time(|| ignored_pass(&raw, per_round)));
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / per_round as f64;
    let mb_s = |d: Duration| text.len() as f64 / (d.as_secs_f64() / per_round as f64) / 1e6;
    println!(
        "best of {rounds} rounds x {per_round}{}:",
        if quick { " (QMP_BENCH_QUICK)" } else { "" }
    );
    println!(
        "  typed (Command::decode_return)   {:>9.1} us  {:>7.1} MB/s",
        per(best_typed),
        mb_s(best_typed)
    );
    println!(
        "  serde_json::Value                {:>9.1} us  {:>7.1} MB/s",
        per(best_value),
        mb_s(best_value)
    );
    println!(
        "  IgnoredAny (parse, no output)    {:>9.1} us  {:>7.1} MB/s",
        per(best_ignored),
        mb_s(best_ignored)
    );
    println!(
        "ratio typed / Value: {:.2} (target <= 1.00)",
        best_typed.as_secs_f64() / best_value.as_secs_f64()
    );
    println!(
        "ratio typed / IgnoredAny: {:.2} (target <= 3.00, issue #11)",
        best_typed.as_secs_f64() / best_ignored.as_secs_f64()
    );
}
