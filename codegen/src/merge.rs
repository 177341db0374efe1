//! One schema for several QEMU releases: the definitions of every release, merged so that
//! bindings generated from the result are right for each of them.
//!
//! The input is a list of resolved schemas, oldest release first. The output is a
//! [`Merged`] schema: an ordinary [`Schema`] (so every emitter can walk it as it walks one
//! release's) and the [`Facts`] of each definition, member, enum value and branch: in which
//! releases it exists, where it was optional, deprecated or unstable, its conditions, and
//! the `Since:` release QEMU's documentation gives.
//!
//! # The rules
//!
//! Definitions are matched by name; a definition's *forms* are its versions in each
//! release that has it.
//!
//! 1. **Required only where always required.** A member is required only if every form
//!    of its type (or command, or event) has it, requires it, and gives it the same type;
//!    otherwise it is optional. This holds for returns, event data and arguments alike: an
//!    argument a newer release requires is not accepted by an older one, and a member a
//!    newer release added is absent from an older one's replies.
//! 2. **One type that decodes every release's form.** When a member, branch, element or
//!    return has different types in different releases:
//!    - two object types: the newer one *absorbs* the older (its members are merged in, by
//!      rule 1), so it decodes both; two enums: the newer one gains the older's values;
//!    - a type renamed between releases (the old name and the new never exist in the same
//!      release) is one type under its newest name, and the old name becomes an alias;
//!    - an enum and a string: the enum (every enum keeps unknown values in `Other`);
//!    - integers of different ranges: the integer type covering both (`int` and `uint64`
//!      need a 128-bit integer: see [`MemberFacts::wide_int`]); an integer and a number:
//!      the number;
//!    - a union and a struct (a struct that became a union): the union, its base holding
//!      the struct's members;
//!    - otherwise (a string in one release and an object in another, say) an alternate of
//!      the forms, which QAPI tells apart by their JSON types; `any` when they cannot be
//!      told apart.
//! 3. **The union over releases.** Every command, event, type, enum value, union branch
//!    and alternative of any release is in the merged schema; what a release lacks is
//!    documented by the facts. Values and branches unknown to every release still land in
//!    the emitters' fallbacks.
//! 4. **The newest form speaks for the rest**: the kind of a definition, its module, flags,
//!    `if` condition and features are the newest release's (facts keep the others);
//!    `allow-oob` holds if any release allows it.

use crate::extract::write_string;
use crate::model::{
    Builtin, Cond, Entity, EntityId, EntityKind, Feature, JsonType, Member, Name, ObjectType,
    Schema,
};
use crate::SchemaError;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// One QEMU release's schema, to merge with others.
pub struct ReleaseSchema {
    /// How documentation names the release (`7.2`, `10.0`).
    pub label: String,
    /// Its resolved schema.
    pub schema: Schema,
}

impl ReleaseSchema {
    /// A release called `label` with `schema`.
    pub fn new(label: impl Into<String>, schema: Schema) -> ReleaseSchema {
        ReleaseSchema {
            label: label.into(),
            schema,
        }
    }
}

/// The merged schema of several releases and the facts of each item.
pub struct Merged {
    /// The merged definitions, resolved and checked like any schema.
    pub schema: Schema,
    /// What each release has.
    pub facts: Facts,
    /// The merged schema's QAPI text (doc-free, with module markers), for inspection.
    pub text: String,
}

/// A set of releases, by their position in [`Facts::releases`] (at most 64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseSet(u64);

impl ReleaseSet {
    /// No release.
    pub const EMPTY: ReleaseSet = ReleaseSet(0);

    /// The set of release `index` alone.
    pub fn one(index: usize) -> ReleaseSet {
        ReleaseSet(1u64.checked_shl(index as u32).unwrap_or(0))
    }

    /// The first `count` releases.
    pub fn first(count: usize) -> ReleaseSet {
        ReleaseSet(if count >= 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        })
    }

    /// The bits, release 0 lowest.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether release `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    /// Whether no release is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Both sets' releases.
    pub fn union(self, other: ReleaseSet) -> ReleaseSet {
        ReleaseSet(self.0 | other.0)
    }

    /// The releases in both sets.
    pub fn intersection(self, other: ReleaseSet) -> ReleaseSet {
        ReleaseSet(self.0 & other.0)
    }

    /// The releases of `self` not in `other`.
    pub fn minus(self, other: ReleaseSet) -> ReleaseSet {
        ReleaseSet(self.0 & !other.0)
    }

    /// The positions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |i| self.contains(*i))
    }

    /// The newest release in the set.
    pub fn newest(self) -> Option<usize> {
        (self.0 != 0).then(|| 63 - self.0.leading_zeros() as usize)
    }
}

impl FromIterator<usize> for ReleaseSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        iter.into_iter()
            .fold(ReleaseSet::EMPTY, |s, i| s.union(ReleaseSet::one(i)))
    }
}

/// What the releases say of one definition (a type, command or event).
#[derive(Clone, Debug, Default)]
pub struct ItemFacts {
    /// The releases that have it.
    pub present: ReleaseSet,
    /// Where it is deprecated.
    pub deprecated: ReleaseSet,
    /// Where it is unstable.
    pub unstable: ReleaseSet,
    /// Where a command may run out of band.
    pub allow_oob: ReleaseSet,
    /// Its `if` conditions, where they differ between releases (or where some release has
    /// one): each distinct condition (`None`: unconditional) with the releases having it.
    pub conds: Vec<(Option<String>, ReleaseSet)>,
    /// The `Since:` release of the newest documentation that gives one.
    pub since: Option<String>,
    /// Other names it had in some releases (renamed types), with those releases.
    pub former_names: Vec<(String, ReleaseSet)>,
    /// Types whose values it also decodes because some release used them where it stands
    /// now (rule 2), with those releases.
    pub absorbed: Vec<(String, ReleaseSet)>,
    /// Whether a union's discriminator is absent from some release's form (a struct that
    /// became a union): the emitter then accepts values without it.
    pub tag_optional: bool,
    /// Its members, enum values, branches or alternatives, by name.
    pub members: Vec<MemberFacts>,
}

impl ItemFacts {
    /// The facts of member (or value, or branch) `name`.
    pub fn member(&self, name: &str) -> Option<&MemberFacts> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// What the releases say of one member, enum value, union branch or alternative.
#[derive(Clone, Debug, Default)]
pub struct MemberFacts {
    /// Its name.
    pub name: String,
    /// The releases that have it (among those that have its definition).
    pub present: ReleaseSet,
    /// Where it is optional.
    pub optional: ReleaseSet,
    /// Where it is deprecated.
    pub deprecated: ReleaseSet,
    /// Where it is unstable.
    pub unstable: ReleaseSet,
    /// Its `if` conditions, as for [`ItemFacts::conds`].
    pub conds: Vec<(Option<String>, ReleaseSet)>,
    /// Its QAPI type in each release, when the releases differ.
    pub types: Vec<(String, ReleaseSet)>,
    /// How the types were made one (rule 2), when they differ.
    pub rule: Option<&'static str>,
    /// When the releases' integer types need more than 64 bits together (`int` and
    /// `uint64`): the emitter gives the member a 128-bit integer.
    pub wide_int: bool,
    /// The release its documentation says it came in.
    pub since: Option<String>,
}

/// The facts of every merged definition.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The releases, oldest first.
    pub releases: Vec<String>,
    items: HashMap<String, ItemFacts>,
    /// Old names of renamed types: `(old name, its type's merged name, releases)`.
    pub aliases: Vec<(String, String, ReleaseSet)>,
}

