//! Encode/decode round trips of the generated types, as property tests.
//!
//! The JSON values are generated from the schema model the bindings were generated from
//! (the release list of `schema/`, merged as build.rs merges it): every struct's members
//! with their types and optionality, every enum's values, every union's discriminator and
//! branches, every alternate's alternatives. Each value goes through the by-name decoders
//! of the bindings (`decode_return`, `decode_arguments`, `decode_event_data`: decode into
//! the typed value, encode it back) and must come back equal, up to what the encoding may
//! legitimately change (a `number` sent as an integer is written back as a float).
//!
//! Every command's return and arguments and every event's data are covered, and through
//! them every type they reach. `PROPTEST_CASES` sets the cases per command or event
//! (default 32).

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use qemu_qmp::describe::DecodeError;
use qemu_qmp_codegen::model::{Builtin, EntityId, EntityKind, JsonType, ObjectType, Schema};
use serde_json::{Map, Number, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// How deep generated values nest: deeper types get their shortest forms (no optional
/// members, empty arrays, an alternate's scalar alternative).
const DEPTH: u32 = 3;

/// The schemas the bindings were built from, oldest first (as build.rs picks them).
fn schemas() -> Vec<PathBuf> {
    if let Some(list) = option_env!("QMP_SCHEMAS").filter(|s| !s.is_empty()) {
        return std::env::split_paths(list).collect();
    }
    if let Some(one) = option_env!("QMP_SCHEMA").filter(|s| !s.is_empty()) {
        return vec![PathBuf::from(one)];
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let list = std::fs::read_to_string(folder.join("releases")).expect("schema/releases");
    qemu_qmp_codegen::releases::parse_list(&list)
        .into_iter()
        .map(|file| folder.join(file))
        .collect()
}

/// Strategies for the values of each type, made once per type and depth.
struct Generator<'a> {
    schema: &'a Schema,
    made: HashMap<(EntityId, u32), BoxedStrategy<Value>>,
    /// The types whose strategies are being made, against a required cycle with no way out.
    making: HashSet<(EntityId, u32)>,
}

impl<'a> Generator<'a> {
    fn new(schema: &'a Schema) -> Self {
        Generator {
            schema,
            made: HashMap::new(),
            making: HashSet::new(),
        }
    }

    fn value(&mut self, id: EntityId, depth: u32) -> BoxedStrategy<Value> {
        if let Some(made) = self.made.get(&(id, depth)) {
            return made.clone();
        }
        assert!(
            self.making.insert((id, depth)),
            "{} contains itself with no way out",
            self.schema.name(id)
        );
        let schema = self.schema;
        let strategy = match &schema.entity(id).kind {
            EntityKind::Builtin(b) => builtin(*b),
            EntityKind::Enum(e) => {
                let values: Vec<Value> = e
                    .members
                    .iter()
                    .map(|m| Value::String(m.name.to_string()))
                    .collect();
                proptest::sample::select(values).boxed()
            }
            EntityKind::Array(_) if depth == 0 => Just(Value::Array(Vec::new())).boxed(),
            EntityKind::Array(a) => {
                proptest::collection::vec(self.value(a.element, depth - 1), 0..3)
                    .prop_map(Value::Array)
                    .boxed()
            }
            EntityKind::Object(o) => self.object(o, depth),
            EntityKind::Alternate(a) => {
                let scalar = |ty: EntityId| {
                    !matches!(
                        schema.entity(ty).json_type(),
                        Some(JsonType::Object | JsonType::Array)
                    )
                };
                let shallow = depth == 0 && a.variants.iter().any(|v| scalar(v.ty));
                let variants: Vec<BoxedStrategy<Value>> = a
                    .variants
                    .iter()
                    .filter(|v| !shallow || scalar(v.ty))
                    .map(|v| self.value(v.ty, depth.saturating_sub(1)))
                    .collect();
                Union::new(variants).boxed()
            }
            EntityKind::Command(_) | EntityKind::Event(_) => {
                unreachable!("{} is not a type", schema.name(id))
            }
        };
        self.making.remove(&(id, depth));
        self.made.insert((id, depth), strategy.clone());
        strategy
    }

    /// The members of `o`, each optional one present or not; for a union, one branch
    /// (its discriminator value with its members; a branch may be a union itself).
    fn object(&mut self, o: &ObjectType, depth: u32) -> BoxedStrategy<Value> {
        self.object_members(o, depth)
            .prop_map(Value::Object)
            .boxed()
    }

    fn object_members(&mut self, o: &ObjectType, depth: u32) -> BoxedStrategy<Map<String, Value>> {
        let Some(branches) = &o.branches else {
            return self.members(o, depth, None);
        };
        let tag = branches.tag.to_string();
        let base = self.members(o, depth, Some(&tag));
        let variants: Vec<BoxedStrategy<Map<String, Value>>> = branches
            .variants
            .iter()
            .map(|variant| {
                let branch = match self.schema.entity(variant.ty).as_object() {
                    Some(branch) => self.object_members(branch, depth),
                    None => Just(Map::new()).boxed(),
                };
                let tag = tag.clone();
                let value = Value::String(variant.name.to_string());
                (base.clone(), branch)
                    .prop_map(move |(mut base, branch)| {
                        base.extend(branch);
                        base.insert(tag.clone(), value.clone());
                        base
                    })
                    .boxed()
            })
            .collect();
        Union::new(variants).boxed()
    }

    /// The members of `o` but `skip` (a union's discriminator, which its branch sets).
    fn members(
        &mut self,
        o: &ObjectType,
        depth: u32,
        skip: Option<&str>,
    ) -> BoxedStrategy<Map<String, Value>> {
        let mut members: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
        for member in o.members() {
            if skip == Some(member.name.as_str()) || (member.optional && depth == 0) {
                continue;
            }
            let name = member.name.to_string();
            let value = self.value(member.ty, depth.saturating_sub(1));
            members.push(if member.optional {
                proptest::option::of(value)
                    .prop_map(move |v| v.map(|v| (name.clone(), v)))
                    .boxed()
            } else {
                value.prop_map(move |v| Some((name.clone(), v))).boxed()
            });
        }
        members
            .prop_map(|members| members.into_iter().flatten().collect())
            .boxed()
    }
}

fn builtin(b: Builtin) -> BoxedStrategy<Value> {
    fn int<T: Into<Value> + std::fmt::Debug + 'static>(
        s: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<Value> {
        s.prop_map(Into::into).boxed()
    }
    match b {
        // Any characters: quotes, escapes, control characters, astral planes.
        Builtin::Str => any::<String>().prop_map(Value::String).boxed(),
        Builtin::Number => prop_oneof![
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            // QEMU may write a whole double as an integer.
            any::<i32>().prop_map(Value::from),
        ]
        .boxed(),
        Builtin::Int | Builtin::Int64 => int(any::<i64>()),
        Builtin::Int8 => int(any::<i8>()),
        Builtin::Int16 => int(any::<i16>()),
        Builtin::Int32 => int(any::<i32>()),
        Builtin::Uint8 => int(any::<u8>()),
        Builtin::Uint16 => int(any::<u16>()),
        Builtin::Uint32 => int(any::<u32>()),
        Builtin::Uint64 | Builtin::Size => int(any::<u64>()),
        Builtin::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Builtin::Null => Just(Value::Null).boxed(),
        Builtin::Any => any_json(),
    }
}

/// Any JSON value, small.
fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        "[a-z\"\\\\\u{0}-\u{1f}\u{e9}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z-]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Equal as the encoding allows: a number written back as a float may have been sent as
/// an integer.
fn same(sent: &Value, back: &Value) -> bool {
    match (sent, back) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || ((a.is_f64() || b.is_f64()) && a.as_f64() == b.as_f64())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (a, b) => a == b,
    }
}

