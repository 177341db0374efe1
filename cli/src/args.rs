//! Command arguments from the command line: `key=value` words or one JSON object, checked
//! against a schema and turned into the JSON QEMU expects.
//!
//! Words are read into a tree of text first (`cache.direct=true` is `{cache: {direct:
//! "true"}}`); the schema then says what each text is: `true` is a boolean for a `bool`
//! member and a string for a `str` one, `{...}` is parsed as JSON where an object may go.
//! Without a schema nothing can say that, so texts that read as JSON are taken as JSON.

use std::collections::BTreeMap;
use std::fmt;

use qemu_qmp::api::{JSONType, SchemaInfoObject};
use qemu_qmp::LiveSchema;
use serde_json::{Map, Value};

use crate::introspect::{self, did_you_mean, shape, Shape};

/// Arguments as typed, before the schema has said what they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The text after `=`.
    Text(String),
    /// A value given as JSON (the whole-object form, or inside it).
    Json(Value),
    /// Members from `key=value` words.
    Object(BTreeMap<String, Input>),
}

/// A mistake in the arguments: where, and what is wrong (with a suggestion when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The dotted path of the argument (`cache.direct`); empty for the whole object.
    pub path: String,
    /// The whole message, naming the argument.
    pub message: String,
    /// The command itself is unknown (not one of its arguments).
    pub unknown_command: bool,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A mistake in the value at `path`.
fn error(path: &str, message: impl Into<String>) -> ArgError {
    let message = message.into();
    ArgError {
        path: path.to_string(),
        message: if path.is_empty() {
            message
        } else {
            format!("`{path}`: {message}")
        },
        unknown_command: false,
    }
}

/// A mistake about `path` itself (unknown, missing), `message` naming it.
fn about(path: &str, message: String) -> ArgError {
    ArgError {
        path: path.to_string(),
        message,
        unknown_command: false,
    }
}

/// Reads argument words: none, one JSON object, or `key=value` words with dotted keys.
pub fn parse_words(words: &[String]) -> Result<Option<Input>, ArgError> {
    match words {
        [] => Ok(None),
        [one] if one.trim_start().starts_with('{') => {
            let value: Value = serde_json::from_str(one)
                .map_err(|e| error("", format!("the arguments are not valid JSON: {e}")))?;
            if !value.is_object() {
                return Err(error("", "JSON arguments must be an object"));
            }
            Ok(Some(Input::Json(value)))
        }
        words => {
            let mut root = BTreeMap::new();
            for word in words {
                let Some((key, text)) = word.split_once('=') else {
                    return Err(error(
                        "",
                        format!("`{word}` is not key=value (arguments are key=value words or one JSON object)"),
                    ));
                };
                insert(&mut root, key, text)?;
            }
            Ok(Some(Input::Object(root)))
        }
    }
}

fn insert(root: &mut BTreeMap<String, Input>, key: &str, text: &str) -> Result<(), ArgError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(error(key, "an empty name in a dotted key"));
    }
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        let path = parts[..=i].join(".");
        if i + 1 == parts.len() {
            if node.contains_key(*part) {
                return Err(error(&path, "given twice"));
            }
            node.insert(part.to_string(), Input::Text(text.to_string()));
            return Ok(());
        }
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| Input::Object(BTreeMap::new()));
        node = match entry {
            Input::Object(children) => children,
            _ => return Err(error(&path, "given both as a value and as an object")),
        };
    }
    Ok(())
}

