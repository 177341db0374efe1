//! What the connected QEMU itself says it supports: its `query-qmp-schema`, indexed.
//!
//! The bindings are generated from one schema, but the QEMU at the other end of the socket
//! may be older, newer, built without some features, or a distribution's build with
//! backported and vendor commands (`__com.redhat_...`). Its introspection is the only truth
//! about what it accepts, so decisions belong here rather than on version numbers.
//!
//! [`Client::schema`](crate::Client::schema) fetches the schema once per connection. A
//! [`LiveSchema`] can also be built from a saved reply with [`LiveSchema::from_entries`].
//!
//! # Path queries
//!
//! [`LiveSchema::path`] and [`LiveSchema::path_exists`] answer questions about any depth
//! of the schema with one string, in the style of libvirt's schema queries. A path is a
//! list of steps separated by `/`:
//!
//! | step | meaning |
//! |---|---|
//! | `NAME` (first step) | the command or event `NAME` (any entity of the schema, in fact) |
//! | `arg-type` | the arguments of the command, or the data of the event, reached just before |
//! | `ret-type` | the return type of the command reached just before |
//! | `NAME` | the member `NAME` of the object type reached, then its type |
//! | `*NAME` | the same, but only if the member is optional |
//! | `+VALUE` | the branch of the union reached whose discriminator is `VALUE`, then its type (the branch's own members; the common ones are reached without `+`) |
//! | `^VALUE` | a test: the enum type reached accepts `VALUE` |
//! | `$FEATURE` | a test: the thing selected by the step before has `FEATURE`: the command or event after the first step, the member after a member step, the enum value after `^VALUE`, otherwise the type reached |
//! | `!META` | a test: the type reached is of meta-type `META` (`builtin`, `enum`, `array`, `object`, `alternate`, `command`, `event`), or a builtin whose JSON type is `META` (`string`, `int`, `number`, `boolean`, `null`, `object`, `array`, `value`) |
//!
//! Arrays are looked through: a member step on a list of objects selects the member of the
//! element type. Alternates are tried branch by branch; the first branch that satisfies the
//! rest of the path wins. A step starting with a space is a plain member name with the space
//! removed, for members whose name starts with one of `+^$!*` or is `arg-type`/`ret-type`.
//! Only `$FEATURE` may follow `^VALUE`, and nothing may follow `$FEATURE` or `!META`.
//!
//! ```
//! # fn demo(schema: &qemu_qmp::LiveSchema) -> Result<(), qemu_qmp::schema::PathError> {
//! // Does blockdev-add's `file` driver accept `aio: io_uring`?
//! let io_uring = schema.path_exists("blockdev-add/arg-type/+file/aio/^io_uring")?;
//! // Is block-commit's `base` argument deprecated?
//! let old_base = schema.path_exists("block-commit/arg-type/base/$deprecated")?;
//! # Ok(()) }
//! ```
//!
//! A path that is well formed but leads nowhere in this QEMU's schema is `Ok(None)` /
//! `Ok(false)`; only a malformed path is an error ([`PathError`]).

use std::collections::HashMap;
use std::fmt;

use crate::api::{
    SchemaInfo, SchemaInfoBranch, SchemaInfoCommand, SchemaInfoEnumMember, SchemaInfoObject,
    SchemaInfoObjectMember,
};
use crate::command::Command;

/// How many arrays and alternates a path may look through between two of its steps. Real
/// schemas need two or three; the limit keeps a hostile schema from recursing without end.
const MAX_TRANSPARENT_DEPTH: usize = 32;

/// The connected QEMU's `query-qmp-schema`, indexed by entity name.
///
/// In QEMU's introspection only commands, events and built-in types keep their names;
/// every other type is known by a number (`"123"`) that differs between builds, so the
/// queries start from a command or event and walk from there.
pub struct LiveSchema {
    entries: Vec<SchemaInfo>,
    by_name: HashMap<String, usize>,
}

impl fmt::Debug for LiveSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Thousands of entries: a summary says more than a dump.
        f.debug_struct("LiveSchema")
            .field("entries", &self.entries.len())
            .field("commands", &self.commands().count())
            .field("events", &self.events().count())
            .finish()
    }
}

