//! The API changes between two schemas (two QEMU releases, or two builds): commands,
//! events and types added or removed; members added or removed, made optional or
//! required, or given another type; enum values and union branches added or removed; and
//! the `deprecated` and `unstable` features (and any other) added or dropped.
//!
//! Commands and events are compared by what a client sends and receives: a command's
//! arguments member by member (whether declared inline or as a named type), its return
//! type by name, an event's data member by member. Named types are compared on their own;
//! implicit types (`q_obj_...`) and arrays only through what uses them.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{EntityId, EntityKind, Feature, Member, Schema};

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ChangeKind {
    /// The item or member is new.
    Added,
    /// The item or member is gone.
    Removed,
    /// A member's type (or a command's return type) is another.
    TypeChanged,
    /// A required member became optional.
    BecameOptional,
    /// An optional member became required.
    BecameRequired,
    /// A type became another kind of type (a struct became a union, ...).
    KindChanged,
    /// A feature was added (`deprecated`, `unstable`, or another).
    FeatureAdded,
    /// A feature was dropped.
    FeatureRemoved,
    /// A command may now, or may no longer, be executed out of band.
    OobChanged,
}

impl ChangeKind {
    /// A short name for the change, as the text and JSON forms print it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::TypeChanged => "type-changed",
            ChangeKind::BecameOptional => "became-optional",
            ChangeKind::BecameRequired => "became-required",
            ChangeKind::KindChanged => "kind-changed",
            ChangeKind::FeatureAdded => "feature-added",
            ChangeKind::FeatureRemoved => "feature-removed",
            ChangeKind::OobChanged => "oob-changed",
        }
    }
}

/// What a change is about, below its item.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The item itself.
    Item,
    /// A member (of a type, a command's arguments or an event's data).
    Member(String),
    /// A value of an enum.
    Value(String),
    /// A branch of a union or an alternative of an alternate.
    Branch(String),
    /// A command's return type.
    Returns,
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// `command`, `event`, or the kind of type (`struct`, `union`, `enum`, `alternate`).
    pub item_kind: &'static str,
    /// The command's, event's or type's name.
    pub item: String,
    /// What of it changed.
    pub part: Part,
    /// How.
    pub kind: ChangeKind,
    /// The old type, optionality or feature, where the change has one.
    pub old: Option<String>,
    /// The new one.
    pub new: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.kind {
            ChangeKind::Added => '+',
            ChangeKind::Removed => '-',
            _ => '~',
        };
        write!(f, "{sign} {} {}", self.item_kind, self.item)?;
        match &self.part {
            Part::Item => {}
            Part::Member(m) => write!(f, " member {m}")?,
            Part::Value(v) => write!(f, " value {v}")?,
            Part::Branch(b) => write!(f, " branch {b}")?,
            Part::Returns => write!(f, " returns")?,
        }
        match (self.kind, &self.old, &self.new) {
            (ChangeKind::Added, _, Some(new)) => write!(f, " ({new})"),
            (ChangeKind::Added | ChangeKind::Removed, _, _) => Ok(()),
            (_, Some(old), Some(new)) => write!(f, ": {} {old} -> {new}", self.kind.as_str()),
            (_, None, Some(new)) => write!(f, ": {} {new}", self.kind.as_str()),
            (_, Some(old), None) => write!(f, ": {} {old}", self.kind.as_str()),
            (_, None, None) => write!(f, ": {}", self.kind.as_str()),
        }
    }
}

