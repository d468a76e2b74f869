//! Snapshot files no other user can read or redirect: links planted where a
//! writer's temporary file would go are never followed, truncated or
//! renamed into place, and files are 0600 whatever the umask.

mod common;

use common::temp_dir;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use turbowish_alloc::{TurboWish, snapshot_to};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// How many of the next pids get a planted link: the capture child's pid is
/// one of them unless that many processes and threads start meanwhile.
const NEXT_PIDS: u32 = 1000;

/// The pids the kernel hands out next, and this process's own.
fn predictable_pids() -> Vec<u32> {
    let read = |p: &str| -> u32 { std::fs::read_to_string(p).unwrap().trim().parse().unwrap() };
    let (last, max) = (
        read("/proc/sys/kernel/ns_last_pid"),
        read("/proc/sys/kernel/pid_max"),
    );
    // Past pid_max the kernel wraps to 300 (lower pids are reserved).
    let mut pids: Vec<u32> = (1..=NEXT_PIDS)
        .map(|i| match last + i {
            p if p >= max => 300 + (p - max),
            p => p,
        })
        .collect();
    pids.push(std::process::id());
    pids
}

/// Plants a link at each name a writer of `path` in one of the next pids
/// would use as its temporary file (`NAME.tmp-PID`); returns how many.
fn plant(path: &Path, link: impl Fn(&Path)) -> usize {
    let name = path.file_name().unwrap().to_str().unwrap();
    let pids = predictable_pids();
    for pid in &pids {
        link(&path.with_file_name(format!("{name}.tmp-{pid}")));
    }
    pids.len()
}

struct Victims {
    /// Outside the snapshot directory: a symlink's target.
    by_symlink: PathBuf,
    /// Outside the snapshot directory, on the same file system: a hard link's.
    by_hard_link: PathBuf,
}

impl Victims {
    fn new(root: &Path) -> Victims {
        let outside = root.join("outside");
        std::fs::create_dir(&outside).unwrap();
        let v = Victims {
            by_symlink: outside.join("precious-1"),
            by_hard_link: outside.join("precious-2"),
        };
        std::fs::write(&v.by_symlink, b"precious 1").unwrap();
        std::fs::write(&v.by_hard_link, b"precious 2").unwrap();
        v
    }

    fn assert_untouched(&self) {
        for (path, text) in [
            (&self.by_symlink, "precious 1"),
            (&self.by_hard_link, "precious 2"),
        ] {
            let now = std::fs::read(path).unwrap();
            assert!(
                now == text.as_bytes(),
                "{} was overwritten ({} bytes)",
                path.display(),
                now.len()
            );
        }
        let hard = std::fs::metadata(&self.by_hard_link).unwrap();
        assert_eq!(hard.mode() & 0o777, 0o644, "the victim's mode changed");
    }
}

/// `path` is a snapshot of our own: a regular file (not a planted link),
/// mode 0600, readable.
fn assert_ours(path: &Path) {
    let m = std::fs::symlink_metadata(path).unwrap();
    assert!(m.file_type().is_file(), "{}: {m:?}", path.display());
    assert_eq!(m.nlink(), 1, "{}: hard-linked", path.display());
    assert_eq!(
        m.mode() & 0o777,
        0o600,
        "{}: {:o}",
        path.display(),
        m.mode()
    );
    turbowish_format::read_file(path).unwrap();
}

fn set_umask_022() {
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o022) };
}

#[test]
fn links_planted_at_temporary_names_are_never_followed() {
    set_umask_022();
    let root = temp_dir("links");
    let dir = root.join("snaps");
    std::fs::create_dir(&dir).unwrap();
    let victims = Victims::new(&root);
    let held: Vec<Box<[u8]>> = (0..1000)
        .map(|i| vec![i as u8; 64].into_boxed_slice())
        .collect();

    // Symlinks, then hard links, at the capture child's temporary names.
    let sym = dir.join("sym.twsnap");
    let mut planted = plant(&sym, |at| {
        std::os::unix::fs::symlink(&victims.by_symlink, at).unwrap()
    });
    let info = snapshot_to(&sym).expect("a snapshot despite the links");
    assert!(info.blocks >= 1000);
    victims.assert_untouched();
    assert_ours(&sym);
    let hard = dir.join("hard.twsnap");
    planted += plant(&hard, |at| {
        std::fs::hard_link(&victims.by_hard_link, at).unwrap()
    });
    snapshot_to(&hard).expect("a snapshot despite the links");
    victims.assert_untouched();
    assert_ours(&hard);

    // And at the names an in-process writer (this process) would use.
    let snap = turbowish_format::read_file(&sym).unwrap();
    for (name, by_symlink) in [("in-sym.twsnap", true), ("in-hard.twsnap", false)] {
        let path = dir.join(name);
        let at = dir.join(format!("{name}.tmp-{}", std::process::id()));
        match by_symlink {
            true => std::os::unix::fs::symlink(&victims.by_symlink, &at).unwrap(),
            false => std::fs::hard_link(&victims.by_hard_link, &at).unwrap(),
        }
        planted += 1;
        turbowish_format::write_file(&snap, &path).expect("written beside the link");
        victims.assert_untouched();
        assert_ours(&path);
    }
    // The planted links are where they were, and nothing else was left.
    let names = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(names, 4 + planted, "4 snapshots and the planted links");
    std::hint::black_box(held);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn files_are_0600_under_umask_022() {
    set_umask_022();
    let dir = temp_dir("mode");
    // A world-readable directory: only the file's mode protects it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let forked = dir.join("forked.twsnap");
    snapshot_to(&forked).unwrap();
    assert_ours(&forked);
    let snap = turbowish_format::read_file(&forked).unwrap();
    let in_process = dir.join("in-process.twsnap");
    turbowish_format::write_file(&snap, &in_process).unwrap();
    assert_ours(&in_process);
    // Replacing a world-readable file leaves a 0600 one.
    std::fs::write(&in_process, b"old").unwrap();
    std::fs::set_permissions(&in_process, std::fs::Permissions::from_mode(0o644)).unwrap();
    turbowish_format::write_file(&snap, &in_process).unwrap();
    assert_ours(&in_process);
    std::fs::remove_dir_all(&dir).unwrap();
}
