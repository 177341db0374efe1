//! `qmp schema show` and `qmp schema diff`, run as a user runs them: the built binary,
//! reading the extracts built into it (and, where the shared data is there, QEMU's own
//! schema files).
//!
//! The facts asserted were checked against QEMU's sources: `singlestep` left StatusInfo
//! in 8.x (so between 7.2 and 10.0), MachineInfo gained `acpi` in 8.0, and 10.2 added
//! `query-accelerators` and the `passt` network backend and deprecated the `block-job-*`
//! commands.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn qmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qmp"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run qmp")
}

/// Runs `qmp ARGS`, which must succeed, and gives its stdout.
fn ok(args: &[&str]) -> String {
    let out = qmp(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success(),
        "qmp {args:?} failed ({}): {stderr}",
        out.status
    );
    assert!(
        !stdout.contains('\x1b'),
        "colour despite NO_COLOR: {stdout}"
    );
    stdout
}

/// Runs `qmp ARGS`, which must fail with exit status 2, and gives its stderr.
fn usage_error(args: &[&str]) -> String {
    let out = qmp(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "qmp {args:?}: {stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    stderr
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// The line of `text` that starts with `start` (after indentation).
fn line_of<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{text}"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The change of `changes` with these fields.
fn find<'a>(changes: &'a [Value], fields: &[(&str, &str)]) -> Option<&'a Value> {
    changes
        .iter()
        .find(|c| fields.iter().all(|(k, v)| c[*k] == *v))
}

#[test]
fn diff_7_2_to_10_0() {
    let text = ok(&["schema", "diff", "7.2", "10.0"]);
    assert!(
        has_line(&text, "- struct StatusInfo member singlestep"),
        "{text}"
    );
    assert!(has_line(&text, "+ struct MachineInfo member acpi (bool)"));
    assert!(has_line(
        &text,
        "+ command query-machines member compat-props (optional bool)"
    ));
    // Commands first, then events, then types.
    let first_type = text.lines().position(|l| l.contains(" struct ")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last_command = lines.iter().rposition(|l| l.contains(" command ")).unwrap();
    assert!(last_command < first_type);
    // Release names may carry the `qemu-` prefix.
    assert_eq!(ok(&["schema", "diff", "qemu-7.2", "qemu-10.0"]), text);
}

#[test]
fn diff_10_0_to_10_2() {
    let text = ok(&["schema", "diff", "10.0", "10.2"]);
    for line in [
        "+ command query-accelerators",
        "- command x-query-opcount",
        "+ enum NetClientDriver value passt",
        "~ command block-job-pause: feature-added deprecated",
        "~ command query-target returns: type-changed TargetInfo -> QemuTargetInfo",
    ] {
        assert!(has_line(&text, line), "no {line:?} in:\n{text}");
    }
    // `acpi` came before 10.0 and `singlestep` went before it.
    assert!(!text.contains("MachineInfo member acpi"));
    assert!(!text.contains("singlestep"));
    // A release compared with itself has no changes.
    assert_eq!(ok(&["schema", "diff", "10.2", "10.2"]), "");
}

#[test]
fn diff_as_json_lines() {
    let changes = json_lines(&ok(&["schema", "diff", "7.2", "10.0", "--json"]));
    let singlestep = find(
        &changes,
        &[("item", "StatusInfo"), ("member", "singlestep")],
    )
    .unwrap();
    assert_eq!(singlestep["kind"], "removed");
    assert_eq!(singlestep["part"], "member");
    assert_eq!(singlestep["item-kind"], "struct");
    let acpi = find(&changes, &[("item", "MachineInfo"), ("member", "acpi")]).unwrap();
    assert_eq!(acpi["kind"], "added");
    assert_eq!(acpi["new"], "bool");
    assert_eq!(acpi["optional"], false);
    assert_eq!(acpi["text"], "+ struct MachineInfo member acpi (bool)");

    let changes = json_lines(&ok(&["schema", "diff", "10.0", "10.2", "--json"]));
    let added = find(&changes, &[("item", "query-accelerators")]).unwrap();
    assert_eq!(added["kind"], "added");
    assert_eq!(added["part"], "item");
    assert_eq!(added["item-kind"], "command");
    let passt = find(&changes, &[("item", "NetClientDriver"), ("value", "passt")]).unwrap();
    assert_eq!(passt["kind"], "added");
    assert_eq!(passt["part"], "value");
    let deprecated = find(
        &changes,
        &[("item", "block-job-pause"), ("part", "feature")],
    )
    .unwrap();
    assert_eq!(deprecated["kind"], "added");
    assert_eq!(deprecated["feature"], "deprecated");
    assert_eq!(deprecated["change"], "feature-added");
    let target = find(&changes, &[("item", "query-target"), ("part", "returns")]).unwrap();
    assert_eq!(target["kind"], "changed");
    assert_eq!(target["old"], "TargetInfo");
    assert_eq!(target["new"], "QemuTargetInfo");
    assert!(find(&changes, &[("member", "singlestep")]).is_none());
    // Every line of the text form is some object's `text`, in the same order.
    let text = ok(&["schema", "diff", "10.0", "10.2"]);
    let texts: Vec<&str> = changes
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, text.lines().collect::<Vec<_>>());
}

