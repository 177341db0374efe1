//! The connect/query/events path against QEMU 7.2, whose `query-status` still carries
//! `singlestep` (dropped in 10.0): the bindings generated from 10.0's schema decode both.

mod common;

use futures::StreamExt;
use qemu_qmp::api::RunState;
use qemu_qmp::{ClientBuilder, Commands, Event, EventFilter};

#[tokio::test]
async fn qemu_7_2_connect_query_and_events() {
    let Some(builder) = common::qemu72() else {
        return;
    };
    let mut qemu = builder.spawn().unwrap();
    let client = qemu.connect(ClientBuilder::new()).await.unwrap();
    let greeting = client.greeting().unwrap();
    assert_eq!(
        (greeting.version.qemu.major, greeting.version.qemu.minor),
        (7, 2)
    );
    assert!(client.oob_enabled());

    // The raw reply has `singlestep`; the typed one decodes all the same.
    let raw = client.execute_raw("query-status", None).await.unwrap();
    assert!(raw.get("singlestep").is_some(), "{raw}");
    let status = client.query_status().await.unwrap();
    assert!(status.running);
    assert_eq!(status.status, RunState::Running);
    assert_eq!(client.query_version().await.unwrap().qemu.minor, 2);

    let mut events = client.subscribe(EventFilter::names(["STOP", "RESUME"]));
    client.stop().await.unwrap();
    client.cont().await.unwrap();
    let a = common::within(10, events.next()).await.unwrap().unwrap();
    let b = common::within(10, events.next()).await.unwrap().unwrap();
    assert!(matches!(a.event, Event::Stop));
    assert!(matches!(b.event, Event::Resume));
    assert!(a.timestamp <= b.timestamp);

    let err = client.migrate_pause().oob().await.unwrap_err();
    assert!(err.qmp_class().is_some(), "{err:?}");
}
