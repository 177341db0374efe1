// A required argument cannot be left out: `set_link` needs the device and the link state.
use qemu_qmp::{Client, Commands};

async fn unplug(client: &Client) {
    let _ = client.set_link("net0").await;
}

fn main() {
    let _ = unplug;
}
