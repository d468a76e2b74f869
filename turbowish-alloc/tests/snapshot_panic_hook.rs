//! The program's panic hook stays reachable once a capture has wrapped it
//! (child rule 3's hook, which defers to the one it replaced): the hook
//! replaced is held from a static of TurboWish's, a root, not from the
//! capture's own untracked memory, which the scan never reads. (libtest
//! installs such a hook in every test binary; it looked unreachable in
//! every snapshot.)
//!
//! One test in this binary: the first capture must come after the hook.

mod common;

use turbowish_alloc::TurboWish;
use turbowish_format::RootKind;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const MASK: usize = 0x5a5a_5a5a_5a5a_5a5a;

/// Sets a panic hook that holds a block; returns the hook's masked address.
#[inline(never)]
fn set_own_hook() -> usize {
    let said = String::from("own hook: ");
    let hook: Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send> =
        Box::new(move |info| eprintln!("{said}{info}"));
    let addr = &*hook as *const _ as *const u8 as usize;
    std::panic::set_hook(hook);
    addr ^ MASK
}

#[test]
fn the_programs_panic_hook_is_held_from_a_static() {
    let masked = set_own_hook();
    let _first = common::snapshot("panic-hook-1").expect("snapshot");
    // The second capture runs with TurboWish's hook in place, as every
    // later one does.
    let s = common::snapshot("panic-hook-2").expect("snapshot");
    let hook = common::block_index(&s, masked ^ MASK);
    let statics: Vec<&str> = (s.roots.iter())
        .filter(|r| r.kind == RootKind::Static)
        .filter_map(|r| {
            let at = r.targets.iter().position(|&t| t == hook)?;
            Some(r.labels.get(at).map_or("", |&l| s.string(l)))
        })
        .collect();
    assert!(
        statics.iter().any(|l| l.ends_with("PREVIOUS_HOOK")),
        "the hook is held from no static of TurboWish's: {statics:?}"
    );
}
