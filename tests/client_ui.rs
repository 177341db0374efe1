//! Compile-fail checks: out-of-band execution only for `allow-oob` commands.

#[test]
fn oob_only_for_allow_oob_commands() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
