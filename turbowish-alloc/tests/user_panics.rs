//! Panics in user code that TurboWish calls or stores leave the user's
//! state and the task registry as they were: a `Trace` impl that panics in
//! an in-process walk does not poison the user's `Mutex` (trace rule 3's
//! guard release), and a root value whose drop panics when `Traced::root`
//! replaces it does not leave a registry row behind.

mod common;

use common::serial;
use std::sync::Mutex;
use turbowish_alloc::{Trace, Tracer};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

struct PanicsInTrace;

impl Trace for PanicsInTrace {
    fn trace(&self, _: &mut Tracer<'_>) {
        panic!("review: broken Trace impl");
    }
}

#[test]
fn in_process_walk_does_not_poison_the_users_mutex() {
    let _s = serial();
    let m = Mutex::new(PanicsInTrace);
    let w = turbowish_alloc::walk(&m);
    assert_eq!(w.panics.len(), 1);
    assert!(
        !m.is_poisoned(),
        "walk() caught the impl's panic, but the try_lock guard it held was dropped while \
         panicking: the service's own Mutex is now poisoned"
    );
}

struct PanicOnDrop;

impl Trace for PanicOnDrop {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("review: drop of the replaced root");
    }
}

#[test]
fn a_panicking_root_replacement_does_not_leave_a_ghost_task() {
    let _s = serial();
    let r = std::panic::catch_unwind(|| {
        let t = turbowish_alloc::traced(async {})
            .named("review-ghost")
            .root(PanicOnDrop)
            .root(1u8);
        drop(t);
    });
    assert!(r.is_err());
    let ghosts: Vec<_> = turbowish_alloc::tasks()
        .into_iter()
        .filter(|t| t.name == "review-ghost")
        .collect();
    assert!(
        ghosts.is_empty(),
        "the row of a Traced that no longer exists stays live for ever: {ghosts:#?}"
    );
}