impl Facts {
    /// The facts of the definition named `name` in the merged schema.
    pub fn item(&self, name: &str) -> Option<&ItemFacts> {
        self.items.get(name)
    }

    /// Every release.
    pub fn all(&self) -> ReleaseSet {
        ReleaseSet::first(self.releases.len())
    }

    /// `QEMU 10.0, 10.2; not in 7.2`, or `every known QEMU (7.2, 10.0, 10.2)`.
    pub fn describe(&self, set: ReleaseSet) -> String {
        let names = |s: ReleaseSet| -> Vec<&str> {
            s.iter()
                .filter_map(|i| self.releases.get(i).map(String::as_str))
                .collect()
        };
        let missing = self.all().minus(set);
        if missing.is_empty() {
            return format!("every known QEMU ({})", names(set).join(", "));
        }
        format!(
            "QEMU {}; not in {}",
            names(set).join(", "),
            names(missing).join(", ")
        )
    }

    /// `7.2, 10.0`: the releases of `set` by name.
    pub fn list(&self, set: ReleaseSet) -> String {
        set.iter()
            .filter_map(|i| self.releases.get(i).map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Merges `releases` (oldest first) into one schema.
pub fn merge(releases: &[ReleaseSchema]) -> Result<Merged, SchemaError> {
    if releases.is_empty() || releases.len() > 64 {
        return Err(SchemaError::without_position(format!(
            "cannot merge {} releases: between 1 and 64 are supported",
            releases.len()
        )));
    }
    let mut merger = Merger::new(releases);
    merger.discover();
    let text = merger.write();
    let path = PathBuf::from("merged/qapi-schema.json");
    let source = text.clone().into_bytes();
    let options = crate::parse::ParseOptions {
        strict: false,
        module_markers: true,
    };
    let mut schema =
        crate::load_with(&path, options, move |_| Ok(source.clone())).map_err(|e| {
            let message = format!(
                "the merged schema does not check (a merge bug): {}",
                e.message
            );
            SchemaError { message, ..e }
        })?;
    merger.attach_docs(&mut schema);
    let mut facts = std::mem::take(&mut merger.facts);
    facts.releases = releases.iter().map(|r| r.label.clone()).collect();
    Ok(Merged {
        schema,
        facts,
        text,
    })
}

/// A release's version of a definition: an entity of that release's schema, or an empty
/// object (arguments, data, return or branch that had no members there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Form {
    Entity(usize, EntityId),
    Empty(usize),
}

impl Form {
    fn release(self) -> usize {
        match self {
            Form::Entity(r, _) | Form::Empty(r) => r,
        }
    }
}

/// A type reference, independent of any one release's ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Builtin(Builtin),
    Named(Name),
    Array(Box<Key>),
    /// No value at all: an empty object (`q_empty`, or nothing where a release had
    /// nothing).
    Empty,
}

/// The merged type of a position.
#[derive(Clone, Debug, PartialEq, Eq)]
enum MType {
    Builtin(Builtin),
    Named(Name),
    Array(Box<MType>),
}

impl MType {
    fn write(&self, out: &mut String) {
        match self {
            MType::Builtin(b) => write_string(out, b.name()),
            MType::Named(n) => write_string(out, n),
            MType::Array(e) => {
                out.push_str("[ ");
                e.write(out);
                out.push_str(" ]");
            }
        }
    }

    fn qapi_name(&self) -> String {
        match self {
            MType::Builtin(b) => b.name().to_string(),
            MType::Named(n) => n.to_string(),
            MType::Array(e) => format!("[{}]", e.qapi_name()),
        }
    }
}

/// Where a named type's forms come from: its own definitions in each release, and the
/// forms of types it absorbed.
#[derive(Default)]
struct TypeSlot {
    forms: Vec<Form>,
    /// `(type name, releases)` absorbed, for the facts.
    absorbed: Vec<(Name, ReleaseSet)>,
}

struct Merger<'r> {
    releases: &'r [ReleaseSchema],
    /// Named types (not implicit), in order of first sight, newest release first.
    types: Vec<Name>,
    slots: HashMap<Name, TypeSlot>,
    /// Renamed types: old name -> the name it is merged into.
    alias: HashMap<Name, Name>,
    /// Commands and events with their forms, newest release's order first.
    commands: Vec<(Name, Vec<(usize, EntityId)>)>,
    events: Vec<(Name, Vec<(usize, EntityId)>)>,
    /// Argument and event-data forms per command/event name, when some form is a named
    /// type (those types absorb the other forms).
    facts: Facts,
    /// Synthesized alternates, `(name, module, branches)`.
    synthesized: Vec<(Name, String, Vec<MType>)>,
    synthesized_names: HashSet<Name>,
}

fn key_of(schema: &Schema, id: EntityId) -> Key {
    let entity = schema.entity(id);
    match &entity.kind {
        EntityKind::Builtin(b) => Key::Builtin(*b),
        EntityKind::Array(a) => Key::Array(Box::new(key_of(schema, a.element))),
        EntityKind::Object(o) if entity.is_implicit() && o.is_empty() => Key::Empty,
        _ => Key::Named(entity.name.clone()),
    }
}

/// The kinds of named type that absorb each other.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Enum,
    Object,
    Alternate,
    Other,
}

fn class_of(entity: &Entity) -> Class {
    match entity.kind {
        EntityKind::Enum(_) => Class::Enum,
        EntityKind::Object(_) => Class::Object,
        EntityKind::Alternate(_) => Class::Alternate,
        _ => Class::Other,
    }
}

fn is_int(b: Builtin) -> bool {
    b.json_type() == JsonType::Int
}

