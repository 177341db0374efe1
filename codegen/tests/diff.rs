//! The API diff between the shipped extracts of QEMU 7.2, 10.0 and 10.2, checked against
//! facts of those releases.

use std::path::Path;

use qemu_qmp_codegen::diff::{diff, Change, ChangeKind, Part};
use qemu_qmp_codegen::Schema;

fn release(name: &str) -> Schema {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schema")
        .join(name);
    qemu_qmp_codegen::load_release_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn has(changes: &[Change], item: &str, part: Part, kind: ChangeKind) -> bool {
    changes
        .iter()
        .any(|c| c.item == item && c.part == part && c.kind == kind)
}

fn member(name: &str) -> Part {
    Part::Member(name.into())
}

#[test]
fn from_7_2_to_10_0() {
    let changes = diff(&release("qemu-7.2.json"), &release("qemu-10.0.json"));
    // query-status lost `singlestep`; query-machines gained `acpi` (in its return type)
    // and an argument.
    assert!(has(
        &changes,
        "StatusInfo",
        member("singlestep"),
        ChangeKind::Removed
    ));
    assert!(has(
        &changes,
        "MachineInfo",
        member("acpi"),
        ChangeKind::Added
    ));
    assert!(has(
        &changes,
        "query-machines",
        member("compat-props"),
        ChangeKind::Added
    ));
    // Types changed, optionality relaxed, whole commands gone and come.
    let memsave = changes
        .iter()
        .find(|c| c.item == "memsave" && c.part == member("val"))
        .expect("memsave's val changed");
    assert_eq!(memsave.kind, ChangeKind::TypeChanged);
    assert_eq!(
        (memsave.old.as_deref(), memsave.new.as_deref()),
        (Some("int"), Some("uint64"))
    );
    assert!(has(
        &changes,
        "migrate",
        member("uri"),
        ChangeKind::BecameOptional
    ));
    assert!(has(&changes, "migrate", member("blk"), ChangeKind::Removed));
    assert!(has(
        &changes,
        "x-query-profile",
        Part::Item,
        ChangeKind::Removed
    ));
    assert!(has(
        &changes,
        "blockdev-set-active",
        Part::Item,
        ChangeKind::Added
    ));
    assert!(changes.len() > 300, "{}", changes.len());
}

#[test]
fn from_10_0_to_10_2() {
    let changes = diff(&release("qemu-10.0.json"), &release("qemu-10.2.json"));
    assert!(has(
        &changes,
        "query-accelerators",
        Part::Item,
        ChangeKind::Added
    ));
    assert!(has(
        &changes,
        "x-query-opcount",
        Part::Item,
        ChangeKind::Removed
    ));
    assert!(has(
        &changes,
        "SCLP_CPI_INFO_AVAILABLE",
        Part::Item,
        ChangeKind::Added
    ));
    let added = changes
        .iter()
        .find(|c| c.item == "SCLP_CPI_INFO_AVAILABLE")
        .unwrap();
    assert_eq!(added.item_kind, "event");
    // Deprecations.
    let deprecated = changes
        .iter()
        .find(|c| c.item == "block-job-pause" && c.kind == ChangeKind::FeatureAdded)
        .expect("block-job-pause deprecated in 10.2");
    assert_eq!(deprecated.new.as_deref(), Some("deprecated"));
    assert_eq!(
        deprecated.to_string(),
        "~ command block-job-pause: feature-added deprecated"
    );
    assert!(has(
        &changes,
        "migrate",
        member("detach"),
        ChangeKind::FeatureAdded
    ));
    // Nothing that both have in the same form is reported.
    assert!(!changes.iter().any(|c| c.item == "query-status"));
}

#[test]
fn a_release_against_itself_has_no_changes() {
    let schema = release("qemu-10.0.json");
    assert_eq!(diff(&schema, &schema), Vec::new());
}

#[test]
fn the_diff_reverses() {
    let old = release("qemu-7.2.json");
    let new = release("qemu-10.0.json");
    let forward = diff(&old, &new);
    let backward = diff(&new, &old);
    let added = forward
        .iter()
        .filter(|c| c.kind == ChangeKind::Added)
        .count();
    let removed_back = backward
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .count();
    assert_eq!(added, removed_back);
    assert!(has(
        &backward,
        "StatusInfo",
        member("singlestep"),
        ChangeKind::Added
    ));
}
