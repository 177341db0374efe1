//! The resolved schema: every definition, the types QAPI defines implicitly, and the
//! semantic checks of QEMU's `scripts/qapi/schema.py`.
//!
//! A [`Schema`] is built from the checked expressions of [`crate::check`] by
//! [`Schema::build`] (or in one call from a file by [`crate::load`]). It holds
//! [`Entity`]s in definition order, QEMU's order: the built-in types first, then each
//! definition of the schema preceded by the implicit types it brought in (array types
//! `FooList`, argument types `q_obj_NAME-arg`, union bases `q_obj_NAME-base`).
//!
//! Every reference to a type is an [`EntityId`], resolved and checked; lookups by name go
//! through [`Schema::lookup`]. The model carries QAPI's meaning only: how a consumer renders
//! it (C, Rust, documentation) is the consumer's business.

mod build;

pub use crate::ast::Name;
pub use crate::common::{Builtin, Cond, JsonType};
use crate::doc::Doc;
use crate::error::SchemaError;
use crate::facts::{Release, SinceFact, SinceFacts};
use crate::source::Info;
use crate::source::Pragma;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for names (FxHash's scheme): the name tables are looked up for every
/// type reference, and the default hasher's protection against crafted keys costs several
/// times more than the lookup itself. Schema names come from the schema's author.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in chunks.by_ref() {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        // The last few bytes as one word: a round each cost as much as a whole word. Read
        // in two overlapping pieces (the bytes both hold land in the same places), not a
        // byte at a time; the count tells apart words that differ only in trailing zeros.
        let rest = chunks.remainder();
        let n = rest.len();
        if n > 0 {
            let four = |at: usize| -> u64 {
                rest.get(at..at + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
            };
            let two = |at: usize| -> u64 {
                rest.get(at..at + 2)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map_or(0, |b| u64::from(u16::from_le_bytes(b)))
            };
            let word = match n {
                4.. => four(0) | (four(n - 4) << (8 * (n - 4))),
                2.. => two(0) | (two(n - 2) << (8 * (n - 2))),
                _ => rest.first().map_or(0, |&b| u64::from(b)),
            };
            self.0 = (self.0.rotate_left(5) ^ word ^ ((n as u64) << 56)).wrapping_mul(K);
        }
    }

    // `str` hashes end with this byte, which keeps strings hashed one after the other
    // apart; the maps here are keyed by one name each, so it is skipped.
    fn write_u8(&mut self, _: u8) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by names, with [`NameHasher`].
type NameMap<V> = HashMap<Name, V, BuildHasherDefault<NameHasher>>;

/// A set of names, with [`NameHasher`].
type NameSet = std::collections::HashSet<Name, BuildHasherDefault<NameHasher>>;

/// Names an entity of a [`Schema`]; index into [`Schema::entities`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(u32);

impl EntityId {
    /// Stands for a type reference not resolved yet; never left in a built schema.
    const UNRESOLVED: EntityId = EntityId(u32::MAX);

    /// The position in [`Schema::entities`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Names a module of a [`Schema`]; index into [`Schema::modules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(u32);

impl ModuleId {
    /// The position in [`Schema::modules`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A feature of a definition, member or enum value.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// Its name.
    pub name: Name,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Where the definition carrying it starts.
    pub info: Option<Info>,
}

impl Feature {
    /// The features every schema knows, with a meaning of their own.
    pub const SPECIAL: [&'static str; 2] = ["deprecated", "unstable"];

    /// `deprecated` or `unstable`.
    pub fn is_special(&self) -> bool {
        Feature::SPECIAL.contains(&self.name.as_str())
    }

    /// `deprecated`: the thing is going away.
    pub fn is_deprecated(&self) -> bool {
        self.name == "deprecated"
    }

    /// `unstable`: the thing may change incompatibly or go away.
    pub fn is_unstable(&self) -> bool {
        self.name == "unstable"
    }
}

/// Whether any of `features` is `deprecated`.
pub fn is_deprecated(features: &[Feature]) -> bool {
    features.iter().any(Feature::is_deprecated)
}

/// Whether any of `features` is `unstable`.
pub fn is_unstable(features: &[Feature]) -> bool {
    features.iter().any(Feature::is_unstable)
}

/// One entity of the schema: a type, a command or an event.
#[derive(Clone, Debug)]
pub struct Entity {
    /// Its name (implicit types have the names QEMU gives them: `FooList`,
    /// `q_obj_NAME-arg`, `q_obj_NAME-base`, `q_empty`).
    pub name: Name,
    /// Where it is defined; for an implicit type, the definition that brought it in;
    /// `None` for built-in types (and their arrays), `q_empty` and `QType`.
    pub info: Option<Info>,
    /// Its documentation, with members and features connected.
    pub doc: Option<Doc>,
    /// Its `if` condition (an array type has its element type's).
    pub cond: Option<Box<Cond>>,
    /// Its features, in order.
    pub features: Vec<Feature>,
    /// The module (schema file) it belongs to.
    pub module: ModuleId,
    /// What it is.
    pub kind: EntityKind,
}

/// What an entity is.
#[derive(Clone, Debug)]
pub enum EntityKind {
    /// A built-in type.
    Builtin(Builtin),
    /// An enumeration.
    Enum(EnumType),
    /// An array type `FooList`.
    Array(ArrayType),
    /// A struct or union.
    Object(ObjectType),
    /// An alternate.
    Alternate(AlternateType),
    /// A command.
    Command(Command),
    /// An event.
    Event(Event),
}

impl Entity {
    /// The kind as QEMU's messages name it: `built-in`, `enum`, `array`, `struct`, `union`,
    /// `alternate`, `command` or `event`.
    pub fn meta(&self) -> &'static str {
        match &self.kind {
            EntityKind::Builtin(_) => "built-in",
            EntityKind::Enum(_) => "enum",
            EntityKind::Array(_) => "array",
            EntityKind::Object(o) if o.branches.is_some() => "union",
            EntityKind::Object(_) => "struct",
            EntityKind::Alternate(_) => "alternate",
            EntityKind::Command(_) => "command",
            EntityKind::Event(_) => "event",
        }
    }

    /// Whether it is a type (not a command or an event).
    pub fn is_type(&self) -> bool {
        !matches!(self.kind, EntityKind::Command(_) | EntityKind::Event(_))
    }

    /// Whether QAPI made it up rather than the schema defining it: built-in types, array
    /// types, `QType`, and objects named `q_...` (`q_empty`, `q_obj_...`).
    pub fn is_implicit(&self) -> bool {
        match &self.kind {
            EntityKind::Builtin(_) | EntityKind::Array(_) => true,
            EntityKind::Enum(_) => self.name == "QType",
            EntityKind::Object(_) => self.name.starts_with("q_"),
            _ => self.info.is_none(),
        }
    }

    /// The JSON shape of the type's values; `None` for commands and events.
    pub fn json_type(&self) -> Option<JsonType> {
        Some(match &self.kind {
            EntityKind::Builtin(b) => b.json_type(),
            EntityKind::Enum(_) => JsonType::String,
            EntityKind::Array(_) => JsonType::Array,
            EntityKind::Object(_) => JsonType::Object,
            EntityKind::Alternate(_) => JsonType::Value,
            EntityKind::Command(_) | EntityKind::Event(_) => return None,
        })
    }

    /// The enumeration, if it is one.
    pub fn as_enum(&self) -> Option<&EnumType> {
        match &self.kind {
            EntityKind::Enum(e) => Some(e),
            _ => None,
        }
    }

    /// The struct or union, if it is one.
    pub fn as_object(&self) -> Option<&ObjectType> {
        match &self.kind {
            EntityKind::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The array type, if it is one.
    pub fn as_array(&self) -> Option<&ArrayType> {
        match &self.kind {
            EntityKind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The alternate, if it is one.
    pub fn as_alternate(&self) -> Option<&AlternateType> {
        match &self.kind {
            EntityKind::Alternate(a) => Some(a),
            _ => None,
        }
    }

    /// The command, if it is one.
    pub fn as_command(&self) -> Option<&Command> {
        match &self.kind {
            EntityKind::Command(c) => Some(c),
            _ => None,
        }
    }

    /// The event, if it is one.
    pub fn as_event(&self) -> Option<&Event> {
        match &self.kind {
            EntityKind::Event(e) => Some(e),
            _ => None,
        }
    }

    /// Whether it has the `deprecated` feature.
    pub fn is_deprecated(&self) -> bool {
        is_deprecated(&self.features)
    }

    /// Whether it has the `unstable` feature.
    pub fn is_unstable(&self) -> bool {
        is_unstable(&self.features)
    }
}

/// An enumeration.
#[derive(Clone, Debug)]
pub struct EnumType {
    /// The values, in order.
    pub members: Vec<EnumMember>,
    /// The `prefix` QEMU uses for its C constants, if given.
    pub prefix: Option<Name>,
}

impl EnumType {
    /// The value named `name`.
    pub fn member(&self, name: &str) -> Option<&EnumMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// One value of an enumeration. Where it is defined is where its enumeration is (the
/// [`Entity::info`] of the enumeration holding it).
// No position of its own: the enumeration's, copied into every value, made each value a
// third larger, and kept the values from being made in place of their expressions.
#[derive(Clone, Debug)]
pub struct EnumMember {
    /// The value as it goes over the wire.
    pub name: Name,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Its features.
    pub features: Vec<Feature>,
}

/// An array type: the type of `[ 'Foo' ]`, named `FooList`.
#[derive(Clone, Debug)]
pub struct ArrayType {
    /// The element type (never an array).
    pub element: EntityId,
}

/// A struct or a union (an object type).
#[derive(Clone, Debug)]
pub struct ObjectType {
    /// The base type, whose members come first. For a union with inline base members, the
    /// implicit `q_obj_NAME-base`.
    pub base: Option<EntityId>,
    /// All members: the base's (recursively), then the local ones. Kept once, the local
    /// ones as a suffix, rather than in two lists holding copies of the same members.
    members: Vec<Member>,
    /// Where the local members start in `members`.
    local_start: usize,
    /// For a union: the discriminator and the branches. Boxed: only a few dozen object
    /// types are unions, and inline it made every entity 40 bytes larger.
    pub branches: Option<Box<Branches>>,
}

impl ObjectType {
    /// All members: the base's (recursively), then the local ones.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The members declared by the type itself, in order.
    pub fn local_members(&self) -> &[Member] {
        self.members.get(self.local_start..).unwrap_or_default()
    }

    /// Whether it is a union.
    pub fn is_union(&self) -> bool {
        self.branches.is_some()
    }

    /// Whether it has neither members nor branches.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.branches.is_none()
    }

    /// The member named `name` (among all members).
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Whether some member is conditional.
    pub fn has_conditional_members(&self) -> bool {
        self.members.iter().any(|m| m.cond.is_some())
    }
}

/// A member of an object type (or an argument of a command, or a datum of an event).
#[derive(Clone, Debug)]
pub struct Member {
    /// The name on the wire.
    pub name: Name,
    /// Its type.
    pub ty: EntityId,
    /// Whether it may be absent (written `*name`).
    pub optional: bool,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Its features.
    pub features: Vec<Feature>,
    /// Where the type declaring it is defined.
    pub info: Option<Info>,
    /// The object type that declares it (for inherited members, the base).
    pub defined_in: EntityId,
}

impl Member {
    /// Whether it has the `deprecated` feature.
    pub fn is_deprecated(&self) -> bool {
        is_deprecated(&self.features)
    }

    /// Whether it has the `unstable` feature.
    pub fn is_unstable(&self) -> bool {
        is_unstable(&self.features)
    }
}

/// The branches of a union, selected by the value of the discriminator member.
#[derive(Clone, Debug)]
pub struct Branches {
    /// The name of the discriminator (a member of the base, of enum type).
    pub tag: Name,
    /// The discriminator's enum type.
    pub tag_type: EntityId,
    /// One branch per discriminator value: first those written, then, in enum order, the
    /// values the schema left out, each with the empty type `q_empty`.
    pub variants: Vec<Variant>,
}

impl Branches {
    /// The branch for discriminator value `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}

/// A union branch or an alternative of an alternate.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The discriminator value (unions) or the alternative's name (alternates).
    pub name: Name,
    /// Its type: an object type for unions; for alternates any type that can be told
    /// apart from the others by its JSON shape.
    pub ty: EntityId,
    /// Its `if` condition.
    pub cond: Option<Box<Cond>>,
    /// Where the union or alternate is defined.
    pub info: Option<Info>,
    /// The type that declares it: the union or alternate; for an implicit empty branch,
    /// the type declaring the discriminator.
    pub defined_in: EntityId,
}

/// An alternate: a value of one of several types, told apart by JSON shape.
#[derive(Clone, Debug)]
pub struct AlternateType {
    /// The alternatives, in order.
    pub variants: Vec<Variant>,
}

/// A command.
#[derive(Clone, Debug)]
pub struct Command {
    /// The arguments' type: an object type, the implicit `q_obj_NAME-arg` for inline
    /// arguments; `None` when it takes none.
    pub arg_type: Option<EntityId>,
    /// What it returns; `None` when it returns nothing (an empty object on the wire).
    pub ret_type: Option<EntityId>,
    /// `gen`: false when QEMU's handler is not generated.
    pub gen: bool,
    /// `success-response`: false when no reply is sent on success.
    pub success_response: bool,
    /// `boxed`: the arguments are passed as one object (may then be a union).
    pub boxed: bool,
    /// `allow-oob`: may be executed out of band.
    pub allow_oob: bool,
    /// `allow-preconfig`: may run before the machine is configured.
    pub allow_preconfig: bool,
    /// `coroutine`: QEMU runs the handler in a coroutine.
    pub coroutine: bool,
}

/// An event.
#[derive(Clone, Debug)]
pub struct Event {
    /// The data's type (the implicit `q_obj_NAME-arg` for inline data); `None` when it
    /// carries none.
    pub arg_type: Option<EntityId>,
    /// `boxed`: the data is passed as one object (may then be a union).
    pub boxed: bool,
}

/// A module: one schema file, or `./builtin` for the built-in types.
#[derive(Clone, Debug)]
pub struct Module {
    /// The file relative to the main schema file's folder, or `./builtin`.
    pub name: String,
    /// Its entities and include directives, in definition order.
    pub items: Vec<ModuleItem>,
}

impl Module {
    /// The name of the module of the built-in types.
    pub const BUILTIN: &'static str = "./builtin";

    /// Whether this is the module of the built-in types.
    pub fn is_builtin(&self) -> bool {
        self.name == Module::BUILTIN
    }
}

/// One item of a module.
#[derive(Clone, Debug)]
pub enum ModuleItem {
    /// An entity defined in the module (implicit types go to the module of what brought
    /// them in; array types to their element type's module).
    Entity(EntityId),
    /// An `include` directive.
    Include {
        /// The included module.
        module: ModuleId,
        /// Where the directive stands.
        info: Info,
    },
}

/// How many definitions of each kind a schema has (implicit types not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Commands.
    pub commands: usize,
    /// Events.
    pub events: usize,
    /// Structs.
    pub structs: usize,
    /// Unions.
    pub unions: usize,
    /// Alternates.
    pub alternates: usize,
    /// Enumerations.
    pub enums: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} commands, {} events, {} structs, {} unions, {} alternates, {} enums",
            self.commands, self.events, self.structs, self.unions, self.alternates, self.enums
        )
    }
}

/// A resolved, checked schema.
#[derive(Clone, Debug)]
pub struct Schema {
    entities: Vec<Entity>,
    by_name: NameMap<EntityId>,
    modules: Vec<Module>,
    docs: Vec<Doc>,
    pragma: Pragma,
    feature_names: Vec<Name>,
    warnings: Vec<SchemaError>,
    /// The since facts of since markers (an extract's); a documented definition's come
    /// from its doc block instead.
    since: SinceFacts,
    release: Option<Release>,
}

impl Schema {
    /// Every entity in definition order (see the module documentation), built-in and
    /// implicit types included.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The entities, to change what the checks do not look at (documentation).
    pub(crate) fn entities_mut(&mut self) -> &mut [Entity] {
        &mut self.entities
    }

    /// Every entity with its id, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (EntityId, &Entity)> {
        self.entities
            .iter()
            .enumerate()
            .map(|(i, e)| (EntityId(i as u32), e))
    }

    /// The entity `id` stands for.
    ///
    /// # Panics
    ///
    /// If `id` does not come from this schema.
    pub fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id.index()]
    }

    /// The name of entity `id`.
    pub fn name(&self, id: EntityId) -> &str {
        &self.entity(id).name
    }

    /// The id of the entity named `name`.
    pub fn lookup_id(&self, name: &str) -> Option<EntityId> {
        self.by_name.get(name).copied()
    }

    /// The entity named `name`.
    pub fn lookup(&self, name: &str) -> Option<&Entity> {
        self.lookup_id(name).map(|id| self.entity(id))
    }

    /// The commands, in definition order.
    pub fn commands(&self) -> impl Iterator<Item = (&Entity, &Command)> {
        self.entities
            .iter()
            .filter_map(|e| e.as_command().map(|c| (e, c)))
    }

    /// The events, in definition order.
    pub fn events(&self) -> impl Iterator<Item = (&Entity, &Event)> {
        self.entities
            .iter()
            .filter_map(|e| e.as_event().map(|v| (e, v)))
    }

    /// The modules: `./builtin`, the main file, then the included files in the order they
    /// were first included.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The module `id` stands for.
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id.index()]
    }

    /// Every documentation block in reading order, free-form ones included, with the
    /// definitions' members and features connected.
    pub fn docs(&self) -> &[Doc] {
        &self.docs
    }

    /// The pragmas in force.
    pub fn pragma(&self) -> &Pragma {
        &self.pragma
    }

    /// Every feature name the schema uses, the special ones (`deprecated`, `unstable`)
    /// first, then in order of first use.
    pub fn feature_names(&self) -> &[Name] {
        &self.feature_names
    }

    /// Warnings collected while reading (formatting-only rules, when not strict).
    pub fn warnings(&self) -> &[SchemaError] {
        &self.warnings
    }

    /// The QEMU release the schema belongs to, when known (see
    /// [`crate::parse::ParsedSchema::release`]); where QEMU's front ends differ from
    /// release to release (the built-in `QType`'s prefix), the model is that release's.
    pub fn release(&self) -> Option<Release> {
        self.release
    }

    /// The release that introduced `definition` (named as in the schema), as QEMU writes
    /// it (`2.12`, `7.1`): from the definition's `Since:` section, or, in a doc-free
    /// extract, from its since marker. `None` when neither names a version.
    pub fn since(&self, definition: &str) -> Option<&str> {
        match self.doc_of(definition) {
            Some(doc) => doc.since_version(),
            None => self.since.since(definition),
        }
    }

    /// The release that introduced `member` of `definition`, when the schema states one:
    /// `member` is a member, enum value or branch, and `definition` the definition whose
    /// doc block describes it (for a command's inline arguments or an event's inline data,
    /// the command or event). From the description's `(since X.Y)`, or, in a doc-free
    /// extract, from the member's since marker.
    pub fn member_since(&self, definition: &str, member: &str) -> Option<&str> {
        match self.doc_of(definition) {
            Some(doc) => doc.member_since(member),
            None => self.since.member_since(definition, member),
        }
    }

    /// Every since fact of the schema's definitions, definition after definition in
    /// definition order, each definition's own first, then its members' in the order its
    /// doc block describes them. The same for a QEMU tree and for its doc-free extract.
    pub fn since_facts(&self) -> Vec<SinceFact<'_>> {
        let mut facts = Vec::new();
        for entity in &self.entities {
            let definition = entity.name.as_str();
            let Some(doc) = &entity.doc else {
                facts.extend(self.since.of(definition));
                continue;
            };
            let own = doc.since_version().map(|version| SinceFact {
                definition,
                member: None,
                version,
            });
            facts.extend(own);
            facts.extend(doc.members_since().map(|(member, version)| SinceFact {
                definition,
                member: Some(member),
                version,
            }));
        }
        facts
    }

    /// The doc block of the definition named `name`.
    fn doc_of(&self, name: &str) -> Option<&Doc> {
        self.lookup(name)?.doc.as_ref()
    }

    /// How many definitions of each kind the schema has.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for entity in &self.entities {
            match &entity.kind {
                EntityKind::Command(_) => counts.commands += 1,
                EntityKind::Event(_) => counts.events += 1,
                EntityKind::Alternate(_) => counts.alternates += 1,
                EntityKind::Enum(_) if !entity.is_implicit() => counts.enums += 1,
                EntityKind::Object(o) if !entity.is_implicit() => {
                    if o.is_union() {
                        counts.unions += 1;
                    } else {
                        counts.structs += 1;
                    }
                }
                _ => {}
            }
        }
        counts
    }

    /// How QEMU's messages describe type `id`: `struct type 'Foo'`,
    /// `built-in type 'int'`, `array type ['Foo']`, ...
    pub fn describe(&self, id: EntityId) -> String {
        let entity = self.entity(id);
        describe_entity(entity, |elt| self.name(elt).to_string())
    }
}

/// `META type 'NAME'` (types) or `META 'NAME'` (commands, events); arrays are described
/// by their element's name.
fn describe_entity(entity: &Entity, element_name: impl Fn(EntityId) -> String) -> String {
    match &entity.kind {
        EntityKind::Array(a) => format!("array type ['{}']", element_name(a.element)),
        _ if entity.is_type() => format!("{} type '{}'", entity.meta(), entity.name),
        _ => format!("{} '{}'", entity.meta(), entity.name),
    }
}