/// The changes from `old` to `new`, sorted by item kind, item and part.
pub fn diff(old: &Schema, new: &Schema) -> Vec<Change> {
    let old_api = Api::of(old);
    let new_api = Api::of(new);
    let mut changes = Vec::new();
    let names: std::collections::BTreeSet<&(&'static str, String)> =
        old_api.items.keys().chain(new_api.items.keys()).collect();
    for key in names {
        let (group, name) = key;
        match (old_api.items.get(key), new_api.items.get(key)) {
            (Some(a), None) => changes.push(change(a.kind, name, Part::Item, ChangeKind::Removed)),
            (None, Some(b)) => changes.push(change(b.kind, name, Part::Item, ChangeKind::Added)),
            (Some(a), Some(b)) => compare(group, name, a, b, &mut changes),
            (None, None) => {}
        }
    }
    changes
}

fn change(item_kind: &'static str, item: &str, part: Part, kind: ChangeKind) -> Change {
    Change {
        item_kind,
        item: item.to_owned(),
        part,
        kind,
        old: None,
        new: None,
    }
}

/// One item as the diff sees it.
struct Item {
    kind: &'static str,
    features: Vec<String>,
    /// Members by name: type, optionality, features.
    members: BTreeMap<String, MemberFacts>,
    values: BTreeMap<String, Vec<String>>,
    branches: BTreeMap<String, String>,
    returns: Option<String>,
    allow_oob: bool,
}

#[derive(PartialEq)]
struct MemberFacts {
    ty: String,
    optional: bool,
    features: Vec<String>,
}

/// A schema's API: its items keyed by (group, name), the group keeping commands, events
/// and types apart (QAPI names may repeat across them only in theory, but the output
/// groups them so).
struct Api {
    items: BTreeMap<(&'static str, String), Item>,
}

fn feature_names(features: &[Feature]) -> Vec<String> {
    features.iter().map(|f| f.name.to_string()).collect()
}

fn type_name(schema: &Schema, id: EntityId) -> String {
    match &schema.entity(id).kind {
        EntityKind::Array(array) => format!("[{}]", type_name(schema, array.element)),
        _ => schema.name(id).to_owned(),
    }
}

fn members_of(schema: &Schema, id: Option<EntityId>) -> BTreeMap<String, MemberFacts> {
    let Some(id) = id else {
        return BTreeMap::new();
    };
    let Some(object) = schema.entity(id).as_object() else {
        return BTreeMap::new();
    };
    object
        .members()
        .iter()
        .map(|m: &Member| {
            (
                m.name.to_string(),
                MemberFacts {
                    ty: type_name(schema, m.ty),
                    optional: m.optional,
                    features: feature_names(&m.features),
                },
            )
        })
        .collect()
}

impl Api {
    fn of(schema: &Schema) -> Api {
        let mut items = BTreeMap::new();
        for (id, entity) in schema.iter() {
            let mut item = Item {
                kind: entity.meta(),
                features: feature_names(&entity.features),
                members: BTreeMap::new(),
                values: BTreeMap::new(),
                branches: BTreeMap::new(),
                returns: None,
                allow_oob: false,
            };
            let group = match &entity.kind {
                EntityKind::Command(command) => {
                    item.members = members_of(schema, command.arg_type);
                    item.returns = command.ret_type.map(|r| type_name(schema, r));
                    item.allow_oob = command.allow_oob;
                    "1 command"
                }
                EntityKind::Event(event) => {
                    item.members = members_of(schema, event.arg_type);
                    "2 event"
                }
                _ if entity.is_implicit() => continue,
                EntityKind::Builtin(_) | EntityKind::Array(_) => continue,
                EntityKind::Enum(e) => {
                    item.values = e
                        .members
                        .iter()
                        .map(|v| (v.name.to_string(), feature_names(&v.features)))
                        .collect();
                    "3 type"
                }
                EntityKind::Object(object) => {
                    item.members = members_of(schema, Some(id));
                    if let Some(branches) = &object.branches {
                        item.branches = branches
                            .variants
                            .iter()
                            .map(|v| (v.name.to_string(), type_name(schema, v.ty)))
                            .collect();
                    }
                    "3 type"
                }
                EntityKind::Alternate(alternate) => {
                    item.branches = alternate
                        .variants
                        .iter()
                        .map(|v| (v.name.to_string(), type_name(schema, v.ty)))
                        .collect();
                    "3 type"
                }
            };
            items.insert((group, entity.name.to_string()), item);
        }
        Api { items }
    }
}

fn compare(_group: &str, name: &str, a: &Item, b: &Item, out: &mut Vec<Change>) {
    let kind = b.kind;
    let with =
        |part: Part, change_kind: ChangeKind, old: Option<String>, new: Option<String>| Change {
            item_kind: kind,
            item: name.to_owned(),
            part,
            kind: change_kind,
            old,
            new,
        };
    if a.kind != b.kind {
        out.push(with(
            Part::Item,
            ChangeKind::KindChanged,
            Some(a.kind.into()),
            Some(b.kind.into()),
        ));
    }
    features(&a.features, &b.features, Part::Item, &with, out);
    if a.returns != b.returns {
        out.push(with(
            Part::Returns,
            ChangeKind::TypeChanged,
            a.returns.clone(),
            b.returns.clone(),
        ));
    }
    if a.allow_oob != b.allow_oob {
        out.push(with(
            Part::Item,
            ChangeKind::OobChanged,
            Some(a.allow_oob.to_string()),
            Some(b.allow_oob.to_string()),
        ));
    }
    for member in a
        .members
        .keys()
        .chain(b.members.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let part = || Part::Member(member.clone());
        match (a.members.get(member), b.members.get(member)) {
            (Some(_), None) => out.push(with(part(), ChangeKind::Removed, None, None)),
            (None, Some(m)) => out.push(with(
                part(),
                ChangeKind::Added,
                None,
                Some(format!(
                    "{}{}",
                    if m.optional { "optional " } else { "" },
                    m.ty
                )),
            )),
            (Some(x), Some(y)) => {
                if x.ty != y.ty {
                    out.push(with(
                        part(),
                        ChangeKind::TypeChanged,
                        Some(x.ty.clone()),
                        Some(y.ty.clone()),
                    ));
                }
                if x.optional != y.optional {
                    let kind = if y.optional {
                        ChangeKind::BecameOptional
                    } else {
                        ChangeKind::BecameRequired
                    };
                    out.push(with(part(), kind, None, None));
                }
                features(&x.features, &y.features, part(), &with, out);
            }
            (None, None) => {}
        }
    }
    for value in a
        .values
        .keys()
        .chain(b.values.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let part = || Part::Value(value.clone());
        match (a.values.get(value), b.values.get(value)) {
            (Some(_), None) => out.push(with(part(), ChangeKind::Removed, None, None)),
            (None, Some(_)) => out.push(with(part(), ChangeKind::Added, None, None)),
            (Some(x), Some(y)) => features(x, y, part(), &with, out),
            (None, None) => {}
        }
    }
    for branch in a
        .branches
        .keys()
        .chain(b.branches.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let part = || Part::Branch(branch.clone());
        match (a.branches.get(branch), b.branches.get(branch)) {
            (Some(_), None) => out.push(with(part(), ChangeKind::Removed, None, None)),
            (None, Some(t)) => out.push(with(part(), ChangeKind::Added, None, Some(t.clone()))),
            (Some(x), Some(y)) if x != y => out.push(with(
                part(),
                ChangeKind::TypeChanged,
                Some(x.clone()),
                Some(y.clone()),
            )),
            _ => {}
        }
    }
}

fn features(
    old: &[String],
    new: &[String],
    part: Part,
    with: &impl Fn(Part, ChangeKind, Option<String>, Option<String>) -> Change,
    out: &mut Vec<Change>,
) {
    for f in new.iter().filter(|f| !old.contains(f)) {
        out.push(with(
            part.clone(),
            ChangeKind::FeatureAdded,
            None,
            Some(f.clone()),
        ));
    }
    for f in old.iter().filter(|f| !new.contains(f)) {
        out.push(with(
            part.clone(),
            ChangeKind::FeatureRemoved,
            Some(f.clone()),
            None,
        ));
    }
}