impl LiveSchema {
    /// Indexes the entries of a `query-qmp-schema` reply (for example one saved earlier).
    /// Should a name appear twice, the first entry wins.
    pub fn from_entries(entries: Vec<SchemaInfo>) -> Self {
        let mut by_name = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            by_name.entry(entry.name.clone()).or_insert(i);
        }
        LiveSchema { entries, by_name }
    }

    /// Every entry, in the order QEMU sent them.
    pub fn entries(&self) -> &[SchemaInfo] {
        &self.entries
    }

    /// The entity named `name`: a command, an event, a built-in type, or a type by its
    /// (masked) introspection name.
    pub fn get(&self, name: &str) -> Option<&SchemaInfo> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Whether this QEMU offers the command `name`.
    pub fn has_command(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|e| matches!(e.meta_type, SchemaInfoBranch::Command(_)))
    }

    /// Whether this QEMU can send the event `name`.
    pub fn has_event(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|e| matches!(e.meta_type, SchemaInfoBranch::Event(_)))
    }

    /// Whether this QEMU offers the command `C` of the bindings, e.g.
    /// `schema.supports::<qemu_qmp::api::QueryStatus>()`.
    pub fn supports<C: Command>(&self) -> bool {
        self.has_command(C::NAME)
    }

    /// The names of the commands this QEMU offers.
    pub fn commands(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries
            .iter()
            .filter(|e| matches!(e.meta_type, SchemaInfoBranch::Command(_)))
            .map(|e| e.name.as_str())
    }

    /// The names of the events this QEMU may send.
    pub fn events(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries
            .iter()
            .filter(|e| matches!(e.meta_type, SchemaInfoBranch::Event(_)))
            .map(|e| e.name.as_str())
    }

    /// The command `name`, to ask about its arguments and features.
    pub fn command(&self, name: &str) -> Option<LiveCommand<'_>> {
        let info = self.get(name)?;
        match &info.meta_type {
            SchemaInfoBranch::Command(command) => Some(LiveCommand {
                schema: self,
                info,
                command,
            }),
            _ => None,
        }
    }

    /// The command `C` of the bindings, if this QEMU offers it.
    pub fn command_of<C: Command>(&self) -> Option<LiveCommand<'_>> {
        self.command(C::NAME)
    }

    /// Whether this QEMU offers the command `C` with the argument `argument` (one of the
    /// members every call has; a union's branch members need a [`path`](Self::path) with
    /// `+BRANCH`).
    pub fn takes_argument<C: Command>(&self, argument: &str) -> bool {
        self.command(C::NAME)
            .is_some_and(|c| c.argument(argument).is_some())
    }

    /// Follows a path (syntax in the [module documentation](self)) and returns the entity
    /// reached: a member step's type, the enum a `^VALUE` test passed on, the entity a
    /// `$FEATURE` or `!META` test passed on. `Ok(None)` when the path leads nowhere in this
    /// schema or a test fails.
    pub fn path(&self, path: &str) -> Result<Option<&SchemaInfo>, PathError> {
        let (first, steps) = parse(path)?;
        let Some(&start) = self.by_name.get(first) else {
            return Ok(None);
        };
        let reached = self.walk(path, start, &steps, 0, 0)?;
        Ok(reached.map(|i| &self.entries[i]))
    }

    /// Whether a path (syntax in the [module documentation](self)) leads somewhere and its
    /// tests pass.
    pub fn path_exists(&self, path: &str) -> Result<bool, PathError> {
        self.path(path).map(|reached| reached.is_some())
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Applies `steps` from the entity `at`; `done` steps after the first were applied
    /// before (so `steps[0]` is step number `done + 2`, counting from 1), and `depth`
    /// arrays or alternates were looked through since.
    fn walk(
        &self,
        path: &str,
        at: usize,
        steps: &[Step<'_>],
        done: usize,
        depth: usize,
    ) -> Result<Option<usize>, PathError> {
        let entry = &self.entries[at];
        let Some((step, rest)) = steps.split_first() else {
            return Ok(Some(at));
        };
        let next = |name: &str, rest: &[Step<'_>]| match self.index(name) {
            Some(i) => self.walk(path, i, rest, done + 1, 0),
            None => Ok(None),
        };
        let test = |passed: bool| Ok(passed.then_some(at));
        match (&entry.meta_type, step) {
            (_, Step::Feature(feature)) => test(has_feature(&entry.features, feature)),
            (SchemaInfoBranch::Command(c), Step::ArgType) => next(&c.arg_type, rest),
            (SchemaInfoBranch::Command(c), Step::RetType) => next(&c.ret_type, rest),
            (SchemaInfoBranch::Event(e), Step::ArgType) => next(&e.arg_type, rest),
            (SchemaInfoBranch::Command(_) | SchemaInfoBranch::Event(_), Step::Meta(meta)) => {
                test(meta_matches(entry, meta))
            }
            (SchemaInfoBranch::Command(_) | SchemaInfoBranch::Event(_), _) => {
                let expected = if matches!(entry.meta_type, SchemaInfoBranch::Command(_)) {
                    "`arg-type`, `ret-type` or `$FEATURE`"
                } else {
                    "`arg-type` or `$FEATURE`"
                };
                Err(PathError::new(
                    path,
                    done + 2,
                    PathErrorKind::NotAfterEntity {
                        entity: entry.name.clone(),
                        expected,
                    },
                ))
            }
            (_, Step::Meta(meta)) if meta_matches(entry, meta) => Ok(Some(at)),
            (SchemaInfoBranch::Array(array), _) => {
                if depth >= MAX_TRANSPARENT_DEPTH {
                    return Ok(None);
                }
                match self.index(&array.element_type) {
                    Some(i) => self.walk(path, i, steps, done, depth + 1),
                    None => Ok(None),
                }
            }
            (SchemaInfoBranch::Alternate(alternate), _) => {
                if depth >= MAX_TRANSPARENT_DEPTH {
                    return Ok(None);
                }
                for branch in &alternate.members {
                    if let Some(i) = self.index(&branch.r#type) {
                        if let Some(found) = self.walk(path, i, steps, done, depth + 1)? {
                            return Ok(Some(found));
                        }
                    }
                }
                Ok(None)
            }
            (SchemaInfoBranch::Object(object), Step::Member { name, optional }) => {
                let Some(member) = object.members.iter().find(|m| m.name == *name) else {
                    return Ok(None);
                };
                if *optional && member.default.is_none() {
                    return Ok(None);
                }
                if let Some((Step::Feature(feature), _)) = rest.split_first() {
                    return Ok(has_feature(&member.features, feature)
                        .then(|| self.index(&member.r#type))
                        .flatten());
                }
                next(&member.r#type, rest)
            }
            (SchemaInfoBranch::Object(object), Step::Branch(value)) => {
                match variant_type(object, value) {
                    Some(name) => next(name, rest),
                    None => Ok(None),
                }
            }
            (SchemaInfoBranch::Enum(e), Step::EnumValue(value)) => {
                let Some(member) = e.members.iter().find(|m| m.name == *value) else {
                    return Ok(None);
                };
                match rest.first() {
                    Some(Step::Feature(feature)) => test(has_feature(&member.features, feature)),
                    _ => Ok(Some(at)),
                }
            }
            _ => Ok(None),
        }
    }
}

/// A command of the live schema: its arguments and features.
#[derive(Clone, Copy)]
pub struct LiveCommand<'a> {
    schema: &'a LiveSchema,
    info: &'a SchemaInfo,
    command: &'a SchemaInfoCommand,
}

impl fmt::Debug for LiveCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCommand")
            .field("name", &self.info.name)
            .field("features", &self.features())
            .finish()
    }
}

impl<'a> LiveCommand<'a> {
    /// The command's wire name.
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// The command's introspection entry.
    pub fn info(&self) -> &'a SchemaInfo {
        self.info
    }

    /// The command's features (`deprecated`, `unstable`, and feature flags such as
    /// `savevm-monitor-nodes`).
    pub fn features(&self) -> &'a [String] {
        self.info.features.as_deref().unwrap_or_default()
    }

    /// Whether the command has the feature `feature`.
    pub fn has_feature(&self, feature: &str) -> bool {
        has_feature(&self.info.features, feature)
    }

    /// Whether this QEMU marks the command deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.has_feature("deprecated")
    }

    /// Whether the command may be executed out of band.
    pub fn allow_oob(&self) -> bool {
        self.command.allow_oob.unwrap_or(false)
    }

    /// The arguments every call has (for a union of arguments, its common members).
    pub fn arguments(&self) -> impl Iterator<Item = LiveMember<'a>> + 'a {
        let schema = self.schema;
        self.arguments_object()
            .map(|o| o.members.as_slice())
            .unwrap_or_default()
            .iter()
            .map(move |member| LiveMember { schema, member })
    }

    /// The argument `name`, if the command takes it.
    pub fn argument(&self, name: &str) -> Option<LiveMember<'a>> {
        let schema = self.schema;
        self.arguments_object()?
            .members
            .iter()
            .find(|m| m.name == name)
            .map(|member| LiveMember { schema, member })
    }

    /// The introspection entry of the return type.
    pub fn returns(&self) -> Option<&'a SchemaInfo> {
        self.schema.get(&self.command.ret_type)
    }

    fn arguments_object(&self) -> Option<&'a SchemaInfoObject> {
        match &self.schema.get(&self.command.arg_type)?.meta_type {
            SchemaInfoBranch::Object(object) => Some(object),
            _ => None,
        }
    }
}

