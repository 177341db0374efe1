//! Event subscriptions: taken before connecting, fed during negotiation, kept across a
//! reconnect (with the gap marked), and filtered by typed kind or by name. A scripted fake
//! peer where a real QEMU cannot produce the case, QEMU 10.0 where it can.

mod common;

use std::time::Duration;

use common::{event_line, qemu10, within, FakeQmp};
use futures::StreamExt;
use qemu_qmp::{
    BlockingClient, Client, ClientBuilder, Commands, Event, EventFilter, EventKind, EventStream,
    Gap, ReceivedEvent,
};
use serde_json::json;

/// The next item, failing the test if none comes within 10 s.
async fn next(stream: &mut EventStream) -> Option<Result<ReceivedEvent, Gap>> {
    within(10, stream.next()).await
}

/// The next item, which must be an event.
async fn next_event(stream: &mut EventStream) -> ReceivedEvent {
    match next(stream).await {
        Some(Ok(received)) => received,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Waits until the stream has nothing more for a moment: no stray item is pending.
async fn assert_quiet(stream: &mut EventStream) {
    let got = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    assert!(got.is_err(), "unexpected item: {got:?}");
}

#[tokio::test]
async fn events_sent_during_negotiation_reach_subscribers_taken_before_connecting() {
    let client = ClientBuilder::new().build_without_endpoint();
    let mut all = client.events();
    let mut stops = client.subscribe(EventFilter::kinds([EventKind::Stop]));
    let during = [
        event_line("STOP", None, 1),
        event_line(
            "RTC_CHANGE",
            Some(json!({"offset": 7, "qom-path": "/rtc"})),
            2,
        ),
        event_line("X_VENDOR_EVENT", Some(json!({"a": 1})), 3),
    ];
    let mut fake = FakeQmp::attach(&client, &during).await;
    // Taken after connecting: it cannot see what came during negotiation.
    let mut late = client.events();
    fake.event("STOP", None, 4).await;

    let first = next_event(&mut all).await;
    assert!(matches!(first.event, Event::Stop));
    assert_eq!(
        (first.timestamp.seconds, first.timestamp.microseconds),
        (1, 5)
    );
    match next_event(&mut all).await.event {
        Event::RtcChange(data) => {
            assert_eq!(data.offset, 7);
            assert_eq!(data.qom_path, "/rtc");
        }
        other => panic!("expected RTC_CHANGE, got {other:?}"),
    }
    let vendor = next_event(&mut all).await;
    assert_eq!(vendor.event.name(), "X_VENDOR_EVENT");
    assert_eq!(vendor.event.kind(), None);
    assert_eq!(vendor.event.data_value(), json!({"a": 1}));
    assert_eq!(next_event(&mut all).await.timestamp.seconds, 4);

    let seconds: Vec<i64> = [next_event(&mut stops).await, next_event(&mut stops).await]
        .iter()
        .map(|r| r.timestamp.seconds)
        .collect();
    assert_eq!(seconds, [1, 4]);
    assert_eq!(next_event(&mut late).await.timestamp.seconds, 4);
    assert_quiet(&mut late).await;
    assert_quiet(&mut stops).await;

    // A default subscription ends with its connection.
    fake.close().await;
    assert!(next(&mut all).await.is_none());
    assert!(next(&mut stops).await.is_none());
}

#[tokio::test]
async fn a_failed_negotiation_does_not_end_a_subscription_still_waiting_for_its_connection() {
    let client = ClientBuilder::new().build_without_endpoint();
    let mut events = client.events();
    // A peer that hangs up before greeting: no connection came up, nobody was bound to it.
    let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
    drop(theirs);
    assert!(client.reconnect_with(ours).await.is_err());
    assert!(events.try_next().is_none());
    let mut fake = FakeQmp::attach(&client, &[]).await;
    fake.event("RESUME", None, 9).await;
    assert!(matches!(next_event(&mut events).await.event, Event::Resume));
}

#[tokio::test]
async fn a_persistent_subscription_marks_the_gap_and_continues_on_the_next_connection() {
    let client = ClientBuilder::new().build_without_endpoint();
    let mut lasting =
        client.subscribe_persistent(EventFilter::kinds([EventKind::Stop, EventKind::Resume]));
    let mut once = client.subscribe(EventFilter::kinds([EventKind::Stop, EventKind::Resume]));
    assert!(lasting.is_persistent() && !once.is_persistent());

    let mut first = FakeQmp::attach(&client, &[]).await;
    first.event("STOP", None, 1).await;
    assert_eq!(next_event(&mut lasting).await.timestamp.seconds, 1);
    assert_eq!(next_event(&mut once).await.timestamp.seconds, 1);
    // The peer drops the connection: the default stream ends, the persistent one says so.
    first.close().await;
    assert!(next(&mut once).await.is_none());
    assert!(matches!(
        next(&mut lasting).await,
        Some(Err(Gap::Disconnected))
    ));

    // The next connection's events follow, those sent during its negotiation first.
    let mut second = FakeQmp::attach(&client, &[event_line("RESUME", None, 10)]).await;
    second.event("STOP", None, 11).await;
    assert!(matches!(
        next_event(&mut lasting).await.event,
        Event::Resume
    ));
    assert_eq!(next_event(&mut lasting).await.timestamp.seconds, 11);
    assert_quiet(&mut lasting).await;

    // A reconnect on the client's side marks the gap too.
    let mut third = FakeQmp::attach(&client, &[]).await;
    assert!(matches!(
        next(&mut lasting).await,
        Some(Err(Gap::Disconnected))
    ));
    third.event("RESUME", None, 12).await;
    assert_eq!(next_event(&mut lasting).await.timestamp.seconds, 12);
    drop(second);

    // close() ends it (no more events are wanted), without a gap marker.
    client.close().await;
    assert!(next(&mut lasting).await.is_none());
}

#[tokio::test]
async fn a_persistent_subscription_ends_when_the_last_handle_is_dropped() {
    let client = ClientBuilder::new().build_without_endpoint();
    let mut lasting = client.subscribe_persistent(EventFilter::all());
    let _fake = FakeQmp::attach(&client, &[]).await;
    drop(client);
    // Nobody can reconnect: the stream ends, with no gap marker that nothing would follow.
    assert!(next(&mut lasting).await.is_none());
}

#[tokio::test]
async fn typed_filters_and_name_filters_for_events_the_bindings_do_not_know() {
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new()).await;
    let mut stops = client.subscribe(EventFilter::kinds([EventKind::Stop]));
    let mut vendor = client.subscribe(EventFilter::names(["X_VENDOR_EVENT"]));
    let mut both =
        client.subscribe(EventFilter::kinds([EventKind::Resume]).or_names(["X_VENDOR_EVENT"]));
    fake.event("STOP", None, 1).await;
    fake.event("X_VENDOR_EVENT", Some(json!({"n": 2})), 2).await;
    fake.event("RESUME", None, 3).await;
    fake.event("POWERDOWN", None, 4).await;
    fake.event("STOP", None, 5).await;

    assert!(matches!(next_event(&mut stops).await.event, Event::Stop));
    assert_eq!(next_event(&mut stops).await.timestamp.seconds, 5);
    match next_event(&mut vendor).await.event {
        Event::Other { name, data } => {
            assert_eq!(name, "X_VENDOR_EVENT");
            assert_eq!(data, json!({"n": 2}));
        }
        other => panic!("expected Other, got {other:?}"),
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_event(&mut both).await.event.name().to_owned());
    }
    assert_eq!(seen, ["X_VENDOR_EVENT", "RESUME"]);
    // Past the STOP at 5, which the last two never wanted: nothing else reached them.
    assert_quiet(&mut vendor).await;
    assert_quiet(&mut both).await;
}

