//! Building a [`Schema`] from checked expressions: defining the entities (with the implicit
//! types they need), then resolving and checking them one by one in definition order, as
//! QEMU's `QAPISchema` does, so that the first error reported is the one QEMU reports.

use super::{
    describe_entity, AlternateType, ArrayType, Branches, Builtin, Command, Cond, EntityId,
    EntityKind, EnumMember, EnumType, Event, Feature, JsonType, Member, Module, ModuleId,
    ModuleItem, ObjectType, Schema, Variant,
};
use super::{Entity, Name, NameHasher, NameMap, NameSet};
use crate::check::{
    c_name, c_name_key, BranchExpr, CheckedSchema, EnumMemberExpr, Expr, ExprBody, FeatureExpr,
    Item, MemberExpr, Origin, TypeName, TypeOrMembers,
};
use crate::doc::Doc;
use crate::error::{Result, SchemaError};
use crate::facts::{Release, SinceFacts};
use crate::parse::ParsedSchema;
use crate::source::Info;
use crate::source::Pragma;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::{Component, Path, PathBuf};

/// QEMU's generated code keeps feature sets in 64-bit masks.
const MAX_FEATURES: usize = 64;

/// How deep object checks may recurse through bases and branches; real schemas need a
/// handful of levels.
const MAX_DEPTH: usize = 256;

impl Schema {
    /// Resolves and checks the definitions of `checked`, read from the main schema file
    /// `root` (module names are relative to its folder).
    ///
    /// Applies QEMU's semantic rules (unknown and misused types, name clashes, union
    /// discriminators, alternate ambiguity, returns, boxed arguments, features, ...) and
    /// hooks documentation up as QEMU does; stops at the first broken rule.
    pub fn build(checked: CheckedSchema, root: &Path) -> Result<Schema> {
        let CheckedSchema {
            items,
            docs,
            pragma,
            warnings,
            marker_files,
            since,
            release,
        } = checked;
        Builder::new(root, pragma, docs, marker_files, since, release).run(
            items,
            |item, _| Ok(item),
            warnings,
        )
    }

    /// Checks the definitions of `parsed` and builds the model, as
    /// `Schema::build(check_schema(parsed)?, root)` does, with the same first error; but
    /// each definition is modelled as soon as it is checked, so the checked form of the
    /// whole schema never exists at once (it is about as large as the model, and memory
    /// touched is most of what loading a large schema costs).
    pub fn from_parsed(parsed: ParsedSchema, root: &Path) -> Result<Schema> {
        let ParsedSchema {
            items,
            docs,
            pragma,
            warnings,
            marker_files,
            since,
            release,
        } = parsed;
        Builder::new(root, pragma, docs, marker_files, since, release).run(
            items,
            crate::check::check_item,
            warnings,
        )
    }
}

impl Builder {
    /// Models `items` in order, each made a checked item by `check` just before, then
    /// applies the rules that need the whole schema.
    fn run<T>(
        mut self,
        items: Vec<T>,
        check: impl Fn(T, &Pragma) -> Result<Item>,
        warnings: Vec<SchemaError>,
    ) -> Result<Schema> {
        // Definitions bring in a few implicit and array types each: room for all of them
        // at once, rather than moving every entity several times as the vectors grow.
        self.reserve(items.len() * 2);
        self.def_predefineds()?;
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            let item = check(item, &self.pragma)?;
            if let Err(e) = self.def_item(item) {
                // Every definition is checked before any is modelled: a later one's
                // broken shape is the first error.
                for item in items {
                    check(item, &self.pragma)?;
                }
                return Err(e);
            }
        }
        // Given back before the checks below allocate.
        drop(items);
        self.check()?;
        Ok(self.finish(warnings))
    }
}

/// Progress of an object type's check, which recurses into bases and branches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Fresh,
    InProgress,
    Done,
}

/// What the builder keeps about an entity while checking it: the type names it has still
/// to resolve, as places in [`Builder::pending_names`] (with the names in it each entry
/// took 150 bytes rather than 48), how far its check is, and where its members'
/// fingerprints are. One table rather than one per item: an entry is added per entity.
#[derive(Clone, Debug, Default)]
struct Pending {
    /// Object base type.
    base: Option<u32>,
    /// Types of an object's local members, in order.
    member_types: std::ops::Range<u32>,
    /// Types of a union's or alternate's branches, in order.
    variant_types: std::ops::Range<u32>,
    /// Command or event argument type.
    arg: Option<u32>,
    /// Command return type.
    ret: Option<u32>,
    /// How far its check is.
    state: State,
    /// Where its members' [`c_name_key`]s are in [`Builder::member_keys`] (empty until
    /// checked).
    keys: (u32, u32),
}

/// The entity list of QEMU: definitions interleaved with include directives.
enum Listed {
    Entity(EntityId),
    Include(ModuleId, Info),
}

/// A member (or value, branch, feature) already seen, for the clash rules.
#[derive(Clone)]
struct Seen {
    cname: String,
    name: Name,
    role: &'static str,
    defined_in: Name,
}

struct Builder {
    entities: Vec<Entity>,
    /// The definition behind each entity, for messages; `None` for predefined ones.
    origins: Vec<Option<Origin>>,
    pending: Vec<Pending>,
    by_name: NameMap<EntityId>,
    listed: Vec<Listed>,
    modules: Vec<Module>,
    module_ids: NameMap<ModuleId>,
    /// The type names entities have still to resolve (see [`Pending`]), entity after
    /// entity: one vector rather than one per entity.
    pending_names: Vec<Name>,
    /// Feature names in order of first use, with where that was.
    features: Vec<(Name, Option<Origin>)>,
    pragma: Pragma,
    schema_dir: PathBuf,
    /// Every doc block, in reading order. A definition's is connected here (the
    /// definition's own copy let go, so that connecting does not copy it), and the
    /// definition given a copy when all are done.
    docs: Vec<Option<Doc>>,
    /// Where each definition's doc sits in `docs`.
    doc_slots: Vec<(EntityId, usize)>,
    doc_cursor: usize,
    /// Feature names in `features`, for quick lookup.
    feature_set: NameSet,
    /// Current recursion depth of object checks.
    depth: usize,
    /// [`c_name_key`] of each member of every object type checked so far, object after
    /// object (see [`Pending::keys`]): the clash rules compare these, and only build C
    /// names for an equal pair. One vector rather than one per object.
    member_keys: Vec<u64>,
    /// A vector to work out an object's keys in, reused from object to object.
    key_scratch: Vec<u64>,
    /// Files that module markers named: their modules are named after the marker.
    marker_files: Vec<&'static PathBuf>,
    /// The since facts of the schema's since markers.
    since: SinceFacts,
    /// The QEMU release of the schema, when known.
    release: Option<Release>,
    /// The main schema file's folder as given, which marker-named files sit under.
    root_dir: PathBuf,
    /// The current directory, asked for once, and only when a path is relative.
    cwd: Option<PathBuf>,
    /// The module of each file name seen so far (interned names, keyed by address): a
    /// file's module is worked out once, not once per definition.
    file_modules: HashMap<usize, ModuleId, BuildHasherDefault<NameHasher>>,
    /// The last file looked up in `file_modules`, and its module.
    last_file_module: Option<(usize, ModuleId)>,
    /// The entity of each built-in type, by [`Builtin`] discriminant.
    builtin_ids: [EntityId; Builtin::ALL.len()],
    /// The entity of `q_empty`, the type of the branches a union leaves out.
    empty_id: EntityId,
    /// The array types, which take their element types' conditions at the end.
    arrays: Vec<EntityId>,
}

impl Builder {
    fn new(
        root: &Path,
        pragma: Pragma,
        docs: Vec<Doc>,
        marker_files: Vec<&'static PathBuf>,
        since: SinceFacts,
        release: Option<Release>,
    ) -> Builder {
        let mut cwd = None;
        let root_abs = crate::source::absolute(root, &mut cwd);
        let schema_dir = root_abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut b = Builder {
            entities: Vec::new(),
            origins: Vec::new(),
            pending: Vec::new(),
            by_name: NameMap::default(),
            listed: Vec::new(),
            modules: Vec::new(),
            module_ids: NameMap::default(),
            pending_names: Vec::new(),
            features: Feature::SPECIAL
                .iter()
                .map(|f| (Name::new_static(f), None))
                .collect(),
            pragma,
            schema_dir,
            docs: docs.into_iter().map(Some).collect(),
            doc_slots: Vec::new(),
            doc_cursor: 0,
            feature_set: Feature::SPECIAL
                .iter()
                .map(|f| Name::new_static(f))
                .collect(),
            depth: 0,
            member_keys: Vec::new(),
            key_scratch: Vec::new(),
            marker_files,
            since,
            release,
            root_dir: root.parent().map(Path::to_path_buf).unwrap_or_default(),
            cwd,
            file_modules: HashMap::default(),
            last_file_module: None,
            builtin_ids: [EntityId::UNRESOLVED; Builtin::ALL.len()],
            empty_id: EntityId::UNRESOLVED,
            arrays: Vec::new(),
        };
        let builtin = b.make_module(Module::BUILTIN.to_string());
        debug_assert_eq!(builtin, Builder::BUILTIN_MODULE);
        let root_name = b.module_name(root);
        b.make_module(root_name);
        b
    }

