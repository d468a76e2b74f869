//! Rule 7: only the newest N numbered snapshots this process wrote into the
//! directory stay.
//!
//! The process remembers the files it wrote, in order, and removes the
//! oldest beyond N: it never lists the directory, so it never removes a
//! file it did not write (another process's, even one that reused its pid).
//! The list is TurboWish's own memory (guard rule 1): it is only touched
//! untracked.

use crate::heap::guard;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The numbered files written and not yet removed, oldest first.
static WRITTEN: Mutex<VecDeque<PathBuf>> = Mutex::new(VecDeque::new());

/// Notes that `path` was written and removes the oldest files beyond
/// `keep` (none with `None`).
pub(crate) fn written(path: &Path, keep: Option<usize>) {
    let Some(keep) = keep else {
        return;
    };
    guard::untracked(|| {
        let mut list = WRITTEN.lock().unwrap_or_else(PoisonError::into_inner);
        list.push_back(path.to_path_buf());
        while list.len() > keep {
            if let Some(old) = list.pop_front() {
                // Already gone (someone removed it): nothing to do.
                let _ = std::fs::remove_file(&old);
            }
        }
    });
}