/// A member of an object type of the live schema (a command's argument, for example).
#[derive(Clone, Copy)]
pub struct LiveMember<'a> {
    schema: &'a LiveSchema,
    member: &'a SchemaInfoObjectMember,
}

impl fmt::Debug for LiveMember<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMember")
            .field("name", &self.member.name)
            .field("type", &self.member.r#type)
            .field("optional", &self.is_optional())
            .field("features", &self.features())
            .finish()
    }
}

impl<'a> LiveMember<'a> {
    /// The member's name.
    pub fn name(&self) -> &'a str {
        &self.member.name
    }

    /// Whether the member may be left out (QEMU's introspection gives optional members a
    /// `default`, today always `null`).
    pub fn is_optional(&self) -> bool {
        self.member.default.is_some()
    }

    /// The member's features.
    pub fn features(&self) -> &'a [String] {
        self.member.features.as_deref().unwrap_or_default()
    }

    /// Whether the member has the feature `feature`.
    pub fn has_feature(&self, feature: &str) -> bool {
        has_feature(&self.member.features, feature)
    }

    /// Whether this QEMU marks the member deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.has_feature("deprecated")
    }

    /// The introspection entry of the member's type.
    pub fn type_info(&self) -> Option<&'a SchemaInfo> {
        self.schema.get(&self.member.r#type)
    }

    /// Whether the member accepts the enum value `value`: its type is an enum with that
    /// value, or a list or alternate of one.
    pub fn accepts(&self, value: &str) -> bool {
        self.enum_value(value).is_some()
    }

    /// Whether this QEMU marks the enum value `value` of the member's type deprecated.
    pub fn is_value_deprecated(&self, value: &str) -> bool {
        self.enum_value(value)
            .is_some_and(|m| has_feature(&m.features, "deprecated"))
    }

    fn enum_value(&self, value: &str) -> Option<&'a SchemaInfoEnumMember> {
        find_enum_value(self.schema, &self.member.r#type, value, 0)
    }
}

