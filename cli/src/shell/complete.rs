//! The line editor's helper: completion of command names, argument names (nested keys
//! too) and enum values from the running QEMU's schema; multi-line input while a quote,
//! JSON or a `transaction(` block is open; the coloured prompt.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anstyle::{AnsiColor, Style};
use qemu_qmp::api::{JSONType, SchemaInfoObject};
use qemu_qmp::LiveSchema;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::lines::{self, Open, TRANSACTION_OPEN};
use super::transaction;
use crate::introspect::{self, shape, Shape};

/// The schema completion reads: the current connection's, replaced after a reconnect.
pub type SharedSchema = Arc<RwLock<Option<Arc<LiveSchema>>>>;

/// The shell's own commands, offered with QMP's at the start of a line.
pub const SHELL_WORDS: &[&str] = &["help", ":hmp", ":qmp", ":quit", ":reconnect", "exit"];

/// The editor's helper.
pub struct ShellHelper {
    /// The schema to complete from (none before the first connection).
    pub schema: SharedSchema,
    /// Whether lines go to HMP (no QMP completion or validation then).
    pub hmp: Arc<AtomicBool>,
    /// Whether to colour the prompt.
    pub colour: bool,
}

impl Helper for ShellHelper {}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if self.hmp.load(Ordering::Relaxed) {
            return Ok((pos, Vec::new()));
        }
        // A poisoned lock only means a writer panicked; the schema in it is still whole.
        let schema = match self.schema.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(schema) = schema else {
            return Ok((pos, Vec::new()));
        };
        let text = line.get(..pos).unwrap_or(line);
        let (start, words) = candidates(&schema, text);
        let pairs = words
            .into_iter()
            .map(|replacement| Pair {
                display: display_of(&replacement),
                replacement,
            })
            .collect();
        Ok((start, pairs))
    }
}

