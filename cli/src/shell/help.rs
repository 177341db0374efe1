//! `help`: the shell's own commands, or one QMP command's arguments with their types,
//! optionality and features, and the release facts the bindings know about it.

use anstyle::Style;
use qemu_qmp::api::SchemaInfoBranch;
use qemu_qmp::describe::describe_command;
use qemu_qmp::LiveSchema;

use qemu_qmp::api::SchemaInfoObject;

use crate::introspect::{self, did_you_mean, shape, Shape};

/// The shell's own commands, one a line.
pub fn shell_commands() -> String {
    let bold = Style::new().bold();
    let rows = [
        (
            "COMMAND [key=value... | JSON]",
            "run a QMP command (TAB completes commands, keys, `key.` nested keys and values)",
        ),
        (
            "transaction( ... )",
            "one `transaction`: an action `TYPE key=value...` a line (or `;` between), then `)`",
        ),
        (
            "help [COMMAND [TAG=VALUE]]",
            "this list, or a command's arguments",
        ),
        (
            ":hmp, :qmp",
            "send lines to the human monitor (HMP), or back to QMP",
        ),
        (
            ":reconnect",
            "connect again, after the shell gave up reconnecting",
        ),
        (
            ":quit, exit, Ctrl-D",
            "leave the shell (the QMP command `quit` ends QEMU instead)",
        ),
    ];
    let mut out = String::new();
    for (usage, what) in rows {
        out.push_str(&format!("  {bold}{usage:<30}{bold:#} {what}\n"));
    }
    out.push_str("Quote values with spaces (node-name=\"a b\"); JSON may span lines.");
    out
}

/// The help of `command` as this QEMU describes it; `tag` (`driver=null-co`) chooses a
/// union's variant, whose members are then listed too.
pub fn command(schema: &LiveSchema, command: &str, tag: Option<&str>) -> Result<String, String> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let Some(info) = schema
        .get(command)
        .filter(|i| matches!(i.meta_type, SchemaInfoBranch::Command(_)))
    else {
        let known = describe_command(command)
            .map(|d| {
                format!(
                    " (QEMU {} {})",
                    d.releases,
                    if d.releases.iter().count() == 1 {
                        "has it"
                    } else {
                        "have it"
                    }
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "this QEMU has no command `{command}`{known}{}",
            did_you_mean(command, schema.commands())
        ));
    };
    let mut out = format!("{bold}{command}{bold:#}");
    if let Some(facts) = describe_command(command) {
        if !facts.releases.is_empty() {
            out.push_str(&format!("  {dim}in QEMU {}{dim:#}", facts.releases));
        }
        if let Some(since) = facts.since {
            out.push_str(&format!("  {dim}since {since}{dim:#}"));
        }
    }
    let features = info.features.as_deref().unwrap_or_default();
    if !features.is_empty() {
        out.push_str(&format!("  [{}]", features.join(", ")));
    }
    out.push('\n');
    let tag_value = tag.and_then(|t| t.split_once('=')).map(|(_, v)| v);
    match introspect::command_arguments(schema, command) {
        Some(Some(object)) if !object.members.is_empty() || object.variants.is_some() => {
            let mut rows = Vec::new();
            member_rows(schema, object, tag_value, "", 0, &mut rows);
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            out.push_str("arguments:\n");
            for (name, optional, label, flags) in rows {
                out.push_str(&format!(
                    "  {bold}{name:<width$}{bold:#}  {optional}  {label}{flags}\n"
                ));
            }
            if let (Some(tag), None) = (&object.tag, tag_value) {
                out.push_str(&format!(
                    "  {dim}`{tag}` chooses more members: `help {command} {tag}=VALUE`{dim:#}\n"
                ));
            }
        }
        _ => out.push_str("no arguments\n"),
    }
    if let SchemaInfoBranch::Command(c) = &info.meta_type {
        out.push_str(&format!(
            "returns: {}",
            introspect::type_label(schema, &c.ret_type)
        ));
    }
    Ok(out)
}

/// One row of the arguments table: dotted name, optionality, type, features.
type Row = (String, &'static str, String, String);

/// The rows of `object`'s members (those `tag_value` chooses), each object member followed
/// by its own members as dotted names, as `key=value` words spell them.
fn member_rows(
    schema: &LiveSchema,
    object: &SchemaInfoObject,
    tag_value: Option<&str>,
    prefix: &str,
    depth: usize,
    rows: &mut Vec<Row>,
) {
    for member in introspect::members_for(schema, object, tag_value) {
        let optional = if member.default.is_some() {
            "optional"
        } else {
            "required"
        };
        let flags = member
            .features
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| format!("  [{}]", f.join(", ")))
            .unwrap_or_default();
        let name = format!("{prefix}{}", member.name);
        rows.push((
            name.clone(),
            optional,
            introspect::type_label(schema, &member.r#type),
            flags,
        ));
        // Plain objects only: a union's members depend on a tag, and deep nesting is noise.
        if let Shape::Object(inner) = shape(schema, &member.r#type) {
            if inner.tag.is_none() && depth < 2 {
                member_rows(schema, inner, None, &format!("{name}."), depth + 1, rows);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::complete::tests::schema;

    #[test]
    fn help_lists_arguments_and_variants() {
        let schema = schema();
        let text = anstream::adapter::strip_str(&command(&schema, "blockdev-add", None).unwrap())
            .to_string();
        assert!(text.contains("node-name"), "{text}");
        assert!(text.contains("optional"), "{text}");
        assert!(text.contains("help blockdev-add driver=VALUE"), "{text}");
        assert!(text.contains("cache.no-flush"), "{text}");
        let text = command(&schema, "blockdev-add", Some("driver=null-co")).unwrap();
        assert!(text.contains("size"), "{text}");
        assert!(command(&schema, "blockdev-ad", None)
            .unwrap_err()
            .contains("did you mean `blockdev-add`"));
        assert!(command(&schema, "stop", None)
            .unwrap()
            .contains("no arguments"));
    }
}
