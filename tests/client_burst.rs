//! An event burst far larger than a subscriber's buffer. In a process of its own: its
//! hundred thousand trace callsite hits would race the tracing test of client_faults.rs.

mod common;

use common::{within, FakeQmp};
use futures::StreamExt;
use qemu_qmp::{ClientBuilder, Commands, Event, EventFilter};
use serde_json::json;

/// A burst far larger than the subscriber's buffer, on one thread: the reader yields to the
/// scheduler as it goes, so a subscriber task that keeps reading receives every event, in
/// order, and a command sent during the burst is answered while it lasts.
#[tokio::test]
async fn a_subscriber_task_keeps_up_with_a_burst_on_one_thread() {
    const BURST: u64 = 20_000;
    let (mut fake, client) = FakeQmp::pair(ClientBuilder::new().event_buffer(256)).await;
    let mut events = client.subscribe(EventFilter::names(["RTC_CHANGE"]));
    let subscriber = tokio::spawn(async move {
        let (mut delivered, mut missed, mut next) = (0u64, 0u64, 0i64);
        while delivered + missed < BURST {
            match events.next().await {
                Some(Ok(received)) => {
                    let Event::RtcChange(data) = received.event else {
                        panic!("{:?}", received.event)
                    };
                    assert_eq!(data.offset, next, "out of order");
                    next += 1;
                    delivered += 1;
                }
                Some(Err(gap)) => {
                    let lost = gap.missed().expect("only lag gaps on one connection");
                    missed += lost;
                    next += lost as i64;
                }
                None => break,
            }
        }
        (delivered, missed)
    });
    let mut lines = String::new();
    for n in 0..BURST {
        lines.push_str(&format!(
            "{{\"event\": \"RTC_CHANGE\", \"data\": {{\"offset\": {n}, \"qom-path\": \"/rtc\"}}, \
             \"timestamp\": {{\"seconds\": 1, \"microseconds\": 2}}}}\r\n"
        ));
    }
    let half = lines.len() / 2;
    let cut = half + lines[half..].find('\n').unwrap() + 1;
    let server = async {
        fake.send_bytes(&lines.as_bytes()[..cut]).await;
        // Mid-burst, a command arrives and is answered between two events.
        let request = fake.recv().await;
        assert_eq!(request["execute"], "query-status");
        fake.reply(&request, json!({"running": true, "status": "running"}))
            .await;
        fake.send_bytes(&lines.as_bytes()[cut..]).await;
        fake
    };
    let command = async {
        // Sent once the burst has started (the subscriber saw its first event).
        tokio::task::yield_now().await;
        client.query_status().await
    };
    let (fake, status) = within(60, async { tokio::join!(server, command) }).await;
    assert!(status.unwrap().running);
    let (delivered, missed) = within(60, subscriber).await.unwrap();
    assert_eq!(
        (delivered, missed),
        (BURST, 0),
        "every event reached the subscriber"
    );
    drop(fake);
}