fn find_enum_value<'a>(
    schema: &'a LiveSchema,
    type_name: &str,
    value: &str,
    depth: usize,
) -> Option<&'a SchemaInfoEnumMember> {
    if depth > MAX_TRANSPARENT_DEPTH {
        return None;
    }
    match &schema.get(type_name)?.meta_type {
        SchemaInfoBranch::Enum(e) => e.members.iter().find(|m| m.name == value),
        SchemaInfoBranch::Array(a) => find_enum_value(schema, &a.element_type, value, depth + 1),
        SchemaInfoBranch::Alternate(a) => a
            .members
            .iter()
            .find_map(|b| find_enum_value(schema, &b.r#type, value, depth + 1)),
        _ => None,
    }
}

fn has_feature(features: &Option<Vec<String>>, feature: &str) -> bool {
    features
        .as_deref()
        .is_some_and(|fs| fs.iter().any(|f| f == feature))
}

fn variant_type<'a>(object: &'a SchemaInfoObject, value: &str) -> Option<&'a str> {
    object
        .variants
        .as_deref()?
        .iter()
        .find(|v| v.case == value)
        .map(|v| v.r#type.as_str())
}

/// The meta-types and built-in JSON types a `!META` test may name.
const META_NAMES: &[&str] = &[
    "builtin",
    "enum",
    "array",
    "object",
    "alternate",
    "command",
    "event",
    "string",
    "int",
    "number",
    "boolean",
    "null",
    "value",
];