/// What a candidate shows in a list: the last part of a dotted key, without the `=`.
fn display_of(replacement: &str) -> String {
    let trimmed = replacement.trim_end();
    match trimmed.split_once('=') {
        Some((_, value)) if !value.is_empty() => value.to_string(),
        _ => trimmed.trim_end_matches('=').to_string(),
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if !self.colour || !default {
            return Cow::Borrowed(prompt);
        }
        let colour = if self.hmp.load(Ordering::Relaxed) {
            AnsiColor::Magenta
        } else {
            AnsiColor::Green
        };
        let style = Style::new().bold().fg_color(Some(colour.into()));
        Cow::Owned(format!("{style}{prompt}{style:#}"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        if !self.hmp.load(Ordering::Relaxed) && lines::incomplete(ctx.input()) {
            return Ok(ValidationResult::Incomplete);
        }
        Ok(ValidationResult::Valid(None))
    }
}

/// Where the word being completed starts in `text`, and what may replace it.
pub fn candidates(schema: &LiveSchema, text: &str) -> (usize, Vec<String>) {
    let lexed = lines::lex(text);
    let none = (text.len(), Vec::new());
    if lexed.open != Open::Nothing {
        return none;
    }
    let in_transaction = lexed
        .groups
        .first()
        .and_then(|g| g.first())
        .is_some_and(|w| w.text == TRANSACTION_OPEN);
    // The group being typed: its words before the cursor, and the partial one.
    let mut words: Vec<&lines::Word> = lexed
        .groups
        .iter()
        .flatten()
        .filter(|w| w.start >= lexed.group_start)
        .filter(|w| !(in_transaction && w.text == TRANSACTION_OPEN))
        .collect();
    let (start, prefix) = match (lexed.in_word, words.pop()) {
        (true, Some(word)) => (word.start, word.text.as_str()),
        (false, Some(word)) => {
            words.push(word);
            (text.len(), "")
        }
        (_, None) => (text.len(), ""),
    };
    let before: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let found = if in_transaction {
        match before.split_first() {
            None => transaction::action_types(schema)
                .into_iter()
                .map(str::to_string)
                .collect(),
            Some((kind, given)) => match transaction::action_data(schema, kind) {
                Some(object) => arguments(schema, object, given, prefix),
                None => Vec::new(),
            },
        }
    } else {
        match before.as_slice() {
            [] => {
                let mut names: Vec<String> = schema
                    .commands()
                    .chain(SHELL_WORDS.iter().copied())
                    .map(str::to_string)
                    .collect();
                names.push(TRANSACTION_OPEN.to_string());
                names
            }
            ["help"] => schema.commands().map(str::to_string).collect(),
            [command, given @ ..] => match introspect::command_arguments(schema, command) {
                Some(Some(object)) => arguments(schema, object, given, prefix),
                _ => Vec::new(),
            },
        }
    };
    let mut found: Vec<String> = found
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .map(|c| {
            // A finished word gets its space; keys and `transaction(` go on being typed.
            if c.ends_with('=') || c.ends_with('.') || c.ends_with('(') {
                c
            } else {
                format!("{c} ")
            }
        })
        .collect();
    found.sort();
    found.dedup();
    (start, found)
}

/// Candidates for an argument word of `object`: `key=` and `key.` names, or with a `=`
/// typed, the values of that key's enum (or `true`/`false`).
fn arguments(
    schema: &LiveSchema,
    object: &SchemaInfoObject,
    given: &[&str],
    prefix: &str,
) -> Vec<String> {
    // Values already given, by dotted key: they choose the variants of unions.
    let pairs: HashMap<&str, &str> = given.iter().filter_map(|w| w.split_once('=')).collect();
    if let Some((key, _)) = prefix.split_once('=') {
        let path: Vec<&str> = key.split('.').collect();
        let Some(type_name) = member_type(schema, object, &path, &pairs) else {
            return Vec::new();
        };
        let mut values: Vec<String> = introspect::enum_values(schema, type_name)
            .into_iter()
            .map(|v| format!("{key}={v}"))
            .collect();
        if let Shape::Builtin(_, JSONType::Boolean) = shape(schema, type_name) {
            values.extend(["true", "false"].map(|v| format!("{key}={v}")));
        }
        return values;
    }
    let (parent, target) = match prefix.rsplit_once('.') {
        Some((parent, _)) => {
            let path: Vec<&str> = parent.split('.').collect();
            let Some(object) = member_type(schema, object, &path, &pairs)
                .and_then(|t| introspect::object_of(schema, t))
            else {
                return Vec::new();
            };
            (format!("{parent}."), object)
        }
        None => (String::new(), object),
    };
    let tag_value = target
        .tag
        .as_ref()
        .and_then(|tag| pairs.get(format!("{parent}{tag}").as_str()).copied());
    let names: Vec<&str> = match tag_value {
        Some(value) => introspect::members_for(schema, target, Some(value))
            .into_iter()
            .map(|m| m.name.as_str())
            .collect(),
        None => introspect::all_member_names(schema, target),
    };
    names
        .into_iter()
        .filter_map(|name| {
            let key = format!("{parent}{name}");
            if pairs.contains_key(key.as_str()) {
                return None;
            }
            let type_name = find_member(schema, target, tag_value, name)?;
            let end = match shape(schema, type_name) {
                Shape::Object(_) => '.',
                _ => '=',
            };
            Some(format!("{key}{end}"))
        })
        .collect()
}

/// The type of the member at dotted `path` under `object`, with the union variants that
/// the values in `pairs` choose.
fn member_type<'a>(
    schema: &'a LiveSchema,
    object: &'a SchemaInfoObject,
    path: &[&str],
    pairs: &HashMap<&str, &str>,
) -> Option<&'a str> {
    let mut object = object;
    let mut prefix = String::new();
    for (i, part) in path.iter().enumerate() {
        let tag_value = object
            .tag
            .as_ref()
            .and_then(|tag| pairs.get(format!("{prefix}{tag}").as_str()).copied());
        let type_name = find_member(schema, object, tag_value, part)?;
        if i + 1 == path.len() {
            return Some(type_name);
        }
        object = introspect::object_of(schema, type_name)?;
        prefix = format!("{prefix}{part}.");
    }
    None
}

