//! Call stacks: whether an allocation gets one ([`stack_for`], with
//! [`sample`] deciding under `TURBOWISH_STACK=sampled`), how it is captured
//! ([`walk`]), stored once and named by an id ([`intern`]), and the settings
//! that choose the capture mode and depth ([`settings`]).

pub(crate) mod intern;
pub(crate) mod sample;
pub(crate) mod settings;
pub(crate) mod walk;

use core::mem::MaybeUninit;
use settings::Settings;
use walk::{MAX_DEPTH, Origin, StackMode};

/// The stack id of a block of `size` bytes allocated at `origin`, under
/// `settings`: 0 (none) with stacks off, or under sampling when the block
/// is not `certain` (sample rule 4) and no sample point falls in it; else
/// its frames, walked and interned.
#[inline(always)]
pub(crate) fn stack_for(settings: Settings, size: usize, origin: Origin, certain: bool) -> u32 {
    match settings.stack {
        StackMode::Off => 0,
        StackMode::Sampled { mean_bytes } if !certain && !sample::take(size, mean_bytes) => 0,
        mode => walked(mode, origin, settings.depth),
    }
}

/// Walks the stack at `origin` and interns it.
///
/// Inlined into the shim, as the capture was before this function existed:
/// a frame of its own moved where the allocation path overwrites dead
/// stack, and `tests/waits_demo.rs` (whose demo relies on stale words there
/// being overwritten: a waiter pointer copied into a channel's padding made
/// a stuck task look wakeable) then failed most runs in debug builds.
#[inline(always)]
fn walked(mode: StackMode, origin: Origin, depth: usize) -> u32 {
    let mut buf = [MaybeUninit::uninit(); MAX_DEPTH];
    let (frames, hash) = walk::capture(mode, origin, &mut buf, depth);
    intern::intern_hashed(frames, hash)
}
