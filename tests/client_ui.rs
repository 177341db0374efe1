//! Compile-fail checks: out-of-band execution only for `allow-oob` commands; required
//! arguments cannot be left out or given the wrong type; event kinds in filters are checked.
//!
//! The expected messages are those of the test command's build (`--all-features`): there
//! the storage daemon's bindings have an `EventKind` of their own, so rustc names the
//! crate's in full.

#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