/// The type of member `name` of `object` under tag value `tag_value`, or without one, in
/// whichever variant has it.
fn find_member<'a>(
    schema: &'a LiveSchema,
    object: &'a SchemaInfoObject,
    tag_value: Option<&str>,
    name: &str,
) -> Option<&'a str> {
    if let Some(member) = introspect::members_for(schema, object, tag_value)
        .into_iter()
        .find(|m| m.name == name)
    {
        return Some(member.r#type.as_str());
    }
    if tag_value.is_some() {
        return None;
    }
    object
        .variants
        .iter()
        .flatten()
        .find_map(|variant| match shape(schema, &variant.r#type) {
            Shape::Object(branch) => find_member(schema, branch, None, name),
            _ => None,
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small schema in `query-qmp-schema`'s shape: a union command with a nested
    /// object, an enum, and a transaction.
    pub fn schema() -> LiveSchema {
        let entries = serde_json::json!([
            {"name": "query-status", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
            {"name": "query-stats", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
            {"name": "stop", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
            {"name": "blockdev-add", "meta-type": "command", "arg-type": "10", "ret-type": "0"},
            {"name": "transaction", "meta-type": "command", "arg-type": "20", "ret-type": "0"},
            {"name": "0", "meta-type": "object", "members": []},
            {"name": "str", "meta-type": "builtin", "json-type": "string"},
            {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
            {"name": "10", "meta-type": "object", "tag": "driver",
             "members": [{"name": "driver", "type": "11"}, {"name": "node-name", "type": "str", "default": null},
                         {"name": "cache", "type": "12", "default": null}],
             "variants": [{"case": "null-co", "type": "13"}, {"case": "file", "type": "14"}]},
            {"name": "11", "meta-type": "enum", "values": ["file", "null-aio", "null-co"],
             "members": [{"name": "file"}, {"name": "null-aio"}, {"name": "null-co"}]},
            {"name": "12", "meta-type": "object",
             "members": [{"name": "direct", "type": "bool", "default": null}, {"name": "no-flush", "type": "bool", "default": null}]},
            {"name": "13", "meta-type": "object", "members": [{"name": "size", "type": "int", "default": null}]},
            {"name": "14", "meta-type": "object", "members": [{"name": "filename", "type": "str"}]},
            {"name": "int", "meta-type": "builtin", "json-type": "int"},
            {"name": "20", "meta-type": "object", "members": [{"name": "actions", "type": "[21]"}]},
            {"name": "[21]", "meta-type": "array", "element-type": "21"},
            {"name": "21", "meta-type": "object", "tag": "type",
             "members": [{"name": "type", "type": "22"}],
             "variants": [{"case": "abort", "type": "25"}, {"case": "block-dirty-bitmap-add", "type": "23"}]},
            {"name": "25", "meta-type": "object", "members": [{"name": "data", "type": "0"}]},
            {"name": "22", "meta-type": "enum", "values": ["abort", "block-dirty-bitmap-add"],
             "members": [{"name": "abort"}, {"name": "block-dirty-bitmap-add"}]},
            {"name": "23", "meta-type": "object", "members": [{"name": "data", "type": "24"}]},
            {"name": "24", "meta-type": "object",
             "members": [{"name": "node", "type": "str"}, {"name": "name", "type": "str"},
                         {"name": "persistent", "type": "bool", "default": null}]}
        ]);
        let entries = serde_json::from_value(entries).expect("the test schema reads");
        LiveSchema::from_entries(entries)
    }

    fn complete(text: &str) -> (usize, Vec<String>) {
        candidates(&schema(), text)
    }

    #[test]
    fn command_names() {
        assert_eq!(complete("query-statu"), (0, vec!["query-status ".into()]));
        assert_eq!(complete("query-sta").1.len(), 2);
        assert_eq!(complete("help sto"), (5, vec!["stop ".into()]));
        assert_eq!(complete("transac").1, vec!["transaction ", "transaction("]);
    }

    #[test]
    fn argument_names_values_and_nested_keys() {
        assert_eq!(
            complete("blockdev-add driver=null-c"),
            (13, vec!["driver=null-co ".into()])
        );
        assert_eq!(
            complete("blockdev-add cache."),
            (13, vec!["cache.direct=".into(), "cache.no-flush=".into()])
        );
        assert_eq!(
            complete("blockdev-add cache.direct=t").1,
            vec!["cache.direct=true ".to_string()]
        );
        // The variant chosen by the tag adds its members; given keys are not offered again.
        assert_eq!(
            complete("blockdev-add driver=null-co ").1,
            vec!["cache.", "node-name=", "size="]
        );
        assert!(complete("blockdev-add driver=file fi").1 == vec!["filename="]);
        assert!(complete("nosuch x").1.is_empty());
        assert!(complete("blockdev-add node-name=\"a").1.is_empty());
    }

    #[test]
    fn transaction_actions() {
        assert_eq!(
            complete("transaction(\n  block-dir").1,
            vec!["block-dirty-bitmap-add "]
        );
        assert_eq!(
            complete("transaction( abort ; block-dirty-bitmap-add node=a na").1,
            vec!["name="]
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let schema = schema();
        let pieces = [
            "",
            " ",
            "\n",
            ";",
            "\"",
            "'",
            "\\",
            "{",
            "}",
            "[",
            "]",
            "=",
            ".",
            "..",
            "é",
            "transaction(",
            ")",
            "blockdev-add",
            "driver=",
            "cache.",
            "a=b",
            "help",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    let (start, found) = candidates(&schema, &text);
                    assert!(start <= text.len(), "{text:?}");
                    assert!(text.is_char_boundary(start), "{text:?}");
                    drop(found);
                    let _ = lines::parse(&text);
                    let _ = lines::incomplete(&text);
                }
            }
        }
    }
}