/// The range of an integer type, as `(min, max)`.
fn int_range(b: Builtin) -> (i128, i128) {
    match b {
        Builtin::Int8 => (i8::MIN.into(), i8::MAX.into()),
        Builtin::Int16 => (i16::MIN.into(), i16::MAX.into()),
        Builtin::Int32 => (i32::MIN.into(), i32::MAX.into()),
        Builtin::Uint8 => (0, u8::MAX.into()),
        Builtin::Uint16 => (0, u16::MAX.into()),
        Builtin::Uint32 => (0, u32::MAX.into()),
        Builtin::Uint64 | Builtin::Size => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

/// The integer type covering both, and whether none of QAPI's does (`int` is then
/// written and the member is marked wide).
fn wider_int(newer: Builtin, older: Builtin) -> (Builtin, bool) {
    let (a_min, a_max) = int_range(newer);
    let (b_min, b_max) = int_range(older);
    let (min, max) = (a_min.min(b_min), a_max.max(b_max));
    let covers = |t: Builtin| {
        let (lo, hi) = int_range(t);
        lo <= min && max <= hi
    };
    // One of the releases' own types if it can (the newer first), else the smallest.
    [
        newer,
        older,
        Builtin::Int8,
        Builtin::Uint8,
        Builtin::Int16,
        Builtin::Uint16,
        Builtin::Int32,
        Builtin::Uint32,
        Builtin::Int,
        Builtin::Uint64,
    ]
    .into_iter()
    .find(|t| covers(*t))
    .map_or((Builtin::Int, true), |t| (t, false))
}

impl<'r> Merger<'r> {
    fn new(releases: &'r [ReleaseSchema]) -> Merger<'r> {
        let mut merger = Merger {
            releases,
            types: Vec::new(),
            slots: HashMap::new(),
            alias: HashMap::new(),
            commands: Vec::new(),
            events: Vec::new(),
            facts: Facts::default(),
            synthesized: Vec::new(),
            synthesized_names: HashSet::new(),
        };
        let mut command_index: HashMap<Name, usize> = HashMap::new();
        let mut event_index: HashMap<Name, usize> = HashMap::new();
        for (r, release) in releases.iter().enumerate().rev() {
            for (id, entity) in release.schema.iter() {
                match &entity.kind {
                    EntityKind::Command(_) => {
                        let i = *command_index.entry(entity.name.clone()).or_insert_with(|| {
                            merger.commands.push((entity.name.clone(), Vec::new()));
                            merger.commands.len() - 1
                        });
                        merger.commands[i].1.push((r, id));
                    }
                    EntityKind::Event(_) => {
                        let i = *event_index.entry(entity.name.clone()).or_insert_with(|| {
                            merger.events.push((entity.name.clone(), Vec::new()));
                            merger.events.len() - 1
                        });
                        merger.events[i].1.push((r, id));
                    }
                    EntityKind::Enum(_) | EntityKind::Object(_) | EntityKind::Alternate(_)
                        if !entity.is_implicit() =>
                    {
                        let slot = merger.slots.entry(entity.name.clone()).or_insert_with(|| {
                            merger.types.push(entity.name.clone());
                            TypeSlot::default()
                        });
                        slot.forms.push(Form::Entity(r, id));
                    }
                    _ => {}
                }
            }
        }
        merger
    }

    fn schema(&self, release: usize) -> &'r Schema {
        &self.releases[release].schema
    }

    fn entity(&self, form: Form) -> Option<&'r Entity> {
        match form {
            Form::Entity(r, id) => Some(self.schema(r).entity(id)),
            Form::Empty(_) => None,
        }
    }

    /// The name a type is merged under.
    fn find(&self, name: &Name) -> Name {
        let mut name = name.clone();
        while let Some(next) = self.alias.get(&name) {
            name = next.clone();
        }
        name
    }

    fn resolve(&self, key: &Key) -> Key {
        match key {
            Key::Named(n) => Key::Named(self.find(n)),
            Key::Array(e) => Key::Array(Box::new(self.resolve(e))),
            other => other.clone(),
        }
    }

    /// The class of a merged named type: its newest form's.
    fn class(&self, name: &Name) -> Class {
        self.slots
            .get(name)
            .and_then(|s| s.forms.first().copied())
            .and_then(|f| self.entity(f))
            .map_or(Class::Other, class_of)
    }

    /// The releases a type's own definitions exist in.
    fn own_releases(&self, name: &Name) -> ReleaseSet {
        self.slots.get(name).map_or(ReleaseSet::EMPTY, |s| {
            s.forms
                .iter()
                .filter_map(|f| match f {
                    Form::Entity(r, id) if self.schema(*r).entity(*id).name == *name => Some(*r),
                    _ => None,
                })
                .collect()
        })
    }

    /// Adds forms to the slot of `name`; whether any was new.
    fn absorb(&mut self, name: &Name, forms: &[Form], from: Option<&Name>) -> bool {
        let Some(slot) = self.slots.get_mut(name) else {
            return false;
        };
        let mut changed = false;
        let mut releases = ReleaseSet::EMPTY;
        for form in forms {
            if !slot.forms.contains(form) {
                slot.forms.push(*form);
                changed = true;
            }
            releases = releases.union(ReleaseSet::one(form.release()));
        }
        if changed {
            // Newest first, a type's own form before absorbed ones of the same release.
            let own = name.clone();
            let releases_of = |f: &Form| f.release();
            let schemas = self.releases;
            slot.forms.sort_by_key(|f| {
                let is_own = match f {
                    Form::Entity(r, id) => schemas[*r].schema.entity(*id).name == own,
                    Form::Empty(_) => false,
                };
                (std::cmp::Reverse(releases_of(f)), !is_own)
            });
            if let Some(from) = from {
                match slot.absorbed.iter_mut().find(|(n, _)| n == from) {
                    Some((_, set)) => *set = set.union(releases),
                    None => slot.absorbed.push((from.clone(), releases)),
                }
            }
        }
        changed
    }

    /// The forms of type `name` in the given releases (its own definitions there).
    fn own_forms_in(&self, name: &Name, releases: ReleaseSet) -> Vec<Form> {
        self.slots.get(name).map_or(Vec::new(), |s| {
            s.forms
                .iter()
                .copied()
                .filter(|f| {
                    releases.contains(f.release())
                        && self.entity(*f).is_some_and(|e| e.name == *name)
                })
                .collect()
        })
    }

    /// Makes the newer key `new` able to hold the older `old` (rule 2, the part that
    /// changes which forms a type has). Whether anything changed.
    fn unify(&mut self, new: &Key, old: &Key, releases: ReleaseSet) -> bool {
        match (self.resolve(new), self.resolve(old)) {
            (a, b) if a == b => false,
            (Key::Named(a), Key::Named(b)) => {
                let class = self.class(&a);
                if class != self.class(&b) || class == Class::Other {
                    return false;
                }
                let (a_releases, b_releases) = (self.own_releases(&a), self.own_releases(&b));
                let renamed = !a_releases.is_empty()
                    && !b_releases.is_empty()
                    && a_releases.intersection(b_releases).is_empty()
                    && b_releases.newest() < a_releases.iter().next();
                if renamed {
                    let forms = self
                        .slots
                        .get(&b)
                        .map(|s| s.forms.clone())
                        .unwrap_or_default();
                    self.alias.insert(b.clone(), a.clone());
                    self.absorb(&a, &forms, None);
                    true
                } else {
                    let forms = self.own_forms_in(&b, releases);
                    self.absorb(&a, &forms, Some(&b))
                }
            }
            (Key::Named(a), Key::Empty) if self.class(&a) == Class::Object => {
                let forms: Vec<Form> = releases.iter().map(Form::Empty).collect();
                self.absorb(&a, &forms, None)
            }
            (Key::Array(a), Key::Array(b)) => self.unify(&a, &b, releases),
            _ => false,
        }
    }

    /// Unifies the keys one position has in several forms, newest first.
    fn unify_position(&mut self, keys: &[(usize, Key)]) -> bool {
        let Some((_, newest)) = keys.first().cloned() else {
            return false;
        };
        let mut changed = false;
        for (r, key) in &keys[1..] {
            changed |= self.unify(&newest, key, ReleaseSet::one(*r));
        }
        changed
    }

    /// Finds every absorption and rename, until nothing changes.
    fn discover(&mut self) {
        loop {
            let mut changed = false;
            for i in 0..self.types.len() {
                let name = self.types[i].clone();
                if self.alias.contains_key(&name) {
                    continue;
                }
                let forms = self
                    .slots
                    .get(&name)
                    .map(|s| s.forms.clone())
                    .unwrap_or_default();
                changed |= self.discover_in_forms(&forms);
            }
            for i in 0..self.commands.len() {
                let forms = self.commands[i].1.clone();
                changed |= self.discover_in_operation(&forms, true);
            }
            for i in 0..self.events.len() {
                let forms = self.events[i].1.clone();
                changed |= self.discover_in_operation(&forms, false);
            }
            if !changed {
                break;
            }
        }
    }

    /// Members, branches and alternatives of one definition's forms.
    fn discover_in_forms(&mut self, forms: &[Form]) -> bool {
        let mut changed = false;
        for (_, keys) in self.member_positions(forms) {
            changed |= self.unify_position(&keys);
        }
        for (_, keys) in self.branch_positions(forms) {
            changed |= self.unify_position(&keys);
        }
        // A struct that became a union: its branch types had no members in the releases
        // that had the struct.
        let struct_releases: ReleaseSet = forms
            .iter()
            .filter(|f| {
                !self
                    .entity(**f)
                    .and_then(Entity::as_object)
                    .is_some_and(ObjectType::is_union)
            })
            .map(|f| f.release())
            .collect();
        if !struct_releases.is_empty() {
            for (_, keys) in self.branch_positions(forms) {
                if let Some((_, newest)) = keys.first().cloned() {
                    changed |= self.unify(&newest, &Key::Empty, struct_releases);
                }
            }
        }
        for (_, alternatives) in self.alternatives(forms) {
            changed |= self.unify_position(&alternative_keys(&alternatives));
        }
        changed
    }

    /// A command's arguments and return, or an event's data.
    fn discover_in_operation(&mut self, forms: &[(usize, EntityId)], command: bool) -> bool {
        let mut changed = false;
        let args = self.argument_forms(forms);
        let keys: Vec<(usize, Key)> = args
            .iter()
            .map(|f| match f {
                Form::Entity(r, id) => (*r, key_of(self.schema(*r), *id)),
                Form::Empty(r) => (*r, Key::Empty),
            })
            .collect();
        let named = args
            .first()
            .and_then(|f| self.entity(*f))
            .filter(|e| !e.is_implicit())
            .map(|e| e.name.clone());
        match named {
            // A named argument type absorbs the other forms, inline ones included.
            Some(name) => {
                let name = self.find(&name);
                for (form, (r, key)) in args.iter().zip(&keys).skip(1) {
                    match key {
                        Key::Named(other) if self.find(other) == name => {}
                        Key::Named(other) if !other.starts_with("q_") => {
                            changed |=
                                self.unify(&Key::Named(name.clone()), key, ReleaseSet::one(*r));
                        }
                        _ => changed |= self.absorb(&name, &[*form], None),
                    }
                }
            }
            _ => changed |= self.discover_in_forms(&args),
        }
        if command {
            let returns: Vec<(usize, Key)> = forms
                .iter()
                .map(|(r, id)| {
                    let ret = self
                        .schema(*r)
                        .entity(*id)
                        .as_command()
                        .and_then(|c| c.ret_type);
                    (*r, ret.map_or(Key::Empty, |t| key_of(self.schema(*r), t)))
                })
                .collect();
            changed |= self.unify_position(&returns);
        }
        changed
    }

    /// The argument (or data) forms of a command's (or event's) forms, newest first.
    fn argument_forms(&self, forms: &[(usize, EntityId)]) -> Vec<Form> {
        forms
            .iter()
            .map(|(r, id)| {
                let entity = self.schema(*r).entity(*id);
                let arg = match &entity.kind {
                    EntityKind::Command(c) => c.arg_type,
                    EntityKind::Event(e) => e.arg_type,
                    _ => None,
                };
                match arg {
                    Some(arg)
                        if !(self.schema(*r).entity(arg).is_implicit()
                            && self
                                .schema(*r)
                                .entity(arg)
                                .as_object()
                                .is_some_and(ObjectType::is_empty)) =>
                    {
                        Form::Entity(*r, arg)
                    }
                    _ => Form::Empty(*r),
                }
            })
            .collect()
    }

    /// Every member name of the object forms, with its key in each form that has it
    /// (newest first), in merged order: the newest form's order, then members only older
    /// forms have.
    fn member_positions(&self, forms: &[Form]) -> Vec<(Name, Vec<(usize, Key)>)> {
        let mut out: Vec<(Name, Vec<(usize, Key)>)> = Vec::new();
        let mut index: HashMap<Name, usize> = HashMap::new();
        for form in forms {
            let Some(o) = self.entity(*form).and_then(Entity::as_object) else {
                continue;
            };
            let r = form.release();
            for m in o.members() {
                let key = key_of(self.schema(r), m.ty);
                let i = *index.entry(m.name.clone()).or_insert_with(|| {
                    out.push((m.name.clone(), Vec::new()));
                    out.len() - 1
                });
                out[i].1.push((r, key));
            }
        }
        out
    }

    /// Every union branch of the forms, with its type in each union form (`Empty` where
    /// the form lists the value without members).
    fn branch_positions(&self, forms: &[Form]) -> Vec<(Name, Vec<(usize, Key)>)> {
        let mut out: Vec<(Name, Vec<(usize, Key)>)> = Vec::new();
        let mut index: HashMap<Name, usize> = HashMap::new();
        for form in forms {
            let Some(branches) = self
                .entity(*form)
                .and_then(Entity::as_object)
                .and_then(|o| o.branches.as_deref())
            else {
                continue;
            };
            let r = form.release();
            for v in &branches.variants {
                let key = key_of(self.schema(r), v.ty);
                let i = *index.entry(v.name.clone()).or_insert_with(|| {
                    out.push((v.name.clone(), Vec::new()));
                    out.len() - 1
                });
                out[i].1.push((r, key));
            }
        }
        out.retain(|(_, keys)| keys.iter().any(|(_, k)| *k != Key::Empty));
        out
    }

    /// The alternatives of alternate forms, by JSON type, with their key and name in each
    /// form (newest first).
    fn alternatives(&self, forms: &[Form]) -> Vec<(JsonType, Vec<Alternative>)> {
        let mut out: Vec<(JsonType, Vec<Alternative>)> = Vec::new();
        for form in forms {
            let Some(a) = self.entity(*form).and_then(Entity::as_alternate) else {
                continue;
            };
            let r = form.release();
            for v in &a.variants {
                let json = self
                    .schema(r)
                    .entity(v.ty)
                    .json_type()
                    .unwrap_or(JsonType::Value);
                let key = key_of(self.schema(r), v.ty);
                match out.iter_mut().find(|(j, _)| *j == json) {
                    Some((_, keys)) => keys.push((r, key, v.name.clone())),
                    None => out.push((json, vec![(r, key, v.name.clone())])),
                }
            }
        }
        out
    }
}

/// An alternative in one release: `(release, its type, its name)`.
type Alternative = (usize, Key, Name);

/// The `(release, key)` pairs of alternatives, for `unify_position` and `merge_keys`.
fn alternative_keys(alternatives: &[Alternative]) -> Vec<(usize, Key)> {
    alternatives
        .iter()
        .map(|(r, k, _)| (*r, k.clone()))
        .collect()
}

impl<'r> Merger<'r> {
    /// The merged type of a position with `keys` (newest first); `hint` names an alternate
    /// if one must be made, `module` is where it goes.
    fn merge_keys(
        &mut self,
        keys: &[(usize, Key)],
        hint: &str,
        module: &str,
    ) -> (MType, Option<&'static str>, bool) {
        let mut resolved: Vec<Key> = Vec::new();
        for (_, k) in keys {
            let k = self.resolve(k);
            if k != Key::Empty && !resolved.contains(&k) {
                resolved.push(k);
            }
        }
        let Some(first) = resolved.first().cloned() else {
            return (MType::Builtin(Builtin::Any), None, false);
        };
        let mut merged = self.mtype(&first);
        let mut rule = None;
        let mut wide = false;
        for other in &resolved[1..] {
            let (m, r, w) = self.merge2(merged, other, hint, module);
            merged = m;
            rule = rule.or(r);
            wide |= w;
        }
        (merged, rule, wide)
    }

    fn mtype(&self, key: &Key) -> MType {
        match key {
            Key::Builtin(b) => MType::Builtin(*b),
            Key::Named(n) => MType::Named(self.find(n)),
            Key::Array(e) => MType::Array(Box::new(self.mtype(e))),
            Key::Empty => MType::Builtin(Builtin::Any),
        }
    }

    fn json_of(&self, t: &MType) -> JsonType {
        match t {
            MType::Builtin(b) => b.json_type(),
            MType::Array(_) => JsonType::Array,
            MType::Named(n) => {
                if let Some((_, _, _)) = self.synthesized.iter().find(|(s, _, _)| s == n) {
                    return JsonType::Value;
                }
                match self.class(n) {
                    Class::Enum => JsonType::String,
                    Class::Object => JsonType::Object,
                    _ => JsonType::Value,
                }
            }
        }
    }

    /// Rule 2 for one more (older) key.
    fn merge2(
        &mut self,
        new: MType,
        old: &Key,
        hint: &str,
        module: &str,
    ) -> (MType, Option<&'static str>, bool) {
        let old = self.mtype(old);
        if new == old {
            return (new, None, false);
        }
        match (&new, &old) {
            (MType::Builtin(Builtin::Any), _) | (_, MType::Builtin(Builtin::Any)) => (
                MType::Builtin(Builtin::Any),
                Some("one release takes any JSON value here, so every release's value is kept as JSON"),
                false,
            ),
            (MType::Named(a), MType::Named(b)) if self.class(a) == self.class(b) && self.class(a) != Class::Alternate => (
                new.clone(),
                Some(if self.class(a) == Class::Enum {
                    "the newer enum, with the older one's values"
                } else {
                    "the newer type, which also holds the older one's members (each optional unless every release requires it)"
                }),
                false,
            ),
            (MType::Named(a), MType::Builtin(Builtin::Str)) | (MType::Builtin(Builtin::Str), MType::Named(a))
                if self.class(a) == Class::Enum =>
            {
                (
                    MType::Named(a.clone()),
                    Some("the enum: a value it does not know, as a plain string, is kept in `Other`"),
                    false,
                )
            }
            (MType::Builtin(a), MType::Builtin(b)) if is_int(*a) && is_int(*b) => {
                let (t, wide) = wider_int(*a, *b);
                (
                    MType::Builtin(t),
                    Some(if wide {
                        "a 128-bit integer, which holds every release's integer range"
                    } else {
                        "the integer type whose range holds every release's"
                    }),
                    wide,
                )
            }
            (MType::Builtin(a), MType::Builtin(b))
                if matches!((a.json_type(), b.json_type()), (JsonType::Int, JsonType::Number) | (JsonType::Number, JsonType::Int)) =>
            {
                (MType::Builtin(Builtin::Number), Some("a number, which holds every release's integers"), false)
            }
            (MType::Array(a), MType::Array(b)) => {
                let element = match b.as_ref() {
                    MType::Named(n) => Key::Named(n.clone()),
                    MType::Builtin(x) => Key::Builtin(*x),
                    MType::Array(_) => Key::Empty,
                };
                let (e, rule, wide) = self.merge2((**a).clone(), &element, hint, module);
                (MType::Array(Box::new(e)), rule, wide)
            }
            _ => self.alternate_of(new, old, hint, module),
        }
    }

    /// An alternate holding `new` and `old`, made (or widened) under a name derived from
    /// `hint`; `any` when their JSON types clash.
    fn alternate_of(
        &mut self,
        new: MType,
        old: MType,
        hint: &str,
        module: &str,
    ) -> (MType, Option<&'static str>, bool) {
        let mut branches: Vec<MType> = Vec::new();
        for t in [new, old] {
            match &t {
                MType::Named(n) if self.class(n) == Class::Alternate => {
                    // Alternatives of an existing alternate, flattened.
                    let forms = self
                        .slots
                        .get(n)
                        .map(|s| s.forms.clone())
                        .unwrap_or_default();
                    for (_, keys) in self.alternatives(&forms) {
                        if let Some((_, k, _)) = keys.first() {
                            branches.push(self.mtype(k));
                        }
                    }
                }
                MType::Named(n) if self.synthesized_names.contains(n) => {
                    if let Some((_, _, b)) = self.synthesized.iter().find(|(s, _, _)| s == n) {
                        branches.extend(b.iter().cloned());
                    }
                }
                _ => branches.push(t),
            }
        }
        let mut kinds: Vec<JsonType> = Vec::new();
        let mut distinct: Vec<MType> = Vec::new();
        for b in branches {
            let json = self.json_of(&b);
            if json == JsonType::Value || kinds.contains(&json) {
                if distinct.contains(&b) {
                    continue;
                }
                return (
                    MType::Builtin(Builtin::Any),
                    Some("any JSON value: the releases' types cannot be told apart by their JSON type"),
                    false,
                );
            }
            kinds.push(json);
            distinct.push(b);
        }
        let mut name = Name::new(&format!("{}Forms", crate::merge::camel(hint)));
        let mut n = 2;
        while self.slots.contains_key(&name) || self.synthesized_names.contains(&name) {
            name = Name::new(&format!("{}Forms{n}", crate::merge::camel(hint)));
            n += 1;
        }
        self.synthesized_names.insert(name.clone());
        self.synthesized
            .push((name.clone(), module.to_string(), distinct));
        (
            MType::Named(name),
            Some("an alternate of the releases' types, told apart by their JSON type"),
            false,
        )
    }
}

/// `block-job-info` / `BlockJobInfo.io-status` -> a CamelCase type name part.
fn camel(text: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            if upper {
                out.push(ch.to_ascii_uppercase());
            } else {
                out.push(ch);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

fn write_cond(out: &mut String, cond: &Cond) {
    match cond {
        Cond::Name(n) => write_string(out, n),
        Cond::Not(c) => {
            out.push_str("{ 'not': ");
            write_cond(out, c);
            out.push_str(" }");
        }
        Cond::All(cs) | Cond::Any(cs) => {
            out.push_str(if matches!(cond, Cond::All(_)) {
                "{ 'all': [ "
            } else {
                "{ 'any': [ "
            });
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_cond(out, c);
            }
            out.push_str(" ] }");
        }
    }
}

fn write_features(out: &mut String, features: &[Feature]) {
    out.push('[');
    for (i, f) in features.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        match &f.cond {
            None => write_string(out, &f.name),
            Some(c) => {
                out.push_str("{ 'name': ");
                write_string(out, &f.name);
                out.push_str(", 'if': ");
                write_cond(out, c);
                out.push_str(" }");
            }
        }
    }
    out.push_str(" ]");
}

/// `'name': TYPE` or `'name': { 'type': TYPE, 'if': ..., 'features': [...] }`.
fn write_entry(
    out: &mut String,
    name: &str,
    optional: bool,
    ty: &MType,
    cond: Option<&Cond>,
    features: &[Feature],
) {
    if optional {
        write_string(out, &format!("*{name}"));
    } else {
        write_string(out, name);
    }
    out.push_str(": ");
    if cond.is_none() && features.is_empty() {
        ty.write(out);
        return;
    }
    out.push_str("{ 'type': ");
    ty.write(out);
    if let Some(c) = cond {
        out.push_str(", 'if': ");
        write_cond(out, c);
    }
    if !features.is_empty() {
        out.push_str(", 'features': ");
        write_features(out, features);
    }
    out.push_str(" }");
}

/// Gathers the distinct conditions of some forms.
fn conds_of<'a>(
    items: impl Iterator<Item = (usize, Option<&'a Cond>)>,
) -> Vec<(Option<String>, ReleaseSet)> {
    let mut out: Vec<(Option<String>, ReleaseSet)> = Vec::new();
    for (r, cond) in items {
        let text = cond.map(|c| c.to_string());
        match out.iter_mut().find(|(t, _)| *t == text) {
            Some((_, set)) => *set = set.union(ReleaseSet::one(r)),
            None => out.push((text, ReleaseSet::one(r))),
        }
    }
    if out.len() == 1 && out[0].0.is_none() {
        out.clear();
    }
    out
}

fn feature_set<'a>(
    items: impl Iterator<Item = (usize, &'a [Feature])>,
) -> (ReleaseSet, ReleaseSet) {
    let mut deprecated = ReleaseSet::EMPTY;
    let mut unstable = ReleaseSet::EMPTY;
    for (r, features) in items {
        if crate::model::is_deprecated(features) {
            deprecated = deprecated.union(ReleaseSet::one(r));
        }
        if crate::model::is_unstable(features) {
            unstable = unstable.union(ReleaseSet::one(r));
        }
    }
    (deprecated, unstable)
}

/// A member of a merged object type.
struct MergedMember<'r> {
    name: Name,
    optional: bool,
    ty: MType,
    cond: Option<&'r Cond>,
    features: Vec<Feature>,
}