#[test]
fn show_a_command() {
    let text = ok(&["schema", "show", "query-status"]);
    assert!(text.starts_with("command query-status\n"), "{text}");
    assert!(line_of(&text, "since:").ends_with(" 0.14"));
    assert!(line_of(&text, "releases:").contains("every known QEMU (7.2, 10.0, 10.2)"));
    assert!(line_of(&text, "returns:").ends_with(" StatusInfo"));
    assert!(has_line(&text, "  arguments: none"));
    // The members of its return type, with the releases that have them.
    let info = ok(&["schema", "show", "StatusInfo"]);
    assert!(
        line_of(&info, "singlestep").contains("only in 7.2"),
        "{info}"
    );
    assert!(!line_of(&info, "running").contains("only in"));
    let machine = ok(&["schema", "show", "MachineInfo"]);
    assert!(
        line_of(&machine, "acpi ").contains("only in 10.0, 10.2"),
        "{machine}"
    );
    // One release's own schema knows no other release.
    let old = ok(&["schema", "show", "StatusInfo", "--schema", "7.2"]);
    assert!(line_of(&old, "singlestep").ends_with("bool"), "{old}");
    assert!(!old.contains("releases:"));
    let new = ok(&["schema", "show", "StatusInfo", "--schema", "qemu-10.2"]);
    assert!(!new.contains("singlestep"));
}

#[test]
fn show_a_union_command() {
    let text = ok(&["schema", "show", "blockdev-add"]);
    assert!(text.starts_with("command blockdev-add\n"), "{text}");
    assert!(line_of(&text, "argument type:").ends_with("BlockdevOptions (union)"));
    assert!(line_of(&text, "discriminator:").ends_with("driver (BlockdevDriver)"));
    assert!(line_of(&text, "returns:").contains("nothing"));
    assert!(has_line(&text, "  branches by driver:"));
    let driver = line_of(&text, "driver ");
    assert!(driver.contains("BlockdevDriver") && !driver.contains("optional"));
    assert!(line_of(&text, "node-name").contains("optional"));
    assert!(line_of(&text, "file ").contains("BlockdevOptionsFile"));
    assert!(line_of(&text, "null-co ").contains("BlockdevOptionsNull"));
    assert!(line_of(&text, "replication ").contains("if CONFIG_REPLICATION"));

    let json: Value = serde_json::from_str(&ok(&["schema", "show", "blockdev-add", "--json"]))
        .expect("one JSON object");
    assert_eq!(json["meta-type"], "command");
    assert_eq!(json["name"], "blockdev-add");
    let arguments = json["arguments"].as_array().unwrap();
    let node_name = arguments.iter().find(|a| a["name"] == "node-name").unwrap();
    assert_eq!(node_name["type"], "str");
    assert_eq!(node_name["optional"], true);
    let branches = json["branches-by-driver"].as_array().unwrap();
    assert!(branches
        .iter()
        .any(|b| b["name"] == "file" && b["type"] == "BlockdevOptionsFile"));
}

