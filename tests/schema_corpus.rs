//! Typed and path queries of the live-schema index, on real `query-qmp-schema` replies of
//! QEMU 7.2 and 10.0 (libvirt's captures in the shared data): what each release has, what
//! changed between them, deprecations, and malformed paths (errors, never panics).

use std::path::{Path, PathBuf};

use qemu_qmp::api::{self, SchemaInfo};
use qemu_qmp::schema::PathErrorKind;
use qemu_qmp::LiveSchema;
use serde_json::Value;

fn shared_dir() -> Option<PathBuf> {
    qmp_shared_data::shared_dir(&["corpus/libvirt-replies"])
}

/// The `query-qmp-schema` reply of a capture: its objects alternate request and reply,
/// and ids repeat across the conversations of one file, so a reply is paired with the
/// request just before it.
fn schema_reply(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut request: Option<Value> = None;
    for message in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        let message = message.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if message.get("execute").is_some() {
            request = Some(message);
            continue;
        }
        let Some(asked) = request.take() else {
            continue;
        };
        if asked["execute"] == "query-qmp-schema" && asked["id"] == message["id"] {
            if let Value::Array(entries) = &message["return"] {
                return entries.clone();
            }
        }
    }
    panic!("no query-qmp-schema reply in {}", file.display());
}

/// The index of one capture, and the reply's raw entries beside it.
fn load(capture: &str) -> Option<(LiveSchema, Vec<Value>)> {
    let shared = shared_dir()?;
    let raw = schema_reply(&shared.join("corpus/libvirt-replies").join(capture));
    let entries: Vec<SchemaInfo> = serde_json::from_value(Value::Array(raw.clone()))
        .unwrap_or_else(|e| panic!("{capture}: the reply does not decode: {e}"));
    Some((LiveSchema::from_entries(entries), raw))
}

fn exists(schema: &LiveSchema, path: &str) -> bool {
    schema
        .path_exists(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The names of the raw entries of one meta-type.
fn raw_names<'a>(raw: &'a [Value], meta: &str) -> Vec<&'a str> {
    raw.iter()
        .filter(|e| e["meta-type"] == meta)
        .filter_map(|e| e["name"].as_str())
        .collect()
}

#[test]
fn index_agrees_with_the_raw_replies() {
    for capture in [
        "caps_7.2.0_x86_64.replies",
        "caps_7.2.0_ppc.replies",
        "caps_10.0.0_x86_64.replies",
        "caps_10.0.0_s390x.replies",
    ] {
        let Some((schema, raw)) = load(capture) else {
            return;
        };
        assert_eq!(schema.entries().len(), raw.len(), "{capture}");
        let commands = raw_names(&raw, "command");
        let events = raw_names(&raw, "event");
        assert!(commands.len() > 150 && events.len() > 30, "{capture}");
        for name in &commands {
            assert!(schema.has_command(name), "{capture}: {name}");
            assert!(!schema.has_event(name), "{capture}: {name}");
        }
        for name in &events {
            assert!(schema.has_event(name), "{capture}: {name}");
            assert!(!schema.has_command(name), "{capture}: {name}");
        }
        assert_eq!(schema.commands().collect::<Vec<_>>(), commands, "{capture}");
        assert_eq!(schema.events().collect::<Vec<_>>(), events, "{capture}");
        // The bindings' commands: offered exactly when the reply lists them.
        for command in api::COMMANDS {
            assert_eq!(
                schema.has_command(command.name),
                commands.contains(&command.name),
                "{capture}: {}",
                command.name
            );
        }
    }
}

#[test]
fn qemu_10_0_paths() {
    let Some((s, _)) = load("caps_10.0.0_x86_64.replies") else {
        return;
    };
    assert!(exists(&s, "blockdev-add/arg-type/+file/aio/^io_uring"));
    assert!(!exists(&s, "blockdev-add/arg-type/+file/aio/^io_uring_v2"));
    assert!(!exists(&s, "blockdev-add/arg-type/+no-such-driver"));
    assert!(!exists(&s, "blockdev-add/arg-type/+file/no-such-member"));
    assert!(!exists(&s, "no-such-command/arg-type"));
    // Members common to every branch are reached without `+`; the discriminator is one.
    assert!(exists(&s, "blockdev-add/arg-type/node-name/!string"));
    assert!(exists(&s, "blockdev-add/arg-type/driver/^qcow2"));
    assert!(!exists(&s, "blockdev-add/arg-type/+file/node-name"));
    // What the path reached: the enum a value test passed on.
    let aio = s
        .path("blockdev-add/arg-type/+file/aio/^io_uring")
        .unwrap()
        .unwrap();
    assert!(matches!(aio.meta_type, api::SchemaInfoBranch::Enum(_)));
    // An alternate (BlockdevRef: a definition or a node name) is tried branch by branch.
    assert!(exists(&s, "blockdev-add/arg-type/+qcow2/file/!string"));
    assert!(exists(&s, "blockdev-add/arg-type/+qcow2/file/!object"));
    assert!(exists(
        &s,
        "blockdev-add/arg-type/+qcow2/file/+file/filename/!string"
    ));
    // Arrays are looked through.
    assert!(exists(&s, "query-block/ret-type/!array"));
    assert!(exists(&s, "query-block/ret-type/device/!string"));
    assert!(exists(&s, "query-status/ret-type/running/!boolean"));
    assert!(exists(&s, "query-status/ret-type/status/!enum"));
    assert!(!exists(&s, "query-status/ret-type/status/!object"));
    // Optional members; events; features of commands, members and types.
    assert!(exists(&s, "query-machines/arg-type/*compat-props"));
    assert!(!exists(&s, "block-commit/arg-type/*job-id/$nope"));
    assert!(exists(&s, "SHUTDOWN/arg-type/reason/^host-qmp-quit"));
    assert!(exists(&s, "drive-backup/$deprecated"));
    assert!(exists(&s, "query-migrationthreads/$deprecated"));
    assert!(!exists(&s, "query-status/$deprecated"));
    assert!(exists(&s, "block-commit/arg-type/base/$deprecated"));
    assert!(!exists(&s, "block-commit/arg-type/base-node/$deprecated"));
    assert!(exists(&s, "migrate/arg-type/channels"));
    assert!(exists(&s, "query-machines/arg-type/compat-props"));
}

