//! The bindings' own schema in `query-qmp-schema`'s shape, for when the running QEMU
//! cannot say (and for `schema show` without a connection).
//!
//! The doc-free extracts the bindings are generated from are built into the tool, so it
//! needs neither QEMU's source tree nor a connection. They are merged as the bindings
//! merge them (every release's commands, members and values; a member optional where some
//! release lacks it), and converted the way QEMU's `scripts/qapi/introspect.py` writes
//! its reply, with one deliberate difference: type names are kept, not masked as numbers
//! (what QEMU's `-u` option does), because offline help is the point of this schema.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use qemu_qmp::api::{
    JSONType, SchemaInfo, SchemaInfoAlternate, SchemaInfoAlternateMember, SchemaInfoArray,
    SchemaInfoBranch, SchemaInfoBuiltin, SchemaInfoCommand, SchemaInfoEnum, SchemaInfoEnumMember,
    SchemaInfoEvent, SchemaInfoObject, SchemaInfoObjectMember, SchemaInfoObjectVariant,
};
use qemu_qmp::LiveSchema;
use qemu_qmp_codegen::merge::{Merged, ReleaseSchema};
use qemu_qmp_codegen::model::{Builtin, EntityId, EntityKind, Feature, JsonType, Schema};
use qemu_qmp_codegen::parse::ParseOptions;
use qemu_qmp_codegen::SchemaError;

/// One release's extract, built into the tool.
pub struct Embedded {
    /// The release as the bindings name it (`10.0`).
    pub label: &'static str,
    /// The extract's file name under `schema/`.
    pub file: &'static str,
    /// The extract's text.
    pub text: &'static str,
}

/// The releases the bindings know, oldest first: `schema/releases`, file by file
/// (`include_str!` needs literal paths; a unit test checks the two lists agree).
pub const RELEASES: [Embedded; 3] = [
    Embedded {
        label: "7.2",
        file: "qemu-7.2.json",
        text: include_str!("../../schema/qemu-7.2.json"),
    },
    Embedded {
        label: "10.0",
        file: "qemu-10.0.json",
        text: include_str!("../../schema/qemu-10.0.json"),
    },
    Embedded {
        label: "10.2",
        file: "qemu-10.2.json",
        text: include_str!("../../schema/qemu-10.2.json"),
    },
];

/// The embedded release called `name`: `10.0`, `qemu-10.0` or `qemu-10.0.json`.
pub fn release(name: &str) -> Option<&'static Embedded> {
    let bare = name.strip_suffix(".json").unwrap_or(name);
    let bare = bare.strip_prefix("qemu-").unwrap_or(bare);
    RELEASES.iter().find(|r| r.label == bare)
}

impl Embedded {
    /// The release's resolved schema.
    pub fn load(&self) -> Result<Schema, SchemaError> {
        // Errors name the file as it sits in the project, where one would go to fix it.
        let path = Path::new("schema").join(self.file);
        let text = self.text.as_bytes();
        let options = ParseOptions {
            strict: false,
            module_markers: true,
        };
        qemu_qmp_codegen::load_with(&path, options, move |_| Ok(text.to_vec()))
    }
}

/// Every embedded release merged, with the facts of each item; loaded once.
pub fn merged() -> Result<&'static Merged, SchemaError> {
    static MERGED: OnceLock<Result<Merged, SchemaError>> = OnceLock::new();
    MERGED
        .get_or_init(|| {
            let releases = RELEASES
                .iter()
                .map(|r| Ok(ReleaseSchema::new(r.label, r.load()?)))
                .collect::<Result<Vec<_>, SchemaError>>()?;
            qemu_qmp_codegen::merge::merge(&releases)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The schema of every release the bindings know, merged, as introspection would give it.
///
/// The extracts are part of the tool and checked by its tests, so they always load; were
/// one broken all the same, the schema is empty (and every lookup says "unknown") rather
/// than the tool failing where no schema was asked for.
pub fn bindings_schema() -> Arc<LiveSchema> {
    static SCHEMA: OnceLock<Arc<LiveSchema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let entries = merged().map(|m| introspect(&m.schema)).unwrap_or_default();
            Arc::new(LiveSchema::from_entries(entries))
        })
        .clone()
}