#[test]
fn show_events() {
    let stop = ok(&["schema", "show", "STOP"]);
    assert!(stop.starts_with("event STOP\n"), "{stop}");
    assert!(has_line(&stop, "  data: none"));
    let shutdown = ok(&["schema", "show", "SHUTDOWN"]);
    let reason = line_of(&shutdown, "reason");
    assert!(
        reason.contains("ShutdownCause") && reason.contains("since 4.0"),
        "{shutdown}"
    );
    assert!(line_of(&shutdown, "guest").contains("bool"));
}

#[test]
fn show_an_enum() {
    let text = ok(&["schema", "show", "RunState"]);
    assert!(text.starts_with("enum RunState\n"), "{text}");
    assert!(has_line(&text, "  values:"));
    assert!(has_line(&text, "    running"));
    assert!(line_of(&text, "colo").contains("since 2.8"));
    let drivers = ok(&["schema", "show", "NetClientDriver"]);
    let passt = line_of(&drivers, "passt");
    assert!(
        passt.contains("if CONFIG_PASST") && passt.contains("only in 10.2"),
        "{drivers}"
    );
}

#[test]
fn show_from_a_qemu_source_tree() {
    let file = "qapi/qemu-10.0/qapi/qapi-schema.json";
    let Some(shared) = qmp_shared_data::shared_dir(&[file]) else {
        return;
    };
    let path = shared.join(file);
    let path = path.to_str().unwrap();
    let text = ok(&["schema", "show", "query-status", "--schema", path]);
    assert!(text.starts_with("command query-status\n"), "{text}");
    // The `Since:` of QEMU's documentation.
    assert!(line_of(&text, "since:").ends_with(" 0.14"));
    let info = ok(&["schema", "show", "StatusInfo", "--schema", path]);
    assert!(!info.contains("singlestep"), "{info}");
    assert!(line_of(&info, "status").contains("RunState"));
    // The extract is faithful to the tree it was made from.
    assert_eq!(ok(&["schema", "diff", path, "10.0"]), "");
}

#[test]
fn unknown_names_are_usage_errors_with_a_suggestion() {
    let stderr = usage_error(&["schema", "show", "query-stauts"]);
    assert!(stderr.contains("`query-stauts`"), "{stderr}");
    assert!(stderr.contains("did you mean `query-status`?"), "{stderr}");
    let stderr = usage_error(&["schema", "show", "query-status", "--schema", "9.9"]);
    assert!(
        stderr.contains("`9.9`") && stderr.contains("7.2, 10.0, 10.2"),
        "{stderr}"
    );
    let stderr = usage_error(&["schema", "diff", "7.2", "no/such/file.json"]);
    assert!(stderr.contains("no/such/file.json"), "{stderr}");
}

#[test]
fn malformed_schema_files_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ 'struct': 'Foo',\n  'data': { 'bar' 'str' } }\n").unwrap();
    let bad = bad.to_str().unwrap();
    for args in [
        &["schema", "show", "Foo", "--schema", bad][..],
        &["schema", "diff", bad, "10.0"][..],
    ] {
        let stderr = usage_error(args);
        // FILE:LINE:COL: message
        let rest = stderr
            .split_once(&format!("{bad}:2:"))
            .unwrap_or_else(|| panic!("no position in {stderr}"))
            .1;
        let (col, message) = rest.split_once(": ").unwrap();
        assert!(col.parse::<u32>().is_ok_and(|c| c > 0), "{stderr}");
        assert!(!message.trim().is_empty());
    }
    // A file that is not there at all.
    let missing = Path::new(bad).with_file_name("missing.json");
    let stderr = usage_error(&[
        "schema",
        "show",
        "Foo",
        "--schema",
        missing.to_str().unwrap(),
    ]);
    assert!(stderr.contains("does not exist"), "{stderr}");
}
