//! Stacks: an allocation made from a uniquely named function has that
//! function in its symbolized stack, in frame-pointer and DWARF mode; `off`
//! records none; `TURBOWISH_DEPTH` bounds the depth.
//!
//! The mode is read once from the environment at the first allocation, so
//! each mode runs in a child process: this test binary re-executes itself
//! with `TURBOWISH_STACK` set and the name of one test.

mod common;

use common::{PATIENCE, is_child, rerun, run};
use turbowish_alloc::{StackMode, TurboWish, block, settings};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

#[inline(never)]
fn turbowish_test_unique_allocation_site() -> Vec<u8> {
    std::hint::black_box(vec![5u8; 3333])
}

/// Symbol names of each frame (inlined functions included) of the block at
/// `ptr`.
fn frame_symbols(ptr: *const u8) -> Vec<Vec<String>> {
    let b = block(ptr).expect("tracked");
    let mut frames = Vec::new();
    for &ip in b.stack.frames() {
        let mut names = Vec::new();
        backtrace::resolve(ip as *mut _, |sym| {
            if let Some(n) = sym.name() {
                names.push(n.to_string());
            }
        });
        frames.push(names);
    }
    frames
}

fn symbols_of(ptr: *const u8) -> Vec<String> {
    frame_symbols(ptr).concat()
}

/// Runs `check` in a child process started with `env`; `test` must be the
/// name of the calling test, so the child runs exactly it.
fn in_mode(test: &str, env: &[(&str, &str)], check: impl FnOnce()) {
    if is_child(test) {
        check();
        return;
    }
    let mut cmd = rerun(test);
    cmd.envs(env.iter().copied());
    let ran = run(cmd, PATIENCE);
    assert!(ran.passed_one(), "child {test} failed:\n{ran}");
}

fn check_site_is_named() {
    let v = turbowish_test_unique_allocation_site();
    let names = symbols_of(v.as_ptr());
    assert!(
        names
            .iter()
            .any(|n| n.contains("turbowish_test_unique_allocation_site")),
        "mode {:?}: {names:#?}",
        settings().stack
    );
}

#[test]
fn frame_pointer_stacks_name_the_allocating_function() {
    let env = [("TURBOWISH_STACK", "fp")];
    in_mode(
        "frame_pointer_stacks_name_the_allocating_function",
        &env,
        || {
            assert_eq!(settings().stack, StackMode::FramePointer);
            check_site_is_named();
        },
    );
}

#[test]
fn dwarf_stacks_name_the_allocating_function() {
    let env = [("TURBOWISH_STACK", "dwarf")];
    in_mode("dwarf_stacks_name_the_allocating_function", &env, || {
        assert_eq!(settings().stack, StackMode::Dwarf);
        check_site_is_named();
    });
}

#[test]
fn stacks_off_records_no_frames() {
    let env = [("TURBOWISH_STACK", "off")];
    in_mode("stacks_off_records_no_frames", &env, || {
        assert_eq!(settings().stack, StackMode::Off);
        let v = turbowish_test_unique_allocation_site();
        let b = block(v.as_ptr()).expect("still tracked");
        assert!(b.stack.frames().is_empty());
        assert_eq!(b.size, 3333);
    });
}

#[test]
fn depth_bounds_the_number_of_frames() {
    let env = [("TURBOWISH_DEPTH", "3")];
    in_mode("depth_bounds_the_number_of_frames", &env, || {
        assert_eq!(settings().depth, 3);
        let v = turbowish_test_unique_allocation_site();
        let n = block(v.as_ptr()).unwrap().stack.frames().len();
        assert!((1..=3).contains(&n), "{n} frames");
    });
}

#[test]
fn turbowish_appears_at_most_in_the_first_frame() {
    // Frame 0 is where the allocator was entered: inside the allocating
    // function when the shim was inlined into it, else in the shim. Every
    // later frame is a caller.
    let v = turbowish_test_unique_allocation_site();
    let frames = frame_symbols(v.as_ptr());
    assert!(frames.len() > 1);
    for (i, names) in frames.iter().enumerate().skip(1) {
        assert!(
            names.iter().all(|n| !n.contains("turbowish_alloc::")),
            "frame {i}: {names:#?}"
        );
    }
}

#[test]
fn equal_stacks_are_interned_once() {
    // The same call site twice (a plain loop: `collect` would pull the first
    // element through a different path), then a different one.
    let mut same = Vec::with_capacity(2);
    for _ in 0..2 {
        same.push(turbowish_test_unique_allocation_site());
    }
    let other = turbowish_test_unique_allocation_site();
    let id = |v: &Vec<u8>| block(v.as_ptr()).unwrap().stack;
    assert_eq!(id(&same[0]), id(&same[1]));
    assert_ne!(id(&same[0]), id(&other));
}
