#![no_main]

// The body is shared with the stable regression test (tests/fuzz_regressions.rs).
#[path = "../targets/wire.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
