//! The Rust emitter: walks the resolved model and writes the typed bindings.
//!
//! Every generated item plugs into the hand-written library through a few names outside
//! the generated module (`crate::support`, `crate::call`, `crate::describe`) and the
//! `crate::Command` trait; the emitter never writes transport code.
//!
//! Generated code avoids serde's derive macros: the impls are written out here, small and
//! generic, so a crate using the bindings compiles no proc-macro for them and instantiates
//! only the decoders of the commands it calls.

mod docs;
mod items;
pub mod layout;
pub mod names;

use crate::merge::{Facts, ItemFacts, Merged};
use crate::model::{Builtin, Entity, EntityId, EntityKind, Schema};
use names::Namespace;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A schema name in generated code is the string literal of its wire name, as a `str`
/// would be.
impl quote::ToTokens for crate::ast::Name {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.as_str().to_tokens(tokens);
    }
}

/// What to generate.
pub struct EmitOptions {
    /// Put QEMU's documentation into rustdoc (when the schema has any).
    pub docs: bool,
    /// Generate items with the `unstable` feature (commands, events, types, optional members).
    pub unstable: bool,
    /// Whether the QAPI module with this feature name (the file stem: `block-core`) is
    /// wanted. Types of unwanted modules are still generated when wanted items use them.
    pub module_enabled: Box<dyn Fn(&str) -> bool>,
    /// Generate the dynamic decoders (`decode_return`, `decode_arguments`, `decode_event`).
    pub dynamic: bool,
    /// Lay the code out with prettyplease (needs the crate feature `pretty`; slower, as it
    /// parses the output with syn) rather than with the fast one-pass [`layout`].
    pub pretty: bool,
    /// The Rust path of the module the generated code is included in, when it is not the
    /// crate's main API (`crate::agent::api`): its release table and its `Event` are then
    /// named through it, so several APIs can live in one crate. `None`: the main API,
    /// whose `RELEASES` is `crate::api::RELEASES` and whose `Event` is `crate::Event`.
    pub api_path: Option<String>,
    /// The marker trait whose implementors get the generated `Commands` methods
    /// (default `crate::call::Executor`). A second API gets a marker of its own, so its
    /// methods are not offered on the first API's clients.
    pub executor: String,
    /// The stem of the files written: `qmp` gives `qmp.rs` and `qmp_<module>.rs` (the
    /// default); a second API in the same `OUT_DIR` needs another.
    pub file_prefix: String,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            docs: true,
            unstable: true,
            module_enabled: Box::new(|_| true),
            dynamic: true,
            pretty: false,
            api_path: None,
            executor: "crate::call::Executor".to_string(),
            file_prefix: "qmp".to_string(),
        }
    }
}

/// The generated source: the root file and one file per QAPI module, formatted.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `(file name, code)`: the root file `qmp.rs` first, then `qmp_<module>.rs` files that
    /// the root `include!`s (with [`EmitOptions::file_prefix`] for `qmp`).
    pub files: Vec<(String, String)>,
}

/// The feature name of a module: its file stem (`qapi/block-core.json` -> `block-core`).
pub fn module_feature(module_name: &str) -> String {
    let file = module_name.rsplit('/').next().unwrap_or(module_name);
    file.strip_suffix(".json").unwrap_or(file).to_string()
}

/// Generates the bindings for the `merged` releases (one or more).
pub fn emit(merged: &Merged, options: &EmitOptions) -> Result<Generated, String> {
    let emitter = Emitter::new(merged, options);
    emitter.generate()
}

/// Naming and selection decisions, made once before any code is written.
struct Emitter<'s> {
    schema: &'s Schema,
    facts: &'s Facts,
    options: &'s EmitOptions,
    /// The Rust type name of every generated named type and command struct.
    type_names: HashMap<EntityId, String>,
    /// Entities to generate.
    included: HashSet<EntityId>,
    /// Types that sit in a by-value cycle with others: references to them inside the
    /// cycle are boxed.
    cycles: HashMap<EntityId, usize>,
    /// Object types some union uses as a branch: their members are also written into the
    /// union's map, so they implement `SerializeFields`.
    branch_types: HashSet<EntityId>,
}

