//! Snapshot files on disk: their names, and how they are written so that no
//! other user can read them or redirect the write. Shared by the runtime
//! (which writes and cleans up) and the CLI (which looks for new files).
//!
//! # Rules
//!
//! 1. A snapshot is written to a temporary file beside its final name, then
//!    renamed into place: a reader never sees half a file, and an existing
//!    file is only ever replaced whole.
//! 2. The temporary file is created new (`O_CREAT|O_EXCL|O_NOFOLLOW|
//!    O_CLOEXEC`): a name that exists, be it a file or a symlink or hard link
//!    someone planted, is never opened, followed or truncated. Another name
//!    is tried, and after [`TRIES`] taken names the write fails.
//! 3. Its name is `FINAL.tmp-PID-NONCE`: the writer's pid, so a cleanup can
//!    tell the leftovers of a writer that died, and 16 random hex digits, so
//!    no other user can predict it.
//! 4. It is mode 0600 whatever the umask: created so, then set so on the
//!    open descriptor (a umask can only remove bits; this undoes a umask that
//!    removed the owner's).
//! 5. The file is synced before the rename and its directory after it (best
//!    effort): after a crash, the file is whole or absent.
//! 6. A cleanup removes only a regular file owned by this user, whose name
//!    is a temporary name (with or without the nonce: earlier versions wrote
//!    `FINAL.tmp-PID`) and whose writer is gone (`kill(pid, 0)` fails with
//!    `ESRCH`). It never follows a link: it looks with `lstat`, and removing
//!    a name removes only that name.
//! 7. Snapshots taken into a directory are named
//!    `turbowish-<pid>-<sequence>.twsnap` ([`snapshot_name`]); a process's
//!    peak snapshot, one file replaced whole each time,
//!    `turbowish-<pid>-peak.twsnap` ([`peak_snapshot_name`]), which
//!    [`parse_snapshot_name`] does not take for a numbered one.

use crate::format::Error;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How many temporary names a writer tries before it gives up (rule 2).
pub const TRIES: usize = 16;
const NONCE_DIGITS: usize = 16;

/// The name of snapshot number `sequence` of process `pid` in a directory
/// (rule 7).
pub fn snapshot_name(pid: u32, sequence: u32) -> String {
    format!("turbowish-{pid}-{sequence}.twsnap")
}

/// The name of process `pid`'s peak snapshot (rule 7).
pub fn peak_snapshot_name(pid: u32) -> String {
    format!("turbowish-{pid}-peak.twsnap")
}

/// The pid and sequence number in a name made by [`snapshot_name`].
pub fn parse_snapshot_name(name: &OsStr) -> Option<(u32, u64)> {
    let rest = name.to_str()?.strip_prefix("turbowish-")?;
    let (pid, seq) = rest.strip_suffix(".twsnap")?.split_once('-')?;
    Some((digits(pid.as_bytes())?, digits(seq.as_bytes())?))
}

/// The temporary file a writer in process `pid` uses for `path`, with
/// `nonce` (rule 3).
pub fn temp_path(path: &Path, pid: u32, nonce: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{pid}-{nonce:016x}"));
    path.with_file_name(name)
}