fn meta_matches(entry: &SchemaInfo, meta: &str) -> bool {
    let own = match &entry.meta_type {
        SchemaInfoBranch::Builtin(b) => {
            if b.json_type.as_str() == meta {
                return true;
            }
            "builtin"
        }
        SchemaInfoBranch::Enum(_) => "enum",
        SchemaInfoBranch::Array(_) => "array",
        SchemaInfoBranch::Object(_) => "object",
        SchemaInfoBranch::Alternate(_) => "alternate",
        SchemaInfoBranch::Command(_) => "command",
        SchemaInfoBranch::Event(_) => "event",
        SchemaInfoBranch::Other { value, .. } => value,
    };
    own == meta
}

/// One step of a path after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'p> {
    ArgType,
    RetType,
    Member { name: &'p str, optional: bool },
    Branch(&'p str),
    EnumValue(&'p str),
    Feature(&'p str),
    Meta(&'p str),
}

fn parse(path: &str) -> Result<(&str, Vec<Step<'_>>), PathError> {
    let error = |step: usize, kind| Err(PathError::new(path, step, kind));
    if path.is_empty() {
        return error(0, PathErrorKind::Empty);
    }
    let mut parts = path.split('/');
    let first = parts.next().unwrap_or_default();
    let first = first.strip_prefix(' ').unwrap_or(first);
    if first.is_empty() {
        return error(1, PathErrorKind::EmptyStep);
    }
    let mut steps = Vec::new();
    for (i, part) in parts.enumerate() {
        let number = i + 2;
        if let Some(Step::Feature(_) | Step::Meta(_)) = steps.last() {
            return error(number, PathErrorKind::StepAfterTest);
        }
        let step = match part.as_bytes().first() {
            None => return error(number, PathErrorKind::EmptyStep),
            Some(b' ') => Step::Member {
                name: &part[1..],
                optional: false,
            },
            Some(b'+' | b'^' | b'$' | b'!' | b'*') => {
                let name = &part[1..];
                if name.is_empty() {
                    return error(number, PathErrorKind::MissingName);
                }
                match part.as_bytes()[0] {
                    b'+' => Step::Branch(name),
                    b'^' => Step::EnumValue(name),
                    b'$' => Step::Feature(name),
                    b'*' => Step::Member {
                        name,
                        optional: true,
                    },
                    _ if META_NAMES.contains(&name) => Step::Meta(name),
                    _ => return error(number, PathErrorKind::UnknownMeta),
                }
            }
            _ if part == "arg-type" => Step::ArgType,
            _ if part == "ret-type" => Step::RetType,
            _ => Step::Member {
                name: part,
                optional: false,
            },
        };
        if let Step::Member { name: "", .. } = step {
            return error(number, PathErrorKind::MissingName);
        }
        if let (Some(Step::EnumValue(_)), false) = (steps.last(), matches!(step, Step::Feature(_)))
        {
            return error(number, PathErrorKind::StepAfterEnumValue);
        }
        steps.push(step);
    }
    Ok((first, steps))
}

/// A malformed schema path: which step is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    path: String,
    step: usize,
    kind: PathErrorKind,
}

/// Why a schema path is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathErrorKind {
    /// The path is the empty string.
    Empty,
    /// A step is empty: two `/` in a row, or a `/` at either end.
    EmptyStep,
    /// A step is only its prefix (`+`, `^`, `$`, `!`, `*` or a space) without a name.
    MissingName,
    /// `!META` names no meta-type or JSON type.
    UnknownMeta,
    /// A step follows a `$FEATURE` or `!META` test, which must end the path.
    StepAfterTest,
    /// A step other than `$FEATURE` follows a `^VALUE` test.
    StepAfterEnumValue,
    /// A command or event is followed by something it does not have.
    NotAfterEntity {
        /// The command or event.
        entity: String,
        /// What may follow it.
        expected: &'static str,
    },
}

impl PathError {
    fn new(path: &str, step: usize, kind: PathErrorKind) -> Self {
        PathError {
            path: path.to_owned(),
            step,
            kind,
        }
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The number of the offending step, counting from 1 (0 for an empty path).
    pub fn step(&self) -> usize {
        self.step
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &PathErrorKind {
        &self.kind
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed schema path `{}`", self.path)?;
        if let Some(text) = self
            .step
            .checked_sub(1)
            .and_then(|i| self.path.split('/').nth(i))
        {
            write!(f, " at step {} (`{text}`)", self.step)?;
        }
        f.write_str(": ")?;
        match &self.kind {
            PathErrorKind::Empty => {
                f.write_str("the path is empty; it starts with a command or event name")
            }
            PathErrorKind::EmptyStep => {
                f.write_str("the step is empty (two `/` in a row, or a `/` at an end)")
            }
            PathErrorKind::MissingName => f.write_str("a name must follow the step's prefix"),
            PathErrorKind::UnknownMeta => write!(f, "`!` takes one of {}", META_NAMES.join(", ")),
            PathErrorKind::StepAfterTest => {
                f.write_str("nothing may follow a `$FEATURE` or `!META` test")
            }
            PathErrorKind::StepAfterEnumValue => {
                f.write_str("only a `$FEATURE` test may follow a `^VALUE` test")
            }
            PathErrorKind::NotAfterEntity { entity, expected } => {
                write!(f, "`{entity}` is followed by {expected}")
            }
        }
    }
}

impl std::error::Error for PathError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_step() {
        let (first, steps) = parse("blockdev-add/arg-type/+file/aio/^io_uring/$x").unwrap();
        assert_eq!(first, "blockdev-add");
        assert_eq!(
            steps,
            [
                Step::ArgType,
                Step::Branch("file"),
                Step::Member {
                    name: "aio",
                    optional: false
                },
                Step::EnumValue("io_uring"),
                Step::Feature("x"),
            ]
        );
        let (_, steps) = parse("q/ret-type/*opt/ +odd/ arg-type/!string").unwrap();
        assert_eq!(
            steps,
            [
                Step::RetType,
                Step::Member {
                    name: "opt",
                    optional: true
                },
                Step::Member {
                    name: "+odd",
                    optional: false
                },
                Step::Member {
                    name: "arg-type",
                    optional: false
                },
                Step::Meta("string"),
            ]
        );
    }

    #[test]
    fn malformed_paths_say_where() {
        let kind = |p: &str| parse(p).map(|_| ()).unwrap_err();
        assert_eq!(kind("").kind, PathErrorKind::Empty);
        assert_eq!(kind("/x").kind, PathErrorKind::EmptyStep);
        let e = kind("a//b");
        assert_eq!((e.step, &e.kind), (2, &PathErrorKind::EmptyStep));
        assert_eq!(kind("a/arg-type/").kind, PathErrorKind::EmptyStep);
        assert_eq!(kind("a/^").kind, PathErrorKind::MissingName);
        assert_eq!(kind("a/ ").kind, PathErrorKind::MissingName);
        assert_eq!(kind("a/!strng").kind, PathErrorKind::UnknownMeta);
        assert_eq!(kind("a/$f/b").kind, PathErrorKind::StepAfterTest);
        assert_eq!(kind("a/!enum/b").kind, PathErrorKind::StepAfterTest);
        assert_eq!(kind("a/^v/b").kind, PathErrorKind::StepAfterEnumValue);
        let shown = kind("a/x/^").to_string();
        assert!(shown.contains("step 3 (`^`)"), "{shown}");
    }
}