    fn reserve(&mut self, entities: usize) {
        self.entities.reserve(entities);
        self.origins.reserve(entities);
        self.pending.reserve(entities);
        self.member_keys.reserve(entities * 2);
        self.listed.reserve(entities);
        self.by_name.reserve(entities);
        // Type references: about two per entity (members, branches, bases, arguments).
        self.pending_names.reserve(entities * 2);
        // Modules: a few dozen files, more often than not; room made once rather than
        // rehashing their tables as they fill.
        self.module_ids.reserve(64);
        self.file_modules.reserve(64);
        self.doc_slots.reserve(entities / 2);
    }

    // -----------------------------------------------------------------------------------
    // Modules

    fn module_name(&mut self, file: &Path) -> String {
        if self.marker_files.iter().any(|f| f.as_path() == file) {
            // The marker's text, joined to the folder of the file it stands in: what
            // it says is the module's name (resolving it could climb past `/`).
            if let Ok(rest) = file.strip_prefix(&self.root_dir) {
                return tidy(rest).to_string_lossy().into_owned();
            }
        }
        if let Some(name) = plain_relative(file, &self.root_dir) {
            return name.to_string();
        }
        relative(
            &crate::source::absolute(file, &mut self.cwd),
            &self.schema_dir,
        )
        .to_string_lossy()
        .into_owned()
    }

    fn make_module(&mut self, name: String) -> ModuleId {
        if let Some(&id) = self.module_ids.get(name.as_str()) {
            return id;
        }
        let id = ModuleId(self.modules.len() as u32);
        self.module_ids.insert(Name::new(&name), id);
        self.modules.push(Module {
            name,
            items: Vec::new(),
        });
        id
    }

    /// The module of a position; built-in when there is none.
    fn module_of(&mut self, info: Option<&Info>) -> ModuleId {
        match info {
            Some(info) => self.module_of_file(info.file),
            // Made first, by `Builder::new`.
            None => Builder::BUILTIN_MODULE,
        }
    }

    /// The module of the built-in types.
    const BUILTIN_MODULE: ModuleId = ModuleId(0);

    /// The module of the (interned) file name `file`.
    fn module_of_file(&mut self, file: &'static PathBuf) -> ModuleId {
        let key = file as *const PathBuf as usize;
        // Definitions come file by file: most often the file of the one before.
        if let Some((last, id)) = self.last_file_module {
            if last == key {
                return id;
            }
        }
        if let Some(&id) = self.file_modules.get(&key) {
            self.last_file_module = Some((key, id));
            return id;
        }
        let name = self.module_name(file);
        // Every file read had its module made when it was included; making it here too
        // keeps a surprise from turning into a panic.
        let id = self.make_module(name);
        self.file_modules.insert(key, id);
        id
    }

    // -----------------------------------------------------------------------------------
    // Definitions

    /// Adds an entity, rejecting a name defined before.
    fn def_entity(
        &mut self,
        mut entity: Entity,
        origin: Option<Origin>,
        pending: Pending,
    ) -> Result<EntityId> {
        let id = EntityId(self.entities.len() as u32);
        // One lookup both finds an earlier definition and makes room for this one.
        match self.by_name.entry(entity.name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
            Entry::Occupied(other) => {
                let other = *other.get();
                return Err(self.redefinition(&entity, origin.as_ref(), other));
            }
        }
        // Members and branches declared here are defined in the new entity.
        match &mut entity.kind {
            EntityKind::Object(o) => {
                // Not checked yet: `members` holds the local ones only.
                for m in &mut o.members {
                    m.defined_in = id;
                }
                if let Some(b) = &mut o.branches {
                    for v in &mut b.variants {
                        v.defined_in = id;
                    }
                }
            }
            EntityKind::Alternate(a) => {
                for v in &mut a.variants {
                    v.defined_in = id;
                }
            }
            _ => {}
        }
        self.entities.push(entity);
        self.origins.push(origin);
        self.pending.push(pending);
        self.listed.push(Listed::Entity(id));
        Ok(id)
    }

    /// The error for `entity` (from `origin`) taking the name of entity `other`.
    #[cold]
    fn redefinition(
        &self,
        entity: &Entity,
        origin: Option<&Origin>,
        other: EntityId,
    ) -> SchemaError {
        let message = match &self.origins[other.index()] {
            Some(previous) => format!(
                "'{}' is already defined\n{}",
                entity.name,
                previous.error("previous definition")
            ),
            None => format!("{} is already defined", self.describe(other)),
        };
        match origin {
            Some(o) => o.error(message),
            None => SchemaError::without_position(message),
        }
    }

    fn new_entity(name: Name, info: Option<Info>, kind: EntityKind) -> Entity {
        Entity {
            name,
            info,
            doc: None,
            cond: None,
            features: Vec::new(),
            module: ModuleId(0),
            kind,
        }
    }

    fn def_predefineds(&mut self) -> Result<()> {
        for builtin in Builtin::ALL {
            let entity = Builder::new_entity(
                Name::new_static(builtin.name()),
                None,
                EntityKind::Builtin(builtin),
            );
            let id = self.def_entity(entity, None, Pending::default())?;
            self.builtin_ids[builtin as usize] = id;
            // Arrays of every built-in type exist, used or not, as in QEMU.
            self.make_array(builtin.name(), None)?;
        }
        let empty = Builder::new_entity(
            Name::new_static("q_empty"),
            None,
            EntityKind::Object(ObjectType {
                base: None,
                members: Vec::new(),
                local_start: 0,
                branches: None,
            }),
        );
        self.empty_id = self.def_entity(empty, None, Pending::default())?;
        let qtypes = [
            "none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool",
        ];
        let qtype = Builder::new_entity(
            Name::new_static("QType"),
            None,
            EntityKind::Enum(EnumType {
                members: qtypes
                    .iter()
                    .map(|n| EnumMember {
                        name: Name::new_static(n),
                        cond: None,
                        features: Vec::new(),
                    })
                    .collect(),
                prefix: self.qtype_prefix(),
            }),
        );
        self.def_entity(qtype, None, Pending::default())?;
        Ok(())
    }

    /// The built-in QType's prefix, as the schema's release had it. Up to 9.1 QEMU gave
    /// QType the prefix `QTYPE`, as the C name rules of the time would have made its
    /// constants `Q_TYPE_...`; 9.2's rules (commit "qapi: Smarter camel_to_upper() to
    /// reduce need for 'prefix'") make `QTYPE_...` of the name alone, and the prefix went.
    /// A schema of unknown release gets the newest behaviour.
    fn qtype_prefix(&self) -> Option<Name> {
        const PREFIX_DROPPED: Release = Release::new(9, 2);
        (self.release.is_some_and(|r| r < PREFIX_DROPPED)).then(|| Name::new_static("QTYPE"))
    }

    fn def_item(&mut self, item: Item) -> Result<()> {
        match item {
            Item::Include { file, info } => {
                self.def_include(&file, info);
                Ok(())
            }
            Item::Definition(expr) => self.def_expr(expr),
        }
    }

    fn def_include(&mut self, file: &Path, info: Info) {
        // The included file's definitions carry the same (interned) name: its module is
        // worked out once for both.
        let module = self.module_of_file(crate::source::intern_file(file));
        self.listed.push(Listed::Include(module, info));
    }

    /// Registers the feature names in the schema-wide list and makes the features.
    #[inline]
    fn make_features(&mut self, features: Vec<FeatureExpr>, origin: &Origin) -> Vec<Feature> {
        // Most definitions, members and values have none: no call.
        if features.is_empty() {
            return Vec::new();
        }
        self.make_feature_list(features, origin)
    }

    fn make_feature_list(&mut self, features: Vec<FeatureExpr>, origin: &Origin) -> Vec<Feature> {
        features
            .into_iter()
            .map(|f| {
                if !self.feature_set.contains(&f.name) {
                    self.feature_set.insert(f.name.clone());
                    self.features.push((f.name.clone(), Some(origin.clone())));
                }
                Feature {
                    name: f.name,
                    cond: f.cond,
                    info: Some(origin.info),
                }
            })
            .collect()
    }