#[test]
fn qemu_7_2_paths() {
    let Some((s, _)) = load("caps_7.2.0_x86_64.replies") else {
        return;
    };
    assert!(exists(&s, "blockdev-add/arg-type/+file/aio/^io_uring"));
    // Added after 7.2: an argument, a command (and so its features).
    assert!(!exists(&s, "migrate/arg-type/channels"));
    assert!(exists(&s, "migrate/arg-type/uri"));
    assert!(!exists(&s, "query-machines/arg-type/compat-props"));
    assert!(!exists(&s, "query-migrationthreads/$deprecated"));
    assert!(exists(&s, "drive-backup/$deprecated"));
    // Deprecated already then.
    assert!(exists(&s, "block-commit/arg-type/base/$deprecated"));
    assert!(!exists(&s, "block-commit/arg-type/base-node/$deprecated"));
}

#[test]
fn typed_queries_on_both_releases() {
    let (Some((old, _)), Some((new, _))) = (
        load("caps_7.2.0_x86_64.replies"),
        load("caps_10.0.0_x86_64.replies"),
    ) else {
        return;
    };
    for s in [&old, &new] {
        assert!(s.supports::<api::QueryStatus>());
        assert!(s.supports::<api::Migrate>());
        assert!(s.takes_argument::<api::Migrate>("uri"));
        assert!(!s.takes_argument::<api::Migrate>("no-such-argument"));
        let stats = s.command_of::<api::QueryStats>().unwrap();
        assert!(stats.argument("target").unwrap().accepts("vm"));
        assert!(!stats.argument("target").unwrap().accepts("no-such-target"));
        assert!(s.command("drive-backup").unwrap().is_deprecated());
        assert!(!s.command_of::<api::QueryStatus>().unwrap().is_deprecated());
        assert!(s.command("SHUTDOWN").is_none(), "an event is not a command");
    }
    assert!(!old.supports::<api::QueryAudiodevs>());
    assert!(new.supports::<api::QueryAudiodevs>());
    assert!(!old.takes_argument::<api::Migrate>("channels"));
    assert!(new.takes_argument::<api::Migrate>("channels"));

    let commit = new.command_of::<api::BlockCommit>().unwrap();
    let base = commit.argument("base").unwrap();
    assert!(base.is_deprecated() && base.is_optional());
    assert!(!commit.argument("device").unwrap().is_optional());
    assert!(!commit.argument("base-node").unwrap().is_deprecated());
    // Deprecated in 10.0, a command 7.2 did not have yet.
    assert!(new
        .command("query-migrationthreads")
        .unwrap()
        .is_deprecated());
    assert!(old.command("query-migrationthreads").is_none());
    assert!(matches!(
        commit.returns().map(|r| &r.meta_type),
        Some(api::SchemaInfoBranch::Object(_))
    ));
    assert!(new.command("query-migrate").unwrap().arguments().count() == 0);
}

#[test]
fn malformed_paths_are_errors_not_panics() {
    let Some((s, _)) = load("caps_10.0.0_x86_64.replies") else {
        return;
    };
    let kind = |path: &str| s.path(path).unwrap_err().kind().clone();
    assert_eq!(kind(""), PathErrorKind::Empty);
    assert_eq!(kind("query-status//x"), PathErrorKind::EmptyStep);
    assert_eq!(kind("query-status/ret-type/"), PathErrorKind::EmptyStep);
    assert_eq!(kind("blockdev-add/arg-type/+"), PathErrorKind::MissingName);
    assert_eq!(
        kind("query-status/ret-type/!text"),
        PathErrorKind::UnknownMeta
    );
    assert_eq!(
        kind("drive-backup/$deprecated/x"),
        PathErrorKind::StepAfterTest
    );
    assert_eq!(
        kind("blockdev-add/arg-type/driver/^file/x"),
        PathErrorKind::StepAfterEnumValue
    );
    // A command is followed by arg-type, ret-type or a feature, whatever the QEMU.
    let e = s.path("query-status/status").unwrap_err();
    assert!(matches!(e.kind(), PathErrorKind::NotAfterEntity { .. }));
    assert_eq!(e.step(), 2);
    let shown = e.to_string();
    assert!(
        shown.contains("query-status") && shown.contains("arg-type"),
        "{shown}"
    );
    assert!(s.path("SHUTDOWN/ret-type").is_err());

    // Every combination of awkward pieces: an answer each time, never a panic.
    let pieces = [
        "",
        " ",
        "arg-type",
        "ret-type",
        "+",
        "^",
        "$",
        "!",
        "*",
        "+file",
        "^io_uring",
        "$deprecated",
        "!string",
        "!array",
        "*aio",
        "aio",
        "driver",
        "file",
        "blockdev-add",
        "query-block",
        "SHUTDOWN",
        "0",
        "[0]",
        "é",
        "\u{0}",
        "//",
    ];
    let mut answered = 0;
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let path = format!("{a}/{b}/{c}");
                let _ = s.path(&path);
                let _ = s.path(&format!("blockdev-add/arg-type/{path}"));
                answered += 2;
            }
        }
    }
    assert_eq!(answered, 2 * pieces.len().pow(3));
}
