//! Compile-fail proofs that illegal connection stage moves do not type-check (DESIGN §6).
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p host-tests --test typestate`
//! and read every `.stderr` to check each case fails for the intended reason.

#[test]
fn typestate_compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
