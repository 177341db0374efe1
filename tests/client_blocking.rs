//! The blocking client against a real QEMU 10.0: same features, no async in sight.

mod common;

use std::time::Duration;

use qemu_qmp::api::RunState;
use qemu_qmp::testing::Qemu;
use qemu_qmp::{
    Backoff, BlockingClient, ClientBuilder, Commands, ConnectionState, Endpoint, Error, ErrorClass,
    Event, EventFilter,
};

fn start(big: bool) -> Option<(Qemu, BlockingClient)> {
    let mut builder = common::qemu10()?;
    if big {
        builder = common::big_machine(builder);
    }
    let qemu = builder.spawn().unwrap();
    let endpoint: Endpoint = qemu.endpoint().unwrap().clone();
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(200),
        attempts: 100,
    };
    let client =
        BlockingClient::connect_with_retry(ClientBuilder::new(), endpoint, backoff).unwrap();
    Some((qemu, client))
}

#[test]
fn blocking_commands_events_errors_and_oob() {
    let Some((_qemu, client)) = start(false) else {
        return;
    };
    assert_eq!(client.greeting().unwrap().version.qemu.major, 10);
    assert!(client.oob_enabled());
    assert!(client.query_status().wait().unwrap().running);

    let mut events = client.subscribe(EventFilter::names(["STOP", "RESUME"]));
    client.stop().wait().unwrap();
    assert_eq!(
        client.query_status().wait().unwrap().status,
        RunState::Paused
    );
    client.cont().wait().unwrap();
    let a = events
        .next_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap()
        .unwrap();
    let b = events.next().unwrap().unwrap();
    assert!(matches!(a.event, Event::Stop));
    assert!(matches!(b.event, Event::Resume));
    assert!(matches!(
        events.next_timeout(Duration::from_millis(50)),
        Err(Error::Timeout(_))
    ));

    let err = client.migrate_pause().wait_oob().unwrap_err();
    assert_eq!(err.qmp_class(), Some(&ErrorClass::GenericError));
    let err = client.execute_raw("no-such-command", None).unwrap_err();
    assert_eq!(err.qmp_class(), Some(&ErrorClass::CommandNotFound));
    assert_eq!(
        client.execute_raw("query-status", None).unwrap()["status"],
        "running"
    );

    // Many threads at once.
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..20 {
                    assert!(client.query_status().wait().unwrap().running);
                }
            });
        }
    });

    // fd passing.
    let file = std::fs::File::open("/dev/null").unwrap();
    client
        .execute_with_fd(client.getfd("blk").into_command(), &file)
        .unwrap();
    client.closefd("blk").wait().unwrap();

    // close, then reconnect on the same handle.
    client.close();
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(matches!(
        client.query_status().wait(),
        Err(Error::Disconnected)
    ));
    client.reconnect().unwrap();
    assert!(client.query_status().wait().unwrap().running);
}

#[test]
fn blocking_disconnect_is_reported() {
    let Some((mut qemu, client)) = start(true) else {
        return;
    };
    let mut events = client.events();
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.dump_guest_memory(false, "file:/dev/null").wait())
    };
    std::thread::sleep(Duration::from_millis(20));
    qemu.kill().unwrap();
    let res = waiter.join().unwrap();
    assert!(
        matches!(res, Err(Error::Disconnected)) || res.is_ok(),
        "{res:?}"
    );
    client
        .wait_for_state(Duration::from_secs(10), |s| *s == ConnectionState::Closed)
        .unwrap();
    assert!(events.next().is_none());
}
