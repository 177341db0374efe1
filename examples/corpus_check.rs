//! Checks the generated bindings against real QMP conversations.
//!
//! ```sh
//! cargo run --example corpus_check --all-features -- [--schema SCHEMA[:SCHEMA...]] CAPTURE...
//! ```
//!
//! Each capture is a stream of JSON objects (requests and the replies QEMU gave, as
//! libvirt's capability-probing captures hold them). For every successful reply, the
//! `return` value is decoded into the typed return of its command
//! ([`qemu_qmp::api::decode_return`]) and written back; for every request that carries
//! `arguments`, the same is done with the command's argument type
//! ([`qemu_qmp::api::decode_arguments`]). The written-back JSON must equal what was sent,
//! member for member, except members the schema does not know (a newer QEMU's): the
//! bindings drop those by design. Which members the schema knows is decided by walking
//! the schema model (`SCHEMA`, by default the ones the bindings were built from, merged as
//! the build merges several releases) beside the JSON, independently of the generated code.
//!
//! Prints every failure with its file and request id, the unknown members, and the line
//! `corpus: N replies checked, N arguments checked, N failures`; exits 1 on any failure.

use qemu_qmp_codegen::model::{EntityId, EntityKind, JsonType, Schema};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The schemas the bindings were generated from, oldest release first: build.rs reads
/// the same variables during the same cargo invocation (and cargo rebuilds this example
/// when they change), else the release list `schema/releases`.
pub fn default_schemas() -> Vec<PathBuf> {
    if let Some(list) = option_env!("QMP_SCHEMAS").filter(|s| !s.is_empty()) {
        return std::env::split_paths(list).collect();
    }
    if let Some(one) = option_env!("QMP_SCHEMA").filter(|s| !s.is_empty()) {
        return vec![PathBuf::from(one)];
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let list = std::fs::read_to_string(folder.join("releases")).unwrap_or_default();
    qemu_qmp_codegen::releases::parse_list(&list)
        .into_iter()
        .map(|file| folder.join(file))
        .collect()
}

/// The merged model of `schemas` (oldest first), as the bindings' build makes it.
pub fn load_schemas(schemas: &[PathBuf]) -> Result<Schema, String> {
    qemu_qmp_codegen::merge::load_releases(schemas)
        .map(|merged| merged.schema)
        .map_err(|e| e.to_string())
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Successful replies whose `return` was decoded and compared.
    pub replies: usize,
    /// Requests whose `arguments` were decoded and compared.
    pub arguments: usize,
    /// Error replies (skipped).
    pub errors: usize,
    /// One line per failure, naming the file, the request id and the command.
    pub failures: Vec<String>,
    /// Members of the captures the schema does not know, as `command: path`, with how
    /// often each was seen.
    pub unknown_members: BTreeMap<String, usize>,
}

impl Report {
    /// The summary line.
    pub fn summary(&self) -> String {
        format!(
            "corpus: {} replies checked, {} arguments checked, {} failures",
            self.replies,
            self.arguments,
            self.failures.len()
        )
    }

    /// Prints the failures, the unknown members and the summary.
    pub fn print(&self) {
        for failure in &self.failures {
            println!("FAIL {failure}");
        }
        if !self.unknown_members.is_empty() {
            println!(
                "members the schema does not know (dropped by the bindings, as designed): {}",
                self.unknown_members.len()
            );
            for (member, count) in &self.unknown_members {
                println!("  {member} (x{count})");
            }
        }
        println!("{} error replies skipped", self.errors);
        println!("{}", self.summary());
    }
}

/// One message of a capture; the values stay as QEMU (or libvirt) wrote them.
#[derive(serde::Deserialize)]
struct Message {
    execute: Option<String>,
    arguments: Option<Box<RawValue>>,
    #[serde(rename = "return")]
    ret: Option<Box<RawValue>>,
    error: Option<Box<RawValue>>,
    id: Option<Value>,
}

/// Checks the capture files against the bindings, using `schema` (the model of the schema
/// the bindings were built from) to tell unknown members from dropped known ones.
pub fn check_files(files: &[PathBuf], schema: &Schema) -> Report {
    let mut report = Report::default();
    for file in files {
        check_file(file, schema, &mut report);
    }
    report
}

fn check_file(file: &Path, schema: &Schema, report: &mut Report) {
    let name = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            report.failures.push(format!("{name}: cannot read: {e}"));
            return;
        }
    };
    let mut commands: HashMap<String, String> = HashMap::new();
    for (index, message) in serde_json::Deserializer::from_str(&text)
        .into_iter::<Message>()
        .enumerate()
    {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                report
                    .failures
                    .push(format!("{name}: message {}: not JSON: {e}", index + 1));
                return;
            }
        };
        let id = match &message.id {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => format!("message {}", index + 1),
        };
        let at = |what: &str| format!("{name}: {id}: {what}");
        if let Some(command) = message.execute {
            if let Some(arguments) = &message.arguments {
                report.arguments += 1;
                let decoded = qemu_qmp::api::decode_arguments(&command, arguments.get());
                let ty = arguments_type(schema, &command);
                compare_decoded(
                    report,
                    &at(&format!("{command} arguments")),
                    &command,
                    ".arguments",
                    arguments,
                    decoded,
                    ty,
                    schema,
                );
            }
            commands.insert(id, command);
        } else if let Some(ret) = &message.ret {
            let Some(command) = commands.get(&id) else {
                report
                    .failures
                    .push(at("a reply to no request of this capture"));
                continue;
            };
            report.replies += 1;
            let decoded = qemu_qmp::api::decode_return(command, ret.get());
            let ty = return_type(schema, command);
            compare_decoded(
                report,
                &at(&format!("{command} return")),
                command,
                ".return",
                ret,
                decoded,
                ty,
                schema,
            );
        } else if message.error.is_some() {
            report.errors += 1;
        } else {
            report
                .failures
                .push(at("neither a request nor a reply nor an error"));
        }
    }
}

