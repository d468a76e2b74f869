//! The snapshot file of one check (testing rule 5).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Checks taken by this process so far (numbers the files).
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// A snapshot file in the temporary directory, removed on drop unless kept.
#[derive(Debug)]
pub(super) struct Scratch {
    path: PathBuf,
    keep: Cell<bool>,
}

impl Scratch {
    /// A new name: `turbowish-test-<pid>-<n>.twsnap`.
    pub(super) fn new() -> Scratch {
        let n = TAKEN.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("turbowish-test-{}-{n}.twsnap", std::process::id());
        Scratch {
            path: std::env::temp_dir().join(name),
            keep: Cell::new(false),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file in place when dropped.
    pub(super) fn keep(&self) -> &Path {
        self.keep.set(true);
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep.get() {
            // Nothing to do if the capture never wrote it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