/// One merged definition, ready to write.
struct Written {
    module: String,
    text: String,
}

impl<'r> Merger<'r> {
    /// Writes the merged schema as QAPI text, recording the facts as it goes.
    fn write(&mut self) -> String {
        let mut defs: Vec<Written> = Vec::new();
        let types = self.types.clone();
        for name in &types {
            if self.alias.contains_key(name) {
                continue;
            }
            if let Some(w) = self.write_type(name) {
                defs.push(w);
            }
        }
        let commands = self.commands.clone();
        for (name, forms) in &commands {
            defs.push(self.write_operation(name, forms, true));
        }
        let events = self.events.clone();
        for (name, forms) in &events {
            defs.push(self.write_operation(name, forms, false));
        }
        let synthesized = std::mem::take(&mut self.synthesized);
        for (name, module, branches) in &synthesized {
            let mut text = String::from("{ 'alternate': ");
            write_string(&mut text, name);
            text.push_str(",\n  'data': {");
            for (i, b) in branches.iter().enumerate() {
                text.push_str(if i == 0 { " " } else { ", " });
                let json = self.json_of(b);
                write_entry(&mut text, json.as_str(), false, b, None, &[]);
            }
            text.push_str(" } }\n");
            defs.push(Written {
                module: module.clone(),
                text,
            });
        }
        self.synthesized = synthesized;
        let aliases: Vec<(Name, Name)> = self
            .alias
            .keys()
            .map(|old| (old.clone(), self.find(old)))
            .collect();
        for (old, new) in aliases {
            let releases = self.own_releases_of_alias(&old);
            self.facts
                .aliases
                .push((old.to_string(), new.to_string(), releases));
            if let Some(item) = self.facts.items.get_mut(new.as_str()) {
                item.former_names.push((old.to_string(), releases));
            }
        }
        self.facts.aliases.sort();

        // Grouped by module, modules in order of first appearance.
        let mut modules: Vec<String> = Vec::new();
        for d in &defs {
            if !modules.contains(&d.module) {
                modules.push(d.module.clone());
            }
        }
        let mut out = String::from(
            "# The merged schema of several QEMU releases, written by qemu-qmp-codegen.\n",
        );
        self.write_pragma(&mut out);
        for module in &modules {
            let _ = writeln!(out, "\n{}{module}", crate::marker::MODULE_MARKER);
            for d in defs.iter().filter(|d| d.module == *module) {
                out.push_str(&d.text);
            }
        }
        out
    }

