//! Compile tests for `#[derive(Trace)]`: what must compile, and the errors
//! for what must not (`tests/ui/*.stderr`; regenerate with
//! `TRYBUILD=overwrite` and review the diff).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