#[test]
fn event_kinds_name_every_event_and_round_trip() {
    assert!(EventKind::ALL.len() > 50, "{}", EventKind::ALL.len());
    for &kind in EventKind::ALL {
        assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        assert_eq!(kind.to_string(), kind.name());
    }
    assert_eq!(EventKind::from_name("STOP"), Some(EventKind::Stop));
    assert_eq!(EventKind::from_name("stop"), None);
    assert_eq!(EventKind::from_name("X_VENDOR_EVENT"), None);
    assert_eq!(Event::Stop.kind(), Some(EventKind::Stop));
    assert_eq!(Event::Stop.data_value(), serde_json::Value::Null);

    // The data of a typed event, as JSON, is what was sent (the fake server relies on it).
    let data = json!({"offset": -3, "qom-path": "/machine/unattached/device[0]"});
    let event = Event::from_wire("RTC_CHANGE", data.clone()).unwrap();
    assert_eq!(event.kind(), Some(EventKind::RtcChange));
    assert_eq!(event.data_value(), data);
    let data = json!({"type": "commit", "device": "d0", "len": 10, "offset": 10, "speed": 0});
    let event = Event::from_wire("BLOCK_JOB_COMPLETED", data.clone()).unwrap();
    assert_eq!(event.kind(), Some(EventKind::BlockJobCompleted));
    assert_eq!(event.data_value(), data);
    // Undecodable data keeps the name but has no kind.
    let other = Event::Other {
        name: "STOP".into(),
        data: json!(1),
    };
    assert_eq!((other.kind(), other.data_value()), (None, json!(1)));
}

