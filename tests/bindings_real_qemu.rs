//! The generated bindings against a real QEMU 10.0: every argument-less `query-*` command
//! it offers decodes into its typed return (or gives a typed QMP error), and the common
//! queries agree with QEMU's raw reply field by field.

mod common;

use qemu_qmp::api::{self, SchemaInfoBranch};
use qemu_qmp::{Client, ClientBuilder, Commands, Error};
use serde_json::Value;
use std::collections::BTreeSet;

async fn raw(client: &Client, command: &str) -> Value {
    client
        .execute_raw(command, None)
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_argument_less_query_decodes() {
    let Some((_qemu, client)) = common::start(ClientBuilder::new()).await else {
        return;
    };
    let offered: BTreeSet<String> = raw(&client, "query-commands")
        .await
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let (mut decoded, mut qmp_errors, mut failures) = (0, Vec::new(), Vec::new());
    for command in api::COMMANDS {
        if command.arguments.is_some()
            || !command.name.starts_with("query-")
            || !offered.contains(command.name)
        {
            continue;
        }
        match client.execute_raw(command.name, None).await {
            Ok(value) => match api::decode_return(command.name, &value.to_string()) {
                Ok(back) => {
                    decoded += 1;
                    assert_eq!(back, value, "{} does not write back as sent", command.name);
                }
                Err(e) => failures.push(format!("{}: {e}", command.name)),
            },
            Err(Error::Qmp { class, desc }) => {
                qmp_errors.push(format!("{}: {class:?} {desc}", command.name))
            }
            Err(e) => failures.push(format!("{}: {e}", command.name)),
        }
    }
    println!(
        "real QEMU: {decoded} argument-less queries decoded, {} answered with a QMP error, {} failed",
        qmp_errors.len(),
        failures.len()
    );
    for e in &qmp_errors {
        println!("  QMP error (typed): {e}");
    }
    assert!(failures.is_empty(), "decoding failures: {failures:#?}");
    assert!(decoded >= 40, "only {decoded} queries decoded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_queries_field_by_field() {
    let Some((_qemu, client)) = common::start(ClientBuilder::new()).await else {
        return;
    };

    let status = client.query_status().await.expect("query-status");
    let raw_status = raw(&client, "query-status").await;
    assert_eq!(Value::Bool(status.running), raw_status["running"]);
    assert_eq!(status.status.as_str(), raw_status["status"]);
    assert!(
        !matches!(status.status, api::RunState::Other(_)),
        "{status:?}"
    );

    let version = client.query_version().await.expect("query-version");
    let raw_version = raw(&client, "query-version").await;
    assert_eq!(version.qemu.major, 10);
    assert_eq!(version.qemu.major, raw_version["qemu"]["major"]);
    assert_eq!(version.qemu.minor, raw_version["qemu"]["minor"]);
    assert_eq!(version.qemu.micro, raw_version["qemu"]["micro"]);
    assert_eq!(version.package, raw_version["package"]);

    let schema = client.query_qmp_schema().await.expect("query-qmp-schema");
    let raw_schema = raw(&client, "query-qmp-schema").await;
    let raw_schema = raw_schema.as_array().expect("a list");
    assert_eq!(schema.len(), raw_schema.len());
    let mut commands = 0;
    for (typed, raw) in schema.iter().zip(raw_schema) {
        assert_eq!(typed.name, raw["name"]);
        assert_eq!(typed.meta_type.tag(), raw["meta-type"]);
        match &typed.meta_type {
            SchemaInfoBranch::Command(c) => {
                commands += 1;
                assert_eq!(c.arg_type, raw["arg-type"]);
                assert_eq!(c.ret_type, raw["ret-type"]);
                assert_eq!(
                    c.allow_oob.unwrap_or(false),
                    raw["allow-oob"].as_bool().unwrap_or(false)
                );
            }
            SchemaInfoBranch::Object(o) => {
                let members = raw["members"].as_array().expect("members");
                assert_eq!(o.members.len(), members.len());
                for (m, r) in o.members.iter().zip(members) {
                    assert_eq!(m.name, r["name"]);
                    assert_eq!(m.r#type, r["type"]);
                }
            }
            SchemaInfoBranch::Enum(e) => {
                // `values` is deprecated in favour of `members`: compare the latter.
                let names: Vec<&str> = e.members.iter().map(|m| m.name.as_str()).collect();
                let raw_names: Vec<&str> = raw["members"]
                    .as_array()
                    .expect("members")
                    .iter()
                    .filter_map(|m| m["name"].as_str())
                    .collect();
                assert_eq!(names, raw_names);
            }
            SchemaInfoBranch::Other { value, .. } => panic!("unknown meta-type {value}"),
            _ => {}
        }
    }
    assert!(commands > 200, "{commands} commands");

    let listed = client.query_commands().await.expect("query-commands");
    let raw_listed = raw(&client, "query-commands").await;
    let typed: BTreeSet<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    let raw_names: BTreeSet<&str> = raw_listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(typed, raw_names);
    assert!(typed.contains("query-status") && typed.contains("qmp_capabilities"));

    let types = client
        .qom_list_types()
        .r#abstract(true)
        .await
        .expect("qom-list-types");
    let raw_types = client
        .execute_raw(
            "qom-list-types",
            Some(serde_json::json!({ "abstract": true })),
        )
        .await
        .expect("raw qom-list-types");
    let raw_types = raw_types.as_array().expect("list");
    assert_eq!(types.len(), raw_types.len());
    for (t, r) in types.iter().zip(raw_types) {
        assert_eq!(t.name, r["name"]);
        assert_eq!(t.r#abstract, r["abstract"].as_bool());
        assert_eq!(t.parent.as_deref(), r["parent"].as_str());
    }
    assert!(types
        .iter()
        .any(|t| t.name == "device" && t.r#abstract == Some(true)));

    let machines = client.query_machines().await.expect("query-machines");
    let raw_machines = raw(&client, "query-machines").await;
    let raw_machines = raw_machines.as_array().expect("list");
    assert_eq!(machines.len(), raw_machines.len());
    for (m, r) in machines.iter().zip(raw_machines) {
        assert_eq!(m.name, r["name"]);
        assert_eq!(m.alias.as_deref(), r["alias"].as_str());
        assert_eq!(m.is_default, r["is-default"].as_bool());
        assert_eq!(m.cpu_max, r["cpu-max"]);
        assert_eq!(m.hotpluggable_cpus, r["hotpluggable-cpus"]);
        assert_eq!(m.numa_mem_supported, r["numa-mem-supported"]);
        assert_eq!(m.deprecated, r["deprecated"]);
        assert_eq!(
            m.default_cpu_type.as_deref(),
            r["default-cpu-type"].as_str()
        );
        assert_eq!(m.acpi, r["acpi"].as_bool());
    }
    assert!(machines.iter().any(|m| m.name.starts_with("pc-q35")));
}
