//! The model of QEMU 10.0's QMP schema against what a real `qemu-system-x86_64` 10.0 says
//! about itself in `query-qmp-schema`.
//!
//! The test starts QEMU on a private socket, asks for the introspection and walks it next
//! to the model. Introspection hides type names (they are numbers) and folds every integer
//! type into `int`, so types are compared by shape: builtins by JSON type, enums by their
//! values, arrays by element, objects by members, tag and branches, alternates by their
//! alternatives, recursively. The one kind of difference allowed is something the model
//! has under an `if` condition that this build of QEMU does not satisfy; the test prints
//! every such item, and checks that the conditions it relies on are consistent with each
//! other and with the conditional items QEMU does have.

use qemu_qmp_codegen::model::{Cond, EntityId, EntityKind, Feature, Schema};
use qemu_qmp_codegen::parse::ParseOptions;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Missing prerequisites fail the test under `CI=true`; elsewhere the test says why it
/// does nothing and passes.
fn skip(message: &str) {
    if ci() {
        panic!("{message}; it is required when CI=true");
    }
    println!("skipping: {message}");
    eprintln!("skipping: {message}");
}

/// The shared data, with QEMU 10.0's schema; `None` (after saying why) outside CI.
fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["qapi/qemu-10.0/qapi/qapi-schema.json"])
}

/// `$QMP_QEMU` if set (and a file), else `qemu-system-x86_64` on `PATH`: the same rule as
/// the library's tests.
fn find_qemu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("QMP_QEMU") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(QEMU))
        .find(|candidate| candidate.is_file())
}

/// A QEMU process that is killed (and reaped) however the test ends.
struct QemuProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal QMP client: one JSON object per line each way.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// The next message that is not an event.
    fn next_message(&mut self) -> Value {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read from QEMU");
            assert!(n > 0, "QEMU closed the connection");
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("QEMU sent invalid JSON ({e}): {line}"));
            if message.get("event").is_none() {
                return message;
            }
        }
    }

    fn execute(&mut self, command: &str) -> Value {
        let request = serde_json::json!({ "execute": command });
        writeln!(self.writer, "{request}").expect("write to QEMU");
        let reply = self.next_message();
        match reply.get("return") {
            Some(value) => value.clone(),
            None => panic!("{command} failed: {reply}"),
        }
    }
}

