//! `transaction(` ... `)` blocks: each action is `TYPE key=value...` (or `TYPE {JSON}`),
//! checked against the schema's `transaction` command, whose `actions` member is a list
//! of a union told apart by its `type` member, and sent as one `transaction`.

use std::collections::BTreeMap;

use qemu_qmp::api::SchemaInfoObject;
use qemu_qmp::LiveSchema;
use serde_json::Value;

use crate::args::{self, ArgError, Input};
use crate::introspect::{self, shape, Shape};

/// The element type of `transaction`'s `actions` list, when this QEMU has one.
fn action_element(schema: &LiveSchema) -> Option<(&str, &SchemaInfoObject)> {
    let arguments = introspect::command_arguments(schema, "transaction")??;
    let actions = arguments.members.iter().find(|m| m.name == "actions")?;
    let Shape::Array(element) = shape(schema, &actions.r#type) else {
        return None;
    };
    match shape(schema, element) {
        Shape::Object(object) => Some((element, object)),
        _ => None,
    }
}

/// The action types this QEMU's `transaction` accepts.
pub fn action_types(schema: &LiveSchema) -> Vec<&str> {
    let Some((_, element)) = action_element(schema) else {
        return Vec::new();
    };
    let Some(tag) = &element.tag else {
        return Vec::new();
    };
    element
        .members
        .iter()
        .find(|m| &m.name == tag)
        .map(|m| introspect::enum_values(schema, &m.r#type))
        .unwrap_or_default()
}

/// The object an action of type `kind` carries as its `data`.
pub fn action_data<'a>(schema: &'a LiveSchema, kind: &str) -> Option<&'a SchemaInfoObject> {
    let (_, element) = action_element(schema)?;
    let data = introspect::members_for(schema, element, Some(kind))
        .into_iter()
        .find(|m| m.name == "data")?;
    introspect::object_of(schema, &data.r#type)
}

/// The arguments of one `transaction` (`{"actions": [{"type", "data"}...]}`), each
/// action's data checked against the schema.
pub fn arguments(
    schema: &LiveSchema,
    actions: Vec<(String, Vec<String>)>,
) -> Result<Value, ArgError> {
    let Some((element, _)) = action_element(schema) else {
        return Err(ArgError {
            path: String::new(),
            message: "this QEMU has no command `transaction`".into(),
            unknown_command: true,
        });
    };
    let mut built = Vec::with_capacity(actions.len());
    for (i, (kind, words)) in actions.into_iter().enumerate() {
        let path = format!("actions[{i}]");
        let data = args::parse_words(&words)
            .map_err(|e| ArgError {
                message: format!("`{path}` ({kind}): {}", e.message),
                ..e
            })?
            .unwrap_or_else(|| Input::Object(BTreeMap::new()));
        let action = Input::Object(BTreeMap::from([
            ("type".to_string(), Input::Text(kind)),
            ("data".to_string(), data),
        ]));
        built.push(args::build_typed(schema, element, action, &path)?);
    }
    Ok(serde_json::json!({ "actions": built }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::complete::tests::schema;

    #[test]
    fn actions_are_checked_and_wrapped() {
        let schema = schema();
        assert_eq!(
            action_types(&schema),
            vec!["abort", "block-dirty-bitmap-add"]
        );
        let built = arguments(
            &schema,
            vec![
                (
                    "block-dirty-bitmap-add".into(),
                    vec!["node=n".into(), "name=b".into(), "persistent=off".into()],
                ),
                ("abort".into(), Vec::new()),
            ],
        )
        .unwrap();
        assert_eq!(
            built,
            serde_json::json!({"actions": [
                {"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": "b", "persistent": false}},
                {"type": "abort", "data": {}}
            ]})
        );
        let wrong = arguments(
            &schema,
            vec![(
                "block-dirty-bitmap-add".into(),
                vec!["node=n".into(), "name=b".into(), "persistnt=on".into()],
            )],
        )
        .unwrap_err();
        assert!(
            wrong.message.contains("did you mean `persistent`"),
            "{}",
            wrong.message
        );
        let unknown = arguments(&schema, vec![("bitmap-add".into(), Vec::new())]).unwrap_err();
        assert!(
            unknown.message.contains("actions[0].type"),
            "{}",
            unknown.message
        );
    }
}