impl<'s> Emitter<'s> {
    fn new(merged: &'s Merged, options: &'s EmitOptions) -> Emitter<'s> {
        let schema = &merged.schema;
        let mut emitter = Emitter {
            schema,
            facts: &merged.facts,
            options,
            type_names: HashMap::new(),
            included: HashSet::new(),
            cycles: HashMap::new(),
            branch_types: HashSet::new(),
        };
        emitter.select();
        emitter.name_types();
        emitter.find_cycles();
        emitter.branch_types = schema
            .iter()
            .filter_map(|(_, entity)| match &entity.kind {
                EntityKind::Object(o) => o.branches.as_ref(),
                _ => None,
            })
            .flat_map(|branches| branches.variants.iter().map(|v| v.ty))
            .collect();
        emitter
    }

    fn entity(&self, id: EntityId) -> &'s Entity {
        self.schema.entity(id)
    }

    /// The release facts of the definition named `name`.
    fn item_facts(&self, name: &str) -> Option<&'s ItemFacts> {
        self.facts.item(name)
    }

    fn module_wanted(&self, entity: &Entity) -> bool {
        let module = self.schema.module(entity.module);
        module.is_builtin() || (self.options.module_enabled)(&module_feature(&module.name))
    }

    fn stable_enough(&self, entity: &Entity) -> bool {
        self.options.unstable || !entity.is_unstable()
    }

    /// Whether a member is left out (unstable and optional, without the unstable feature:
    /// a required one must stay or the value could not be written).
    fn member_skipped(&self, member: &crate::model::Member) -> bool {
        !self.options.unstable && member.optional && member.is_unstable()
    }

    /// Picks what to generate: every wanted command, event and named type, and every type
    /// those reach.
    fn select(&mut self) {
        let mut work: Vec<EntityId> = Vec::new();
        for (id, entity) in self.schema.iter() {
            let root = match &entity.kind {
                EntityKind::Command(_) | EntityKind::Event(_) => true,
                EntityKind::Enum(_) | EntityKind::Object(_) | EntityKind::Alternate(_) => {
                    !entity.is_implicit()
                }
                _ => false,
            };
            if root && self.module_wanted(entity) && self.stable_enough(entity) {
                work.push(id);
            }
        }
        while let Some(id) = work.pop() {
            if !self.included.insert(id) {
                continue;
            }
            let entity = self.entity(id);
            match &entity.kind {
                EntityKind::Builtin(_) | EntityKind::Enum(_) => {}
                EntityKind::Array(a) => work.push(a.element),
                EntityKind::Object(o) => {
                    work.extend(o.base);
                    for m in o.members() {
                        if !self.member_skipped(m) {
                            work.push(m.ty);
                        }
                    }
                    if let Some(b) = &o.branches {
                        work.push(b.tag_type);
                        work.extend(b.variants.iter().map(|v| v.ty));
                    }
                }
                EntityKind::Alternate(a) => work.extend(a.variants.iter().map(|v| v.ty)),
                EntityKind::Command(c) => work.extend(c.arg_type.into_iter().chain(c.ret_type)),
                EntityKind::Event(e) => work.extend(e.arg_type),
            }
        }
    }

    /// Gives every generated type its Rust name. Named types come first in schema order,
    /// then command structs, then event data structs, so a clash is always resolved in
    /// favour of the schema's own type names.
    fn name_types(&mut self) {
        let mut ns = Namespace::new();
        for reserved in ["Event", "EventKind", "Commands"] {
            ns.reserve(reserved);
        }
        for (id, entity) in self.schema.iter() {
            if !self.included.contains(&id) || entity.is_implicit() && entity.name != "QType" {
                continue;
            }
            if matches!(
                entity.kind,
                EntityKind::Enum(_) | EntityKind::Object(_) | EntityKind::Alternate(_)
            ) {
                self.type_names
                    .insert(id, ns.claim(names::camel(&entity.name)));
            }
        }
        for (id, entity) in self.schema.iter() {
            if self.included.contains(&id) && matches!(entity.kind, EntityKind::Command(_)) {
                // `drive-backup` takes the struct `DriveBackup`: its own struct is then
                // `DriveBackupCommand`.
                let name = names::camel(&entity.name);
                let name = ns.claim_or(name.clone(), format!("{name}Command"));
                self.type_names.insert(id, name);
            }
        }
        for (id, entity) in self.schema.iter() {
            let EntityKind::Event(event) = &entity.kind else {
                continue;
            };
            if !self.included.contains(&id) {
                continue;
            }
            if let Some(arg) = event.arg_type {
                if self.entity(arg).is_implicit() {
                    let name = format!("{}Data", event_variant_base(&entity.name));
                    self.type_names.insert(arg, ns.claim(name));
                }
            }
        }
    }

    /// Finds the types that contain themselves by value (directly or through others),
    /// with Tarjan's strongly connected components over "holds a value of" edges.
    fn find_cycles(&mut self) {
        let ids: Vec<EntityId> = self
            .schema
            .iter()
            .filter(|(id, e)| self.included.contains(id) && e.is_type())
            .map(|(id, _)| id)
            .collect();
        let mut index: HashMap<EntityId, usize> = HashMap::new();
        let mut low: HashMap<EntityId, usize> = HashMap::new();
        let mut on_stack: HashSet<EntityId> = HashSet::new();
        let mut stack: Vec<EntityId> = Vec::new();
        let mut counter = 0;
        let mut component = 0;
        // Iterative to keep deep schemas off the call stack.
        for &start in &ids {
            if index.contains_key(&start) {
                continue;
            }
            let mut frames: Vec<(EntityId, Vec<EntityId>, usize)> = Vec::new();
            index.insert(start, counter);
            low.insert(start, counter);
            counter += 1;
            stack.push(start);
            on_stack.insert(start);
            frames.push((start, self.value_edges(start), 0));
            while let Some(frame) = frames.last_mut() {
                let (node, edges, next) = (frame.0, &frame.1, frame.2);
                if next < edges.len() {
                    let target = edges[next];
                    frame.2 += 1;
                    if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(target) {
                        slot.insert(counter);
                        low.insert(target, counter);
                        counter += 1;
                        stack.push(target);
                        on_stack.insert(target);
                        let edges = self.value_edges(target);
                        frames.push((target, edges, 0));
                    } else if on_stack.contains(&target) {
                        let t = index[&target];
                        if let Some(l) = low.get_mut(&node) {
                            *l = (*l).min(t);
                        }
                    }
                    continue;
                }
                frames.pop();
                if let Some(parent) = frames.last() {
                    let l = low[&node];
                    if let Some(p) = low.get_mut(&parent.0) {
                        *p = (*p).min(l);
                    }
                }
                if low[&node] == index[&node] {
                    let mut members = Vec::new();
                    while let Some(top) = stack.pop() {
                        on_stack.remove(&top);
                        members.push(top);
                        if top == node {
                            break;
                        }
                    }
                    let self_loop = self.value_edges(node).contains(&node);
                    if members.len() > 1 || self_loop {
                        for m in members {
                            self.cycles.insert(m, component);
                        }
                    }
                    component += 1;
                }
            }
        }
    }

    /// The types a value of `id` holds by value (not through a list).
    fn value_edges(&self, id: EntityId) -> Vec<EntityId> {
        let mut out = Vec::new();
        match &self.entity(id).kind {
            EntityKind::Object(o) => {
                for m in o.members() {
                    if !self.member_skipped(m) {
                        out.push(m.ty);
                    }
                }
                if let Some(b) = &o.branches {
                    out.extend(b.variants.iter().map(|v| v.ty));
                }
            }
            EntityKind::Alternate(a) => out.extend(a.variants.iter().map(|v| v.ty)),
            _ => {}
        }
        out.retain(|t| {
            matches!(
                self.entity(*t).kind,
                EntityKind::Object(_) | EntityKind::Alternate(_)
            )
        });
        out
    }

    /// Whether a value of `target` held inside `owner` must be boxed.
    fn needs_box(&self, owner: EntityId, target: EntityId) -> bool {
        match (self.cycles.get(&owner), self.cycles.get(&target)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// The Rust type of a value of `id`.
    fn type_ref(&self, id: EntityId) -> TokenStream {
        let entity = self.entity(id);
        match &entity.kind {
            EntityKind::Builtin(b) => builtin_type(*b),
            EntityKind::Array(a) => {
                let element = self.type_ref(a.element);
                quote!(::std::vec::Vec<#element>)
            }
            _ => match self.type_names.get(&id) {
                Some(name) => {
                    let ident = ident(name);
                    quote!(#ident)
                }
                // `q_empty` and other unnamed implicit objects carry nothing.
                None => quote!(crate::support::Empty),
            },
        }
    }

    /// `type_ref`, boxed when the value sits in a cycle with `owner`.
    fn held_type(&self, owner: EntityId, id: EntityId) -> TokenStream {
        let inner = self.type_ref(id);
        if self.needs_box(owner, id) {
            quote!(::std::boxed::Box<#inner>)
        } else {
            inner
        }
    }

    fn generate(&self) -> Result<Generated, String> {
        let mut files = Vec::new();
        for (name, header, tokens) in self.generate_tokens() {
            let code = self.format(tokens, &name)?;
            files.push((name, header + &code));
        }
        Ok(Generated { files })
    }

    /// The files to write, as `(name, header comment, tokens)`, the root `qmp.rs` first.
    fn generate_tokens(&self) -> Vec<(String, String, TokenStream)> {
        let mut per_module: BTreeMap<usize, Vec<TokenStream>> = BTreeMap::new();
        for (id, entity) in self.schema.iter() {
            if !self.included.contains(&id) {
                continue;
            }
            let tokens = match &entity.kind {
                EntityKind::Enum(e) if self.type_names.contains_key(&id) => {
                    items::enum_type(self, id, entity, e)
                }
                EntityKind::Object(o) if self.type_names.contains_key(&id) => {
                    if o.is_union() {
                        items::union_type(self, id, entity, o)
                    } else {
                        items::struct_type(self, id, entity, o)
                    }
                }
                EntityKind::Alternate(a) => items::alternate_type(self, id, entity, a),
                EntityKind::Command(c) => items::command(self, id, entity, c),
                _ => continue,
            };
            per_module
                .entry(entity.module.index())
                .or_default()
                .push(tokens);
        }

        let mut files = Vec::new();
        let mut includes = Vec::new();
        for (module_index, items) in per_module {
            let module = &self.schema.modules()[module_index];
            let file_name = format!(
                "{}_{}.rs",
                self.options.file_prefix,
                names::snake(&module_feature(&module.name)).trim_start_matches("r#")
            );
            let header = format!(
                "// Generated from `{}` by qemu-qmp-codegen: do not edit.\n",
                module.name
            );
            files.push((file_name.clone(), header, quote!(#(#items)*)));
            includes.push(file_name);
        }

        // A second API without events (the guest agent's) gets no event enum: it would
        // hold nothing but `Other`.
        let has_events = self
            .schema
            .iter()
            .any(|(id, e)| matches!(e.kind, EntityKind::Event(_)) && self.included.contains(&id));
        let event = if has_events || self.options.api_path.is_none() {
            items::event_enum(self)
        } else {
            quote!()
        };
        let commands = items::commands_trait(self);
        let tables = items::tables(self);
        let include_lines = includes
            .iter()
            .map(|f| quote!(include!(concat!(env!("OUT_DIR"), "/", #f));));
        let root = quote! {
            #(#include_lines)*
            #event
            #commands
            #tables
        };
        let header = "// Generated by qemu-qmp-codegen: do not edit.\n".to_string();
        let mut all = vec![(format!("{}.rs", self.options.file_prefix), header, root)];
        all.extend(files);
        all
    }
}

/// The variant name of an event (`BLOCK_JOB_COMPLETED` -> `BlockJobCompleted`).
fn event_variant_base(name: &str) -> String {
    names::camel(&name.to_ascii_lowercase())
}

fn builtin_type(builtin: Builtin) -> TokenStream {
    match builtin {
        Builtin::Str => quote!(::std::string::String),
        Builtin::Number => quote!(f64),
        Builtin::Int | Builtin::Int64 => quote!(i64),
        Builtin::Int8 => quote!(i8),
        Builtin::Int16 => quote!(i16),
        Builtin::Int32 => quote!(i32),
        Builtin::Uint8 => quote!(u8),
        Builtin::Uint16 => quote!(u16),
        Builtin::Uint32 => quote!(u32),
        Builtin::Uint64 | Builtin::Size => quote!(u64),
        Builtin::Bool => quote!(bool),
        Builtin::Any => quote!(::serde_json::Value),
        Builtin::Null => quote!(()),
    }
}

/// A Rust path given as text in the options (`crate::agent::Executor`).
fn path_tokens(path: &str) -> TokenStream {
    // A path the options give is checked where it is set (Builder); anything else is a
    // caller's bug, and an empty stream makes the generated code fail to compile at once.
    path.parse().unwrap_or_default()
}

/// An identifier, raw (`r#type`) when the name says so.
fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

impl Emitter<'_> {
    fn format(&self, tokens: TokenStream, file: &str) -> Result<String, String> {
        if self.options.pretty {
            pretty(tokens, file)
        } else {
            Ok(layout::layout(tokens))
        }
    }
}

#[cfg(feature = "pretty")]
fn pretty(tokens: TokenStream, file: &str) -> Result<String, String> {
    let parsed: syn::File = syn::parse2(tokens)
        .map_err(|e| format!("generated code for {file} does not parse (a generator bug): {e}"))?;
    Ok(prettyplease::unparse(&parsed))
}

#[cfg(not(feature = "pretty"))]
fn pretty(tokens: TokenStream, _file: &str) -> Result<String, String> {
    Ok(layout::layout(tokens))
}

/// Generates bindings from a schema file, in the style of `prost-build`: defaults that suit
/// a build script, one call to run.
///
/// ```no_run
/// // build.rs
/// qemu_qmp_codegen::rust::Builder::new("schema/qemu-10.0.json")
///     .generate()
///     .expect("QMP bindings");
/// ```
pub struct Builder {
    /// The releases' schema files, oldest first.
    schemas: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    options: EmitOptions,
}

/// What a generation read and wrote.
#[derive(Clone, Debug)]
pub struct Generation {
    /// Every schema file read (for `cargo:rerun-if-changed`).
    pub inputs: Vec<PathBuf>,
    /// Every file written, the root `qmp.rs` (`{file_prefix}.rs`) first.
    pub outputs: Vec<PathBuf>,
    /// Warnings from the schema (formatting-only documentation rules).
    pub warnings: Vec<String>,
    /// The feature names of the QAPI modules generated (`introspect`, `block-core`, ...):
    /// a crate's hand-written code that uses a module's items can be compiled only when
    /// the schema has it.
    pub modules: Vec<String>,
}

/// Why a generation failed.
#[derive(Debug)]
pub enum GenerateError {
    /// The schema is broken (with file, line and column).
    Schema(crate::SchemaError),
    /// The output could not be written.
    Io(PathBuf, std::io::Error),
    /// Neither an output folder was set nor `OUT_DIR` (outside a build script).
    NoOutDir,
    /// The generator produced code that does not parse: a bug in the generator.
    Emit(String),
}

impl std::fmt::Display for GenerateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerateError::Schema(e) => write!(f, "{e}"),
            GenerateError::Io(path, e) => write!(f, "cannot write {}: {e}", path.display()),
            GenerateError::NoOutDir => {
                f.write_str("no output folder: set one, or run from a build script")
            }
            GenerateError::Emit(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for GenerateError {}

impl Builder {
    /// Bindings for the schema file `schema` (a QEMU tree's `qapi/qapi-schema.json`, or a
    /// doc-free extract written by `qapi extract`).
    pub fn new(schema: impl Into<PathBuf>) -> Builder {
        Builder::releases([schema.into()])
    }

    /// Bindings right for every one of several QEMU releases: `schemas` are their schema
    /// files (QEMU trees' `qapi/qapi-schema.json` or extracts), oldest release first,
    /// merged by the rules of [`crate::merge`]. Each release is named by its tree's
    /// `VERSION` or its extract's header.
    pub fn releases(schemas: impl IntoIterator<Item = impl Into<PathBuf>>) -> Builder {
        Builder {
            schemas: schemas.into_iter().map(Into::into).collect(),
            out_dir: None,
            options: EmitOptions::default(),
        }
    }

    /// Where to write (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether QEMU's documentation goes into rustdoc (default: yes, when the schema has it).
    pub fn docs(mut self, docs: bool) -> Builder {
        self.options.docs = docs;
        self
    }

    /// Whether items with the `unstable` feature are generated (default: yes).
    pub fn unstable(mut self, unstable: bool) -> Builder {
        self.options.unstable = unstable;
        self
    }

    /// Whether the code is laid out with prettyplease (default: no, the fast layout; see
    /// [`EmitOptions::pretty`]).
    pub fn pretty(mut self, pretty: bool) -> Builder {
        self.options.pretty = pretty;
        self
    }

    /// Whether the dynamic decoders are generated (default: yes).
    pub fn dynamic(mut self, dynamic: bool) -> Builder {
        self.options.dynamic = dynamic;
        self
    }

    /// Generates a second API of the crate (the guest agent's, the storage daemon's), to be
    /// included in the module at Rust path `api_path` (`crate::agent::api`): its commands'
    /// methods go to the implementors of the marker trait `executor`
    /// (`crate::agent::Executor`), and its files are named `{file_prefix}.rs` and
    /// `{file_prefix}_<module>.rs`. See [`EmitOptions::api_path`].
    pub fn api_module(
        mut self,
        api_path: impl Into<String>,
        executor: impl Into<String>,
        file_prefix: impl Into<String>,
    ) -> Builder {
        self.options.api_path = Some(api_path.into());
        self.options.executor = executor.into();
        self.options.file_prefix = file_prefix.into();
        self
    }

    /// Which QAPI modules (by file stem: `block-core`, `migration`, ...) are wanted;
    /// default: all. Types of unwanted modules are still generated when a wanted item
    /// uses them.
    pub fn modules(mut self, wanted: impl Fn(&str) -> bool + 'static) -> Builder {
        self.options.module_enabled = Box::new(wanted);
        self
    }

    /// Reads the schema, generates, and writes the files.
    pub fn generate(self) -> Result<Generation, GenerateError> {
        let out_dir = match self
            .out_dir
            .clone()
            .or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from))
        {
            Some(dir) => dir,
            None => return Err(GenerateError::NoOutDir),
        };
        for path in self.options.api_path.iter().chain([&self.options.executor]) {
            if path.parse::<TokenStream>().is_err() {
                return Err(GenerateError::Emit(format!(
                    "`{path}` is not a Rust path (Builder::api_module)"
                )));
            }
        }
        let merged = crate::merge::load_releases(&self.schemas).map_err(GenerateError::Schema)?;
        let generated = emit(&merged, &self.options).map_err(GenerateError::Emit)?;
        let mut inputs = Vec::new();
        for schema_file in &self.schemas {
            inputs.push(schema_file.clone());
            // A QEMU tree's schema includes files beside it; an extract stands alone.
            if crate::extract::is_extract(schema_file) {
                continue;
            }
            let folder = schema_file.parent().unwrap_or_else(|| Path::new(""));
            for module in merged.schema.modules().iter().skip(2) {
                let path = folder.join(&module.name);
                if path.is_file() && !inputs.contains(&path) {
                    inputs.push(path);
                }
            }
        }
        let mut outputs = Vec::new();
        std::fs::create_dir_all(&out_dir).map_err(|e| GenerateError::Io(out_dir.clone(), e))?;
        for (name, code) in &generated.files {
            let path = out_dir.join(name);
            // Rewriting an unchanged file would make cargo rebuild the crate for nothing.
            if std::fs::read_to_string(&path).ok().as_deref() != Some(code.as_str()) {
                std::fs::write(&path, code).map_err(|e| GenerateError::Io(path.clone(), e))?;
            }
            outputs.push(path);
        }
        Ok(Generation {
            inputs,
            outputs,
            modules: merged
                .schema
                .modules()
                .iter()
                .filter(|m| !m.is_builtin() && !m.items.is_empty())
                .map(|m| module_feature(&m.name))
                .filter(|m| (self.options.module_enabled)(m))
                .collect(),
            warnings: merged
                .schema
                .warnings()
                .iter()
                .map(|w| w.to_string())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast layout changes nothing but white space in any file generated for QEMU 10.0
    /// (the extract in `schema/` ships with the crate).
    #[test]
    fn layout_keeps_every_token_of_the_generated_code() {
        let extract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/qemu-10.0.json");
        let merged = crate::merge::load_releases(&[extract]).expect("the shipped extract loads");
        let options = EmitOptions::default();
        let emitter = Emitter::new(&merged, &options);
        let files = emitter.generate_tokens();
        assert!(files.len() > 40, "{} files", files.len());
        for (name, _, tokens) in files {
            assert_eq!(layout::layout_preserves_tokens(tokens), Ok(()), "{name}");
        }
    }

    /// A second API (the guest agent's): its own file names, its own executor marker, its
    /// own release table, and no event enum when its schema has no events; the QMP
    /// defaults are untouched.
    #[test]
    fn a_second_api_names_its_own_paths() {
        let extract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/qga/qemu-10.0.json");
        let merged = crate::merge::load_releases(&[extract]).expect("the shipped extract loads");
        let options = EmitOptions {
            api_path: Some("crate::agent::api".into()),
            executor: "crate::agent::Executor".into(),
            file_prefix: "qga".into(),
            ..EmitOptions::default()
        };
        let files = emit(&merged, &options).expect("generates").files;
        assert_eq!(files[0].0, "qga.rs");
        assert!(files[1..].iter().all(|(name, _)| name.starts_with("qga_")));
        let root = &files[0].1;
        assert!(
            root.contains("pub trait Commands: crate::agent::Executor"),
            "{root}"
        );
        assert!(!root.contains("pub enum Event"));
        let all: String = files.iter().map(|(_, code)| code.as_str()).collect();
        assert!(all.contains("from_bits_in("));
        assert!(all.contains("crate::agent::api::RELEASES"));
        assert!(!all.contains("crate::call::Executor"));
        // `guest-shutdown` answers nothing on success, and says so.
        let shutdown = all
            .find("impl crate::Command for GuestShutdown")
            .expect("guest-shutdown");
        assert!(all[shutdown..shutdown + 400].contains("const SUCCESS_RESPONSE: bool = false;"));
    }
}
