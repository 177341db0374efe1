//! A textual dump of a [`Schema`], in the format of QEMU's front-end tests
//! (`tests/qapi-schema/*.out`, written by QEMU's `test-qapi.py`).
//!
//! One line group per module and entity, in module order, then the documentation blocks.
//! Being QEMU's format, it makes the model comparable line for line with QEMU's own
//! front end, and is handy for eyeballing what a schema defines.

use crate::model::{Cond, EntityKind, Feature, ModuleItem, Schema, Variant};
use std::fmt::Write;

/// The whole dump of `schema`.
pub fn dump(schema: &Schema) -> String {
    let mut out = String::new();
    for module in schema.modules() {
        line(&mut out, format_args!("module {}", module.name));
        for item in &module.items {
            match item {
                ModuleItem::Include { module, .. } => line(
                    &mut out,
                    format_args!("include {}", schema.module(*module).name),
                ),
                ModuleItem::Entity(id) => dump_entity(&mut out, schema, *id),
            }
        }
    }
    for doc in schema.docs() {
        doc.dump(&mut out);
    }
    out
}

fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(args);
    out.push('\n');
}

/// Python's spelling of a boolean, which the format uses.
fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn dump_if(out: &mut String, cond: &Option<Box<Cond>>, indent: usize) {
    if let Some(cond) = cond {
        line(out, format_args!("{:indent$}if {}", "", cond.dump_text()));
    }
}

fn dump_features(out: &mut String, features: &[Feature], indent: usize) {
    for f in features {
        line(out, format_args!("{:indent$}feature {}", "", f.name));
        dump_if(out, &f.cond, indent + 4);
    }
}

fn dump_variants(out: &mut String, schema: &Schema, tag: &str, variants: &[Variant]) {
    line(out, format_args!("    tag {tag}"));
    for v in variants {
        line(
            out,
            format_args!("    case {}: {}", v.name, schema.name(v.ty)),
        );
        dump_if(out, &v.cond, 8);
    }
}

fn dump_entity(out: &mut String, schema: &Schema, id: crate::model::EntityId) {
    let entity = schema.entity(id);
    let name = &entity.name;
    match &entity.kind {
        // Built-in types and their arrays are not shown.
        EntityKind::Builtin(_) => return,
        EntityKind::Array(_) if entity.info.is_none() => return,
        EntityKind::Array(a) => {
            line(out, format_args!("array {name} {}", schema.name(a.element)));
            dump_if(out, &entity.cond, 4);
            return;
        }
        EntityKind::Enum(e) => {
            line(out, format_args!("enum {name}"));
            if let Some(prefix) = &e.prefix {
                line(out, format_args!("    prefix {prefix}"));
            }
            for m in &e.members {
                line(out, format_args!("    member {}", m.name));
                dump_if(out, &m.cond, 8);
                dump_features(out, &m.features, 8);
            }
        }
        EntityKind::Object(o) => {
            line(out, format_args!("object {name}"));
            if let Some(base) = o.base {
                line(out, format_args!("    base {}", schema.name(base)));
            }
            for m in o.local_members() {
                line(
                    out,
                    format_args!(
                        "    member {}: {} optional={}",
                        m.name,
                        schema.name(m.ty),
                        py(m.optional)
                    ),
                );
                dump_if(out, &m.cond, 8);
                dump_features(out, &m.features, 8);
            }
            if let Some(b) = &o.branches {
                dump_variants(out, schema, &b.tag, &b.variants);
            }
        }
        EntityKind::Alternate(a) => {
            line(out, format_args!("alternate {name}"));
            dump_variants(out, schema, "type", &a.variants);
        }
        EntityKind::Command(c) => {
            let arg = c.arg_type.map_or("None", |t| schema.name(t));
            let ret = c.ret_type.map_or("None", |t| schema.name(t));
            line(out, format_args!("command {name} {arg} -> {ret}"));
            line(
                out,
                format_args!(
                    "    gen={} success_response={} boxed={} oob={} preconfig={}{}",
                    py(c.gen),
                    py(c.success_response),
                    py(c.boxed),
                    py(c.allow_oob),
                    py(c.allow_preconfig),
                    if c.coroutine { " coroutine=True" } else { "" }
                ),
            );
        }
        EntityKind::Event(e) => {
            let arg = e.arg_type.map_or("None", |t| schema.name(t));
            line(out, format_args!("event {name} {arg}"));
            line(out, format_args!("    boxed={}", py(e.boxed)));
        }
    }
    dump_if(out, &entity.cond, 4);
    dump_features(out, &entity.features, 4);
}