/// The arguments of `command` as JSON, checked against `schema`'s idea of them.
pub fn build(
    schema: &LiveSchema,
    command: &str,
    input: Option<Input>,
) -> Result<Option<Value>, ArgError> {
    let Some(arguments) = introspect::command_arguments(schema, command) else {
        return Err(ArgError {
            path: String::new(),
            message: format!(
                "this QEMU has no command `{command}`{}",
                did_you_mean(command, schema.commands())
            ),
            unknown_command: true,
        });
    };
    let Some(object) = arguments else {
        // No arguments at all: anything given is a mistake.
        return match input {
            None => Ok(None),
            Some(Input::Object(m)) if m.is_empty() => Ok(None),
            Some(Input::Json(Value::Object(m))) if m.is_empty() => Ok(None),
            Some(_) => Err(error("", format!("`{command}` takes no arguments"))),
        };
    };
    let input = input.unwrap_or_else(|| Input::Object(BTreeMap::new()));
    build_object(schema, object, input, "").map(Some)
}

/// Arguments without a schema: texts that read as JSON are JSON, the rest strings.
pub fn build_unchecked(input: Option<Input>) -> Option<Value> {
    fn guess(input: Input) -> Value {
        match input {
            Input::Text(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            Input::Json(value) => value,
            Input::Object(members) => {
                Value::Object(members.into_iter().map(|(k, v)| (k, guess(v))).collect())
            }
        }
    }
    input.map(guess)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// How an input reads as an object's members, if it can.
fn as_members(input: Input, path: &str) -> Result<BTreeMap<String, Input>, ArgError> {
    match input {
        Input::Object(members) => Ok(members),
        Input::Json(Value::Object(map)) => {
            Ok(map.into_iter().map(|(k, v)| (k, Input::Json(v))).collect())
        }
        Input::Text(text) if text.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => {
                    Ok(map.into_iter().map(|(k, v)| (k, Input::Json(v))).collect())
                }
                Ok(_) | Err(_) => Err(error(path, format!("`{text}` is not a JSON object"))),
            }
        }
        Input::Text(text) => Err(error(
            path,
            format!("expected an object (`{path}.NAME=...` or JSON), got `{text}`"),
        )),
        Input::Json(other) => Err(error(path, format!("expected an object, got {other}"))),
    }
}

