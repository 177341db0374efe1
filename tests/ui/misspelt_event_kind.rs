// Typed event filters: a misspelt event kind does not compile (a misspelt name in
// `EventFilter::names` would be accepted and never match).
use qemu_qmp::{EventFilter, EventKind};

fn main() {
    let _ = EventFilter::kinds([EventKind::Stop, EventKind::Resme]);
}
