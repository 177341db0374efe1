// A command that is not allow-oob: asking for out-of-band execution must not compile,
// neither on the async client nor on the blocking one. (The command is defined here, not
// taken from the generated bindings, so the expected compiler output does not change
// whenever the schema or the generator does.)
use qemu_qmp::{BlockingClient, Call, Client, Command};

struct Stop;

impl serde::Serialize for Stop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl Command for Stop {
    const NAME: &'static str = "stop";
    const ALLOW_OOB: bool = false;
    type Returns = ();
}

async fn in_band_is_fine(client: &Client) {
    let _ = Call::new(client, Stop).await;
}

async fn out_of_band(client: &Client) {
    let _ = Call::new(client, Stop).oob().await;
}

fn out_of_band_blocking(client: &BlockingClient) {
    let _ = Call::new(client, Stop).wait_oob();
}

fn main() {
    let _ = (in_band_is_fine, out_of_band, out_of_band_blocking);
}
