//! Values of the forms each release sends decode into the one set of bindings and write
//! back as sent: the types the release merge had to widen (QEMU 7.2's forms against
//! 10.0's and 10.2's).

use qemu_qmp::api;
use serde_json::{json, Value};

/// Decodes `value` as `T` and checks it writes back unchanged.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> T {
    let decoded: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{value} does not decode: {e}"));
    assert_eq!(serde_json::to_value(&decoded).unwrap(), value);
    decoded
}

#[test]
fn a_struct_that_became_a_union_decodes_in_both_forms() {
    // QEMU 7.2: a plain struct, `type` a string, no branch members.
    let old = json!({"type": "mirror", "device": "job0", "len": 10, "offset": 5,
        "busy": false, "paused": false, "speed": 0, "io-status": "ok", "ready": true,
        "status": "ready", "auto-finalize": true, "auto-dismiss": true});
    let job: api::BlockJobInfo = round_trip(old);
    match &job.r#type {
        api::BlockJobInfoBranch::Mirror(mirror) => assert_eq!(mirror.actively_synced, None),
        other => panic!("{other:?}"),
    }
    // QEMU 10.0: the union, with the branch's member.
    let new = json!({"type": "mirror", "device": "job0", "len": 10, "offset": 5,
        "busy": false, "paused": false, "speed": 0, "io-status": "ok", "ready": true,
        "status": "ready", "auto-finalize": true, "auto-dismiss": true,
        "actively-synced": true});
    let job: api::BlockJobInfo = round_trip(new);
    match &job.r#type {
        api::BlockJobInfoBranch::Mirror(mirror) => {
            assert_eq!(mirror.actively_synced, Some(true))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_union_whose_older_form_has_no_discriminator_keeps_every_member() {
    // QEMU 7.2's SevInfo has no `sev-type`; its `policy` and `handle` moved into 10.0's
    // `sev` branch.
    let old = json!({"enabled": true, "api-major": 1, "api-minor": 2, "build-id": 3,
        "policy": 7, "state": "running", "handle": 9});
    let info: api::SevInfo = round_trip(old);
    match &info.sev_type {
        api::SevInfoBranch::Other { value, members } => {
            assert_eq!(value, "");
            assert_eq!(members["policy"], 7);
            assert_eq!(members["handle"], 9);
        }
        other => panic!("{other:?}"),
    }
    let new = json!({"enabled": true, "api-major": 1, "api-minor": 2, "build-id": 3,
        "state": "running", "sev-type": "sev", "policy": 7, "handle": 9});
    let info: api::SevInfo = round_trip(new);
    assert!(matches!(info.sev_type, api::SevInfoBranch::Sev(_)));
}

#[test]
fn a_replaced_type_absorbs_the_older_members() {
    // 7.2's `fd` socket address was a `String` ({"str": ...}); 10.0's is FdSocketAddress.
    let address: api::SocketAddress = round_trip(json!({"type": "fd", "str": "4"}));
    match &address.r#type {
        api::SocketAddressBranch::Fd(fd) => assert_eq!(fd.str, "4"),
        other => panic!("{other:?}"),
    }
    // 7.2's VMDK extents were ImageInfo values; 10.0's are VmdkExtentInfo.
    let extent: api::VmdkExtentInfo = round_trip(json!({"filename": "a.vmdk",
        "format": "FLAT", "virtual-size": 1024, "dirty-flag": false}));
    assert_eq!(extent.dirty_flag, Some(false));
}

#[test]
fn integers_of_both_ranges_and_renamed_types() {
    // memsave's `val` is `int` in 7.2 and `uint64` in 10.0: both ranges fit.
    let high = api::Memsave::new("mem.bin")
        .val(i128::from(u64::MAX))
        .size(16);
    let low = api::Memsave::new("mem.bin").val(-1).size(16);
    assert_eq!(serde_json::to_value(&high).unwrap()["val"], json!(u64::MAX));
    assert_eq!(serde_json::to_value(&low).unwrap()["val"], json!(-1));
    let back: api::Memsave = round_trip(serde_json::to_value(&high).unwrap());
    assert_eq!(back.val, Some(i128::from(u64::MAX)));
    // 7.2's names of renamed types stay, as aliases.
    let old: api::QCryptoHashAlgorithm = api::QCryptoHashAlgo::Sha256;
    assert_eq!(old.as_str(), "sha256");
    assert!(api::QCryptoHashAlgo::RELEASES.contains("10.0"));
}

#[test]
fn release_facts_as_data() {
    use qemu_qmp::Command;
    assert_eq!(qemu_qmp::api::RELEASES, ["7.2", "10.0", "10.2"]);
    assert!(api::QueryStatus::known_in("7.2") && api::QueryStatus::known_in("10.2.1"));
    assert!(!api::QueryAudiodevs::known_in("7.2"));
    assert_eq!(api::QueryAudiodevs::releases().to_string(), "10.0, 10.2");
    let status = qemu_qmp::describe::describe_command("query-status").unwrap();
    assert_eq!(status.since, Some("0.14"));
    assert_eq!(status.releases, qemu_qmp::describe::Releases::all());
    let skeys = qemu_qmp::describe::describe_command("dump-skeys").unwrap();
    assert_eq!(skeys.cond, Some("TARGET_S390X"));
    let event = qemu_qmp::describe::describe_event("SHUTDOWN").unwrap();
    assert!(event.releases.contains("7.2"));
}