#[tokio::test]
async fn a_real_qemu_subscription_before_connecting_and_across_a_reconnect() {
    let Some(builder) = qemu10() else { return };
    let qemu = builder.spawn().unwrap();
    let endpoint = qemu.endpoint().unwrap().clone();
    let client = Client::builder().build(endpoint);
    let filter = || EventFilter::kinds([EventKind::Stop, EventKind::Resume]);
    let mut lasting = client.subscribe_persistent(filter());
    let mut once = client.subscribe(filter());
    // QEMU creates its socket a moment after launch.
    client
        .reconnect_with_backoff(qemu_qmp::Backoff::default())
        .await
        .unwrap();
    client.stop().await.unwrap();
    assert!(matches!(next_event(&mut lasting).await.event, Event::Stop));
    assert!(matches!(next_event(&mut once).await.event, Event::Stop));

    client.reconnect().await.unwrap();
    assert!(next(&mut once).await.is_none());
    assert!(matches!(
        next(&mut lasting).await,
        Some(Err(Gap::Disconnected))
    ));
    client.cont().await.unwrap();
    let resumed = next_event(&mut lasting).await;
    assert!(matches!(resumed.event, Event::Resume));
    assert!(resumed.timestamp.to_system_time().is_some());
    client.stop().await.unwrap();
    assert!(matches!(next_event(&mut lasting).await.event, Event::Stop));
    assert_quiet(&mut lasting).await;
}

#[test]
fn blocking_subscription_before_connecting_and_across_a_reconnect() {
    let Some(builder) = qemu10() else { return };
    let qemu = builder.spawn().unwrap();
    let client =
        BlockingClient::build(ClientBuilder::new(), qemu.endpoint().unwrap().clone()).unwrap();
    let mut lasting = client.subscribe_persistent(EventFilter::kinds([EventKind::Stop]));
    client
        .reconnect_with_backoff(qemu_qmp::Backoff::default())
        .unwrap();
    client.stop().wait().unwrap();
    let t = Duration::from_secs(10);
    let stop = lasting.next_timeout(t).unwrap().unwrap().unwrap();
    assert!(matches!(stop.event, Event::Stop));
    client.reconnect().unwrap();
    assert!(matches!(
        lasting.next_timeout(t).unwrap(),
        Some(Err(Gap::Disconnected))
    ));
    client.close();
    assert!(lasting.next_timeout(t).unwrap().is_none());
}