    /// The array type of `element`, defined on first use.
    fn make_array(&mut self, element: &str, origin: Option<&Origin>) -> Result<Name> {
        let parts = [element, "List"];
        let mut buf = [0u8; 64];
        let name = match joined_in(&parts, &mut buf) {
            // Most array types are used again: the type's own name is shared, and no name
            // made only to look it up.
            Some(text) => match self.by_name.get_key_value(text) {
                Some((name, &id)) if self.entity(id).is_type() => return Ok(name.clone()),
                _ => Name::new(text),
            },
            None => joined(&parts),
        };
        if self.lookup_type(&name).is_none() {
            let entity = Builder::new_entity(
                name.clone(),
                origin.map(|o| o.info),
                EntityKind::Array(ArrayType {
                    element: EntityId::UNRESOLVED,
                }),
            );
            // The element's name is the array's without `List`: nothing to keep.
            let id = self.def_entity(entity, origin.cloned(), Pending::default())?;
            self.arrays.push(id);
        }
        Ok(name)
    }

    #[inline]
    fn type_name(&mut self, ty: TypeName, origin: &Origin) -> Result<Name> {
        match ty {
            TypeName::Named(name) => Ok(name),
            TypeName::Array(element) => self.make_array(&element, Some(origin)),
        }
    }

    /// Members with their type names (arrays defined on the way).
    fn make_members(
        &mut self,
        mut members: Vec<MemberExpr>,
        origin: &Origin,
    ) -> Result<(Vec<Member>, std::ops::Range<u32>)> {
        // Array types first (the only step that can fail, and no other leaves anything an
        // error would show), so that the members are then made by an infallible loop.
        for m in &mut members {
            if let TypeName::Array(element) = &m.ty {
                let array = self.make_array(element, Some(origin))?;
                m.ty = TypeName::Named(array);
            }
        }
        let start = self.pending_names.len() as u32;
        self.pending_names.reserve(members.len());
        // A MemberExpr and a Member are the same size (96 bytes): collected from the
        // vector's own iterator, the members are written over the expressions, in place,
        // rather than into a second allocation.
        let out = members
            .into_iter()
            .map(|m| {
                let (TypeName::Named(ty) | TypeName::Array(ty)) = m.ty;
                self.pending_names.push(ty);
                let features = self.make_features(m.features, origin);
                Member {
                    name: m.name,
                    ty: EntityId::UNRESOLVED,
                    optional: m.optional,
                    cond: m.cond,
                    features,
                    info: Some(origin.info),
                    defined_in: EntityId::UNRESOLVED,
                }
            })
            .collect::<Vec<Member>>();
        Ok((out, start..self.pending_names.len() as u32))
    }

    /// The implicit object type `q_obj_NAME-ROLE` for inline members; `None` when there
    /// are none.
    fn make_implicit_object(
        &mut self,
        origin: &Origin,
        cond: &Option<Box<Cond>>,
        role: &str,
        members: Vec<MemberExpr>,
    ) -> Result<Option<Name>> {
        let (members, types) = self.make_members(members, origin)?;
        if members.is_empty() {
            return Ok(None);
        }
        let name = joined(&["q_obj_", origin.name.as_str(), "-", role]);
        // Already there means the owner is defined twice, which its own definition reports.
        if !self.by_name.contains_key(&name) {
            let mut entity = Builder::new_entity(
                name.clone(),
                Some(origin.info),
                EntityKind::Object(ObjectType {
                    base: None,
                    members,
                    local_start: 0,
                    branches: None,
                }),
            );
            entity.cond = cond.clone();
            let pending = Pending {
                member_types: types,
                ..Pending::default()
            };
            self.def_entity(entity, Some(origin.clone()), pending)?;
        }
        Ok(Some(name))
    }

    fn make_variants(
        &mut self,
        branches: Vec<BranchExpr>,
        origin: &Origin,
    ) -> Result<(Vec<Variant>, std::ops::Range<u32>)> {
        let mut out = Vec::with_capacity(branches.len());
        let start = self.pending_names.len() as u32;
        for b in branches {
            let ty = self.type_name(b.ty, origin)?;
            self.pending_names.push(ty);
            out.push(Variant {
                name: b.name,
                ty: EntityId::UNRESOLVED,
                cond: b.cond,
                info: Some(origin.info),
                defined_in: EntityId::UNRESOLVED,
            });
        }
        Ok((out, start..self.pending_names.len() as u32))
    }

    fn make_enum_members(
        &mut self,
        members: Vec<EnumMemberExpr>,
        origin: &Origin,
    ) -> Vec<EnumMember> {
        members
            .into_iter()
            .map(|m| EnumMember {
                name: m.name,
                cond: m.cond,
                features: self.make_features(m.features, origin),
            })
            .collect()
    }

    fn def_expr(&mut self, expr: Expr) -> Result<()> {
        let Expr {
            origin,
            doc,
            cond,
            features,
            body,
        } = expr;
        // Copied into the implicit types the definition brings in, for their messages: an
        // Origin is a position and a name, cheaper to copy than to share behind a pointer
        // (which cost an allocation per definition).
        let features = self.make_features(features, &origin);
        let mut pending = Pending::default();
        let kind = match body {
            ExprBody::Enum { members, prefix } => EntityKind::Enum(EnumType {
                members: self.make_enum_members(members, &origin),
                prefix,
            }),
            ExprBody::Struct { base, members } => {
                // The local members, which the base's join in front of once checked.
                let (members, types) = self.make_members(members, &origin)?;
                pending.base = base.map(|base| self.keep_pending_name(base));
                pending.member_types = types;
                EntityKind::Object(ObjectType {
                    base: None,
                    members,
                    local_start: 0,
                    branches: None,
                })
            }
            ExprBody::Union {
                base,
                discriminator,
                branches,
            } => {
                let base = match base {
                    TypeOrMembers::Named(name) => Some(name),
                    TypeOrMembers::Members(members) => {
                        self.make_implicit_object(&origin, &cond, "base", members)?
                    }
                };
                pending.base = base.map(|base| self.keep_pending_name(base));
                let (variants, types) = self.make_variants(branches, &origin)?;
                pending.variant_types = types;
                EntityKind::Object(ObjectType {
                    base: None,
                    members: Vec::new(),
                    local_start: 0,
                    branches: Some(Box::new(Branches {
                        tag: discriminator,
                        tag_type: EntityId::UNRESOLVED,
                        variants,
                    })),
                })
            }
            ExprBody::Alternate { branches } => {
                let (variants, types) = self.make_variants(branches, &origin)?;
                pending.variant_types = types;
                EntityKind::Alternate(AlternateType { variants })
            }
            ExprBody::Command {
                data,
                returns,
                flags,
            } => {
                let arg = self.make_args(data, &origin, &cond)?;
                pending.arg = arg.map(|arg| self.keep_pending_name(arg));
                let ret = returns.map(|r| self.type_name(r, &origin)).transpose()?;
                pending.ret = ret.map(|ret| self.keep_pending_name(ret));
                EntityKind::Command(Command {
                    arg_type: None,
                    ret_type: None,
                    gen: flags.gen,
                    success_response: flags.success_response,
                    boxed: flags.boxed,
                    allow_oob: flags.allow_oob,
                    allow_preconfig: flags.allow_preconfig,
                    coroutine: flags.coroutine,
                })
            }
            ExprBody::Event { data, boxed } => {
                let arg = self.make_args(data, &origin, &cond)?;
                pending.arg = arg.map(|arg| self.keep_pending_name(arg));
                EntityKind::Event(Event {
                    arg_type: None,
                    boxed,
                })
            }
        };
        // The block is kept (and connected) where it sits among all blocks while the
        // schema is built, and given to the entity at the end; the definition's copy is
        // let go, so that connecting its members does not copy it.
        let doc_slot = doc.as_ref().and_then(|d| self.find_doc(d));
        let doc = match doc_slot {
            Some(_) => None,
            None => doc,
        };
        let entity = Entity {
            name: origin.name.clone(),
            info: Some(origin.info),
            doc,
            cond,
            features,
            module: ModuleId(0),
            kind,
        };
        let id = self.def_entity(entity, Some(origin), pending)?;
        if let Some(slot) = doc_slot {
            self.doc_slots.push((id, slot));
        }
        Ok(())
    }

    fn make_args(
        &mut self,
        data: Option<TypeOrMembers>,
        origin: &Origin,
        cond: &Option<Box<Cond>>,
    ) -> Result<Option<Name>> {
        match data {
            None => Ok(None),
            Some(TypeOrMembers::Named(name)) => Ok(Some(name)),
            Some(TypeOrMembers::Members(members)) => {
                self.make_implicit_object(origin, cond, "arg", members)
            }
        }
    }

    /// Where a definition's doc block sits among all doc blocks: they are in reading
    /// order, as the definitions are.
    fn find_doc(&mut self, doc: &Doc) -> Option<usize> {
        // A block is told by where it starts (and, to be safe, what it documents):
        // comparing whole blocks cost as much as copying them.
        let offset = self.docs[self.doc_cursor..].iter().position(|d| {
            d.as_ref()
                .is_some_and(|d| same_place(&d.info, &doc.info) && d.symbol == doc.symbol)
        })?;
        let slot = self.doc_cursor + offset;
        self.doc_cursor = slot + 1;
        Some(slot)
    }