/// The schema type of a command's arguments; `Typing::Unknown` when the model has no such
/// command (the decoder then fails on its own).
fn arguments_type(schema: &Schema, command: &str) -> Typing {
    match schema.lookup(command).and_then(|e| e.as_command()) {
        Some(c) => c.arg_type.map_or(Typing::Empty, Typing::Known),
        None => Typing::Unknown,
    }
}

fn return_type(schema: &Schema, command: &str) -> Typing {
    match schema.lookup(command).and_then(|e| e.as_command()) {
        Some(c) => c.ret_type.map_or(Typing::Empty, Typing::Known),
        None => Typing::Unknown,
    }
}

/// What the schema says about a value.
#[derive(Clone, Copy)]
enum Typing {
    /// A value of this type.
    Known(EntityId),
    /// Something that must be an empty object (a command without arguments or return).
    Empty,
    /// Anything (`any`), or a place the schema does not describe: it must round-trip as is.
    Unknown,
}

#[allow(clippy::too_many_arguments)]
fn compare_decoded(
    report: &mut Report,
    at: &str,
    command: &str,
    root: &str,
    raw: &RawValue,
    decoded: Result<Value, qemu_qmp::describe::DecodeError>,
    ty: Typing,
    schema: &Schema,
) {
    let output = match decoded {
        Ok(value) => value,
        Err(e) => {
            report.failures.push(format!("{at}: does not decode: {e}"));
            return;
        }
    };
    let input: Value = match serde_json::from_str(raw.get()) {
        Ok(value) => value,
        Err(e) => {
            report.failures.push(format!("{at}: not JSON: {e}"));
            return;
        }
    };
    let mut walk = Walk {
        schema,
        command,
        failures: Vec::new(),
        unknown: Vec::new(),
    };
    walk.compare(root.to_string(), &input, &output, ty);
    for failure in walk.failures {
        report.failures.push(format!("{at}: {failure}"));
    }
    for member in walk.unknown {
        *report.unknown_members.entry(member).or_default() += 1;
    }
}

/// A comparison of the input and the written-back output, with the schema type of the
/// place being compared.
struct Walk<'a> {
    schema: &'a Schema,
    command: &'a str,
    failures: Vec<String>,
    unknown: Vec<String>,
}

/// Whether the schema has a member of that name at a place, and its type.
enum MemberLookup {
    Known(Typing),
    Unknown,
}