/// The name introspection gives the type `id`: built-ins by name (every integer type
/// folded into `int`, as QEMU does), arrays as `[ELEMENT]`, others by their schema name.
fn use_type(schema: &Schema, id: EntityId) -> String {
    let entity = schema.entity(id);
    match &entity.kind {
        EntityKind::Builtin(b) if b.json_type() == JsonType::Int => "int".into(),
        EntityKind::Builtin(b) => b.name().into(),
        EntityKind::Array(array) => format!("[{}]", use_type(schema, array.element)),
        _ => entity.name.to_string(),
    }
}

/// The empty object QEMU names for commands without arguments or returns.
const EMPTY: &str = "q_empty";

fn feature_list(features: &[Feature]) -> Option<Vec<String>> {
    (!features.is_empty()).then(|| features.iter().map(|f| f.name.to_string()).collect())
}

fn with_features(info: SchemaInfo, features: &[Feature]) -> SchemaInfo {
    match feature_list(features) {
        Some(list) => info.features(list),
        None => info,
    }
}

fn json_type(json: JsonType) -> JSONType {
    match json {
        JsonType::String => JSONType::String,
        JsonType::Number => JSONType::Number,
        JsonType::Int => JSONType::Int,
        JsonType::Boolean => JSONType::Boolean,
        JsonType::Null => JSONType::Null,
        JsonType::Value => JSONType::Value,
        JsonType::Array => JSONType::Array,
        JsonType::Object => JSONType::Object,
    }
}