/// Writes a new file at `path` through `write` (rules 1 to 5); returns what
/// `write` returned.
pub(crate) fn write_new(
    path: &Path,
    write: impl FnOnce(&File) -> Result<u64, Error>,
) -> Result<u64, Error> {
    let (file, tmp) = create_temp(path, random_nonce)?;
    let result = write(&file)
        .and_then(|n| file.sync_all().map(|()| n).map_err(Error::from))
        .and_then(|n| std::fs::rename(&tmp, path).map(|()| n).map_err(Error::from));
    drop(file);
    match result {
        Ok(n) => {
            sync_dir(path);
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates a new temporary file for `path` (rules 2 to 4), with names from
/// `nonce`.
fn create_temp(path: &Path, mut nonce: impl FnMut() -> u64) -> Result<(File, PathBuf), Error> {
    for _ in 0..TRIES {
        let tmp = temp_path(path, std::process::id(), nonce());
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        match created {
            Ok(file) => {
                if let Err(e) = file.set_permissions(Permissions::from_mode(0o600)) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
                return Ok((file, tmp));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("all {TRIES} temporary names tried beside it exist"),
    )))
}

/// 64 random bits, from the kernel; from the clock and a counter if it has
/// none (then less unpredictable; a name taken all the same is skipped).
fn random_nonce() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got == bytes.len() as isize {
        return u64::from_ne_bytes(bytes);
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ COUNTER
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .rotate_left(48)
}

/// Syncs the directory holding `path`, so the rename survives a crash
/// (rule 5). Best effort: some file systems cannot.
fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(dir_of(path)) {
        let _ = dir.sync_all();
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes the temporary files the writer in process `pid`, now gone, left
/// for `path` (rule 6); returns how many.
pub fn remove_temp_files(path: &Path, pid: u32) -> usize {
    let Some(final_name) = path.file_name() else {
        return 0;
    };
    let dir = dir_of(path);
    let ours = |name: &OsStr| temp_parts(name) == Some((final_name, pid));
    remove_where(dir, ours, |_| true).unwrap_or(0)
}

/// Removes, from `dir`, the temporary files of snapshots (names made by
/// [`snapshot_name`]) whose writers are gone (rule 6); returns how many.
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<usize> {
    let stale = |name: &OsStr| {
        temp_parts(name).and_then(|(final_name, pid)| {
            parse_snapshot_name(final_name)?;
            Some(pid)
        })
    };
    remove_where(
        dir,
        |name| stale(name).is_some(),
        |name| stale(name).is_some_and(is_gone),
    )
}

/// Removes the regular files of this user in `dir` whose names pass
/// `named`, then `gone` (rule 6).
fn remove_where(
    dir: &Path,
    named: impl Fn(&OsStr) -> bool,
    gone: impl Fn(&OsStr) -> bool,
) -> io::Result<usize> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !named(&name) {
            continue;
        }
        // `DirEntry::metadata` is an lstat: a symlink is never followed.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.file_type().is_file() && meta.uid() == me && gone(&name) {
            removed += usize::from(std::fs::remove_file(entry.path()).is_ok());
        }
    }
    Ok(removed)
}

/// Whether no process has `pid` (rule 6); a pid that cannot be a process is
/// never taken for a dead one.
fn is_gone(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false; // 0 and negative pids name groups, not one process
    }
    // SAFETY: signal 0 only checks that `pid` exists; `pid` is positive.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// The final name and writer pid of a temporary name,
/// `FINAL.tmp-PID[-NONCE]` (rule 3, or without the nonce, rule 6).
fn temp_parts(name: &OsStr) -> Option<(&OsStr, u32)> {
    let bytes = name.as_bytes();
    let at = find_last(bytes, b".tmp-")?;
    let (final_name, rest) = (&bytes[..at], &bytes[at + 5..]);
    let pid = match rest.iter().position(|&b| b == b'-') {
        None => rest,
        Some(dash) => {
            let nonce = &rest[dash + 1..];
            let is_nonce = nonce.len() == NONCE_DIGITS
                && nonce.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            is_nonce.then_some(&rest[..dash])?
        }
    };
    let pid = digits(pid)?;
    (!final_name.is_empty()).then(|| (OsStr::from_bytes(final_name), pid))
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// A decimal number without sign or leading noise, that fits.
fn digits<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("turbowish-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(snapshot_name(42, 7), "turbowish-42-7.twsnap");
        assert_eq!(
            parse_snapshot_name(OsStr::new("turbowish-42-7.twsnap")),
            Some((42, 7))
        );
        for bad in [
            "turbowish-42-.twsnap",
            "turbowish--7.twsnap",
            "turbowish-4-+7.twsnap",
            "x-1-2.twsnap",
            "turbowish-1-2.twsnap.tmp-3",
        ] {
            assert_eq!(parse_snapshot_name(OsStr::new(bad)), None, "{bad}");
        }
        let tmp = temp_path(Path::new("/d/a.twsnap"), 9, 0xab);
        assert_eq!(tmp, Path::new("/d/a.twsnap.tmp-9-00000000000000ab"));
        assert_eq!(
            temp_parts(tmp.file_name().unwrap()),
            Some((OsStr::new("a.twsnap"), 9))
        );
        assert_eq!(
            temp_parts(OsStr::new("a.tmp-9")),
            Some((OsStr::new("a"), 9))
        );
        assert_eq!(
            temp_parts(OsStr::from_bytes(b"\xff.tmp-9")),
            Some((OsStr::from_bytes(b"\xff"), 9))
        );
        for bad in [
            ".tmp-9",
            "a.tmp-",
            "a.tmp-9-",
            "a.tmp-9-xyz",
            "a.tmp-9-00000000000000AB",
            "a.tmp-x9",
            "a.tmp-9-00000000000000ab-1",
        ] {
            assert_eq!(temp_parts(OsStr::new(bad)), None, "{bad}");
        }
    }

    /// Rule 2: links planted at the names tried are skipped, never followed
    /// or truncated; their targets keep their contents.
    #[test]
    fn planted_links_are_skipped_and_untouched() {
        let dir = temp_dir("planted");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("a.twsnap");
        let pid = std::process::id();
        std::os::unix::fs::symlink(&victim, temp_path(&path, pid, 1)).unwrap();
        std::fs::hard_link(&victim, temp_path(&path, pid, 2)).unwrap();
        std::os::unix::fs::symlink(dir.join("dangling"), temp_path(&path, pid, 3)).unwrap();
        let mut next = 0;
        let (file, tmp) = create_temp(&path, || {
            next += 1;
            next
        })
        .unwrap();
        assert_eq!(tmp, temp_path(&path, pid, 4));
        drop(file);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            !dir.join("dangling").exists(),
            "a dangling link was followed"
        );
        let m = std::fs::symlink_metadata(&tmp).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!((m.len(), m.mode() & 0o777), (0, 0o600));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn when_every_name_is_taken_the_write_fails_cleanly() {
        let dir = temp_dir("taken");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("a.twsnap");
        std::os::unix::fs::symlink(&victim, temp_path(&path, std::process::id(), 5)).unwrap();
        let err = create_temp(&path, || 5).unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert!(err.to_string().contains("temporary names"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Rule 4, in a forked child: the umask is the whole process's, and
    /// sibling tests run meanwhile.
    #[test]
    fn files_are_0600_even_under_a_umask_that_removes_the_owners_bits() {
        let dir = temp_dir("mode");
        let path = dir.join("a.twsnap");
        // SAFETY: the child sets its umask, writes one file and `_exit`s;
        // glibc's malloc and the file calls it makes are safe after a fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: umask has no preconditions; `_exit` ends the child.
            unsafe {
                libc::umask(0o277);
                libc::_exit(i32::from(write_new(&path, |_| Ok(0)).is_err()));
            }
        }
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(status, 0, "the write failed in the child");
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_dead_writers_regular_files_of_this_user_are_removed() {
        let dir = temp_dir("stale");
        let dead = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let alive = std::process::id();
        let make = |name: String| {
            std::fs::write(dir.join(&name), b"x").unwrap();
            name
        };
        let gone = make(format!("turbowish-1-1.twsnap.tmp-{dead}-0123456789abcdef"));
        let old = make(format!("turbowish-1-2.twsnap.tmp-{dead}"));
        let live = make(format!("turbowish-1-3.twsnap.tmp-{alive}-0123456789abcdef"));
        let other = make(format!("mine.dat.tmp-{dead}"));
        let zero = make("turbowish-1-4.twsnap.tmp-0".to_owned());
        let link = format!("turbowish-1-5.twsnap.tmp-{dead}");
        std::os::unix::fs::symlink(dir.join(&live), dir.join(&link)).unwrap();
        assert_eq!(remove_stale_temp_files(&dir).unwrap(), 2);
        for (name, kept) in [
            (gone, false),
            (old, false),
            (live, true),
            (other.clone(), true),
            (zero, true),
            (link, true),
        ] {
            assert_eq!(
                std::fs::symlink_metadata(dir.join(&name)).is_ok(),
                kept,
                "{name}"
            );
        }
        // A named writer's leftovers go whatever the name.
        assert_eq!(remove_temp_files(&dir.join("mine.dat"), dead), 1);
        assert!(!dir.join(other).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
