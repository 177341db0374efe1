//! Compile-fail checks: out-of-band execution only for `allow-oob` commands; required
//! arguments cannot be left out or given the wrong type; event kinds in filters are checked.

#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
