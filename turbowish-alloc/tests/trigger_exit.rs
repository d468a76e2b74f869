//! `TURBOWISH_AT_EXIT` (trigger rule 6): a snapshot at normal exit, and on
//! `SIGTERM` when the program left it at its default, after which the
//! process ends by `SIGTERM` as it would have.

mod common;

use common::install_child::{self, OWN_SIGTERM};
use common::temp_dir;
use common::triggers::{lines_of, read, run, start, written};
use std::os::unix::process::ExitStatusExt;
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
fn a_normal_exit_writes_one_snapshot_and_a_forked_childs_none() {
    let dir = temp_dir("exit");
    let mut child = start(&dir, &[("TURBOWISH_AT_EXIT", "1")]);
    run(&mut child, "leak 4");
    run(&mut child, "fork");
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    let exit = lines_of(&lines, "exit");
    assert_eq!(exit.len(), 1, "{lines:#?}");
    assert!(exit[0].contains(": wrote "), "{}", exit[0]);
    assert!(read(written(exit[0])).capture.live_bytes >= 4 << 20);
    assert_eq!(common::names_in(&dir).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_writes_a_snapshot_then_ends_the_process_by_sigterm() {
    let dir = temp_dir("sigterm");
    let mut child = start(&dir, &[("TURBOWISH_AT_EXIT", "1")]);
    assert!(child.catches(libc::SIGTERM));
    child.signal(libc::SIGTERM);
    let line = child
        .wait_for(|l| l.starts_with("turbowish: SIGTERM"))
        .expect("a SIGTERM snapshot");
    let (status, lines) = child.end();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{lines:#?}");
    assert!(lines_of(&lines, "exit").is_empty(), "{lines:#?}");
    read(written(&line));
    // Without the setting, SIGTERM is left alone.
    let child = start(&dir, &[]);
    assert!(!child.catches(libc::SIGTERM));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_programs_own_sigterm_handler_is_left_alone() {
    let dir = temp_dir("own-sigterm");
    let env = [("TURBOWISH_AT_EXIT", "1"), (OWN_SIGTERM, "1")];
    let mut child = start(&dir, &env);
    child.signal(libc::SIGTERM);
    common::wait_for("the program's own handler to run", || {
        child.send("termed");
        match child.wait_for(|l| l.starts_with("termed: ")).as_deref() {
            Some("termed: true") => Ok(()),
            other => Err(other.map(str::to_owned)),
        }
    });
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    assert!(lines_of(&lines, "SIGTERM").is_empty(), "{lines:#?}");
    assert_eq!(lines_of(&lines, "exit").len(), 1, "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