    // -----------------------------------------------------------------------------------
    // Lookups and messages

    fn lookup_type(&self, name: &str) -> Option<EntityId> {
        // Built-in types are most references; no definition can take their names.
        if let Some(builtin) = Builtin::named(name) {
            return Some(self.builtin_ids[builtin as usize]);
        }
        self.by_name
            .get(name)
            .copied()
            .filter(|id| self.entities[id.index()].is_type())
    }

    /// The [`c_name_key`]s of the members of object type `id`, once checked.
    fn keys_of(&self, id: EntityId) -> &[u64] {
        let (start, end) = self
            .pending
            .get(id.index())
            .map(|p| p.keys)
            .unwrap_or_default();
        self.member_keys
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id.index()]
    }

    fn object(&self, id: EntityId) -> Option<&ObjectType> {
        self.entity(id).as_object()
    }

    fn object_mut(&mut self, id: EntityId) -> Option<&mut ObjectType> {
        match &mut self.entities[id.index()].kind {
            EntityKind::Object(o) => Some(o),
            _ => None,
        }
    }

    /// An error about entity `id`, in the context of the definition behind it.
    #[cold]
    fn error(&self, id: EntityId, message: impl Into<String>) -> SchemaError {
        match &self.origins[id.index()] {
            Some(origin) => origin.error(message),
            None => SchemaError::without_position(message),
        }
    }

    /// The name of the definition being checked when checking `id` (for an implicit type,
    /// the definition that brought it in).
    fn defn_name(&self, id: EntityId) -> &str {
        self.origins[id.index()]
            .as_ref()
            .map_or("", |o| o.name.as_str())
    }

    fn describe(&self, id: EntityId) -> String {
        describe_entity(self.entity(id), |_| self.element_name(id).to_string())
    }

    /// The name of array type `id`'s element type, which its own name is followed by
    /// `List` (no other type may end so).
    fn element_name(&self, id: EntityId) -> &str {
        let name = self.entity(id).name.as_str();
        name.strip_suffix("List").unwrap_or(name)
    }

    /// Keeps `name` in [`Builder::pending_names`], for [`Pending`] to refer to.
    fn keep_pending_name(&mut self, name: Name) -> u32 {
        self.pending_names.push(name);
        self.pending_names.len() as u32 - 1
    }

    /// The type name kept at `at` by [`Builder::keep_pending_name`].
    fn pending_name(&self, at: Option<u32>) -> Option<&Name> {
        at.and_then(|at| self.pending_names.get(at as usize))
    }

    /// The type names kept at `range`.
    fn pending_names(&self, range: std::ops::Range<u32>) -> &[Name] {
        self.pending_names
            .get(range.start as usize..range.end as usize)
            .unwrap_or_default()
    }

    /// How QEMU's messages name a member, value, branch or feature `name` declared in
    /// `defined_in`, when checking definition `defn_name`.
    fn describe_member(role: &str, name: &str, defined_in: &str, defn_name: &str) -> String {
        let mut role = role.to_string();
        let mut meta = "type";
        let mut defined_in = defined_in;
        if let Some(rest) = defined_in.strip_prefix("q_obj_") {
            // Name implicit types after the definition they came from.
            if let Some(owner) = rest.strip_suffix("-arg") {
                role = "parameter".to_string();
                meta = "command";
                defined_in = owner;
            } else if let Some(owner) = rest.strip_suffix("-base") {
                role = format!("base {role}");
                defined_in = owner;
            } else {
                defined_in = rest;
            }
        }
        if defined_in != defn_name {
            format!("{role} '{name}' of {meta} '{defined_in}'")
        } else {
            format!("{role} '{name}'")
        }
    }

    fn describe_seen(seen: &Seen, defn_name: &str) -> String {
        Builder::describe_member(seen.role, &seen.name, &seen.defined_in, defn_name)
    }

    /// Resolves a type name used by entity `id`; `what` names the use in the message
    /// (made only when there is one to write).
    fn resolve(&self, name: &str, id: EntityId, what: impl FnOnce() -> String) -> Result<EntityId> {
        self.lookup_type(name)
            .ok_or_else(|| self.error(id, format!("{} uses unknown type '{name}'", what())))
    }

    /// Records `item` as seen, or reports the earlier one it collides with (same C name).
    fn clash(&self, seen: &mut Vec<Seen>, item: Seen, id: EntityId) -> Result<()> {
        if let Some(other) = seen.iter().find(|s| s.cname == item.cname) {
            let defn = self.defn_name(id);
            return Err(self.error(
                id,
                format!(
                    "{} collides with {}",
                    Builder::describe_seen(&item, defn),
                    Builder::describe_seen(other, defn)
                ),
            ));
        }
        seen.push(item);
        Ok(())
    }

    /// Whether member `m` of object `id` collides with one of `before` (by C name).
    /// Cold: only asked when fingerprints are equal, which nearly never happens.
    #[cold]
    fn member_clash<'m>(
        &self,
        before: impl Iterator<Item = &'m Member>,
        m: &Member,
        id: EntityId,
    ) -> Result<()> {
        let mut seen: Vec<Seen> = before.map(|x| self.seen_member(x)).collect();
        self.clash(&mut seen, self.seen_member(m), id)
    }

    fn seen_member(&self, m: &Member) -> Seen {
        Seen {
            cname: c_name(&m.name, true),
            name: m.name.clone(),
            role: "member",
            defined_in: self.entity(m.defined_in).name.clone(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Checks

    fn check(&mut self) -> Result<()> {
        let doc_slots = std::mem::take(&mut self.doc_slots);
        // In order of entities, as the entities are.
        let mut slots = doc_slots.iter().peekable();
        for i in 0..self.entities.len() {
            let id = EntityId(i as u32);
            self.check_entity(id)?;
            let slot = slots.next_if(|(of, _)| *of == id).map(|&(_, slot)| slot);
            self.connect_doc(id, slot)?;
        }
        self.set_modules();
        for (id, slot) in doc_slots {
            if let Some(doc) = self.docs.get(slot).and_then(Option::as_ref) {
                self.entities[id.index()].doc = Some(doc.clone());
            }
        }
        for doc in self.docs.iter().flatten() {
            doc.check()?;
        }
        if let Some((_, origin)) = self.features.get(MAX_FEATURES) {
            let message = format!("Maximum of {MAX_FEATURES} schema features is permitted");
            return Err(match origin {
                Some(o) => o.error(message),
                None => SchemaError::without_position(message),
            });
        }
        Ok(())
    }

    fn check_entity(&mut self, id: EntityId) -> Result<()> {
        match &self.entity(id).kind {
            EntityKind::Builtin(_) => Ok(()),
            EntityKind::Enum(_) => self.check_enum(id),
            EntityKind::Array(_) => self.check_array(id),
            EntityKind::Object(_) => self.check_object(id),
            EntityKind::Alternate(_) => self.check_alternate(id),
            EntityKind::Command(_) => self.check_command(id),
            EntityKind::Event(_) => self.check_event(id),
        }
    }

    /// Feature names must not collide, by C name.
    #[inline]
    fn check_feature_clash(&self, features: &[Feature], owner: &str, id: EntityId) -> Result<()> {
        // Nearly everything has at most one feature: nothing to compare, no call.
        if features.len() < 2 {
            return Ok(());
        }
        self.check_features_clash(features, owner, id)
    }

    fn check_features_clash(&self, features: &[Feature], owner: &str, id: EntityId) -> Result<()> {
        if !may_clash(features.iter().map(|f| f.name.as_str())) {
            return Ok(());
        }
        let mut seen = Vec::new();
        for f in features {
            let item = Seen {
                cname: c_name(&f.name, true),
                name: f.name.clone(),
                role: "feature",
                defined_in: Name::new(owner),
            };
            self.clash(&mut seen, item, id)?;
        }
        Ok(())
    }

    /// The checks of every definition, and those of every type: all about features,
    /// which most have none of (answered without a call).
    #[inline]
    fn check_definition(&self, id: EntityId) -> Result<()> {
        if self.entity(id).features.is_empty() {
            return Ok(());
        }
        self.check_definition_features(id)
    }

    fn check_definition_features(&self, id: EntityId) -> Result<()> {
        let entity = self.entity(id);
        self.check_feature_clash(&entity.features, &entity.name, id)?;
        if entity.is_type() {
            if let Some(f) = entity.features.iter().find(|f| f.is_special()) {
                return Err(self.error(
                    id,
                    format!("feature '{}' is not supported for types", f.name),
                ));
            }
        }
        Ok(())
    }

    fn check_enum(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let entity = self.entity(id);
        let Some(e) = entity.as_enum() else {
            return Ok(());
        };
        if !may_clash(e.members.iter().map(|m| m.name.as_str())) {
            return Ok(());
        }
        let mut seen = Vec::new();
        for m in &e.members {
            let item = Seen {
                cname: c_name(&m.name, true),
                name: m.name.clone(),
                role: "value",
                defined_in: entity.name.clone(),
            };
            self.clash(&mut seen, item, id)?;
        }
        Ok(())
    }

    fn check_array(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let element_name = self.element_name(id);
        let what = || {
            self.origins[id.index()]
                .as_ref()
                .map_or("", |o| o.meta.as_str())
                .to_string()
        };
        let element = self.resolve(element_name, id, what)?;
        if let EntityKind::Array(a) = &mut self.entities[id.index()].kind {
            a.element = element;
        }
        Ok(())
    }

    fn check_object(&mut self, id: EntityId) -> Result<()> {
        // Bases and branches are checked recursively; a schema chaining thousands of them
        // must not exhaust the stack.
        if self.depth >= MAX_DEPTH {
            return Err(self.error(id, "bases and branches nest too deeply"));
        }
        self.depth += 1;
        let result = self.check_object_inner(id);
        self.depth -= 1;
        result
    }

    fn check_object_inner(&mut self, id: EntityId) -> Result<()> {
        match self.pending[id.index()].state {
            State::Done => return Ok(()),
            State::InProgress => {
                // Only reachable through bases and branches, which are embedded in the
                // type, not referenced.
                let name = &self.entity(id).name;
                return Err(self.error(id, format!("object {name} contains itself")));
            }
            State::Fresh => {}
        }
        self.pending[id.index()].state = State::InProgress;
        self.check_definition(id)?;

        // Not checked yet: the object's `members` are its local ones.
        let mut local = self
            .object_mut(id)
            .map(|o| std::mem::take(&mut o.members))
            .unwrap_or_default();
        // `members[i]` has the C name fingerprint `keys[i]`. With a base, sized once for
        // its members and the local ones when the base is checked, not grown member by
        // member.
        let mut members: Vec<Member> = Vec::new();
        let mut keys = std::mem::take(&mut self.key_scratch);
        keys.clear();
        let base_name = self.pending[id.index()].base.take();
        if let Some(base_name) = self.pending_name(base_name).cloned() {
            let base = self.resolve(&base_name, id, || "'base'".to_string())?;
            if !self.object(base).is_some_and(|o| o.branches.is_none()) {
                return Err(self.error(
                    id,
                    format!(
                        "'base' requires a struct type, {} isn't",
                        self.describe(base)
                    ),
                ));
            }
            self.check_object(base)?;
            // The base passed its own clash checks: its members cannot collide.
            if let Some(o) = self.object(base) {
                members.reserve(o.members.len() + local.len());
                members.extend(o.members.iter().cloned());
            }
            keys.extend_from_slice(self.keys_of(base));
            if let Some(o) = self.object_mut(id) {
                o.base = Some(base);
            }
        }
        let local_start = members.len();

        // A filter in front of the search of `keys` (256 bits, one per value of a key's
        // top byte): a member is compared with the others only when its bit is taken,
        // rather than each with all before it (large structs have dozens).
        let mut filter = [0u64; 4];
        let bit = |key: u64| ((key >> 62) as usize, 1u64 << ((key >> 56) & 63));
        for &key in &keys {
            let (word, mask) = bit(key);
            filter[word] |= mask;
        }
        let types = self.pending[id.index()].member_types.clone();
        let type_names = self.pending_names(types);
        for (i, ty) in type_names.iter().enumerate().take(local.len()) {
            let m = &local[i];
            let what = || {
                let defined_in = &self.entity(m.defined_in).name;
                Builder::describe_member("member", &m.name, defined_in, self.defn_name(id))
            };
            let ty = self.resolve(ty, id, what)?;
            self.check_feature_clash(&m.features, &m.name, id)?;
            let key = c_name_key(&m.name);
            let (word, mask) = bit(key);
            if filter[word] & mask != 0 && keys.contains(&key) {
                // Same fingerprint: compare the C names for real, as QEMU does.
                self.member_clash(members.iter().chain(&local[..i]), m, id)?;
            }
            filter[word] |= mask;
            keys.push(key);
            local[i].ty = ty;
        }
        // Without a base the local members are all of them: kept in their own vector
        // rather than copied into another.
        let members = if members.is_empty() {
            local
        } else {
            members.append(&mut local);
            members
        };

        if self.object(id).is_some_and(|o| o.branches.is_some()) {
            self.check_branches(id, &keys, &members)?;
            if self.variants_may_clash(id, &keys) {
                let seen: Vec<Seen> = members.iter().map(|m| self.seen_member(m)).collect();
                let variants = self
                    .object(id)
                    .and_then(|o| o.branches.as_ref())
                    .map(|b| b.variants.clone())
                    .unwrap_or_default();
                self.check_variants_clash(&variants, &seen, id)?;
            }
        }

        if let Some(o) = self.object_mut(id) {
            o.members = members;
            o.local_start = local_start;
        }
        let start = self.member_keys.len() as u32;
        self.member_keys.extend_from_slice(&keys);
        self.pending[id.index()].keys = (start, self.member_keys.len() as u32);
        self.key_scratch = keys;
        self.pending[id.index()].state = State::Done;
        Ok(())
    }

    /// The discriminator and branches of union `id`, whose non-variant members are
    /// `members` (their C name fingerprints in `keys`).
    fn check_branches(&mut self, id: EntityId, keys: &[u64], members: &[Member]) -> Result<()> {
        let tag_name = self
            .object(id)
            .and_then(|o| o.branches.as_ref())
            .map(|b| b.tag.clone())
            .unwrap_or_default();
        let tag_key = c_name_key(&tag_name);
        // The first member with the tag's C name, as QEMU looks it up.
        let tag = keys
            .iter()
            .zip(members)
            .find(|(&k, m)| {
                // The same name has the same C name: nearly always the one, found without
                // building C names.
                k == tag_key
                    && (m.name == tag_name || c_name(&m.name, true) == c_name(&tag_name, true))
            })
            .map(|(_, m)| m)
            .filter(|m| m.name == tag_name);
        let Some(tag) = tag else {
            return Err(self.error(
                id,
                format!("discriminator '{tag_name}' is not a member of 'base'"),
            ));
        };
        let (tag_ty, tag_defined_in) = (tag.ty, tag.defined_in);
        let base = || {
            let declaring = self.entity(tag_defined_in);
            if declaring.is_implicit() {
                "'base'".to_string()
            } else {
                format!("base type '{}'", declaring.name)
            }
        };
        if self.entity(tag_ty).as_enum().is_none() {
            return Err(self.error(
                id,
                format!(
                    "discriminator member '{tag_name}' of {} must be of enum type",
                    base()
                ),
            ));
        }
        if tag.optional {
            return Err(self.error(
                id,
                format!(
                    "discriminator member '{tag_name}' of {} must not be optional",
                    base()
                ),
            ));
        }
        if tag.cond.is_some() {
            return Err(self.error(
                id,
                format!(
                    "discriminator member '{tag_name}' of {} must not be conditional",
                    base()
                ),
            ));
        }

        let info = self.entity(id).info;
        let mut variants = self
            .object_mut(id)
            .and_then(|o| o.branches.as_mut())
            .map(|b| std::mem::take(&mut b.variants))
            .unwrap_or_default();
        // The written branches' types; those after them, added below, are `q_empty`.
        let types = self.pending[id.index()].variant_types.clone();
        // Values without a branch get the empty type.
        if let Some(tag_enum) = self.entity(tag_ty).as_enum() {
            let mut cursor = 0;
            for value in &tag_enum.members {
                if !find_from(&variants, &mut cursor, |v| v.name == value.name) {
                    variants.push(Variant {
                        name: value.name.clone(),
                        ty: EntityId::UNRESOLVED,
                        cond: value.cond.clone(),
                        info,
                        defined_in: tag_defined_in,
                    });
                }
            }
        }
        if variants.is_empty() {
            return Err(self.error(id, "union has no branches"));
        }
        let mut cursor = 0;
        for (i, v) in variants.iter_mut().enumerate() {
            let what = || {
                let defined_in = &self.entity(v.defined_in).name;
                Builder::describe_member("branch", &v.name, defined_in, self.defn_name(id))
            };
            let written = self.pending_names(types.clone()).get(i);
            let resolved = match written {
                Some(ty) => self.resolve(ty, id, what)?,
                None => self.empty_id,
            };
            v.ty = resolved;
            let is_value = self
                .entity(tag_ty)
                .as_enum()
                .is_some_and(|e| find_from(&e.members, &mut cursor, |m| m.name == v.name));
            if !is_value {
                return Err(self.error(
                    id,
                    format!(
                        "branch '{}' is not a value of {}",
                        v.name,
                        self.describe(tag_ty)
                    ),
                ));
            }
            if self.object(v.ty).is_none() {
                let defined_in = &self.entity(v.defined_in).name;
                let what =
                    Builder::describe_member("branch", &v.name, defined_in, self.defn_name(id));
                return Err(self.error(id, format!("{what} cannot use {}", self.describe(v.ty))));
            }
            self.check_object(v.ty)?;
        }
        if let Some(b) = self.object_mut(id).and_then(|o| o.branches.as_mut()) {
            b.tag_type = tag_ty;
            b.variants = variants;
        }
        Ok(())
    }

    /// Whether some branch of union `id` may have a member whose C name is that of another
    /// member (of the union or of the branch): `keys` are the union's own members'
    /// fingerprints. Only then do the exact checks of [`Builder::check_variants_clash`] run.
    fn variants_may_clash(&self, id: EntityId, keys: &[u64]) -> bool {
        let Some(b) = self.object(id).and_then(|o| o.branches.as_ref()) else {
            return false;
        };
        b.variants.iter().any(|v| self.type_may_clash(v.ty, keys))
    }

    /// [`Builder::check_type_clash`] on fingerprints: whether a member of object type `ty`
    /// (or of its branches') may collide with one of `outer`, those of the types it is a
    /// branch of.
    ///
    /// Only members of different types are compared: each type's own members (and so
    /// `outer` among themselves) passed its own clash checks, every branch type being
    /// checked before its union's branches are compared.
    fn type_may_clash(&self, ty: EntityId, outer: &[u64]) -> bool {
        let Some(object) = self.object(ty) else {
            return false;
        };
        let own = self.keys_of(ty);
        if own.iter().any(|key| outer.contains(key)) {
            return true;
        }
        match &object.branches {
            Some(b) if !b.variants.is_empty() => {
                let mut keys = Vec::with_capacity(outer.len() + own.len());
                keys.extend_from_slice(outer);
                keys.extend_from_slice(own);
                b.variants.iter().any(|v| self.type_may_clash(v.ty, &keys))
            }
            _ => false,
        }
    }

    /// Each branch's members must not collide with the union's other members.
    fn check_variants_clash(
        &self,
        variants: &[Variant],
        seen: &[Seen],
        id: EntityId,
    ) -> Result<()> {
        for v in variants {
            let mut seen = seen.to_vec();
            self.check_type_clash(v.ty, &mut seen, id)?;
        }
        Ok(())
    }

    /// The members of object type `ty` (and its branches') must not collide with `seen`.
    fn check_type_clash(&self, ty: EntityId, seen: &mut Vec<Seen>, id: EntityId) -> Result<()> {
        let Some(object) = self.object(ty) else {
            return Ok(());
        };
        for m in &object.members {
            self.clash(seen, self.seen_member(m), id)?;
        }
        if let Some(b) = &object.branches {
            self.check_variants_clash(&b.variants, seen, id)?;
        }
        Ok(())
    }

    /// How an alternate tells the alternative apart: QEMU's QType of its JSON shape.
    fn alternate_qtype(&self, ty: EntityId) -> Option<&'static str> {
        Some(match self.entity(ty).json_type()? {
            JsonType::Null => "QTYPE_QNULL",
            JsonType::String => "QTYPE_QSTRING",
            JsonType::Number | JsonType::Int => "QTYPE_QNUM",
            JsonType::Boolean => "QTYPE_QBOOL",
            JsonType::Array => "QTYPE_QLIST",
            JsonType::Object => "QTYPE_QDICT",
            JsonType::Value => return None,
        })
    }

    fn check_alternate(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let defn = self.defn_name(id).to_string();
        let name = self.entity(id).name.clone();
        let mut variants = self
            .entity(id)
            .as_alternate()
            .map(|a| a.variants.clone())
            .unwrap_or_default();
        let types = self.pending[id.index()].variant_types.clone();
        for (v, ty) in variants.iter_mut().zip(self.pending_names(types)) {
            let what = || Builder::describe_member("branch", &v.name, &name, &defn);
            v.ty = self.resolve(ty, id, what)?;
        }

        let mut seen = Vec::new();
        let mut types_seen: Vec<(&'static str, Name)> = Vec::new();
        for v in &variants {
            let item = Seen {
                cname: c_name(&v.name, true),
                name: v.name.clone(),
                role: "branch",
                defined_in: name.clone(),
            };
            // Worked out for a message only.
            let described = || Builder::describe_member("branch", &v.name, &name, &defn);
            self.clash(&mut seen, item, id)?;
            let Some(qtype) = self.alternate_qtype(v.ty) else {
                return Err(self.error(
                    id,
                    format!("{} cannot use {}", described(), self.describe(v.ty)),
                ));
            };
            // Values arriving as strings (from the command line, say) could also be read
            // as numbers or booleans.
            let mut conflicting = vec![qtype];
            if qtype == "QTYPE_QSTRING" {
                match self.entity(v.ty).as_enum() {
                    Some(e) => {
                        // A set: each kind once, however many values bring it in.
                        for m in &e.members {
                            let also = if m.name == "on" || m.name == "off" {
                                "QTYPE_QBOOL"
                            } else if m.name.starts_with(|c: char| "-+0123456789.".contains(c)) {
                                "QTYPE_QNUM"
                            } else {
                                continue;
                            };
                            if !conflicting.contains(&also) {
                                conflicting.push(also);
                            }
                        }
                    }
                    None => {
                        conflicting.push("QTYPE_QNUM");
                        conflicting.push("QTYPE_QBOOL");
                    }
                }
            }
            for qt in conflicting {
                if let Some((_, other)) = types_seen.iter().find(|(t, _)| *t == qt) {
                    return Err(self.error(
                        id,
                        format!("{} can't be distinguished from '{other}'", described()),
                    ));
                }
                types_seen.push((qt, v.name.clone()));
            }
        }
        if let EntityKind::Alternate(a) = &mut self.entities[id.index()].kind {
            a.variants = variants;
        }
        Ok(())
    }

    /// The argument type of a command or event: `'data'` checks shared by both.
    fn check_arg_type(
        &mut self,
        id: EntityId,
        meta: &str,
        boxed: bool,
    ) -> Result<Option<EntityId>> {
        let Some(arg_name) = self.pending_name(self.pending[id.index()].arg) else {
            return Ok(None);
        };
        let arg = self.resolve(arg_name, id, || format!("{meta}'s 'data'"))?;
        let Some(object) = self.object(arg) else {
            return Err(self.error(
                id,
                format!("{meta}'s 'data' cannot take {}", self.describe(arg)),
            ));
        };
        if object.branches.is_some() && !boxed {
            return Err(self.error(
                id,
                format!(
                    "{meta}'s 'data' can take {} only with 'boxed': true",
                    self.describe(arg)
                ),
            ));
        }
        self.check_object(arg)?;
        if self
            .object(arg)
            .is_some_and(|o| o.has_conditional_members())
            && !boxed
        {
            return Err(self.error(
                id,
                format!("conditional {meta} arguments require 'boxed': true"),
            ));
        }
        Ok(Some(arg))
    }

    fn check_command(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let boxed = self.entity(id).as_command().is_some_and(|c| c.boxed);
        let arg = self.check_arg_type(id, "command", boxed)?;
        let mut ret = None;
        if let Some(ret_name) = self.pending_name(self.pending[id.index()].ret).cloned() {
            let ret_type = self.resolve(&ret_name, id, || "command's 'returns'".to_string())?;
            let name = &self.entity(id).name;
            let excepted = self
                .pragma
                .command_returns_exceptions
                .iter()
                .any(|n| n == name);
            if !excepted {
                let mut typ = ret_type;
                if self.entity(typ).as_array().is_some() {
                    typ = self.lookup_type(self.element_name(typ)).unwrap_or(typ);
                }
                if self.object(typ).is_none() {
                    return Err(self.error(
                        id,
                        format!(
                            "command's 'returns' cannot take {}",
                            self.describe(ret_type)
                        ),
                    ));
                }
            }
            ret = Some(ret_type);
        }
        if let EntityKind::Command(c) = &mut self.entities[id.index()].kind {
            c.arg_type = arg;
            c.ret_type = ret;
        }
        Ok(())
    }

    fn check_event(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let boxed = self.entity(id).as_event().is_some_and(|e| e.boxed);
        let arg = self.check_arg_type(id, "event", boxed)?;
        if let EntityKind::Event(e) = &mut self.entities[id.index()].kind {
            e.arg_type = arg;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Documentation

    /// Tells the entity's doc about its members and features, as QEMU's `connect_doc`.
    ///
    /// The block is the one at `slot` among all blocks, or else the entity's own.
    fn connect_doc(&mut self, id: EntityId, slot: Option<usize>) -> Result<()> {
        let view = Connect {
            entities: &self.entities,
            pragma: &self.pragma,
        };
        let result = match slot.and_then(|slot| self.docs.get_mut(slot)) {
            Some(Some(doc)) => view.connect_into(id, doc),
            _ => {
                let Some(mut doc) = self.entities[id.index()].doc.take() else {
                    return Ok(());
                };
                let result = Connect {
                    entities: &self.entities,
                    pragma: &self.pragma,
                }
                .connect_into(id, &mut doc);
                self.entities[id.index()].doc = Some(doc);
                result
            }
        };
        // Undocumented members and features are reported at the definition, in its
        // context, as QEMU does.
        result.map_err(|e| match (&e.context, &self.origins[id.index()]) {
            (None, Some(origin)) if e.info.as_ref() == Some(&origin.info) => {
                let context = format!("In {} '{}':", origin.meta, origin.name);
                e.with_context(context)
            }
            _ => e,
        })
    }

    fn connect_features(doc: &mut Doc, features: &[Feature]) -> Result<()> {
        for f in features {
            if let Some(info) = &f.info {
                doc.connect_feature(&f.name, info)?;
            }
        }
        Ok(())
    }

    fn connect_member(
        doc: &mut Doc,
        name: &str,
        role: &str,
        info: Option<&Info>,
        pragma: &Pragma,
    ) -> Result<()> {
        match info {
            Some(info) => doc.connect_member(name, role, info, pragma),
            None => Ok(()),
        }
    }

    // -----------------------------------------------------------------------------------
    // Finishing

    /// Puts every entity and include directive into its module.
    fn set_modules(&mut self) {
        let listed = std::mem::take(&mut self.listed);
        // Each item's module is worked out first, so that every module's list is made at
        // its size once rather than grown item by item.
        let mut targets = Vec::with_capacity(listed.len());
        let mut counts = vec![0usize; self.modules.len()];
        for item in &listed {
            let module = match item {
                Listed::Entity(id) => {
                    let entity = self.entity(*id);
                    let info = match &entity.kind {
                        EntityKind::Array(a) => {
                            self.entities.get(a.element.index()).and_then(|e| e.info)
                        }
                        _ => entity.info,
                    };
                    self.module_of(info.as_ref())
                }
                Listed::Include(_, info) => self.module_of(Some(info)),
            };
            if counts.len() <= module.index() {
                counts.resize(module.index() + 1, 0);
            }
            counts[module.index()] += 1;
            targets.push(module);
        }
        for (module, count) in self.modules.iter_mut().zip(counts) {
            module.items.reserve_exact(count);
        }
        for (item, module) in listed.into_iter().zip(targets) {
            let item = match item {
                Listed::Entity(id) => {
                    self.entities[id.index()].module = module;
                    ModuleItem::Entity(id)
                }
                Listed::Include(included, info) => ModuleItem::Include {
                    module: included,
                    info,
                },
            };
            self.modules[module.index()].items.push(item);
        }
    }

    fn finish(mut self, warnings: Vec<SchemaError>) -> Schema {
        // An array type exists under the condition of its element type. Only the arrays
        // are visited, not every entity.
        for &id in &self.arrays {
            if let EntityKind::Array(a) = &self.entities[id.index()].kind {
                let cond = self
                    .entities
                    .get(a.element.index())
                    .and_then(|e| e.cond.clone());
                self.entities[id.index()].cond = cond;
            }
        }
        Schema {
            entities: self.entities,
            by_name: self.by_name,
            modules: self.modules,
            // Unlike `flatten`, `filter_map` lets the vector be collected in place, not
            // copied into a new one.
            #[allow(clippy::filter_map_identity)]
            docs: self.docs.into_iter().filter_map(|doc| doc).collect(),
            pragma: self.pragma,
            feature_names: self.features.into_iter().map(|(n, _)| n).collect(),
            warnings,
            since: self.since,
            release: self.release,
        }
    }
}

/// What connecting a documentation block reads: the entities and the pragmas, borrowed
/// apart from the blocks, so that a block is connected where it sits.
struct Connect<'b> {
    entities: &'b [Entity],
    pragma: &'b Pragma,
}

impl Connect<'_> {
    fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id.index()]
    }

    fn connect_into(&self, id: EntityId, doc: &mut Doc) -> Result<()> {
        let entity = self.entity(id);
        Builder::connect_features(doc, &entity.features)?;
        match &entity.kind {
            EntityKind::Enum(e) => {
                for m in &e.members {
                    let info = entity.info.as_ref();
                    Builder::connect_member(doc, &m.name, "value", info, self.pragma)?;
                    Builder::connect_features(doc, &m.features)?;
                }
            }
            EntityKind::Object(o) => {
                if let Some(base) = o.base {
                    if self.entity(base).is_implicit() {
                        self.connect_into(base, doc)?;
                    }
                }
                for m in o.local_members() {
                    Builder::connect_member(doc, &m.name, "member", m.info.as_ref(), self.pragma)?;
                    Builder::connect_features(doc, &m.features)?;
                }
            }
            EntityKind::Alternate(a) => {
                for v in &a.variants {
                    Builder::connect_member(doc, &v.name, "branch", v.info.as_ref(), self.pragma)?;
                }
            }
            EntityKind::Command(Command {
                arg_type, ret_type, ..
            }) => {
                self.connect_args(*arg_type, doc)?;
                // Generated documentation always says what comes back, even when the
                // block does not.
                if let (Some(_), Some(info)) = (ret_type, &entity.info) {
                    doc.ensure_returns(info);
                }
            }
            EntityKind::Event(Event { arg_type, .. }) => self.connect_args(*arg_type, doc)?,
            EntityKind::Builtin(_) | EntityKind::Array(_) => {}
        }
        Ok(())
    }

    /// Inline arguments are documented in the command's or event's own block.
    fn connect_args(&self, arg_type: Option<EntityId>, doc: &mut Doc) -> Result<()> {
        match arg_type {
            Some(arg) if self.entity(arg).is_implicit() => self.connect_into(arg, doc),
            _ => Ok(()),
        }
    }
}

