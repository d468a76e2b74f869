//! `TURBOWISH_KEEP` (trigger rule 7): only this process's newest N numbered
//! snapshots stay; files it did not write are never removed.

mod common;

use common::install_child;
use common::temp_dir;
use common::triggers::start;
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::script_main();
}

#[test]
fn only_the_newest_n_of_this_processs_snapshots_stay() {
    let dir = temp_dir("keep");
    std::fs::write(dir.join("turbowish-1-1.twsnap"), b"another process's").unwrap();
    let mut child = start(&dir, &[("TURBOWISH_KEEP", "2")]);
    let pid = child.pid();
    // Named like this process's, but not written by it.
    let planted = format!("turbowish-{pid}-99.twsnap");
    std::fs::write(dir.join(&planted), b"not written by it").unwrap();
    for _ in 0..4 {
        child.signal(libc::SIGUSR1);
        assert!(child.wait_for_report().contains(": wrote "));
    }
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    let mut want = vec![
        planted,
        format!("turbowish-{pid}-3.twsnap"),
        format!("turbowish-{pid}-4.twsnap"),
        "turbowish-1-1.twsnap".to_owned(),
    ];
    want.sort();
    assert_eq!(common::names_in(&dir), want, "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
