//! `testing::Heap` on bad ground: a temporary directory that does not
//! exist, or that anyone may write to without the sticky bit. Each is one
//! clear error from `try_take` (and a panic naming it from `take`), and
//! nothing is left behind.

mod common;

use common::panic_message;
use turbowish::TurboWish;
use turbowish::testing::Heap;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The one test of this binary: it changes `TMPDIR`, which nothing else
/// reads meanwhile.
#[test]
fn bad_temporary_directories_are_clear_errors() {
    let base = std::env::temp_dir().join(format!("tw-testing-errors-{}", std::process::id()));
    let missing = base.join("missing");
    let open = base.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();

    for (dir, says) in [(&missing, "missing"), (&open, "sticky")] {
        // SAFETY: this binary's only test; no other thread reads the
        // environment while it runs.
        unsafe { std::env::set_var("TMPDIR", dir) };
        let error = Heap::try_take().unwrap_err().to_string();
        assert!(
            error.contains(says) || error.contains(&dir.display().to_string()),
            "{error}"
        );
        assert!(!error.contains('\n'), "one line: {error}");
        let message = panic_message(|| drop(Heap::take()));
        let (first, _) = error.split_once("turbowish-test-").unwrap_or((&error, ""));
        assert!(
            message.starts_with(&format!("turbowish: {first}")),
            "{message}"
        );
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("TMPDIR") };
    assert_eq!(
        std::fs::read_dir(&open).unwrap().count(),
        0,
        "nothing left behind"
    );
    Heap::take(); // works again
    std::fs::remove_dir_all(&base).unwrap();
}
