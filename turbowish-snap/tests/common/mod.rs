//! Helpers shared by the end-to-end tests that snapshot their own process.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// Overwrites the stack below the caller's frame.
///
/// Fresh allocations leave copies of their pointers in dead stack slots (the
/// allocator's frames, spills), which a worker's later frames can keep
/// unchanged; the conservative scan of that worker's stack then counts the
/// blocks as held by the thread (a documented limit). These tests measure
/// the graph arithmetic, so they clear those copies.
#[inline(never)]
pub fn scrub_stack() {
    let zeros = [0u8; 64 * 1024];
    std::hint::black_box(&zeros);
}

/// Runs the `turbowish` binary.
pub fn turbowish(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `turbowish` with `args`, which must succeed, and parses its JSON.
pub fn turbowish_json(args: &[&OsStr]) -> serde_json::Value {
    let out = turbowish(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}
