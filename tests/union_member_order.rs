//! A union decodes to the same value whatever order its members come in: the
//! discriminator first (read in one pass), last (the branch's members kept until it
//! comes), or between them, with the union's own members and unknown ones anywhere.

use qemu_qmp::api::{SchemaInfo, SchemaInfoBranch};
use serde_json::Value;

/// Every order of `members` (name, JSON text) as an object's text.
fn every_order(members: &[(&str, &str)]) -> Vec<String> {
    fn permute(rest: &mut Vec<usize>, chosen: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(chosen.clone());
            return;
        }
        for i in 0..rest.len() {
            let picked = rest.remove(i);
            chosen.push(picked);
            permute(rest, chosen, out);
            chosen.pop();
            rest.insert(i, picked);
        }
    }
    let mut orders = Vec::new();
    permute(
        &mut (0..members.len()).collect(),
        &mut Vec::new(),
        &mut orders,
    );
    orders
        .into_iter()
        .map(|order| {
            let body: Vec<String> = order
                .into_iter()
                .map(|i| format!("\"{}\": {}", members[i].0, members[i].1))
                .collect();
            format!("{{{}}}", body.join(", "))
        })
        .collect()
}

/// Decodes every order of `members` through each way the crate reads JSON, and checks
/// they all agree; returns the value.
fn decodes_alike(members: &[(&str, &str)]) -> SchemaInfo {
    let orders = every_order(members);
    let first: SchemaInfo = serde_json::from_str(&orders[0]).expect("decodes");
    for text in &orders {
        let from_text: SchemaInfo =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(from_text, first, "{text}");
        let value: Value = serde_json::from_str(text).expect("JSON");
        let from_value: SchemaInfo = serde_json::from_value(value).expect("from a Value");
        assert_eq!(from_value, first, "{text} as a Value");
    }
    first
}

#[test]
fn a_union_with_its_own_members_and_unknown_ones_in_any_order() {
    let info = decodes_alike(&[
        ("name", "\"Colour\""),
        ("meta-type", "\"enum\""),
        ("members", "[{\"name\": \"red\"}, {\"name\": \"blue\"}]"),
        ("values", "[\"red\", \"blue\"]"),
        ("features", "[\"unstable\"]"),
        ("from-a-newer-qemu", "{\"x\": [1, 2]}"),
    ]);
    assert_eq!(info.name, "Colour");
    assert_eq!(info.features.as_deref(), Some(&["unstable".to_owned()][..]));
    match info.meta_type {
        SchemaInfoBranch::Enum(e) => {
            let names: Vec<&str> = e.members.iter().map(|m| m.name.as_str()).collect();
            assert_eq!(names, ["red", "blue"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_branch_this_schema_does_not_know_keeps_its_members_in_any_order() {
    let info = decodes_alike(&[
        ("name", "\"x\""),
        ("meta-type", "\"from-the-future\""),
        ("size", "3"),
        ("shape", "\"round\""),
    ]);
    assert_eq!(info.name, "x");
    match info.meta_type {
        SchemaInfoBranch::Other { value, members } => {
            assert_eq!(value, "from-the-future");
            assert_eq!(members.len(), 2);
            assert_eq!(members["size"], 3);
            assert_eq!(members["shape"], "round");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_are_the_same_whichever_way_the_members_come() {
    // A branch member of the wrong type, a required union member missing, and the
    // discriminator given twice (even with the same value: which branch the members
    // belong to would be a guess).
    for members in [
        &[
            ("name", "\"x\""),
            ("meta-type", "\"enum\""),
            ("values", "[]"),
            ("meta-type", "\"event\""),
        ][..],
        &[
            ("name", "\"x\""),
            ("meta-type", "\"event\""),
            ("arg-type", "\"0\""),
            ("meta-type", "\"event\""),
        ][..],
        &[
            ("name", "\"x\""),
            ("meta-type", "\"enum\""),
            ("values", "5"),
        ][..],
        &[("meta-type", "\"enum\""), ("values", "[]")][..],
        &[("name", "\"x\""), ("values", "[]")][..],
    ] {
        for text in every_order(members) {
            let err = serde_json::from_str::<SchemaInfo>(&text).expect_err(&text);
            assert!(!err.to_string().is_empty());
        }
    }
}
