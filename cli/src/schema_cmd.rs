//! `qmp schema show` and `qmp schema diff`: the QAPI schema read offline, from a schema
//! file or from the extracts built into the tool, by the codegen front end.
//!
//! A schema argument is a file when one exists at that path, else a release the bindings
//! know (`10.0`, `qemu-10.0`); `show` without one reads every known release merged, which
//! is what lets it say in which releases a definition, member or value exists.

use std::fmt::Write as _;
use std::path::Path;

use anstyle::{AnsiColor, Style};
use clap::Subcommand;
use qemu_qmp_codegen::diff::{Change, ChangeKind, Part};
use qemu_qmp_codegen::merge::{Facts, ItemFacts, MemberFacts, ReleaseSet};
use qemu_qmp_codegen::model::{
    Cond, Entity, EntityId, EntityKind, Feature, Member, ObjectType, Schema, Variant,
};
use qemu_qmp_codegen::SchemaError;
use serde_json::{Map, Value};

use crate::failure::Failure;
use crate::introspect::did_you_mean;
use crate::offline;

/// `qmp schema`'s subcommands (their help is the user's documentation).
#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// A command's, event's or type's definition: members, types, optionality, features,
    /// conditions and the releases that have it.
    ///
    /// Exit status: 0 shown, 2 unknown name or unreadable schema.
    Show {
        /// The command, event or type (`query-status`, `STOP`, `RunState`).
        name: String,
        /// A QAPI schema file (a QEMU tree's qapi/qapi-schema.json, or a doc-free
        /// extract), or a release the bindings know (`7.2`, `10.0`, `10.2`, or
        /// `qemu-10.0`); default: every release the bindings know, merged, which adds
        /// the releases each definition and member is in.
        #[arg(long, value_name = "S")]
        schema: Option<String>,
        /// The definition as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The API changes between two schemas, one a line.
    ///
    /// Commands come first, then events, then types, each sorted by name; a line starts
    /// with `+` (added), `-` (removed) or `~` (changed).
    ///
    /// Exit status: 0 compared (with or without changes), 2 unreadable schema.
    Diff {
        /// The older schema: a QAPI schema file or a release the bindings know (`7.2`).
        old: String,
        /// The newer schema: a QAPI schema file or a release the bindings know (`10.0`).
        new: String,
        /// One JSON object a line instead: `kind` (added, removed or changed), `change`
        /// (the precise change: added, type-changed, feature-added, ...), `item-kind`,
        /// `item`, `part` (item, member, value, branch, returns, feature or allow-oob),
        /// `member`, `value`, `branch` and `feature` (the names concerned), `old` and
        /// `new` (types, where there are), `optional` (for an added member), and `text`
        /// (the line of the text form).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `schema` subcommand.
pub fn run(command: SchemaCommand) -> Result<(), Failure> {
    match command {
        SchemaCommand::Show { name, schema, json } => show(&name, schema.as_deref(), json),
        SchemaCommand::Diff { old, new, json } => diff(&old, &new, json),
    }
}

/// A schema error as one line: `FILE:LINE:COL: message`, the context (`In struct 'Foo'`)
/// after the position, the include chain left out (the position names the file).
fn schema_failure(error: &SchemaError) -> Failure {
    let Some(info) = &error.info else {
        return Failure::usage(error.message.clone());
    };
    let context = error
        .context
        .as_deref()
        .map(|c| format!("{}: ", c.trim_end_matches(':')))
        .unwrap_or_default();
    Failure::usage(format!("{}: {context}{}", info.location(), error.message))
}

/// The names `load` accepts besides files, for messages.
fn known_releases() -> String {
    offline::RELEASES
        .iter()
        .map(|r| r.label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The schema `arg` names: a file, else a release the bindings know.
fn load(arg: &str) -> Result<(Schema, String), Failure> {
    let path = Path::new(arg);
    if path.is_file() {
        let schema = qemu_qmp_codegen::load_release_file(path).map_err(|e| schema_failure(&e))?;
        return Ok((schema, arg.to_string()));
    }
    if let Some(release) = offline::release(arg) {
        // The extracts are the tool's own and checked by its tests: failing to load one is
        // a bug in the tool, not a usage error.
        let schema = release
            .load()
            .map_err(|e| Failure::other(format!("the built-in {} schema: {e}", release.label)))?;
        return Ok((schema, format!("QEMU {}", release.label)));
    }
    let why = if path.exists() {
        "is not a file"
    } else {
        "does not exist"
    };
    Err(Failure::usage(format!(
        "`{arg}` {why}, and is not a release the bindings know ({})",
        known_releases()
    )))
}

// ---------------------------------------------------------------------------------------
// schema diff

fn diff(old: &str, new: &str, as_json: bool) -> Result<(), Failure> {
    let (old, _) = load(old)?;
    let (new, _) = load(new)?;
    let changes = qemu_qmp_codegen::diff::diff(&old, &new);
    let mut out = String::new();
    for change in &changes {
        if as_json {
            // Serialising a `Value` cannot fail.
            let line = serde_json::to_string(&change_json(change)).unwrap_or_default();
            let _ = writeln!(out, "{line}");
        } else {
            let style = match change.kind {
                ChangeKind::Added => Style::new().fg_color(Some(AnsiColor::Green.into())),
                ChangeKind::Removed => Style::new().fg_color(Some(AnsiColor::Red.into())),
                _ => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            };
            let _ = writeln!(out, "{style}{change}{style:#}");
        }
    }
    anstream::print!("{out}");
    Ok(())
}

/// One change as the JSON form has it (see `--json`'s help).
pub fn change_json(change: &Change) -> Value {
    let mut object = Map::new();
    let feature = matches!(
        change.kind,
        ChangeKind::FeatureAdded | ChangeKind::FeatureRemoved
    );
    let kind = match change.kind {
        ChangeKind::Added | ChangeKind::FeatureAdded => "added",
        ChangeKind::Removed | ChangeKind::FeatureRemoved => "removed",
        _ => "changed",
    };
    object.insert("kind".into(), kind.into());
    object.insert("change".into(), change.kind.as_str().into());
    object.insert("item-kind".into(), change.item_kind.into());
    object.insert("item".into(), change.item.clone().into());
    let (part, named) = match &change.part {
        Part::Item => ("item", None),
        Part::Member(m) => ("member", Some(m)),
        Part::Value(v) => ("value", Some(v)),
        Part::Branch(b) => ("branch", Some(b)),
        Part::Returns => ("returns", None),
        // A part this tool does not know yet: the text form still says it.
        _ => ("other", None),
    };
    if let Some(name) = named {
        object.insert(part.into(), name.clone().into());
    }
    let part = if feature {
        "feature"
    } else if change.kind == ChangeKind::OobChanged {
        "allow-oob"
    } else {
        part
    };
    object.insert("part".into(), part.into());
    if feature {
        let name = change.new.as_ref().or(change.old.as_ref());
        if let Some(name) = name {
            object.insert("feature".into(), name.clone().into());
        }
    } else {
        if let Some(old) = &change.old {
            object.insert("old".into(), old.clone().into());
        }
        if let Some(new) = &change.new {
            // An added member's type reads `optional T` in the text form: apart here.
            let optional = new.strip_prefix("optional ");
            let member = matches!(change.part, Part::Member(_)) && change.kind == ChangeKind::Added;
            if member {
                object.insert("optional".into(), optional.is_some().into());
            }
            let new = optional.filter(|_| member).unwrap_or(new);
            object.insert("new".into(), new.into());
        }
    }
    object.insert("text".into(), change.to_string().into());
    Value::Object(object)
}

// ---------------------------------------------------------------------------------------
// schema show

/// A schema to show from, with the release facts when it is the merged one.
struct View<'a> {
    schema: &'a Schema,
    facts: Option<&'a Facts>,
    /// What the schema is, for messages (`QEMU 10.0`, a path).
    source: String,
}

fn show(name: &str, schema: Option<&str>, as_json: bool) -> Result<(), Failure> {
    let loaded;
    let view = match schema {
        Some(arg) => {
            let (schema, source) = load(arg)?;
            loaded = schema;
            View {
                schema: &loaded,
                facts: None,
                source,
            }
        }
        None => {
            let merged = offline::merged()
                .map_err(|e| Failure::other(format!("the built-in schemas: {e}")))?;
            View {
                schema: &merged.schema,
                facts: Some(&merged.facts),
                source: format!("QEMU {}", known_releases()),
            }
        }
    };
    let shown = view.definition(name)?;
    if as_json {
        println!("{}", crate::output::json(&shown.to_json(), false));
    } else {
        anstream::print!("{}", shown.to_text());
    }
    Ok(())
}

/// Something said of a member, value or branch: `optional in` `7.2`, `deprecated`, `if`
/// `CONFIG_X`. The text form writes `key value`; the JSON form `"key": value`.
struct Note {
    key: &'static str,
    value: Option<String>,
}

fn note(key: &'static str, value: impl Into<Option<String>>) -> Note {
    Note {
        key,
        value: value.into(),
    }
}

/// A member, enum value or branch, as shown.
struct Entry {
    name: String,
    ty: Option<String>,
    notes: Vec<Note>,
}

/// A list of entries under a title: `arguments`, `members`, `values`, `branches`.
struct Section {
    title: String,
    entries: Vec<Entry>,
}

/// A definition, as shown.
struct Shown {
    meta: &'static str,
    name: String,
    /// One line each: `since`, `releases`, `if`, `features`, `returns`...
    facts: Vec<(&'static str, String)>,
    sections: Vec<Section>,
}

fn bold() -> Style {
    Style::new().bold()
}

fn type_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Cyan.into()))
}

fn note_style(key: &str) -> Style {
    match key {
        "deprecated" | "deprecated in" => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        "unstable" | "unstable in" => Style::new().fg_color(Some(AnsiColor::Magenta.into())),
        _ => Style::new().dimmed(),
    }
}

impl Shown {
    fn to_text(&self) -> String {
        let mut out = String::new();
        let b = bold();
        let _ = writeln!(out, "{} {b}{}{b:#}", self.meta, self.name);
        let width = self.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in &self.facts {
            let _ = writeln!(
                out,
                "  {:<width$}  {value}",
                format!("{key}:"),
                width = width + 1
            );
        }
        for section in &self.sections {
            if section.entries.is_empty() {
                let _ = writeln!(out, "  {}: none", section.title);
                continue;
            }
            let _ = writeln!(out, "  {}:", section.title);
            let name_width = section
                .entries
                .iter()
                .map(|e| e.name.len())
                .max()
                .unwrap_or(0);
            let type_width = section
                .entries
                .iter()
                .map(|e| e.ty.as_ref().map_or(0, String::len))
                .max()
                .unwrap_or(0);
            for entry in &section.entries {
                let t = type_style();
                let notes: Vec<String> = entry
                    .notes
                    .iter()
                    .map(|n| {
                        let s = note_style(n.key);
                        match &n.value {
                            Some(v) => format!("{s}{} {v}{s:#}", n.key),
                            None => format!("{s}{}{s:#}", n.key),
                        }
                    })
                    .collect();
                // Padding goes outside the styles, so that a line ends with its text
                // (no trailing blanks) once the styles are stripped.
                let mut line = entry.name.clone();
                let mut pending = name_width.saturating_sub(entry.name.len());
                if let Some(ty) = &entry.ty {
                    let _ = write!(line, "{:pending$}  {t}{ty}{t:#}", "");
                    pending = type_width - ty.len();
                } else if type_width > 0 {
                    pending += type_width + 2;
                }
                if !notes.is_empty() {
                    let _ = write!(line, "{:pending$}  {}", "", notes.join(", "));
                }
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("meta-type".into(), self.meta.into());
        object.insert("name".into(), self.name.clone().into());
        for (key, value) in &self.facts {
            object.insert((*key).into(), value.clone().into());
        }
        for section in &self.sections {
            let entries = section
                .entries
                .iter()
                .map(|e| {
                    let mut entry = Map::new();
                    entry.insert("name".into(), e.name.clone().into());
                    if let Some(ty) = &e.ty {
                        entry.insert("type".into(), ty.clone().into());
                    }
                    for n in &e.notes {
                        let value = n.value.clone().map_or(Value::Bool(true), Value::String);
                        entry.insert(n.key.replace(' ', "-"), value);
                    }
                    Value::Object(entry)
                })
                .collect();
            object.insert(section.title.replace(' ', "-"), Value::Array(entries));
        }
        Value::Object(object)
    }
}

/// The name a person reads for type `id`: its schema name, `[T]` for arrays.
fn type_name(schema: &Schema, id: EntityId) -> String {
    match &schema.entity(id).kind {
        EntityKind::Array(array) => format!("[{}]", type_name(schema, array.element)),
        _ => schema.name(id).to_string(),
    }
}

/// The definition whose documentation (and since facts) covers an implicit type's
/// members: `q_obj_NAME-arg` and `q_obj_NAME-base` are NAME's.
fn owner(name: &str) -> &str {
    let Some(rest) = name.strip_prefix("q_obj_") else {
        return name;
    };
    rest.strip_suffix("-arg")
        .or_else(|| rest.strip_suffix("-base"))
        .unwrap_or(rest)
}

fn cond_text(cond: &Option<Box<Cond>>) -> Option<String> {
    cond.as_ref().map(|c| c.to_string())
}

fn other_features(features: &[Feature]) -> Vec<String> {
    features
        .iter()
        .filter(|f| !f.is_special())
        .map(|f| f.name.to_string())
        .collect()
}

impl View<'_> {
    /// Every name `show` can show, for suggestions.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.schema
            .entities()
            .iter()
            .filter(|e| !e.is_implicit() || matches!(e.kind, EntityKind::Builtin(_)))
            .map(|e| e.name.as_str())
    }

    fn definition(&self, wanted: &str) -> Result<Shown, Failure> {
        // A type renamed between releases is shown under its newest name.
        let alias = self.facts.and_then(|f| {
            f.aliases
                .iter()
                .find(|(old, _, _)| old == wanted)
                .map(|(_, new, _)| new.as_str())
        });
        let name = alias.unwrap_or(wanted);
        let Some(id) = self.schema.lookup_id(name) else {
            return Err(Failure::usage(format!(
                "no command, event or type `{wanted}` in {}{}",
                self.source,
                did_you_mean(wanted, self.names())
            )));
        };
        let entity = self.schema.entity(id);
        let item = self.facts.and_then(|f| f.item(name));
        let mut shown = Shown {
            meta: entity.meta(),
            name: name.to_string(),
            facts: Vec::new(),
            sections: Vec::new(),
        };
        self.item_facts(entity, item, &mut shown);
        match &entity.kind {
            EntityKind::Command(command) => {
                self.arguments("arguments", command.arg_type, name, &mut shown);
                let returns = command
                    .ret_type
                    .map_or("nothing (an empty object)".into(), |r| {
                        type_name(self.schema, r)
                    });
                shown.facts.push(("returns", returns));
                let mut flags = Vec::new();
                if command.allow_oob {
                    let partial = item
                        .filter(|i| i.allow_oob != i.present)
                        .map(|i| format!(" (in {})", self.list(i.allow_oob)));
                    flags.push(format!("allow-oob{}", partial.unwrap_or_default()));
                }
                if command.allow_preconfig {
                    flags.push("allow-preconfig".into());
                }
                if command.coroutine {
                    flags.push("coroutine".into());
                }
                if !command.success_response {
                    flags.push("no success response".into());
                }
                if !flags.is_empty() {
                    shown.facts.push(("flags", flags.join(", ")));
                }
            }
            EntityKind::Event(event) => {
                self.arguments("data", event.arg_type, name, &mut shown);
            }
            EntityKind::Object(object) => self.object(id, object, name, item, &mut shown),
            EntityKind::Enum(e) => {
                let entries = e
                    .members
                    .iter()
                    .map(|v| Entry {
                        name: v.name.to_string(),
                        ty: None,
                        notes: self.notes(name, &v.name, false, &v.features, &v.cond, item, None),
                    })
                    .collect();
                shown.sections.push(Section {
                    title: "values".into(),
                    entries,
                });
            }
            EntityKind::Alternate(alternate) => {
                let entries = self.branches(&alternate.variants, name, item);
                shown.sections.push(Section {
                    title: "alternatives".into(),
                    entries,
                });
            }
            EntityKind::Builtin(builtin) => {
                shown
                    .facts
                    .push(("json type", builtin.json_type().as_str().to_string()));
            }
            EntityKind::Array(array) => {
                shown
                    .facts
                    .push(("element", type_name(self.schema, array.element)));
            }
        }
        Ok(shown)
    }

    fn list(&self, set: ReleaseSet) -> String {
        self.facts.map(|f| f.list(set)).unwrap_or_default()
    }

    /// The lines every definition has: since, releases, condition, features.
    fn item_facts(&self, entity: &Entity, item: Option<&ItemFacts>, shown: &mut Shown) {
        let since = item
            .and_then(|i| i.since.clone())
            .or_else(|| self.schema.since(&entity.name).map(str::to_string));
        if let Some(since) = since {
            shown.facts.push(("since", since));
        }
        if let (Some(facts), Some(item)) = (self.facts, item) {
            shown.facts.push(("releases", facts.describe(item.present)));
            for (old, set) in &item.former_names {
                shown
                    .facts
                    .push(("former name", format!("{old} (in {})", facts.list(*set))));
            }
        }
        match item.filter(|i| i.conds.len() > 1) {
            Some(item) => {
                let conds: Vec<String> = item
                    .conds
                    .iter()
                    .map(|(cond, set)| {
                        let cond = cond.as_deref().unwrap_or("unconditional");
                        format!("{cond} (in {})", self.list(*set))
                    })
                    .collect();
                shown.facts.push(("if", conds.join("; ")));
            }
            None => {
                if let Some(cond) = cond_text(&entity.cond) {
                    shown.facts.push(("if", cond));
                }
            }
        }
        let mut features = Vec::new();
        let special = [
            (
                "deprecated",
                item.map(|i| i.deprecated),
                entity.is_deprecated(),
            ),
            ("unstable", item.map(|i| i.unstable), entity.is_unstable()),
        ];
        for (feature, set, newest) in special {
            match (set, item) {
                (Some(set), Some(item)) if !set.is_empty() => {
                    if set == item.present {
                        features.push(feature.to_string());
                    } else {
                        features.push(format!("{feature} (in {})", self.list(set)));
                    }
                }
                (Some(_), Some(_)) => {}
                _ if newest => features.push(feature.to_string()),
                _ => {}
            }
        }
        features.extend(other_features(&entity.features));
        if !features.is_empty() {
            shown.facts.push(("features", features.join(", ")));
        }
    }

    /// The notes on member `member` of `definition` (a member, value or branch).
    #[allow(clippy::too_many_arguments)]
    fn notes(
        &self,
        definition: &str,
        member: &str,
        optional: bool,
        features: &[Feature],
        cond: &Option<Box<Cond>>,
        item: Option<&ItemFacts>,
        inherited: Option<&str>,
    ) -> Vec<Note> {
        let facts: Option<&MemberFacts> = item.and_then(|i| i.member(member));
        let mut notes = Vec::new();
        match (facts, item) {
            (Some(m), Some(_)) if optional => {
                if m.optional == m.present {
                    notes.push(note("optional", None));
                } else if m.optional.is_empty() {
                    // Optional in the merged schema only because some release lacks it.
                    notes.push(note("required", None));
                } else {
                    notes.push(note("optional in", self.list(m.optional)));
                }
            }
            _ if optional => notes.push(note("optional", None)),
            _ => {}
        }
        if let Some(base) = inherited {
            notes.push(note("from", base.to_string()));
        }
        let special = [
            ("deprecated", facts.map(|m| m.deprecated), "deprecated in"),
            ("unstable", facts.map(|m| m.unstable), "unstable in"),
        ];
        for (feature, set, partial) in special {
            let newest = features.iter().any(|f| f.name == feature);
            match (set, facts) {
                (Some(set), Some(m)) if !set.is_empty() => {
                    if set == m.present {
                        notes.push(note(feature, None));
                    } else {
                        notes.push(note(partial, self.list(set)));
                    }
                }
                (Some(_), Some(_)) => {}
                _ if newest => notes.push(note(feature, None)),
                _ => {}
            }
        }
        for feature in other_features(features) {
            notes.push(note("feature", feature));
        }
        match facts.filter(|m| m.conds.len() > 1) {
            Some(m) => {
                let conds: Vec<String> = m
                    .conds
                    .iter()
                    .map(|(cond, set)| {
                        let cond = cond.as_deref().unwrap_or("unconditional");
                        format!("{cond} in {}", self.list(*set))
                    })
                    .collect();
                notes.push(note("if", conds.join("; ")));
            }
            None => {
                if let Some(cond) = cond_text(cond) {
                    notes.push(note("if", cond));
                }
            }
        }
        let since = facts.and_then(|m| m.since.clone()).or_else(|| {
            self.schema
                .member_since(definition, member)
                .map(str::to_string)
        });
        if let Some(since) = since {
            notes.push(note("since", since));
        }
        if let (Some(m), Some(item)) = (facts, item) {
            if m.present != item.present {
                notes.push(note("only in", self.list(m.present)));
            }
            if m.types.len() > 1 {
                let types: Vec<String> = m
                    .types
                    .iter()
                    .map(|(ty, set)| format!("{ty} in {}", self.list(*set)))
                    .collect();
                notes.push(note("types", types.join("; ")));
            }
        }
        notes
    }

    /// One member as an entry. `shown_in` is the object the members are listed for.
    fn member_entry(&self, member: &Member, shown_in: EntityId, item_name: &str) -> Entry {
        let declared = self.schema.name(member.defined_in);
        let inherited =
            (member.defined_in != shown_in && !declared.starts_with("q_obj_")).then_some(declared);
        // Facts are kept by the definition that declares the member; inline arguments and
        // inline union bases are their command's or union's.
        let definition = match inherited {
            Some(base) => base,
            None if declared.starts_with("q_obj_") => owner(declared),
            None => item_name,
        };
        let item = self.facts.and_then(|f| f.item(definition));
        Entry {
            name: member.name.to_string(),
            ty: Some(type_name(self.schema, member.ty)),
            notes: self.notes(
                definition,
                &member.name,
                member.optional,
                &member.features,
                &member.cond,
                item,
                inherited,
            ),
        }
    }

    /// A command's arguments or an event's data: inline members, or a named type's.
    fn arguments(&self, title: &str, arg_type: Option<EntityId>, name: &str, shown: &mut Shown) {
        let Some(id) = arg_type else {
            shown.sections.push(Section {
                title: title.into(),
                entries: Vec::new(),
            });
            return;
        };
        let entity = self.schema.entity(id);
        let Some(object) = entity.as_object() else {
            return;
        };
        if entity.is_implicit() {
            let entries = object
                .members()
                .iter()
                .map(|m| self.member_entry(m, id, name))
                .collect();
            shown.sections.push(Section {
                title: title.into(),
                entries,
            });
            return;
        }
        // A named type (`'data': 'Type'`, or boxed): its members, and a union's branches.
        shown.facts.push((
            if title == "data" {
                "data type"
            } else {
                "argument type"
            },
            format!("{} ({})", entity.name, entity.meta()),
        ));
        let type_facts = self.facts.and_then(|f| f.item(&entity.name));
        self.object(id, object, &entity.name, type_facts, shown);
        if let Some(section) = shown.sections.iter_mut().find(|s| s.title == "members") {
            section.title = title.into();
        }
    }

    /// A struct's or union's members, and a union's discriminator and branches.
    fn object(
        &self,
        id: EntityId,
        object: &ObjectType,
        name: &str,
        item: Option<&ItemFacts>,
        shown: &mut Shown,
    ) {
        if let Some(base) = object.base {
            if !self.schema.entity(base).is_implicit() {
                shown
                    .facts
                    .push(("base", self.schema.name(base).to_string()));
            }
        }
        let entries = object
            .members()
            .iter()
            .map(|m| self.member_entry(m, id, name))
            .collect();
        shown.sections.push(Section {
            title: "members".into(),
            entries,
        });
        if let Some(branches) = &object.branches {
            shown.facts.push((
                "discriminator",
                format!("{} ({})", branches.tag, self.schema.name(branches.tag_type)),
            ));
            let entries = self.branches(&branches.variants, name, item);
            shown.sections.push(Section {
                title: format!("branches by {}", branches.tag),
                entries,
            });
        }
    }

    fn branches(&self, variants: &[Variant], name: &str, item: Option<&ItemFacts>) -> Vec<Entry> {
        variants
            .iter()
            .map(|v| {
                let empty = self
                    .schema
                    .entity(v.ty)
                    .as_object()
                    .is_some_and(ObjectType::is_empty);
                Entry {
                    name: v.name.to_string(),
                    ty: Some(if empty {
                        "(no members)".into()
                    } else {
                        type_name(self.schema, v.ty)
                    }),
                    notes: self.notes(name, &v.name, false, &[], &v.cond, item, None),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_types_belong_to_their_definitions() {
        assert_eq!(owner("q_obj_blockdev-add-arg"), "blockdev-add");
        assert_eq!(owner("q_obj_BlockdevOptions-base"), "BlockdevOptions");
        assert_eq!(owner("StatusInfo"), "StatusInfo");
    }

    #[test]
    fn changes_as_json() {
        let old = offline::release("7.2").unwrap().load().unwrap();
        let new = offline::release("10.0").unwrap().load().unwrap();
        let changes = qemu_qmp_codegen::diff::diff(&old, &new);
        let singlestep = changes
            .iter()
            .map(change_json)
            .find(|c| c["item"] == "StatusInfo" && c["member"] == "singlestep")
            .unwrap();
        assert_eq!(singlestep["kind"], "removed");
        assert_eq!(singlestep["part"], "member");
        assert_eq!(singlestep["item-kind"], "struct");
        assert_eq!(singlestep["text"], "- struct StatusInfo member singlestep");
    }
}