fn build_object(
    schema: &LiveSchema,
    object: &SchemaInfoObject,
    input: Input,
    path: &str,
) -> Result<Value, ArgError> {
    let mut given = as_members(input, path)?;
    // The tag decides the variant, so it is read first.
    let tag_value = match &object.tag {
        Some(tag) => match given.get(tag) {
            Some(Input::Text(t)) => Some(t.clone()),
            Some(Input::Json(Value::String(t))) => Some(t.clone()),
            _ => None,
        },
        None => None,
    };
    let members = introspect::members_for(schema, object, tag_value.as_deref());
    // A wrong tag value leaves its variant's members unknown: say what is wrong with it.
    if let Some(tag) = &object.tag {
        if let (Some(input), Some(member)) =
            (given.get(tag), members.iter().find(|m| &m.name == tag))
        {
            build_value(schema, &member.r#type, input.clone(), &join(path, tag))?;
        }
    }
    // Then an unknown name: a misspelt key would otherwise read as a missing one.
    if let Some(name) = given
        .keys()
        .find(|k| !members.iter().any(|m| &m.name == *k))
        .cloned()
    {
        let mut candidates: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let variant_hint = match (&object.tag, &tag_value) {
            (Some(tag), None) if !candidates.contains(&name.as_str()) => {
                let all = introspect::all_member_names(schema, object);
                if all.contains(&name.as_str()) {
                    format!(
                        " (it belongs to some values of `{}`: give that first)",
                        join(path, tag)
                    )
                } else {
                    candidates = all;
                    String::new()
                }
            }
            _ => String::new(),
        };
        let what = if path.is_empty() {
            "no argument".to_string()
        } else {
            format!("`{path}` has no member")
        };
        return Err(about(
            &join(path, &name),
            format!(
                "{what} `{name}`{variant_hint}{}",
                did_you_mean(&name, candidates.iter().copied())
            ),
        ));
    }
    let mut out = Map::new();
    for member in &members {
        let member_path = join(path, &member.name);
        match given.remove(&member.name) {
            Some(input) => {
                let value = build_value(schema, &member.r#type, input, &member_path)?;
                out.insert(member.name.clone(), value);
            }
            None if member.default.is_some() => {}
            None => {
                return Err(about(
                    &member_path,
                    format!(
                        "missing argument `{member_path}` ({})",
                        introspect::type_label(schema, &member.r#type)
                    ),
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

/// A value of the schema's type `type_name` that is not a command's whole arguments (a
/// transaction's action), checked like arguments; `path` names it in errors.
pub fn build_typed(
    schema: &LiveSchema,
    type_name: &str,
    input: Input,
    path: &str,
) -> Result<Value, ArgError> {
    build_value(schema, type_name, input, path)
}

fn build_value(
    schema: &LiveSchema,
    type_name: &str,
    input: Input,
    path: &str,
) -> Result<Value, ArgError> {
    match shape(schema, type_name) {
        Shape::Builtin(name, json_type) => builtin(name, json_type, input, path),
        Shape::Enum(values) => {
            let text = match input {
                Input::Text(t) | Input::Json(Value::String(t)) => t,
                other => {
                    return Err(error(
                        path,
                        format!(
                            "expected one of {}, got {}",
                            values.join(", "),
                            describe(&other)
                        ),
                    ))
                }
            };
            if values.iter().any(|v| *v == text) {
                Ok(Value::String(text))
            } else {
                let list = if values.len() <= 12 {
                    format!(" (one of: {})", values.join(", "))
                } else {
                    String::new()
                };
                Err(error(
                    path,
                    format!(
                        "`{text}` is not a value of this enum{list}{}",
                        did_you_mean(&text, values.iter().copied())
                    ),
                ))
            }
        }
        Shape::Array(element) => {
            let items = match input {
                Input::Json(Value::Array(items)) => items.into_iter().map(Input::Json).collect(),
                Input::Text(text) if text.trim_start().starts_with('[') => {
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Array(items)) => items.into_iter().map(Input::Json).collect(),
                        _ => return Err(error(path, format!("`{text}` is not a JSON list"))),
                    }
                }
                // A single element stands for a list of one.
                one => vec![one],
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(build_value(schema, element, item, &format!("{path}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        Shape::Object(object) => build_object(schema, object, input, path),
        Shape::Alternate(members) => {
            // Text could be any branch: try the branches a string would not fit first,
            // so `null`, `true` and `3` reach their own branches before a `str` one.
            let mut order: Vec<&str> = members.iter().map(|m| m.r#type.as_str()).collect();
            order.sort_by_key(|t| {
                matches!(
                    shape(schema, t),
                    Shape::Builtin(_, JSONType::String) | Shape::Enum(_)
                )
            });
            let mut first_error = None;
            for branch in order {
                match build_value(schema, branch, input.clone(), path) {
                    Ok(value) => return Ok(value),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(error(
                path,
                format!(
                    "fits none of {} ({})",
                    introspect::type_label(schema, type_name),
                    first_error.map(|e| e.message).unwrap_or_default()
                ),
            ))
        }
        // A type the schema does not describe: pass the value on as typed.
        Shape::Missing => Ok(build_unchecked(Some(input)).unwrap_or(Value::Null)),
    }
}

fn describe(input: &Input) -> String {
    match input {
        Input::Text(t) => format!("`{t}`"),
        Input::Json(v) => v.to_string(),
        Input::Object(_) => "an object".into(),
    }
}

fn builtin(name: &str, json_type: &JSONType, input: Input, path: &str) -> Result<Value, ArgError> {
    let mismatch = |input: &Input| {
        error(
            path,
            format!(
                "expected {}, got {}",
                builtin_words(name, json_type),
                describe(input)
            ),
        )
    };
    match (json_type, input) {
        (JSONType::String, Input::Text(t)) => Ok(Value::String(t)),
        (JSONType::String, Input::Json(v @ Value::String(_))) => Ok(v),
        (JSONType::Int, Input::Text(t)) => parse_int(&t)
            .or_else(|| parse_size(&t))
            .ok_or_else(|| mismatch(&Input::Text(t))),
        (JSONType::Int, Input::Json(Value::Number(n))) if n.is_i64() || n.is_u64() => {
            Ok(Value::Number(n))
        }
        (JSONType::Number, Input::Text(t)) => t
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| mismatch(&Input::Text(t))),
        (JSONType::Number, Input::Json(v @ Value::Number(_))) => Ok(v),
        (JSONType::Boolean, Input::Text(t)) => match t.as_str() {
            "true" | "on" | "yes" => Ok(Value::Bool(true)),
            "false" | "off" | "no" => Ok(Value::Bool(false)),
            _ => Err(mismatch(&Input::Text(t))),
        },
        (JSONType::Boolean, Input::Json(v @ Value::Bool(_))) => Ok(v),
        (JSONType::Null, Input::Text(t)) if t == "null" => Ok(Value::Null),
        (JSONType::Null, Input::Json(Value::Null)) => Ok(Value::Null),
        // `any` (and types this tool does not know yet): JSON where it reads as JSON.
        (JSONType::Value | JSONType::Object | JSONType::Array | JSONType::Other(_), input) => {
            Ok(build_unchecked(Some(input)).unwrap_or(Value::Null))
        }
        (_, input) => Err(mismatch(&input)),
    }
}

fn builtin_words(name: &str, json_type: &JSONType) -> String {
    match json_type {
        JSONType::String => "a string".into(),
        JSONType::Int => format!("an integer ({name})"),
        JSONType::Number => "a number".into(),
        JSONType::Boolean => "true or false".into(),
        JSONType::Null => "null".into(),
        _ => name.to_string(),
    }
}

/// An integer with a binary suffix, as QEMU's command line takes sizes: `64K`, `1G`,
/// `2T`. Introspection calls every integer type `int`, so sizes cannot be told apart.
fn parse_size(text: &str) -> Option<Value> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = text.split_at(split);
    let shift = match suffix {
        "k" | "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let number: u64 = digits.parse().ok()?;
    number.checked_mul(1u64 << shift).map(Value::from)
}

/// Integers as QEMU takes them: decimal, or `0x` hexadecimal (addresses, sizes).
fn parse_int(text: &str) -> Option<Value> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    text.parse::<i64>()
        .map(Value::from)
        .or_else(|_| text.parse::<u64>().map(Value::from))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dotted_keys_nest_and_clash() {
        let input = parse_words(&words(&[
            "node-name=x",
            "cache.direct=true",
            "cache.no-flush=off",
        ]))
        .unwrap()
        .unwrap();
        let Input::Object(root) = input else {
            panic!("not an object")
        };
        let Some(Input::Object(cache)) = root.get("cache") else {
            panic!("no cache")
        };
        assert_eq!(cache.get("direct"), Some(&Input::Text("true".into())));
        assert!(parse_words(&words(&["a=1", "a.b=2"])).is_err());
        assert!(parse_words(&words(&["a=1", "a=2"])).is_err());
        assert!(parse_words(&words(&["a..b=1"])).is_err());
        assert!(parse_words(&words(&["nokey"])).is_err());
        assert!(parse_words(&words(&["[1]"])).is_err());
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("64K"), Some(Value::from(65536u64)));
        assert_eq!(parse_size("1G"), Some(Value::from(1u64 << 30)));
        assert_eq!(parse_size("16E"), None, "overflows u64");
        assert_eq!(parse_size("1Q"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_int("0x10"), Some(Value::from(16u64)));
        assert_eq!(parse_int("-3"), Some(Value::from(-3i64)));
    }

    #[test]
    fn unchecked_values_guess_json() {
        let input = parse_words(&words(&["a=1", "b=true", "c=text", "d={\"x\":1}"])).unwrap();
        assert_eq!(
            build_unchecked(input),
            Some(serde_json::json!({"a": 1, "b": true, "c": "text", "d": {"x": 1}}))
        );
    }
}
