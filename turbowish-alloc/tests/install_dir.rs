//! `install()` and `TURBOWISH_DIR`: any path bytes are a path; a directory
//! every user may write to without the sticky bit is refused (one line at
//! install, a clear error for each snapshot, nothing written anywhere); stale
//! temporary files of dead writers are removed at install; every line is one
//! line whatever the name holds.

mod common;

use common::install_child::{self, Child};
use common::{names_in, temp_dir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::child_main();
}

fn in_dir(cwd: &Path, dir: &Path) -> Child {
    Child::start(cwd, &[("TURBOWISH_DIR", dir.as_os_str())])
}

/// A subdirectory of `root` named by raw bytes, created with `mode`.
fn subdir(root: &Path, name: &[u8], mode: u32) -> PathBuf {
    let dir = root.join(OsStr::from_bytes(name));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

#[test]
fn snapshots_land_in_a_directory_whose_name_is_not_utf8() {
    let root = temp_dir("dir-bytes");
    let dir = subdir(&root, b"snaps-\xff\x1b]0;owned\x07", 0o755);
    let mut child = in_dir(&root, &dir);
    let pid = child.pid();
    child.signal(libc::SIGUSR1);
    let report = child.wait_for_report();
    let lines = child.finish();
    let name = format!("turbowish-{pid}-1.twsnap");
    assert_eq!(names_in(&dir), [name.as_str()], "{lines:?}");
    // One line, the name escaped.
    assert_eq!(lines, [report.as_str()]);
    let shown = format!(r"snaps-\xff\x1b]0;owned\x07/{name} (");
    assert!(report.contains(&shown), "{report}");
    let file = std::fs::metadata(dir.join(&name)).unwrap();
    assert_eq!(file.mode() & 0o777, 0o600, "{:o}", file.mode());
    // Nothing went to the working directory.
    assert_eq!(names_in(&root).len(), 1, "{:?}", names_in(&root));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_directory_name_with_a_newline_gives_one_line() {
    let root = temp_dir("dir-newline");
    let missing = root.join("no\nsuch\rdir");
    let lines = in_dir(&root, &missing).finish();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(r"no\nsuch\rdir"), "{lines:?}");
    // An existing one: the snapshot's line is one line too.
    let dir = subdir(&root, b"new\nline", 0o755);
    let mut child = in_dir(&root, &dir);
    child.signal(libc::SIGUSR1);
    let report = child.wait_for_report();
    assert!(report.contains(r"new\nline/turbowish-"), "{report}");
    assert_eq!(child.finish(), [report]);
    assert_eq!(names_in(&dir).len(), 1);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_world_writable_directory_without_the_sticky_bit_is_refused() {
    let root = temp_dir("dir-open");
    let dir = subdir(&root, b"open", 0o777);
    let mut child = in_dir(&root, &dir);
    let refused = child
        .wait_for(|l| l.contains("open"))
        .expect("a line at install");
    assert!(refused.contains("writable by every user"), "{refused}");
    // Each snapshot fails, clearly; none is written there or elsewhere.
    for _ in 0..2 {
        child.signal(libc::SIGUSR1);
        let report = child.wait_for_report();
        assert!(report.contains("snapshot failed"), "{report}");
        assert!(report.contains("writable by every user"), "{report}");
    }
    let lines = child.finish();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(names_in(&dir).is_empty(), "{lines:?}");
    assert_eq!(names_in(&root), ["open"]);

    // With the sticky bit (like /tmp) it is fine.
    let sticky = subdir(&root, b"sticky", 0o1777);
    let mut child = in_dir(&root, &sticky);
    child.signal(libc::SIGUSR1);
    let report = child.wait_for_report();
    assert!(report.contains(": wrote "), "{report}");
    assert_eq!(child.finish(), [report]);
    assert_eq!(names_in(&sticky).len(), 1);
    std::fs::remove_dir_all(&root).unwrap();
}

/// A pid no process has: a child's, after it was reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_temporary_files_of_dead_writers_are_removed_at_install() {
    let root = temp_dir("dir-stale");
    let dir = subdir(&root, b"snaps", 0o755);
    let (dead, alive) = (dead_pid(), std::process::id());
    let nonce = "0123456789abcdef";
    let file = |name: String| {
        std::fs::write(dir.join(&name), b"partial").unwrap();
        name
    };
    let removed = [
        file(format!("turbowish-1-1.twsnap.tmp-{dead}-{nonce}")),
        // What earlier versions left behind.
        file(format!("turbowish-1-2.twsnap.tmp-{dead}")),
    ];
    let mut kept = vec![
        // Its writer (this process, the child's parent) still runs.
        file(format!("turbowish-1-3.twsnap.tmp-{alive}-{nonce}")),
        // Not a snapshot's temporary file.
        file(format!("notes.txt.tmp-{dead}")),
        file(format!("turbowish-1-4.twsnap.tmp-{dead}-xyz")),
    ];
    // Not a regular file.
    let link = format!("turbowish-1-5.twsnap.tmp-{dead}-{nonce}");
    std::os::unix::fs::symlink(dir.join(&kept[1]), dir.join(&link)).unwrap();
    kept.push(link);
    let sub = format!("turbowish-1-6.twsnap.tmp-{dead}-{nonce}");
    std::fs::create_dir(dir.join(&sub)).unwrap();
    kept.push(sub);
    // Another user's (only root can make one).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = file(format!("turbowish-1-7.twsnap.tmp-{dead}-{nonce}"));
        std::os::unix::fs::chown(dir.join(&theirs), Some(65534), Some(65534)).unwrap();
        kept.push(theirs);
    }

    let lines = in_dir(&root, &dir).finish();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("removed 2 stale temporary"), "{lines:?}");
    kept.sort();
    assert_eq!(names_in(&dir), kept, "removed: {removed:?}");
    std::fs::remove_dir_all(&root).unwrap();
}