/// Starts QEMU with a QMP monitor on a socket in a private folder and connects to it.
fn start_qemu(binary: &Path) -> (QemuProcess, Qmp, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("qmp.sock");
    let child = Command::new(binary)
        .args(["-M", "none", "-nodefaults", "-display", "none", "-qmp"])
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let mut process = QemuProcess { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match UnixStream::connect(&socket) {
            Ok(stream) => break stream,
            Err(e) => {
                if let Ok(Some(status)) = process.child.try_wait() {
                    panic!("QEMU exited before listening: {status}");
                }
                assert!(Instant::now() < deadline, "QEMU never listened: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    // A stuck QEMU fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut qmp = Qmp {
        reader: BufReader::new(stream.try_clone().expect("clone socket")),
        writer: stream,
    };
    let greeting = qmp.next_message();
    let version = greeting
        .pointer("/QMP/version/qemu")
        .cloned()
        .unwrap_or_else(|| panic!("not a QMP greeting: {greeting}"));
    qmp.execute("qmp_capabilities");
    (process, qmp, version)
}

/// One conditional item and whether QEMU has it: evidence about the build's configuration.
struct Evidence {
    what: String,
    cond: Cond,
    present: bool,
}

/// Walks the introspection next to the model.
struct Comparison<'a> {
    schema: &'a Schema,
    /// The introspection by (masked) name.
    qemu: HashMap<&'a str, &'a Value>,
    /// Pairs (introspected type, model type) already compared or being compared; recursive
    /// types would loop otherwise, and shared types are compared once.
    visited: HashSet<(String, EntityId)>,
    /// Conditional items, present in QEMU or not.
    evidence: Vec<Evidence>,
    /// Differences that no condition explains.
    errors: Vec<String>,
    /// How many types were compared.
    types_compared: usize,
}

fn str_field<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn list_field<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl<'a> Comparison<'a> {
    fn new(schema: &'a Schema, introspection: &'a [Value]) -> Comparison<'a> {
        let qemu = introspection
            .iter()
            .filter_map(|info| Some((str_field(info, "name")?, info)))
            .collect();
        Comparison {
            schema,
            qemu,
            visited: HashSet::new(),
            evidence: Vec::new(),
            errors: Vec::new(),
            types_compared: 0,
        }
    }

    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Notes a conditional item QEMU has (so its condition held in this build).
    fn present(&mut self, what: impl Into<String>, cond: &Option<Box<Cond>>) {
        if let Some(cond) = cond {
            self.evidence.push(Evidence {
                what: what.into(),
                cond: Cond::clone(cond),
                present: true,
            });
        }
    }

    /// Notes an item of the model QEMU lacks: fine when it is conditional, else an error.
    fn absent(&mut self, what: String, cond: &Option<Box<Cond>>) {
        match cond {
            Some(cond) => self.evidence.push(Evidence {
                what,
                cond: Cond::clone(cond),
                present: false,
            }),
            None => self.error(format!(
                "{what}: unconditional in the model, absent in QEMU"
            )),
        }
    }

    /// Compares named items (members, enum values, branches, features): every item QEMU
    /// has must be in the model, in the same order; model items QEMU lacks must be
    /// conditional. Returns the pairs present on both sides.
    fn match_named<'m, T>(
        &mut self,
        what: &str,
        qemu: &[&'a Value],
        qemu_name: impl Fn(&Value) -> Option<&str>,
        model: &'m [T],
        model_name: impl Fn(&T) -> &str,
        model_cond: impl Fn(&T) -> &Option<Box<Cond>>,
    ) -> Vec<(&'a Value, &'m T)> {
        let mut pairs = Vec::new();
        let mut qemu_names = Vec::new();
        for &q in qemu {
            let Some(name) = qemu_name(q) else {
                self.error(format!("{what}: QEMU item without a name: {q}"));
                continue;
            };
            qemu_names.push(name);
            match model.iter().find(|m| model_name(m) == name) {
                Some(m) => {
                    self.present(format!("{what} '{name}'"), model_cond(m));
                    pairs.push((q, m));
                }
                None => self.error(format!("{what} '{name}': in QEMU, not in the model")),
            }
        }
        for m in model {
            if !qemu_names.contains(&model_name(m)) {
                self.absent(format!("{what} '{}'", model_name(m)), model_cond(m));
            }
        }
        let model_order: Vec<&str> = model
            .iter()
            .map(&model_name)
            .filter(|n| qemu_names.contains(n))
            .collect();
        if model_order != qemu_names {
            self.error(format!(
                "{what}: order differs\n  QEMU:  {qemu_names:?}\n  model: {model_order:?}"
            ));
        }
        pairs
    }

    fn features(&mut self, what: &str, qemu: &'a Value, model: &[Feature]) {
        let names: Vec<&'a Value> = list_field(qemu, "features").iter().collect();
        self.match_named(
            &format!("{what}: feature"),
            &names,
            Value::as_str,
            model,
            |f| f.name.as_str(),
            |f| &f.cond,
        );
    }

    /// The introspected type named `name`.
    fn lookup(&mut self, name: &str, what: &str) -> Option<&'a Value> {
        let found = self.qemu.get(name).copied();
        if found.is_none() {
            self.error(format!(
                "{what}: QEMU refers to type '{name}' it does not describe"
            ));
        }
        found
    }

    /// The JSON type of an introspected type's values (QEMU's `JSONType` names).
    fn json_type(&mut self, name: &str, what: &str) -> &'a str {
        let Some(info) = self.lookup(name, what) else {
            return "?";
        };
        match str_field(info, "meta-type") {
            Some("builtin") => str_field(info, "json-type").unwrap_or("?"),
            Some("enum") => "string",
            Some("array") => "array",
            Some("object") => "object",
            Some("alternate") => "value",
            _ => "?",
        }
    }

    /// A command's argument or return type, or an event's data: absent in the model means
    /// QEMU's empty object.
    fn compare_optional(&mut self, qemu: Option<&str>, model: Option<EntityId>, what: &str) {
        let Some(qemu) = qemu else {
            self.error(format!("{what}: no type in QEMU's introspection"));
            return;
        };
        match model {
            Some(id) => self.compare_type(qemu, id, what),
            None => {
                let Some(info) = self.lookup(qemu, what) else {
                    return;
                };
                let empty = str_field(info, "meta-type") == Some("object")
                    && list_field(info, "members").is_empty()
                    && info.get("variants").is_none();
                if !empty {
                    self.error(format!("{what}: none in the model, QEMU has {info}"));
                }
            }
        }
    }

    /// Compares the introspected type `qemu` with the model's type `id` by shape.
    fn compare_type(&mut self, qemu: &str, id: EntityId, what: &str) {
        if !self.visited.insert((qemu.to_string(), id)) {
            return;
        }
        self.types_compared += 1;
        let Some(info) = self.lookup(qemu, what) else {
            return;
        };
        let schema = self.schema;
        let entity = schema.entity(id);
        // Types are named by themselves; `what` (how the walk got here) only matters when
        // the introspection itself is broken.
        let what = format!("{} '{}'", entity.meta(), entity.name);
        self.present(what.clone(), &entity.cond);
        let meta = str_field(info, "meta-type").unwrap_or("?");
        match (meta, &entity.kind) {
            ("builtin", EntityKind::Builtin(b)) => {
                // Introspection shows every integer type as `int`.
                let expected = match b.json_type().as_str() {
                    "int" => "int",
                    _ => b.name(),
                };
                if qemu != expected {
                    self.error(format!(
                        "{what}: QEMU has built-in '{qemu}', model '{expected}'"
                    ));
                }
            }
            ("enum", EntityKind::Enum(e)) => {
                // `members` replaced `values` (kept, deprecated); either gives the names.
                let values: Vec<&'a Value> = match info.get("members") {
                    Some(members) => members.as_array().map(|m| m.iter().collect()),
                    None => list_field(info, "values").iter().map(Some).collect(),
                }
                .unwrap_or_default();
                let pairs = self.match_named(
                    &format!("{what}: value"),
                    &values,
                    |v| v.as_str().or_else(|| str_field(v, "name")),
                    &e.members,
                    |m| m.name.as_str(),
                    |m| &m.cond,
                );
                for (q, m) in pairs {
                    if q.is_object() {
                        self.features(&format!("{what}: value '{}'", m.name), q, &m.features);
                    }
                }
                self.features(&what, info, &entity.features);
            }
            ("array", EntityKind::Array(a)) => {
                match str_field(info, "element-type") {
                    Some(element) => self.compare_type(element, a.element, &format!("{what}[]")),
                    None => self.error(format!("{what}: array without element type")),
                };
            }
            ("object", EntityKind::Object(o)) => {
                let members: Vec<&'a Value> = list_field(info, "members").iter().collect();
                let pairs = self.match_named(
                    &format!("{what}: member"),
                    &members,
                    |m| str_field(m, "name"),
                    o.members(),
                    |m| m.name.as_str(),
                    |m| &m.cond,
                );
                for (q, m) in pairs {
                    let member = format!("{what}: member '{}'", m.name);
                    // An optional member carries `default` (null: no default value).
                    let optional = q.get("default").is_some();
                    if optional != m.optional {
                        self.error(format!(
                            "{member}: optional in QEMU: {optional}, in the model: {}",
                            m.optional
                        ));
                    }
                    match str_field(q, "type") {
                        Some(ty) => self.compare_type(ty, m.ty, &member),
                        None => self.error(format!("{member}: no type in QEMU")),
                    }
                    self.features(&member, q, &m.features);
                }
                let tag = str_field(info, "tag");
                let model_tag = o.branches.as_ref().map(|b| b.tag.as_str());
                if tag != model_tag {
                    self.error(format!(
                        "{what}: tag {tag:?} in QEMU, {model_tag:?} in the model"
                    ));
                }
                if let Some(branches) = &o.branches {
                    let variants: Vec<&'a Value> = list_field(info, "variants").iter().collect();
                    let pairs = self.match_named(
                        &format!("{what}: branch"),
                        &variants,
                        |v| str_field(v, "case"),
                        &branches.variants,
                        |v| v.name.as_str(),
                        |v| &v.cond,
                    );
                    for (q, v) in pairs {
                        let branch = format!("{what}: branch '{}'", v.name);
                        match str_field(q, "type") {
                            Some(ty) => self.compare_type(ty, v.ty, &branch),
                            None => self.error(format!("{branch}: no type in QEMU")),
                        }
                    }
                }
                self.features(&what, info, &entity.features);
            }
            ("alternate", EntityKind::Alternate(a)) => {
                // Alternatives are anonymous in introspection; their JSON types tell them
                // apart (that is what makes an alternate valid).
                let mut matched = vec![false; a.variants.len()];
                for q in list_field(info, "members") {
                    let Some(ty) = str_field(q, "type") else {
                        self.error(format!("{what}: alternative without a type"));
                        continue;
                    };
                    let json = self.json_type(ty, &what);
                    let found = a.variants.iter().position(|v| {
                        schema
                            .entity(v.ty)
                            .json_type()
                            .is_some_and(|j| j.as_str() == json)
                    });
                    match found {
                        Some(i) => {
                            matched[i] = true;
                            let v = &a.variants[i];
                            self.present(format!("{what}: alternative '{}'", v.name), &v.cond);
                            self.compare_type(
                                ty,
                                v.ty,
                                &format!("{what}: alternative '{}'", v.name),
                            );
                        }
                        None => self.error(format!(
                            "{what}: QEMU has an alternative of JSON type {json}, the model not"
                        )),
                    }
                }
                for (v, matched) in a.variants.iter().zip(matched) {
                    if !matched {
                        self.absent(format!("{what}: alternative '{}'", v.name), &v.cond);
                    }
                }
                self.features(&what, info, &entity.features);
            }
            _ => self.error(format!(
                "{what}: QEMU has a {meta}, the model a {}",
                entity.meta()
            )),
        }
    }

    /// Every command and event of QEMU against the model, then the model's that QEMU
    /// lacks.
    fn run(&mut self, introspection: &'a [Value]) -> (usize, usize) {
        let schema = self.schema;
        let (mut commands, mut events) = (0, 0);
        let mut seen = HashSet::new();
        for info in introspection {
            let meta = str_field(info, "meta-type");
            if !matches!(meta, Some("command" | "event")) {
                continue;
            }
            let name = str_field(info, "name").unwrap_or("?");
            seen.insert(name);
            let Some(entity) = schema.lookup(name) else {
                let meta = meta.unwrap_or_default();
                self.error(format!("{meta} '{name}': in QEMU, not in the model"));
                continue;
            };
            let what = format!("{} '{name}'", entity.meta());
            self.present(what.clone(), &entity.cond);
            match (meta, &entity.kind) {
                (Some("command"), EntityKind::Command(c)) => {
                    commands += 1;
                    self.compare_optional(
                        str_field(info, "arg-type"),
                        c.arg_type,
                        &format!("{what} arguments"),
                    );
                    self.compare_optional(
                        str_field(info, "ret-type"),
                        c.ret_type,
                        &format!("{what} returns"),
                    );
                    let oob = info.get("allow-oob").and_then(Value::as_bool) == Some(true);
                    if oob != c.allow_oob {
                        self.error(format!(
                            "{what}: allow-oob {oob} in QEMU, {} in the model",
                            c.allow_oob
                        ));
                    }
                }
                (Some("event"), EntityKind::Event(e)) => {
                    events += 1;
                    self.compare_optional(
                        str_field(info, "arg-type"),
                        e.arg_type,
                        &format!("{what} data"),
                    );
                }
                _ => {
                    let meta = meta.unwrap_or_default();
                    self.error(format!("{what}: a {meta} in QEMU"));
                    continue;
                }
            }
            self.features(&what, info, &entity.features);
        }
        for entity in schema.entities() {
            if matches!(entity.kind, EntityKind::Command(_) | EntityKind::Event(_))
                && !seen.contains(entity.name.as_str())
            {
                self.absent(format!("{} '{}'", entity.meta(), entity.name), &entity.cond);
            }
        }
        (commands, events)
    }
}

