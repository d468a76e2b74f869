//! Failed captures leave the process as it was: a capture that runs past its
//! time-out is killed and reaped, an unwritable directory is a clear error,
//! nothing is left behind, and the next snapshot works.

use std::time::Duration;
use turbowish_alloc::{Config, Error, TurboWish, snapshot_to};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

fn no_children_left() -> bool {
    // SAFETY: waitpid with WNOHANG on any child; a null status is allowed.
    unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) == -1 }
}

#[test]
fn failures_are_reported_and_leave_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("turbowish-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let held: Vec<Box<[u8]>> = (0..20_000)
        .map(|i| vec![i as u8; 64].into_boxed_slice())
        .collect();

    // A time-out far shorter than any capture: the child is killed.
    let path = dir.join("late.twsnap");
    let err = Config::default()
        .timeout(Duration::from_millis(1))
        .snapshot_to(&path)
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut(_)), "{err}");
    assert!(err.to_string().contains("killed"), "{err}");
    assert!(no_children_left(), "the killed child was not reaped");

    // A directory that does not exist.
    let err = snapshot_to(dir.join("missing/x.twsnap")).unwrap_err();
    assert!(matches!(err, Error::Capture(_)), "{err}");
    assert!(err.to_string().contains("missing/x.twsnap"), "{err}");
    assert!(no_children_left());

    // Nothing half-written anywhere, and the next snapshot works.
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let ok = dir.join("ok.twsnap");
    let info = snapshot_to(&ok).expect("a snapshot after failures");
    assert!(info.blocks >= 20_000);
    assert!(turbowish_format::read_file(&ok).is_ok());
    std::hint::black_box(held);
    std::fs::remove_dir_all(&dir).unwrap();
}
