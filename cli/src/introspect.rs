//! Reading a schema in `query-qmp-schema`'s shape: what a type is, what members an object
//! has, which names are close to a misspelt one. The argument checker, the shell's
//! completion and `help` all ask these questions, of the live schema or of the bindings'.

use qemu_qmp::api::{JSONType, SchemaInfoBranch, SchemaInfoObject, SchemaInfoObjectMember};
use qemu_qmp::LiveSchema;

/// What a type of the schema is, looked up by its (possibly masked) name.
#[derive(Debug, Clone)]
pub enum Shape<'a> {
    /// A built-in type (`str`, `int`, `bool`, `number`, `null`, `any`...).
    Builtin(&'a str, &'a JSONType),
    /// An enum: its values.
    Enum(Vec<&'a str>),
    /// A list of the named element type.
    Array(&'a str),
    /// An object type (a struct, or a union with a tag and variants).
    Object(&'a SchemaInfoObject),
    /// One of several types, told apart by their JSON type.
    Alternate(&'a [qemu_qmp::api::SchemaInfoAlternateMember]),
    /// A name the schema does not define (a broken schema, or an empty arg-type).
    Missing,
}

/// The shape of the type `name`.
pub fn shape<'a>(schema: &'a LiveSchema, name: &str) -> Shape<'a> {
    let Some(info) = schema.get(name) else {
        return Shape::Missing;
    };
    match &info.meta_type {
        SchemaInfoBranch::Builtin(b) => Shape::Builtin(&info.name, &b.json_type),
        SchemaInfoBranch::Enum(e) => {
            Shape::Enum(e.members.iter().map(|m| m.name.as_str()).collect())
        }
        SchemaInfoBranch::Array(a) => Shape::Array(&a.element_type),
        SchemaInfoBranch::Object(o) => Shape::Object(o),
        SchemaInfoBranch::Alternate(a) => Shape::Alternate(&a.members),
        _ => Shape::Missing,
    }
}

/// The arguments object of command `name`, when it has one (`None`: no such command).
pub fn command_arguments<'a>(
    schema: &'a LiveSchema,
    name: &str,
) -> Option<Option<&'a SchemaInfoObject>> {
    let info = schema.get(name)?;
    let SchemaInfoBranch::Command(command) = &info.meta_type else {
        return None;
    };
    Some(match shape(schema, &command.arg_type) {
        Shape::Object(object) => Some(object),
        _ => None,
    })
}

/// The object type a member of type `name` leads to, looking through lists and through
/// alternates that have an object branch (for nested keys: `cache.direct`).
pub fn object_of<'a>(schema: &'a LiveSchema, name: &str) -> Option<&'a SchemaInfoObject> {
    let mut name = name;
    for _ in 0..8 {
        match shape(schema, name) {
            Shape::Object(object) => return Some(object),
            Shape::Array(element) => name = element,
            Shape::Alternate(members) => {
                return members.iter().find_map(|m| match shape(schema, &m.r#type) {
                    Shape::Object(object) => Some(object),
                    _ => None,
                })
            }
            _ => return None,
        }
    }
    None
}

/// The members an object has when its tag (if a union) is `tag_value`: the common ones,
/// then the chosen variant's. Without a tag value, only the common ones.
pub fn members_for<'a>(
    schema: &'a LiveSchema,
    object: &'a SchemaInfoObject,
    tag_value: Option<&str>,
) -> Vec<&'a SchemaInfoObjectMember> {
    let mut members: Vec<&SchemaInfoObjectMember> = object.members.iter().collect();
    if let (Some(value), Some(variants)) = (tag_value, &object.variants) {
        if let Some(variant) = variants.iter().find(|v| v.case == value) {
            if let Shape::Object(branch) = shape(schema, &variant.r#type) {
                members.extend(members_for(schema, branch, None));
            }
        }
    }
    members
}

/// Every member name an object may have under any tag value (for completion before the
/// tag is typed), each once, the common ones first.
pub fn all_member_names<'a>(schema: &'a LiveSchema, object: &'a SchemaInfoObject) -> Vec<&'a str> {
    let mut names: Vec<&str> = object.members.iter().map(|m| m.name.as_str()).collect();
    for variant in object.variants.iter().flatten() {
        if let Shape::Object(branch) = shape(schema, &variant.r#type) {
            for name in all_member_names(schema, branch) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// The enum values a member of type `name` accepts (through lists and alternates).
pub fn enum_values<'a>(schema: &'a LiveSchema, name: &str) -> Vec<&'a str> {
    fn walk<'a>(schema: &'a LiveSchema, name: &str, depth: usize, out: &mut Vec<&'a str>) {
        if depth > 8 {
            return;
        }
        match shape(schema, name) {
            Shape::Enum(values) => out.extend(values),
            Shape::Array(element) => walk(schema, element, depth + 1, out),
            Shape::Alternate(members) => {
                for m in members {
                    walk(schema, &m.r#type, depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(schema, name, 0, &mut out);
    out
}

/// A short readable name for a type: built-ins by name, `[T]` for lists, `enum (a, b, c)`,
/// `A | B` for alternates, `object` for objects (whose names introspection hides).
pub fn type_label(schema: &LiveSchema, name: &str) -> String {
    fn label(schema: &LiveSchema, name: &str, depth: usize) -> String {
        if depth > 4 {
            return "...".into();
        }
        match shape(schema, name) {
            Shape::Builtin(builtin, _) => builtin.to_string(),
            Shape::Enum(values) if values.len() <= 6 => format!("enum ({})", values.join(", ")),
            Shape::Enum(values) => format!(
                "enum ({}, ... {} values)",
                values[..4].join(", "),
                values.len()
            ),
            Shape::Array(element) => format!("[{}]", label(schema, element, depth + 1)),
            Shape::Object(_) => "object".into(),
            Shape::Alternate(members) => members
                .iter()
                .map(|m| label(schema, &m.r#type, depth + 1))
                .collect::<Vec<_>>()
                .join(" | "),
            Shape::Missing => name.to_string(),
        }
    }
    label(schema, name, 0)
}

/// The candidate closest to `wanted`, when one is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(wanted, candidate);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, candidate));
        }
    }
    best.filter(|(score, _)| *score >= 0.8).map(|(_, c)| c)
}

/// `; did you mean `x`?` when something is close, else nothing.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(wanted, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}