/// `a == b`, the interned parts compared by address first: equal addresses are equal
/// values, and the derived comparison walks the whole chain of include sites.
fn same_place(a: &Info, b: &Info) -> bool {
    a.line == b.line
        && a.col == b.col
        && (std::ptr::eq(a.file, b.file) || a.file == b.file)
        && match (a.parent, b.parent) {
            (Some(p), Some(q)) => std::ptr::eq(p, q) || p == q,
            (None, None) => true,
            _ => false,
        }
}

/// Whether some item of `items` is `wanted`, looked for from `cursor` on and then from the
/// start; `cursor` is left just after the one found. Branches are mostly written in the
/// order of their enum's values, so looking on from the last one found finds the next
/// one at once instead of after a scan from the start.
fn find_from<T>(items: &[T], cursor: &mut usize, wanted: impl Fn(&T) -> bool) -> bool {
    let start = (*cursor).min(items.len());
    let (before, after) = items.split_at(start);
    let found = match after.iter().position(&wanted) {
        Some(i) => Some(start + i),
        None => before.iter().position(&wanted),
    };
    if let Some(i) = found {
        *cursor = i + 1;
    }
    found.is_some()
}

/// `parts` one after the other, put together on the stack when short: the names of
/// implicit types (`FooList`, `q_obj_NAME-arg`), made for every array use and inline
/// argument list, where building them a character at a time cost several times more.
fn joined(parts: &[&str]) -> Name {
    let mut buf = [0u8; 64];
    match joined_in(parts, &mut buf) {
        Some(text) => Name::new(text),
        None => Name::from(parts.concat()),
    }
}

