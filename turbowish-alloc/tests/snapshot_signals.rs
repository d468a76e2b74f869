//! Fork safety under load: while 8 threads churn allocations, 50 snapshots
//! are triggered by signal. Every file parses; in every file the allocator's
//! own live counters (read from the same frozen instant as the blocks) equal
//! the sum of the blocks; epochs advance; no child is left behind; nothing
//! deadlocks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use turbowish_alloc::{Config, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const SNAPSHOTS: usize = 50;
const CHURNERS: usize = 8;

fn churn(stop: &AtomicBool, seed: usize) {
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(256);
    let mut x = seed as u64 | 1;
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let slot = (x >> 40) as usize % 256;
        let item = vec![1u8; 8 + (x % 5000) as usize];
        if slot < held.len() {
            held[slot] = item;
        } else {
            held.push(item);
        }
    }
}

fn snapshot_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "twsnap"))
        .collect();
    files.sort();
    files
}

#[test]
fn fifty_snapshots_by_signal_under_load() {
    let dir = std::env::temp_dir().join(format!("turbowish-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Config::default()
        .dir(&dir)
        .signal(Some(libc::SIGUSR1))
        .timeout(Duration::from_secs(60))
        .install()
        .expect("install");
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(600);
    std::thread::scope(|s| {
        for seed in 0..CHURNERS {
            let stop = &stop;
            s.spawn(move || churn(stop, seed * 7919 + 1));
        }
        for n in 1..=SNAPSHOTS {
            // SAFETY: signals our own process, whose handler TurboWish installed.
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
            while snapshot_files(&dir).len() < n {
                assert!(
                    Instant::now() < deadline,
                    "snapshot {n} never appeared: deadlock?"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        stop.store(true, Ordering::Relaxed);
    });

    let files = snapshot_files(&dir);
    assert_eq!(files.len(), SNAPSHOTS);
    let mut epochs = Vec::new();
    for f in &files {
        let s = turbowish_format::read_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let bytes: u64 = s.blocks.iter().map(|b| b.size).sum();
        assert_eq!(
            s.capture.live_blocks,
            s.blocks.len() as u64,
            "{}",
            f.display()
        );
        assert_eq!(s.capture.live_bytes, bytes, "{}", f.display());
        assert!(
            s.blocks.iter().all(|b| b.epoch < s.process.epoch),
            "{}",
            f.display()
        );
        epochs.push(s.process.epoch);
    }
    epochs.sort_unstable();
    epochs.dedup();
    assert_eq!(epochs.len(), SNAPSHOTS, "every snapshot advanced the epoch");
    // No child left behind: this process has no children at all.
    // SAFETY: waitpid with WNOHANG on any child; `status` is a valid pointer.
    let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    assert_eq!(r, -1, "an unreaped child process remains");
    std::fs::remove_dir_all(&dir).unwrap();
}