impl Walk<'_> {
    fn compare(&mut self, path: String, input: &Value, output: &Value, ty: Typing) {
        let ty = self.select_alternate(ty, input);
        match (input, output) {
            (Value::Object(input), Value::Object(output)) => {
                for (key, out) in output {
                    let child = format!("{path}.{key}");
                    match input.get(key) {
                        Some(inp) => {
                            let member_ty = match self.member(ty, input, key) {
                                MemberLookup::Known(t) => t,
                                MemberLookup::Unknown => Typing::Unknown,
                            };
                            self.compare(child, inp, out, member_ty);
                        }
                        None => self
                            .failures
                            .push(format!("{child}: written back but never sent")),
                    }
                }
                for key in input.keys().filter(|k| !output.contains_key(*k)) {
                    let child = format!("{path}.{key}");
                    match self.member(ty, input, key) {
                        MemberLookup::Unknown => {
                            // Array indices would make every element a new entry.
                            let place = strip_indices(&child);
                            self.unknown.push(format!("{}: {place}", self.command));
                        }
                        MemberLookup::Known(_) => self
                            .failures
                            .push(format!("{child}: a member the schema knows was dropped")),
                    }
                }
            }
            (Value::Array(input), Value::Array(output)) => {
                if input.len() != output.len() {
                    self.failures.push(format!(
                        "{path}: {} elements sent, {} written back",
                        input.len(),
                        output.len()
                    ));
                    return;
                }
                let element = match ty {
                    Typing::Known(id) => match &self.schema.entity(id).kind {
                        EntityKind::Array(a) => Typing::Known(a.element),
                        _ => Typing::Unknown,
                    },
                    _ => Typing::Unknown,
                };
                for (i, (inp, out)) in input.iter().zip(output).enumerate() {
                    self.compare(format!("{path}[{i}]"), inp, out, element);
                }
            }
            (Value::Number(a), Value::Number(b)) => {
                // A `number` member written back from an integer comes out as a float.
                let same = a == b || (a.is_f64() || b.is_f64()) && a.as_f64() == b.as_f64();
                if !same {
                    self.failures
                        .push(format!("{path}: sent {a}, written back as {b}"));
                }
            }
            (a, b) if a == b => {}
            (a, b) => self.failures.push(format!(
                "{path}: sent {}, written back as {}",
                abbreviate(a),
                abbreviate(b)
            )),
        }
    }

    /// An alternate's value has the type of the branch its JSON type picks.
    fn select_alternate(&self, ty: Typing, value: &Value) -> Typing {
        let Typing::Known(id) = ty else { return ty };
        let EntityKind::Alternate(a) = &self.schema.entity(id).kind else {
            return ty;
        };
        let wanted: &[JsonType] = match value {
            Value::Object(_) => &[JsonType::Object],
            Value::String(_) => &[JsonType::String],
            Value::Bool(_) => &[JsonType::Boolean],
            Value::Null => &[JsonType::Null],
            Value::Number(n) if n.is_f64() => &[JsonType::Number],
            Value::Number(_) => &[JsonType::Int, JsonType::Number],
            Value::Array(_) => &[JsonType::Array],
        };
        for json in wanted {
            for variant in &a.variants {
                if self.schema.entity(variant.ty).json_type() == Some(*json) {
                    return self.select_alternate(Typing::Known(variant.ty), value);
                }
            }
        }
        Typing::Unknown
    }

    /// The member `key` of an object of type `ty` whose members are `object` (the
    /// discriminator picks a union's branch).
    fn member(
        &self,
        ty: Typing,
        object: &serde_json::Map<String, Value>,
        key: &str,
    ) -> MemberLookup {
        match ty {
            Typing::Known(id) => self.object_member(id, object, key, 0),
            Typing::Empty => MemberLookup::Unknown,
            Typing::Unknown => MemberLookup::Known(Typing::Unknown),
        }
    }

    fn object_member(
        &self,
        id: EntityId,
        object: &serde_json::Map<String, Value>,
        key: &str,
        depth: usize,
    ) -> MemberLookup {
        let entity = self.schema.entity(id);
        let EntityKind::Object(o) = &entity.kind else {
            // `any` and the like: no member is unknown.
            return MemberLookup::Known(Typing::Unknown);
        };
        if let Some(m) = o.member(key) {
            return MemberLookup::Known(Typing::Known(m.ty));
        }
        let Some(branches) = &o.branches else {
            return MemberLookup::Unknown;
        };
        let tag = object.get(branches.tag.as_str()).and_then(Value::as_str);
        match tag.and_then(|t| branches.variant(t)) {
            // Branch types are objects; the depth bound guards against a broken model.
            Some(variant) if depth < 64 => self.object_member(variant.ty, object, key, depth + 1),
            Some(_) => MemberLookup::Unknown,
            // A branch the schema does not know keeps its members as sent.
            None => MemberLookup::Known(Typing::Unknown),
        }
    }
}

/// `.return[3].props[0].name` -> `.return[].props[].name`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 120 {
        return text;
    }
    let mut cut = 117;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let mut schema_path = None;
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--schema" {
            schema_path = args
                .next()
                .map(|list| std::env::split_paths(&list).collect::<Vec<_>>());
            if schema_path.is_none() {
                eprintln!("corpus_check: --schema needs a path");
                std::process::exit(2);
            }
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    if files.is_empty() {
        eprintln!(
            "usage: corpus_check [--schema SCHEMA[:SCHEMA...]] CAPTURE...\n\
             (SCHEMA defaults to the schemas the bindings were built from: {:?})",
            default_schemas()
        );
        std::process::exit(2);
    }
    let schema_paths = schema_path.unwrap_or_else(default_schemas);
    let schema = match load_schemas(&schema_paths) {
        Ok(schema) => schema,
        Err(e) => {
            eprintln!("corpus_check: {e}");
            std::process::exit(2);
        }
    };
    println!("schema: {schema_paths:?}");
    let report = check_files(&files, &schema);
    report.print();
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
}