/// Every entity of `schema` as a `query-qmp-schema` entry, `if` conditions ignored (the
/// bindings do not know which ones a build satisfies).
///
/// QEMU lists only the types its commands and events use; here every type is listed,
/// which a reader looking things up by name cannot tell apart.
pub fn introspect(schema: &Schema) -> Vec<SchemaInfo> {
    let mut entries = Vec::with_capacity(schema.entities().len());
    let mut empty_seen = false;
    for (_, entity) in schema.iter() {
        let name = entity.name.to_string();
        let branch = match &entity.kind {
            EntityKind::Builtin(b) => {
                // The sized integers are all `int` on the wire and in QEMU's reply.
                if b.json_type() == JsonType::Int && *b != Builtin::Int {
                    continue;
                }
                SchemaInfoBranch::Builtin(SchemaInfoBuiltin::new(json_type(b.json_type())))
            }
            EntityKind::Enum(e) => {
                let members = e
                    .members
                    .iter()
                    .map(|m| {
                        let member = SchemaInfoEnumMember::new(m.name.to_string());
                        match feature_list(&m.features) {
                            Some(list) => member.features(list),
                            None => member,
                        }
                    })
                    .collect();
                let values = e.members.iter().map(|m| m.name.to_string()).collect();
                SchemaInfoBranch::Enum(SchemaInfoEnum::new(members, values))
            }
            EntityKind::Array(array) => {
                let element = use_type(schema, array.element);
                // Integer arrays are all `[int]`; the others appear once each.
                if element == "int" && entries.iter().any(|e: &SchemaInfo| e.name == "[int]") {
                    continue;
                }
                entries.push(SchemaInfo::new(
                    format!("[{element}]"),
                    SchemaInfoBranch::Array(SchemaInfoArray::new(element)),
                ));
                continue;
            }
            EntityKind::Object(object) => {
                empty_seen |= entity.name == EMPTY;
                let members = object
                    .members()
                    .iter()
                    .map(|m| {
                        let mut member =
                            SchemaInfoObjectMember::new(m.name.to_string(), use_type(schema, m.ty));
                        if m.optional {
                            member = member.default(serde_json::Value::Null);
                        }
                        match feature_list(&m.features) {
                            Some(list) => member.features(list),
                            None => member,
                        }
                    })
                    .collect();
                let mut info = SchemaInfoObject::new(members);
                if let Some(branches) = &object.branches {
                    let variants = branches
                        .variants
                        .iter()
                        .map(|v| {
                            SchemaInfoObjectVariant::new(v.name.to_string(), use_type(schema, v.ty))
                        })
                        .collect();
                    info = info.tag(branches.tag.to_string()).variants(variants);
                }
                SchemaInfoBranch::Object(info)
            }
            EntityKind::Alternate(alternate) => {
                let members = alternate
                    .variants
                    .iter()
                    .map(|v| SchemaInfoAlternateMember::new(use_type(schema, v.ty)))
                    .collect();
                SchemaInfoBranch::Alternate(SchemaInfoAlternate::new(members))
            }
            EntityKind::Command(command) => {
                let arg = command
                    .arg_type
                    .map_or(EMPTY.into(), |t| use_type(schema, t));
                let ret = command
                    .ret_type
                    .map_or(EMPTY.into(), |t| use_type(schema, t));
                let mut info = SchemaInfoCommand::new(arg, ret);
                // QEMU writes `allow-oob` only when it is true.
                if command.allow_oob {
                    info = info.allow_oob(true);
                }
                SchemaInfoBranch::Command(info)
            }
            EntityKind::Event(event) => {
                let arg = event.arg_type.map_or(EMPTY.into(), |t| use_type(schema, t));
                SchemaInfoBranch::Event(SchemaInfoEvent::new(arg))
            }
        };
        entries.push(with_features(
            SchemaInfo::new(name, branch),
            &entity.features,
        ));
    }
    if !empty_seen {
        entries.push(SchemaInfo::new(
            EMPTY,
            SchemaInfoBranch::Object(SchemaInfoObject::new(Vec::new())),
        ));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{build, parse_words};
    use crate::introspect;
    use std::path::Path;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_embedded_list_is_schema_releases() {
        let list = include_str!("../../schema/releases");
        let files = qemu_qmp_codegen::releases::parse_list(list);
        let embedded: Vec<&str> = RELEASES.iter().map(|r| r.file).collect();
        assert_eq!(
            files, embedded,
            "update offline::RELEASES with schema/releases"
        );
        for r in &RELEASES {
            let schema = r.load().unwrap();
            let release = schema.release().unwrap();
            assert_eq!(format!("{}.{}", release.major, release.minor), r.label);
        }
    }

    #[test]
    fn release_names() {
        assert_eq!(release("10.0").map(|r| r.file), Some("qemu-10.0.json"));
        assert_eq!(release("qemu-7.2").map(|r| r.label), Some("7.2"));
        assert_eq!(release("qemu-10.2.json").map(|r| r.label), Some("10.2"));
        assert!(release("9.9").is_none());
        assert!(release("10").is_none());
    }

    #[test]
    fn blockdev_add_is_checked_offline() {
        let schema = bindings_schema();
        let input = parse_words(&words(&["driver=file", "node-name=x", "filename=/a"])).unwrap();
        let args = build(&schema, "blockdev-add", input).unwrap().unwrap();
        assert_eq!(
            args,
            serde_json::json!({"driver": "file", "node-name": "x", "filename": "/a"})
        );
        let input = parse_words(&words(&["driver=nul-co", "node-name=x"])).unwrap();
        let error = build(&schema, "blockdev-add", input).unwrap_err();
        assert!(error.message.contains("`null-co`"), "{error}");
        assert!(introspect::command_arguments(&schema, "blockdev-add").is_some_and(|a| a.is_some()));
    }

    #[test]
    fn commands_without_arguments_take_none() {
        let schema = bindings_schema();
        assert!(build(&schema, "query-status", None).is_ok());
        let input = parse_words(&words(&["x=1"])).unwrap();
        assert!(build(&schema, "query-status", input).is_err());
        let error = build(&schema, "query-stauts", None).unwrap_err();
        assert!(error.unknown_command);
        assert!(error.message.contains("`query-status`"), "{error}");
    }

    #[test]
    fn entries_take_introspection_names() {
        let schema = bindings_schema();
        let get = |name: &str| schema.get(name).map(|e| e.meta_type.clone());
        assert!(matches!(
            get("int"),
            Some(SchemaInfoBranch::Builtin(b)) if b.json_type == JSONType::Int
        ));
        // Sized integers are folded into `int`, as QEMU's reply has them.
        assert!(get("uint64").is_none());
        assert!(
            matches!(get("[int]"), Some(SchemaInfoBranch::Array(a)) if a.element_type == "int")
        );
        assert!(matches!(get("[str]"), Some(SchemaInfoBranch::Array(_))));
        let Some(SchemaInfoBranch::Command(status)) = get("query-status") else {
            panic!("no query-status");
        };
        assert_eq!(status.arg_type, EMPTY);
        assert_eq!(status.ret_type, "StatusInfo");
        let Some(SchemaInfoBranch::Object(info)) = get("StatusInfo") else {
            panic!("no StatusInfo");
        };
        let running = info.members.iter().find(|m| m.name == "running").unwrap();
        assert_eq!(running.r#type, "bool");
        assert!(running.default.is_none());
        // Gone in 10.0, so optional in the merged schema.
        let singlestep = info
            .members
            .iter()
            .find(|m| m.name == "singlestep")
            .unwrap();
        assert_eq!(singlestep.default, Some(serde_json::Value::Null));
        let Some(SchemaInfoBranch::Object(options)) = get("BlockdevOptions") else {
            panic!("no BlockdevOptions");
        };
        assert_eq!(options.tag.as_deref(), Some("driver"));
        assert!(options.members.iter().any(|m| m.name == "node-name"));
        let variants = options.variants.as_ref().unwrap();
        assert!(variants
            .iter()
            .any(|v| v.case == "file" && v.r#type == "BlockdevOptionsFile"));
        assert!(matches!(
            get("qmp_capabilities"),
            Some(SchemaInfoBranch::Command(c)) if c.allow_oob.is_none()
        ));
        assert!(matches!(
            get("migrate-pause"),
            Some(SchemaInfoBranch::Command(c)) if c.allow_oob == Some(true)
        ));
        let Some(SchemaInfoBranch::Enum(state)) = get("RunState") else {
            panic!("no RunState");
        };
        assert!(state.members.iter().any(|m| m.name == "running"));
        let event = schema.get("STOP").unwrap();
        assert!(matches!(&event.meta_type, SchemaInfoBranch::Event(e) if e.arg_type == EMPTY));
    }

    /// Compares type `ours` of our conversion with type `theirs` of QEMU's reply, by
    /// shape (QEMU's type names are numbers): everything QEMU has, ours must have alike.
    /// Ours may have more: it includes what this build's `if` conditions left out.
    struct ShapeCheck<'a> {
        ours: &'a LiveSchema,
        theirs: &'a LiveSchema,
        seen: std::collections::HashSet<(String, String)>,
        errors: Vec<String>,
    }

    impl ShapeCheck<'_> {
        fn compare(&mut self, at: &str, ours: &str, theirs: &str) {
            if !self.seen.insert((ours.to_string(), theirs.to_string())) {
                return;
            }
            let (Some(o), Some(t)) = (self.ours.get(ours), self.theirs.get(theirs)) else {
                self.errors
                    .push(format!("{at}: type {ours} or QEMU's {theirs} is missing"));
                return;
            };
            use SchemaInfoBranch as B;
            match (&o.meta_type, &t.meta_type) {
                (B::Builtin(a), B::Builtin(b)) if a.json_type == b.json_type && ours == theirs => {}
                (B::Enum(a), B::Enum(b)) => {
                    for value in &b.members {
                        if !a.members.iter().any(|m| m.name == value.name) {
                            self.errors
                                .push(format!("{at}: no enum value {}", value.name));
                        }
                    }
                }
                (B::Array(a), B::Array(b)) => {
                    let at = format!("{at}[]");
                    self.compare(&at, &a.element_type.clone(), &b.element_type.clone());
                }
                (B::Object(a), B::Object(b)) => {
                    if a.tag != b.tag {
                        self.errors
                            .push(format!("{at}: tag {:?} vs {:?}", a.tag, b.tag));
                    }
                    for member in &b.members {
                        let at = format!("{at}.{}", member.name);
                        match a.members.iter().find(|m| m.name == member.name) {
                            None => self.errors.push(format!("{at}: missing")),
                            Some(m) => {
                                if m.default.is_some() != member.default.is_some() {
                                    self.errors.push(format!("{at}: optionality differs"));
                                }
                                if m.features != member.features {
                                    self.errors.push(format!("{at}: features differ"));
                                }
                                self.compare(&at, &m.r#type.clone(), &member.r#type.clone());
                            }
                        }
                    }
                    for variant in b.variants.iter().flatten() {
                        let at =
                            format!("{at}({}={})", b.tag.as_deref().unwrap_or(""), variant.case);
                        match a.variants.iter().flatten().find(|v| v.case == variant.case) {
                            None => self.errors.push(format!("{at}: missing")),
                            Some(v) => {
                                self.compare(&at, &v.r#type.clone(), &variant.r#type.clone())
                            }
                        }
                    }
                }
                (B::Alternate(a), B::Alternate(b)) => {
                    // Alternatives are told apart by JSON type: pair them so.
                    for alternative in &b.members {
                        let kind = |s: &LiveSchema, n: &str| {
                            s.get(n).map(|e| match &e.meta_type {
                                B::Builtin(b) => b.json_type.as_str().to_string(),
                                other => other.tag().to_string(),
                            })
                        };
                        let theirs_kind = kind(self.theirs, &alternative.r#type);
                        match a
                            .members
                            .iter()
                            .find(|m| kind(self.ours, &m.r#type) == theirs_kind)
                        {
                            None => self
                                .errors
                                .push(format!("{at}: no alternative like {}", alternative.r#type)),
                            Some(m) => {
                                self.compare(at, &m.r#type.clone(), &alternative.r#type.clone())
                            }
                        }
                    }
                }
                _ => self
                    .errors
                    .push(format!("{at}: {ours} is not like QEMU's {theirs}")),
            }
        }
    }

    /// The `query-qmp-schema` reply of a libvirt capture (`execute` requests and replies,
    /// paired by `id`).
    fn captured_schema(file: &Path) -> Vec<SchemaInfo> {
        let text = std::fs::read_to_string(file).unwrap();
        let messages: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let id = messages
            .iter()
            .find(|m| m["execute"] == "query-qmp-schema")
            .map(|m| m["id"].clone())
            .unwrap();
        let reply = messages
            .iter()
            .find(|m| m["id"] == id && m.get("return").is_some())
            .unwrap();
        serde_json::from_value(reply["return"].clone()).unwrap()
    }

    #[test]
    fn the_10_0_extract_converts_to_the_shape_of_real_qemu_10_0() {
        let capture = "corpus/libvirt-replies/caps_10.0.0_x86_64.replies";
        let Some(shared) = qmp_shared_data::shared_dir(&[capture]) else {
            return;
        };
        let theirs = LiveSchema::from_entries(captured_schema(&shared.join(capture)));
        let ours = LiveSchema::from_entries(introspect(&release("10.0").unwrap().load().unwrap()));
        let mut check = ShapeCheck {
            ours: &ours,
            theirs: &theirs,
            seen: Default::default(),
            errors: Vec::new(),
        };
        let mut compared = 0;
        for info in theirs.entries() {
            let at = info.name.as_str();
            let Some(mine) = ours.get(at) else {
                if matches!(
                    info.meta_type,
                    SchemaInfoBranch::Command(_) | SchemaInfoBranch::Event(_)
                ) {
                    check.errors.push(format!("{at}: missing"));
                }
                continue;
            };
            if mine.features != info.features {
                check.errors.push(format!(
                    "{at}: features {:?} vs {:?}",
                    mine.features, info.features
                ));
            }
            match (&mine.meta_type, &info.meta_type) {
                (SchemaInfoBranch::Command(a), SchemaInfoBranch::Command(b)) => {
                    compared += 1;
                    if a.allow_oob != b.allow_oob {
                        check.errors.push(format!("{at}: allow-oob differs"));
                    }
                    check.compare(&format!("{at} arguments"), &a.arg_type, &b.arg_type);
                    check.compare(&format!("{at} returns"), &a.ret_type, &b.ret_type);
                }
                (SchemaInfoBranch::Event(a), SchemaInfoBranch::Event(b)) => {
                    compared += 1;
                    check.compare(&format!("{at} data"), &a.arg_type, &b.arg_type);
                }
                (SchemaInfoBranch::Builtin(_), SchemaInfoBranch::Builtin(_)) => {
                    check.compare(at, at, at);
                }
                _ => {}
            }
        }
        assert!(
            compared > 250,
            "only {compared} commands and events compared"
        );
        assert!(
            check.errors.is_empty(),
            "{} differences:\n{}",
            check.errors.len(),
            check.errors.join("\n")
        );
    }
}