/// What the evidence says about each configuration symbol of the build: defined, not
/// defined, or (absent from the map) unknown. Contradictions are errors.
fn infer_configuration(evidence: &[Evidence], errors: &mut Vec<String>) -> BTreeMap<String, bool> {
    let mut known = BTreeMap::new();
    loop {
        let before = known.len();
        for e in evidence {
            force(&e.cond, e.present, &mut known);
        }
        if known.len() == before {
            break;
        }
    }
    for e in evidence {
        if let Some(holds) = eval(&e.cond, &known) {
            if holds != e.present {
                errors.push(format!(
                    "{}: {} in QEMU although its condition `{}` {} by the rest of the schema",
                    e.what,
                    if e.present { "present" } else { "absent" },
                    e.cond,
                    if holds { "holds" } else { "fails" }
                ));
            }
        }
    }
    known
}

/// Three-valued evaluation: `None` when unknown symbols decide.
fn eval(cond: &Cond, known: &BTreeMap<String, bool>) -> Option<bool> {
    match cond {
        Cond::Name(name) => known.get(name.as_str()).copied(),
        Cond::Not(c) => eval(c, known).map(|v| !v),
        Cond::All(cs) | Cond::Any(cs) => {
            let decisive = matches!(cond, Cond::Any(_));
            let mut unknown = false;
            for c in cs {
                match eval(c, known) {
                    Some(v) if v == decisive => return Some(decisive),
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            (!unknown).then_some(!decisive)
        }
    }
}

/// Learns what must hold for `cond` to evaluate to `value`, where that is determined.
fn force(cond: &Cond, value: bool, known: &mut BTreeMap<String, bool>) {
    match cond {
        Cond::Name(name) => {
            known.entry(name.to_string()).or_insert(value);
        }
        Cond::Not(c) => force(c, !value, known),
        Cond::All(cs) | Cond::Any(cs) => {
            let decisive = matches!(cond, Cond::Any(_));
            if value != decisive {
                // all(...) true / any(...) false: every operand is determined.
                cs.iter().for_each(|c| force(c, value, known));
            } else {
                // One unknown operand left and the others not decisive: it decides.
                let unknown: Vec<&Cond> = cs.iter().filter(|c| eval(c, known).is_none()).collect();
                let others_decide = cs.iter().any(|c| eval(c, known) == Some(decisive));
                if unknown.len() == 1 && !others_decide {
                    force(unknown[0], value, known);
                }
            }
        }
    }
}

/// The outcome of comparing an introspection with a model.
struct Report {
    commands: usize,
    events: usize,
    types_compared: usize,
    evidence: Vec<Evidence>,
    configuration: BTreeMap<String, bool>,
    errors: Vec<String>,
}

fn compare(schema: &Schema, introspection: &[Value]) -> Report {
    let mut comparison = Comparison::new(schema, introspection);
    let (commands, events) = comparison.run(introspection);
    let mut errors = std::mem::take(&mut comparison.errors);
    let configuration = infer_configuration(&comparison.evidence, &mut errors);
    Report {
        commands,
        events,
        types_compared: comparison.types_compared,
        evidence: comparison.evidence,
        configuration,
        errors,
    }
}

/// The conditional items QEMU lacks, sorted: commands and events first, then the rest.
fn absent_items(report: &Report) -> (Vec<String>, Vec<String>) {
    let mut definitions = Vec::new();
    let mut parts = Vec::new();
    for e in report.evidence.iter().filter(|e| !e.present) {
        let line = format!("  {}  [if {}]", e.what, e.cond);
        let is_definition = e.what.starts_with("command '") || e.what.starts_with("event '");
        if is_definition && !e.what.contains(": ") {
            definitions.push(line);
        } else {
            parts.push(line);
        }
    }
    for list in [&mut definitions, &mut parts] {
        list.sort();
        list.dedup();
    }
    (definitions, parts)
}

#[test]
fn model_agrees_with_a_real_qemu_10_0() {
    let Some(shared) = shared_dir() else { return };
    let Some(binary) = find_qemu() else {
        skip(&format!(
            "{QEMU} not found on PATH nor in $QMP_QEMU (install it with \
             `bash scripts/install-qemu.sh`)"
        ));
        return;
    };
    let path = shared.join("qapi/qemu-10.0/qapi/qapi-schema.json");
    let schema = qemu_qmp_codegen::load(&path, ParseOptions::default()).expect("schema loads");

    let (process, mut qmp, version) = start_qemu(&binary);
    let release = (version["major"].as_u64(), version["minor"].as_u64());
    if release != (Some(10), Some(0)) {
        drop(process);
        skip(&format!(
            "{} is QEMU {version}, not 10.0 (install it with `bash scripts/install-qemu.sh`)",
            binary.display()
        ));
        return;
    }
    let introspection = qmp.execute("query-qmp-schema");
    drop(qmp);
    drop(process);
    let introspection = introspection
        .as_array()
        .expect("query-qmp-schema returns an array");

    let report = compare(&schema, introspection);
    println!(
        "QEMU {}.{}.{} ({}): {} commands and {} events, each found in the model and \
         compared ({} type pairs by shape); the model has {} commands and {} events",
        version["major"],
        version["minor"],
        version["micro"],
        binary.display(),
        report.commands,
        report.events,
        report.types_compared,
        schema.commands().count(),
        schema.events().count(),
    );
    let (definitions, parts) = absent_items(&report);
    println!(
        "{} commands/events of the model are not in this QEMU, each under a condition \
         the build fails:",
        definitions.len()
    );
    definitions.iter().for_each(|line| println!("{line}"));
    println!(
        "{} members, enum values, branches or features are not in this QEMU, each under \
         a condition the build fails:",
        parts.len()
    );
    parts.iter().for_each(|line| println!("{line}"));
    let present = report.evidence.iter().filter(|e| e.present).count();
    println!("{present} conditional items are in this QEMU.");
    println!("The configuration this evidence implies (symbol = defined):");
    for (symbol, defined) in &report.configuration {
        println!("  {symbol} = {defined}");
    }
    assert!(
        report.commands > 200 && report.events > 40,
        "too few commands/events compared"
    );
    assert!(
        report.errors.is_empty(),
        "{} differences between QEMU and the model:\n{}",
        report.errors.len(),
        report.errors.join("\n")
    );
}

/// A small schema and the introspection a QEMU built from it (with `HAVE_ALPHA`, without
/// `HAVE_GREEN`) would give: the comparison must accept it, and catch each kind of
/// difference once it is broken. Runs without QEMU.
const SMALL_SCHEMA: &str = "\
{ 'enum': 'Colour', 'data': [ 'red', { 'name': 'green', 'if': 'HAVE_GREEN' } ] }
{ 'struct': 'Pixel',
  'data': { 'x': 'int8', '*colour': 'Colour',
            '*alpha': { 'type': 'uint8', 'if': 'HAVE_ALPHA' }, 'size': 'Size' } }
{ 'alternate': 'Size', 'data': { 'n': 'size', 'sample': 'Colour' } }
{ 'union': 'Shape', 'base': { 'kind': 'Colour' }, 'discriminator': 'kind',
  'data': { 'red': 'Pixel' } }
{ 'command': 'paint', 'data': { 'at': 'Pixel', 'palette': [ 'int16' ] },
  'returns': [ 'Pixel' ], 'allow-oob': true }
{ 'command': 'draw', 'data': 'Shape', 'boxed': true }
{ 'event': 'PAINTED', 'data': { 'at': 'Pixel' }, 'features': [ 'unstable' ] }
{ 'command': 'x-green', 'if': 'HAVE_GREEN' }
";

fn small_introspection() -> Value {
    serde_json::json!([
        { "name": "paint", "meta-type": "command", "arg-type": "0", "ret-type": "[1]",
          "allow-oob": true },
        { "name": "draw", "meta-type": "command", "arg-type": "5", "ret-type": "3" },
        { "name": "PAINTED", "meta-type": "event", "arg-type": "2", "features": ["unstable"] },
        { "name": "0", "meta-type": "object", "members": [
            { "name": "at", "type": "1" }, { "name": "palette", "type": "[int]" } ] },
        { "name": "1", "meta-type": "object", "members": [
            { "name": "x", "type": "int" },
            { "name": "colour", "type": "4", "default": null },
            { "name": "alpha", "type": "int", "default": null },
            { "name": "size", "type": "6" } ] },
        { "name": "[1]", "meta-type": "array", "element-type": "1" },
        { "name": "[int]", "meta-type": "array", "element-type": "int" },
        { "name": "int", "meta-type": "builtin", "json-type": "int" },
        { "name": "str", "meta-type": "builtin", "json-type": "string" },
        { "name": "2", "meta-type": "object", "members": [ { "name": "at", "type": "1" } ] },
        { "name": "3", "meta-type": "object", "members": [] },
        { "name": "4", "meta-type": "enum", "members": [ { "name": "red" } ],
          "values": ["red"] },
        { "name": "5", "meta-type": "object", "members": [ { "name": "kind", "type": "4" } ],
          "tag": "kind", "variants": [ { "case": "red", "type": "1" } ] },
        { "name": "6", "meta-type": "alternate",
          "members": [ { "type": "int" }, { "type": "4" } ] }
    ])
}

#[test]
fn the_comparison_catches_differences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.json");
    std::fs::write(&path, SMALL_SCHEMA).unwrap();
    let schema = qemu_qmp_codegen::load(&path, ParseOptions::default()).unwrap();

    let good = small_introspection();
    let report = compare(&schema, good.as_array().unwrap());
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!((report.commands, report.events), (2, 1));
    let (definitions, parts) = absent_items(&report);
    assert_eq!(definitions, ["  command 'x-green'  [if HAVE_GREEN]"]);
    assert!(
        parts.iter().any(|p| p.contains("value 'green'")),
        "{parts:?}"
    );
    assert_eq!(report.configuration.get("HAVE_ALPHA"), Some(&true));
    assert_eq!(report.configuration.get("HAVE_GREEN"), Some(&false));

    // Each edit of the good introspection, and words the report must then contain.
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit, &str); 12] = [
        (
            "no allow-oob",
            |v| {
                v[0].as_object_mut().unwrap().remove("allow-oob");
            },
            "allow-oob",
        ),
        (
            "optional made mandatory",
            |v| {
                v[4]["members"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("default");
            },
            "optional",
        ),
        (
            "int member as str",
            |v| v[4]["members"][0]["type"] = "str".into(),
            "built-in",
        ),
        (
            "unconditional member missing",
            |v| {
                v[4]["members"].as_array_mut().unwrap().remove(0);
            },
            "unconditional",
        ),
        (
            "extra enum value",
            |v| {
                v[11]["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"name": "blue"}))
            },
            "'blue': in QEMU",
        ),
        (
            "members reordered",
            |v| v[4]["members"].as_array_mut().unwrap().swap(0, 3),
            "order",
        ),
        (
            "returns not a list",
            |v| v[0]["ret-type"] = "1".into(),
            "a object, the model a array",
        ),
        (
            "arguments where there are none",
            |v| v[1]["ret-type"] = "2".into(),
            "none in the model",
        ),
        (
            "an unknown event",
            |v| {
                v.as_array_mut().unwrap().push(serde_json::json!(
            {"name": "BOOM", "meta-type": "event", "arg-type": "3"}))
            },
            "'BOOM': in QEMU",
        ),
        (
            "a feature lost",
            |v| {
                v[2].as_object_mut().unwrap().remove("features");
            },
            "feature 'unstable'",
        ),
        (
            "an alternative of another JSON type",
            |v| v[13]["members"][1]["type"] = "[int]".into(),
            "JSON type array",
        ),
        // `x-green` present contradicts `green` absent: both need HAVE_GREEN.
        (
            "conditions contradict",
            |v| {
                v.as_array_mut().unwrap().push(serde_json::json!(
            {"name": "x-green", "meta-type": "command", "arg-type": "3", "ret-type": "3"}))
            },
            "HAVE_GREEN",
        ),
    ];
    for (name, edit, expected) in edits {
        let mut broken = small_introspection();
        edit(&mut broken);
        let report = compare(&schema, broken.as_array().unwrap());
        let all = report.errors.join("\n");
        assert!(
            all.contains(expected),
            "{name}: expected an error containing {expected:?}, got:\n{all}"
        );
    }
}