/// `parts` one after the other in `buf`, when they fit.
fn joined_in<'b>(parts: &[&str], buf: &'b mut [u8; 64]) -> Option<&'b str> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let out = buf.get_mut(..len)?;
    let mut at = 0;
    for part in parts {
        if let Some(slot) = out.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part.as_bytes());
        }
        at += part.len();
    }
    std::str::from_utf8(out).ok()
}

/// Whether two of `names` may have the same C name: false when their fingerprints all
/// differ, so that the exact (allocating) clash checks run only when they can fail.
fn may_clash<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> bool {
    /// The most names compared on the stack; more are sorted in a vector.
    const MOST: usize = 64;
    let count = names.len();
    if count < 2 {
        return false;
    }
    if count > MOST {
        let mut keys: Vec<u64> = names.map(c_name_key).collect();
        keys.sort_unstable();
        return keys.windows(2).any(|w| w[0] == w[1]);
    }
    // A key is compared with those before it only when its bit in a filter (one per
    // value of its top byte) is taken: no allocation, no sort.
    let mut keys = [0u64; MOST];
    let mut filter = [0u64; 4];
    for (i, name) in names.take(MOST).enumerate() {
        let key = c_name_key(name);
        let (word, bit) = ((key >> 62) as usize, 1u64 << ((key >> 56) & 63));
        if filter[word] & bit != 0 && keys[..i].contains(&key) {
            return true;
        }
        filter[word] |= bit;
        keys[i] = key;
    }
    false
}

