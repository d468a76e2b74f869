//! What the parent prepares for the child before the fork: everything the
//! child must not fetch itself (rule 3), such as the module list, which
//! `dl_iterate_phdr` reads under the dynamic loader's lock, and the
//! figures of where the resident memory goes (rule 16).

use super::memory::Memory;
use crate::snapshot::{modules, typed};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use turbowish_format::files;

/// Where a capture writes.
pub(crate) enum Target<'a> {
    /// This exact file.
    File(&'a Path),
    /// `turbowish-<pid>-<sequence>.twsnap` in this directory.
    Dir(&'a Path),
}

/// Snapshots taken by this process so far (numbers the next one).
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// What the child needs, prepared by the parent before the fork.
pub(super) struct Plan {
    pub(super) path: PathBuf,
    pub(super) pid: u32,
    pub(super) start_token: u64,
    pub(super) sequence: u32,
    pub(super) modules: Vec<modules::LoadedModule>,
    /// The capturing thread, and its stack pointer where the capture began:
    /// the child scans that thread's stack only above it (rule 6).
    pub(super) tid: u32,
    pub(super) capture_sp: usize,
    /// Clocks read just before the fork, for task times.
    pub(super) clocks: typed::Clocks,
    /// Where the resident memory goes (rule 16).
    pub(super) memory: Memory,
    /// The threads the registry lacks, with their descriptors, found just
    /// before the fork (unregistered rule 2).
    pub(super) unregistered: Vec<(u32, u64)>,
}

/// The plan for a capture into `target` that began with the stack pointer
/// at `capture_sp` (rule 6).
pub(super) fn plan(target: Target<'_>, capture_sp: usize) -> Plan {
    let pid = std::process::id();
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
    let path = match target {
        Target::File(p) => p.to_path_buf(),
        Target::Dir(d) => d.join(files::snapshot_name(pid, sequence)),
    };
    Plan {
        path,
        pid,
        start_token: start_token(pid),
        sequence,
        modules: modules::loaded_modules(),
        // SAFETY: gettid has no preconditions.
        tid: unsafe { libc::gettid() } as u32,
        capture_sp,
        clocks: typed::Clocks::now(),
        memory: Memory::read(),
        unregistered: Vec::new(),
    }
}

/// The process's start time in clock ticks since boot (`/proc/PID/stat`
/// field 22): with the pid, it names one run of one process.
fn start_token(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may contain spaces: count after its ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_ascii_whitespace().nth(19))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}