    fn own_releases_of_alias(&self, old: &Name) -> ReleaseSet {
        let Some(slot) = self.slots.get(&self.find(old)) else {
            return ReleaseSet::EMPTY;
        };
        slot.forms
            .iter()
            .filter(|f| self.entity(**f).is_some_and(|e| e.name == *old))
            .map(|f| f.release())
            .collect()
    }

    fn write_pragma(&self, out: &mut String) {
        let mut lists: [(&str, Vec<String>); 3] = [
            ("command-name-exceptions", Vec::new()),
            ("command-returns-exceptions", Vec::new()),
            ("member-name-exceptions", Vec::new()),
        ];
        for release in self.releases {
            let p = release.schema.pragma();
            for (i, values) in [
                &p.command_name_exceptions,
                &p.command_returns_exceptions,
                &p.member_name_exceptions,
            ]
            .into_iter()
            .enumerate()
            {
                for v in values {
                    if !lists[i].1.contains(v) {
                        lists[i].1.push(v.clone());
                    }
                }
            }
        }
        // Names merged types took on (synthesized alternates never need exceptions).
        let lists: Vec<_> = lists.iter().filter(|(_, v)| !v.is_empty()).collect();
        if lists.is_empty() {
            return;
        }
        out.push_str("\n{ 'pragma': {");
        for (i, (key, values)) in lists.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ",\n    " });
            write_string(out, key);
            out.push_str(": [");
            for (j, v) in values.iter().enumerate() {
                out.push_str(if j == 0 { " " } else { ", " });
                write_string(out, v);
            }
            out.push_str(" ]");
        }
        out.push_str(" } }\n");
    }

    fn module_of(&self, form: Form) -> String {
        match form {
            Form::Entity(r, id) => {
                let schema = self.schema(r);
                let module = schema.module(schema.entity(id).module);
                module.name.clone()
            }
            Form::Empty(_) => String::from("qapi-schema.json"),
        }
    }

    /// The facts common to every definition: presence, features, conditions, since.
    fn item_facts(&self, own: &[Form]) -> ItemFacts {
        let present: ReleaseSet = own.iter().map(|f| f.release()).collect();
        let entities: Vec<(usize, &Entity)> = own
            .iter()
            .filter_map(|f| self.entity(*f).map(|e| (f.release(), e)))
            .collect();
        let (deprecated, unstable) =
            feature_set(entities.iter().map(|(r, e)| (*r, e.features.as_slice())));
        let conds = conds_of(entities.iter().map(|(r, e)| (*r, e.cond.as_deref())));
        let since = entities
            .iter()
            .find_map(|(r, e)| self.schema(*r).since(&e.name))
            .map(str::to_string);
        ItemFacts {
            present,
            deprecated,
            unstable,
            conds,
            since,
            ..ItemFacts::default()
        }
    }

    /// The head of a definition: `{ 'KIND': 'NAME'`, plus `if` and `features` of the
    /// newest form (written at the end by the caller through `tail`).
    fn tail(out: &mut String, entity: &Entity) {
        if let Some(c) = &entity.cond {
            out.push_str(",\n  'if': ");
            write_cond(out, c);
        }
        if !entity.features.is_empty() {
            out.push_str(",\n  'features': ");
            write_features(out, &entity.features);
        }
        out.push_str(" }\n");
    }

    fn write_type(&mut self, name: &Name) -> Option<Written> {
        let forms = self.slots.get(name)?.forms.clone();
        let absorbed = self
            .slots
            .get(name)
            .map(|s| s.absorbed.clone())
            .unwrap_or_default();
        let newest_form = *forms.first()?;
        let newest = self.entity(newest_form)?;
        let module = self.module_of(newest_form);
        let own: Vec<Form> = forms
            .iter()
            .copied()
            .filter(|f| {
                self.entity(*f).is_some_and(|e| {
                    e.name == *name
                        || self.find(&e.name) == *name && self.alias.contains_key(&e.name)
                })
            })
            .collect();
        let mut facts = self.item_facts(&own);
        facts.absorbed = absorbed.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        let mut text = String::new();
        match &newest.kind {
            EntityKind::Enum(e) => {
                text.push_str("{ 'enum': ");
                write_string(&mut text, name);
                text.push_str(",\n  'data': [");
                let mut seen: Vec<Name> = Vec::new();
                let mut first = true;
                for form in &forms {
                    let Some(entity) = self.entity(*form) else {
                        continue;
                    };
                    let Some(en) = entity.as_enum() else { continue };
                    for v in &en.members {
                        if seen.contains(&v.name) {
                            continue;
                        }
                        seen.push(v.name.clone());
                        text.push_str(if first { " " } else { ", " });
                        first = false;
                        if v.cond.is_none() && v.features.is_empty() {
                            write_string(&mut text, &v.name);
                        } else {
                            text.push_str("{ 'name': ");
                            write_string(&mut text, &v.name);
                            if let Some(c) = &v.cond {
                                text.push_str(", 'if': ");
                                write_cond(&mut text, c);
                            }
                            if !v.features.is_empty() {
                                text.push_str(", 'features': ");
                                write_features(&mut text, &v.features);
                            }
                            text.push_str(" }");
                        }
                    }
                }
                text.push_str(" ]");
                if let Some(prefix) = &e.prefix {
                    text.push_str(",\n  'prefix': ");
                    write_string(&mut text, prefix);
                }
                for v in &seen {
                    let values: Vec<(usize, &crate::model::EnumMember)> = forms
                        .iter()
                        .filter_map(|f| {
                            let en = self.entity(*f)?.as_enum()?;
                            en.member(v).map(|m| (f.release(), m))
                        })
                        .collect();
                    let (deprecated, unstable) =
                        feature_set(values.iter().map(|(r, m)| (*r, m.features.as_slice())));
                    facts.members.push(MemberFacts {
                        name: v.to_string(),
                        since: self.member_since(name, &forms, v),
                        present: values.iter().map(|(r, _)| *r).collect(),
                        deprecated,
                        unstable,
                        conds: conds_of(values.iter().map(|(r, m)| (*r, m.cond.as_deref()))),
                        ..MemberFacts::default()
                    });
                }
            }
            EntityKind::Object(_) => {
                self.write_object(&mut text, name, &forms, &module, &mut facts);
            }
            EntityKind::Alternate(_) => {
                text.push_str("{ 'alternate': ");
                write_string(&mut text, name);
                text.push_str(",\n  'data': {");
                let positions = self.alternatives(&forms);
                for (i, (_, keys)) in positions.iter().enumerate() {
                    let (_, _, branch) = &keys[0];
                    let plain = alternative_keys(keys);
                    let (ty, rule, _) =
                        self.merge_keys(&plain, &format!("{name}-{branch}"), &module);
                    let cond = self.alternative_cond(&forms, branch);
                    text.push_str(if i == 0 { " " } else { ", " });
                    write_entry(&mut text, branch, false, &ty, cond, &[]);
                    facts.members.push(MemberFacts {
                        name: branch.to_string(),
                        present: keys.iter().map(|(r, _, _)| *r).collect(),
                        types: self.type_facts(&plain),
                        rule,
                        ..MemberFacts::default()
                    });
                }
                text.push_str(" }");
            }
            _ => return None,
        }
        Self::tail(&mut text, newest);
        self.facts.items.insert(name.to_string(), facts);
        Some(Written { module, text })
    }

    fn alternative_cond(&self, forms: &[Form], branch: &Name) -> Option<&'r Cond> {
        forms.iter().find_map(|f| {
            let a = self.entity(*f)?.as_alternate()?;
            a.variants
                .iter()
                .find(|v| v.name == *branch)?
                .cond
                .as_deref()
        })
    }

    /// The release QEMU's documentation gives for member `member` of `owner` (a type,
    /// command or event name), in the newest form that states one. Absorbed forms of
    /// other types are not asked: their members' releases are theirs.
    fn member_since(&self, owner: &str, forms: &[Form], member: &str) -> Option<String> {
        forms
            .iter()
            .map(|f| f.release())
            .find_map(|r| self.schema(r).member_since(owner, member))
            .map(str::to_string)
    }

    /// The QAPI type of a position in each release, when they differ.
    fn type_facts(&self, keys: &[(usize, Key)]) -> Vec<(String, ReleaseSet)> {
        let mut out: Vec<(String, ReleaseSet)> = Vec::new();
        for (r, key) in keys {
            let text = match key {
                Key::Empty => "nothing".to_string(),
                k => self.mtype_unresolved(k).qapi_name(),
            };
            match out.iter_mut().find(|(t, _)| *t == text) {
                Some((_, s)) => *s = s.union(ReleaseSet::one(*r)),
                None => out.push((text, ReleaseSet::one(*r))),
            }
        }
        if out.len() < 2 {
            out.clear();
        }
        out
    }

    fn mtype_unresolved(&self, key: &Key) -> MType {
        match key {
            Key::Builtin(b) => MType::Builtin(*b),
            Key::Named(n) => MType::Named(n.clone()),
            Key::Array(e) => MType::Array(Box::new(self.mtype_unresolved(e))),
            Key::Empty => MType::Builtin(Builtin::Any),
        }
    }

    /// The members of object forms, merged by rule 1; records each member's facts.
    /// `exclude` names members left out (those a union's branches hold).
    fn merged_members(
        &mut self,
        owner: &str,
        forms: &[Form],
        exclude: &HashSet<Name>,
        module: &str,
        facts: &mut ItemFacts,
    ) -> Vec<MergedMember<'r>> {
        let all: ReleaseSet = forms.iter().map(|f| f.release()).collect();
        let object_forms = forms.len();
        let mut out = Vec::new();
        for (name, keys) in self.member_positions(forms) {
            if exclude.contains(&name) {
                continue;
            }
            let members: Vec<(usize, &'r Member)> = forms
                .iter()
                .filter_map(|f| {
                    let o = self.entity(*f)?.as_object()?;
                    o.member(&name).map(|m| (f.release(), m))
                })
                .collect();
            let (ty, rule, wide) = self.merge_keys(&keys, &format!("{owner}-{name}"), module);
            let resolved: Vec<Key> = keys.iter().map(|(_, k)| self.resolve(k)).collect();
            let same_type = resolved.windows(2).all(|w| w[0] == w[1]);
            let required = same_type
                && members.len() == object_forms
                && members.iter().all(|(_, m)| !m.optional);
            let newest = members.first().map(|(_, m)| *m);
            let cond = newest.and_then(|m| m.cond.as_deref());
            let features = newest.map(|m| m.features.clone()).unwrap_or_default();
            let (deprecated, unstable) =
                feature_set(members.iter().map(|(r, m)| (*r, m.features.as_slice())));
            let present: ReleaseSet = members.iter().map(|(r, _)| *r).collect();
            let since = self.member_since(owner, forms, &name);
            facts.members.push(MemberFacts {
                name: name.to_string(),
                present: present.intersection(all),
                optional: members
                    .iter()
                    .filter(|(_, m)| m.optional)
                    .map(|(r, _)| *r)
                    .collect(),
                deprecated,
                unstable,
                conds: conds_of(members.iter().map(|(r, m)| (*r, m.cond.as_deref()))),
                types: self.type_facts(&keys),
                rule: if same_type { None } else { rule },
                wide_int: wide,
                since,
            });
            out.push(MergedMember {
                name,
                optional: !required,
                ty,
                cond,
                features,
            });
        }
        out
    }

    fn write_members(out: &mut String, members: &[MergedMember<'_>]) {
        out.push('{');
        for (i, m) in members.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ",\n    " });
            write_entry(out, &m.name, m.optional, &m.ty, m.cond, &m.features);
        }
        out.push_str(if members.is_empty() { "}" } else { " }" });
    }

    /// A struct or union (by its newest union form, if any).
    fn write_object(
        &mut self,
        text: &mut String,
        name: &Name,
        forms: &[Form],
        module: &str,
        facts: &mut ItemFacts,
    ) {
        let union_form = forms.iter().copied().find(|f| {
            self.entity(*f)
                .and_then(Entity::as_object)
                .is_some_and(ObjectType::is_union)
        });
        let Some(union_form) = union_form else {
            text.push_str("{ 'struct': ");
            write_string(text, name);
            text.push_str(",\n  'data': ");
            let members = self.merged_members(name, forms, &HashSet::new(), module, facts);
            Self::write_members(text, &members);
            return;
        };
        let branches = self
            .entity(union_form)
            .and_then(Entity::as_object)
            .and_then(|o| o.branches.as_deref());
        let Some(branches) = branches else { return };
        let tag = branches.tag.clone();
        // Members some union form's branch types hold stay out of the base.
        let mut held: HashSet<Name> = HashSet::new();
        for f in forms {
            let Form::Entity(r, _) = f else { continue };
            let Some(b) = self
                .entity(*f)
                .and_then(Entity::as_object)
                .and_then(|o| o.branches.as_deref())
            else {
                continue;
            };
            for v in &b.variants {
                if let Some(o) = self.schema(*r).entity(v.ty).as_object() {
                    held.extend(o.members().iter().map(|m| m.name.clone()));
                }
            }
        }
        held.remove(&tag);
        let mut base = self.merged_members(name, forms, &held, module, facts);
        // QAPI wants a required discriminator; where some form lacks it, the emitter is
        // told instead. Its type may differ (a string before the union): it is still there.
        facts.tag_optional = !forms.iter().all(|f| {
            self.entity(*f)
                .and_then(Entity::as_object)
                .and_then(|o| o.member(&tag))
                .is_some_and(|m| !m.optional)
        });
        for m in base.iter_mut().filter(|m| m.name == tag) {
            m.optional = false;
        }
        text.push_str("{ 'union': ");
        write_string(text, name);
        text.push_str(",\n  'base': ");
        Self::write_members(text, &base);
        text.push_str(",\n  'discriminator': ");
        write_string(text, &tag);
        text.push_str(",\n  'data': {");
        let positions = self.branch_positions(forms);
        let union_releases: Vec<usize> = forms
            .iter()
            .filter(|f| {
                self.entity(**f)
                    .and_then(Entity::as_object)
                    .is_some_and(ObjectType::is_union)
            })
            .map(|f| f.release())
            .collect();
        let mut first = true;
        for (value, keys) in positions {
            let (ty, rule, _) = self.merge_keys(&keys, &format!("{name}-{value}"), module);
            let cond = forms.iter().find_map(|f| {
                let b = self.entity(*f)?.as_object()?.branches.as_deref()?;
                b.variant(&value)?.cond.as_deref()
            });
            text.push_str(if first { " " } else { ",\n    " });
            first = false;
            write_entry(text, &value, false, &ty, cond, &[]);
            let present: ReleaseSet = keys
                .iter()
                .filter(|(r, _)| union_releases.contains(r))
                .map(|(r, _)| *r)
                .collect();
            facts.members.push(MemberFacts {
                name: format!("+{value}"),
                since: self.member_since(name, forms, &value),
                present,
                types: self.type_facts(&keys),
                rule,
                ..MemberFacts::default()
            });
        }
        text.push_str(if first { "}" } else { " }" });
    }

    fn write_operation(
        &mut self,
        name: &Name,
        forms: &[(usize, EntityId)],
        command: bool,
    ) -> Written {
        let own: Vec<Form> = forms.iter().map(|(r, id)| Form::Entity(*r, *id)).collect();
        let mut facts = self.item_facts(&own);
        let (r, id) = forms[0];
        let newest = self.schema(r).entity(id);
        let module = self.module_of(own[0]);
        let mut text = String::new();
        text.push_str(if command {
            "{ 'command': "
        } else {
            "{ 'event': "
        });
        write_string(&mut text, name);
        let args = self.argument_forms(forms);
        let newest_args = args.first().copied();
        let boxed = match &newest.kind {
            EntityKind::Command(c) => c.boxed,
            EntityKind::Event(e) => e.boxed,
            _ => false,
        };
        match newest_args.and_then(|f| self.entity(f)) {
            Some(arg) if !arg.is_implicit() => {
                text.push_str(",\n  'data': ");
                write_string(&mut text, &self.find(&arg.name));
                if boxed {
                    text.push_str(",\n  'boxed': true");
                }
            }
            _ if args.iter().any(|f| matches!(f, Form::Entity(..))) => {
                text.push_str(",\n  'data': ");
                let members =
                    self.merged_members(name, &args, &HashSet::new(), &module, &mut facts);
                Self::write_members(&mut text, &members);
            }
            _ => {}
        }
        if let EntityKind::Command(c) = &newest.kind {
            let returns: Vec<(usize, Key)> = forms
                .iter()
                .filter_map(|(r, id)| {
                    let ret = self.schema(*r).entity(*id).as_command()?.ret_type?;
                    Some((*r, key_of(self.schema(*r), ret)))
                })
                .collect();
            if !returns.is_empty() {
                let (ty, rule, _) = self.merge_keys(&returns, &format!("{name}-return"), &module);
                text.push_str(",\n  'returns': ");
                ty.write(&mut text);
                let types = self.type_facts(&returns);
                if !types.is_empty() {
                    facts.members.push(MemberFacts {
                        name: "return".to_string(),
                        present: returns.iter().map(|(r, _)| *r).collect(),
                        types,
                        rule,
                        ..MemberFacts::default()
                    });
                }
            }
            facts.allow_oob = forms
                .iter()
                .filter(|(r, id)| {
                    self.schema(*r)
                        .entity(*id)
                        .as_command()
                        .is_some_and(|c| c.allow_oob)
                })
                .map(|(r, _)| *r)
                .collect();
            let flags = [("gen", !c.gen), ("success-response", !c.success_response)];
            for (key, off) in flags {
                if off {
                    let _ = write!(text, ",\n  '{key}': false");
                }
            }
            let flags = [
                ("allow-oob", !facts.allow_oob.is_empty()),
                ("allow-preconfig", c.allow_preconfig),
                ("coroutine", c.coroutine),
            ];
            for (key, on) in flags {
                if on {
                    let _ = write!(text, ",\n  '{key}': true");
                }
            }
        }
        Self::tail(&mut text, newest);
        self.facts.items.insert(name.to_string(), facts);
        Written { module, text }
    }

    /// Gives each merged definition the documentation of its newest release that has any
    /// (a QEMU source tree's; extracts have none).
    fn attach_docs(&self, schema: &mut Schema) {
        for entity in schema.entities_mut() {
            if entity.is_implicit() && entity.name != "QType" {
                continue;
            }
            let doc = self.releases.iter().rev().find_map(|release| {
                let own = release.schema.lookup(&entity.name);
                let former = || {
                    self.alias
                        .iter()
                        .filter(|(_, new)| self.find(new) == entity.name)
                        .find_map(|(old, _)| release.schema.lookup(old))
                };
                own.or_else(former).and_then(|e| e.doc.clone())
            });
            if doc.is_some() {
                entity.doc = doc;
            }
        }
    }
}

/// Loads each schema file (oldest release first; see [`crate::load_release_file`]) and
/// merges them. Each release is labelled `X.Y` by the release its schema states (a tree's
/// `VERSION`, an extract's marker), or else by its file's stem.
pub fn load_releases(files: &[PathBuf]) -> Result<Merged, SchemaError> {
    let mut releases = Vec::with_capacity(files.len());
    for file in files {
        let schema = crate::load_release_file(file)?;
        let label = schema
            .release()
            .map(|r| format!("{}.{}", r.major, r.minor))
            .unwrap_or_else(|| {
                file.file_stem().map_or_else(
                    || file.display().to_string(),
                    |s| s.to_string_lossy().into_owned(),
                )
            });
        releases.push(ReleaseSchema::new(label, schema));
    }
    merge(&releases)
}