/// `path` without `.` components and with `dir/..` pairs dropped, lexically; unlike
/// [`crate::source::absolute`], leading `..` stay, however many there are.
fn tidy(path: &Path) -> PathBuf {
    let mut parts: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let out: PathBuf = parts.iter().collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// `file` relative to `dir`, when that can be read off their spelling: `file` is `dir`
/// (as given, not normalised) joined with a relative path without `.`, `..` or empty
/// components, which normalising both would leave as it is. Includes nearly always
/// name their files so; working the name out by normalising and relating paths walks
/// them component by component several times.
fn plain_relative<'f>(file: &'f Path, dir: &Path) -> Option<&'f str> {
    // Only where `/` is the one separator.
    if !cfg!(unix) {
        return None;
    }
    let (file, dir) = (file.to_str()?, dir.to_str()?);
    let rest = match dir {
        "" => file,
        _ => file.strip_prefix(dir)?.strip_prefix('/')?,
    };
    let plain = !rest.is_empty()
        && !rest.starts_with('/')
        && rest.split('/').all(|part| !matches!(part, "" | "." | ".."));
    plain.then_some(rest)
}

/// `path` relative to the folder `base`, both absolute and normalised (Python's
/// `os.path.relpath`).
fn relative(path: &Path, base: &Path) -> PathBuf {
    let path: Vec<Component> = path.components().collect();
    let base: Vec<Component> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for part in &path[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_names() {
        fn plain<'f>(f: &'f str, d: &str) -> Option<&'f str> {
            plain_relative(Path::new(f), Path::new(d))
        }
        assert_eq!(plain("/a/b/c.json", "/a/b"), Some("c.json"));
        assert_eq!(plain("/a/b/inc/c.json", "/a/b"), Some("inc/c.json"));
        assert_eq!(plain("inc/c.json", ""), Some("inc/c.json"));
        assert_eq!(plain("/a/b/../c.json", "/a/b"), None);
        assert_eq!(plain("/a/b/./c.json", "/a/b"), None);
        assert_eq!(plain("/a/b//c.json", "/a/b"), None);
        assert_eq!(plain("/a/bc/c.json", "/a/b"), None);
        assert_eq!(plain("/c.json", ""), None);
        // Where it answers, it answers as the general way does.
        let mut cwd = None;
        for (f, d) in [("/a/b/c.json", "/a/b"), ("/a/x/../b/i/c.json", "/a/x/../b")] {
            let general = relative(
                &crate::source::absolute(Path::new(f), &mut cwd),
                &crate::source::absolute(Path::new(d), &mut cwd),
            );
            assert_eq!(plain(f, d).map(PathBuf::from), Some(general));
        }
    }

    #[test]
    fn relative_paths() {
        let rel = |p: &str, b: &str| relative(Path::new(p), Path::new(b));
        assert_eq!(rel("/a/b/c.json", "/a/b"), PathBuf::from("c.json"));
        assert_eq!(rel("/a/b/inc/c.json", "/a/b"), PathBuf::from("inc/c.json"));
        assert_eq!(rel("/a/c.json", "/a/b"), PathBuf::from("../c.json"));
        assert_eq!(rel("/a/b", "/a/b"), PathBuf::from("."));
    }

    fn load_str(text: &str) -> Result<Schema> {
        let path = Path::new("/nonexistent/depth.json");
        let parsed = crate::parse::parse_str(path, text, Default::default())?;
        Schema::from_parsed(parsed, path)
    }

    /// Modelling each definition as soon as it is checked keeps the order of errors of
    /// checking them all first: a later shape error wins over an earlier model error.
    #[test]
    fn checked_then_modelled_keeps_the_first_error() {
        let path = Path::new("/nonexistent/order.json");
        let both = |text: &str| {
            let parsed = crate::parse::parse_str(path, text, Default::default()).unwrap();
            let two_steps = crate::check::check_schema(parsed.clone())
                .and_then(|checked| Schema::build(checked, path))
                .map(|schema| schema.entities().len());
            let one_step = Schema::from_parsed(parsed, path).map(|s| s.entities().len());
            assert_eq!(
                one_step.as_ref().map_err(ToString::to_string),
                two_steps.as_ref().map_err(ToString::to_string)
            );
            one_step
        };
        // Redefined first (a model rule), then a bad key (a shape rule).
        let e = both(
            "{ 'struct': 'Alpha', 'data': {} }\n{ 'struct': 'Alpha', 'data': {} }\n\
             { 'struct': 'Beta', 'data': {}, 'bogus': 'x' }\n",
        )
        .expect_err("bad key");
        assert!(e.message.contains("bogus"), "{e}");
        // Only the model rule broken.
        let e = both("{ 'struct': 'Alpha', 'data': {} }\n{ 'enum': 'Alpha', 'data': [] }\n")
            .expect_err("redefined");
        assert!(e.message.contains("already defined"), "{e}");
        // An unknown type, found by the checks after the last definition.
        let e = both("{ 'struct': 'Alpha', 'data': { 'x': 'Nope' } }\n").expect_err("unknown");
        assert!(e.message.contains("Nope"), "{e}");
        assert!(both("{ 'struct': 'Alpha', 'data': { 'x': 'int' } }\n").is_ok());
    }

    /// An enum alternative whose values could be read as a boolean and as a number
    /// conflicts with boolean and number alternatives, but not with itself, however its
    /// values are ordered.
    #[test]
    fn alternate_enum_values_conflict_once() {
        let schema = "{ 'enum': 'Switch', 'data': [ 'on', '1', 'off' ] }\n\
                      { 'struct': 'Obj', 'data': { 'x': 'int' } }\n";
        let with = |alternatives: &str| {
            load_str(&format!(
                "{schema}{{ 'alternate': 'Alt', 'data': {{ {alternatives} }} }}\n"
            ))
        };
        if let Err(e) = with("'sw': 'Switch', 'obj': 'Obj'") {
            panic!("{e}");
        }
        for other in ["'flag': 'bool'", "'num': 'int'"] {
            let e = with(&format!("'sw': 'Switch', {other}")).expect_err(other);
            assert!(
                e.message.contains("can't be distinguished from 'sw'"),
                "{e}"
            );
        }
    }

    #[test]
    fn long_base_chains_are_refused_not_overflowing() {
        let mut text = String::from("{ 'struct': 'Sx0', 'data': {} }\n");
        for i in 1..2000 {
            text += &format!(
                "{{ 'struct': 'Sx{i}', 'base': 'Sx{}', 'data': {{}} }}\n",
                i - 1
            );
        }
        // Checked in order, each base already done: no deep recursion.
        if let Err(e) = load_str(&text) {
            panic!("{e}");
        }

        let mut text = String::new();
        for i in 0..2000 {
            text += &format!(
                "{{ 'struct': 'Sx{i}', 'base': 'Sx{}', 'data': {{}} }}\n",
                i + 1
            );
        }
        text += "{ 'struct': 'Sx2000', 'data': {} }\n";
        let e = load_str(&text).expect_err("too deep");
        assert!(e.message.contains("nest too deeply"), "{e}");
    }

    /// A module marker that climbs with `..` names its module as written, even when the
    /// extract sits too close to `/` for the climb to resolve.
    #[test]
    fn marker_modules_keep_their_climb() {
        let text = "# Doc-free extract of test\n\
                    \n# module: ../../qapi/common.json\n\
                    { 'enum': 'Foo', 'data': [ 'a' ] }\n\
                    \n# module: sub/./y.json\n\
                    { 'struct': 'Bar', 'data': { 'f': 'Foo' } }\n";
        let options = crate::parse::ParseOptions {
            module_markers: true,
            ..Default::default()
        };
        for root in ["/sd.json", "/tmp/sd.json", "/a/b/c/sd.json", "sd.json"] {
            let path = Path::new(root);
            let parsed = crate::parse::parse_str(path, text, options).unwrap();
            let schema = Schema::build(crate::check::check_schema(parsed).unwrap(), path).unwrap();
            let names: Vec<&str> = schema.modules().iter().map(|m| m.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "./builtin",
                    "sd.json",
                    "../../qapi/common.json",
                    "sub/y.json"
                ],
                "{root}"
            );
            let foo = schema.lookup("Foo").unwrap();
            assert_eq!(schema.module(foo.module).name, "../../qapi/common.json");
        }
    }

    #[test]
    fn member_descriptions() {
        let d = Builder::describe_member;
        assert_eq!(d("member", "a", "q_obj_cmd-arg", "cmd"), "parameter 'a'");
        assert_eq!(d("member", "a", "q_obj_U-base", "U"), "base member 'a'");
        assert_eq!(
            d("member", "a", "q_obj_T-base", "U"),
            "base member 'a' of type 'T'"
        );
        assert_eq!(d("member", "a", "Base", "Sub"), "member 'a' of type 'Base'");
        assert_eq!(d("value", "a", "E", "E"), "value 'a'");
    }
}
