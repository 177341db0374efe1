// An argument of the wrong type does not compile: the link state is a bool, not a string.
use qemu_qmp::{Client, Commands};

async fn unplug(client: &Client) {
    let _ = client.set_link("net0", "down").await;
}

fn main() {
    let _ = unplug;
}