type Decoder = fn(&str, &str) -> Result<Value, DecodeError>;

/// One thing to round-trip: a command's return or arguments, an event's data.
struct Target {
    what: &'static str,
    name: String,
    ty: EntityId,
    decode: Decoder,
}

fn targets(schema: &Schema) -> Vec<Target> {
    let mut targets = Vec::new();
    for (entity, command) in schema.commands() {
        if let Some(ty) = command.ret_type {
            targets.push(Target {
                what: "return of",
                name: entity.name.to_string(),
                ty,
                decode: qemu_qmp::api::decode_return,
            });
        }
        if let Some(ty) = command.arg_type {
            targets.push(Target {
                what: "arguments of",
                name: entity.name.to_string(),
                ty,
                decode: qemu_qmp::api::decode_arguments,
            });
        }
    }
    for (entity, event) in schema.events() {
        if let Some(ty) = event.arg_type {
            targets.push(Target {
                what: "data of",
                name: entity.name.to_string(),
                ty,
                decode: qemu_qmp::api::decode_event_data,
            });
        }
    }
    targets
}

/// The named types (not built-in, not arrays) that values of `roots` can hold.
fn reachable(schema: &Schema, roots: impl Iterator<Item = EntityId>) -> HashSet<EntityId> {
    let mut seen = HashSet::new();
    let mut stack: Vec<EntityId> = roots.collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match &schema.entity(id).kind {
            EntityKind::Array(a) => stack.push(a.element),
            EntityKind::Object(o) => {
                stack.extend(o.members().iter().map(|m| m.ty));
                stack.extend(o.base);
                if let Some(b) = &o.branches {
                    stack.extend(b.variants.iter().map(|v| v.ty));
                }
            }
            EntityKind::Alternate(a) => stack.extend(a.variants.iter().map(|v| v.ty)),
            _ => {}
        }
    }
    seen.retain(|id| {
        !matches!(
            schema.entity(*id).kind,
            EntityKind::Builtin(_) | EntityKind::Array(_)
        )
    });
    seen
}

#[test]
fn generated_values_of_every_command_and_event_round_trip() {
    let merged = qemu_qmp_codegen::merge::load_releases(&schemas())
        .unwrap_or_else(|e| panic!("the bindings' schema: {e}"));
    let schema = &merged.schema;
    let targets = targets(schema);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut generator = Generator::new(schema);
    let mut failures = Vec::new();
    for target in &targets {
        let strategy = generator.value(target.ty, DEPTH);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy, |sent| {
            let text = sent.to_string();
            let back = (target.decode)(&target.name, &text)
                .map_err(|e| TestCaseError::fail(format!("{text} does not decode: {e}")))?;
            prop_assert!(same(&sent, &back), "{text} written back as {back}");
            Ok(())
        });
        if let Err(e) = result {
            failures.push(format!("{} {}: {e}", target.what, target.name));
        }
    }
    let types = reachable(schema, targets.iter().map(|t| t.ty));
    let named = schema
        .iter()
        .filter(|(_, e)| {
            e.is_type() && !matches!(e.kind, EntityKind::Builtin(_) | EntityKind::Array(_))
        })
        .count();
    eprintln!(
        "{} commands' returns and arguments and events' data, {} of the {named} named \
         types reached, {cases} cases each",
        targets.len(),
        types.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n")
    );
    // The schema's size, as a floor: a model that lost its commands would pass vacuously.
    assert!(targets.len() > 300, "only {} targets", targets.len());
    assert!(
        types.len() * 10 > named * 9,
        "{} of {named} types",
        types.len()
    );
}

/// Doubles come back as the very doubles sent, in `number` members and in `any` values:
/// found by the round trip above, whose values serde_json's default float parser read one
/// unit in the last place off (hence its `float_roundtrip` feature in Cargo.toml).
#[test]
fn doubles_come_back_exactly() {
    let stats = serde_json::json!({"xbzrle-cache": {"cache-size": 0, "bytes": 0, "pages": 0,
        "cache-miss": 0, "cache-miss-rate": -1.0456016583612827e-59,
        "encoding-rate": -8.790608246192202e+306, "overflow": 0}});
    let back = qemu_qmp::api::decode_return("query-migrate", &stats.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = &back["xbzrle-cache"];
    assert_eq!(
        cache["cache-miss-rate"].as_f64(),
        Some(-1.0456016583612827e-59)
    );
    assert_eq!(
        cache["encoding-rate"].as_f64(),
        Some(-8.790608246192202e+306)
    );
    // Typed, as a client call decodes the reply text.
    let info: qemu_qmp::api::MigrationInfo =
        serde_json::from_str(&stats.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let rate = info.xbzrle_cache.map(|c| c.cache_miss_rate);
    assert_eq!(rate, Some(-1.0456016583612827e-59));

    let set = r#"{"path": "/", "property": "p", "value": [1.6796108767834893e-265, 7.240249186522093e-53]}"#;
    let back = qemu_qmp::api::decode_arguments("qom-set", set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back["value"][0].as_f64(), Some(1.6796108767834893e-265));
    assert_eq!(back["value"][1].as_f64(), Some(7.240249186522093e-53));
}
