//! Hostile files given to `turbowish` itself, run as a child with a
//! deadline (a regression that hangs fails instead of hanging the tests), its
//! time and peak memory measured with `wait4`. The reader's own refusals are
//! tested with the format (`turbowish-format/tests/format.rs`).

#![cfg(feature = "cli")]

#[path = "../../turbowish-format/tests/common/hostile.rs"]
mod hostile;

use hostile::{BOMB, bombs};
use std::ffi::OsStr;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use turbowish_snap::{
    Block, Error, ReadOptions, Snapshot, format, read_file, read_file_with, write_file,
};

/// What one `turbowish` run did and cost.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    wall: Duration,
    /// Peak resident memory, bytes.
    max_rss: u64,
}

/// Runs `turbowish` with `args`; kills it and fails after `deadline`.
/// Its peak memory is an upper bound: Linux keeps the peak of the
/// process that spawned it (this test binary) across `exec`.
fn turbowish(args: &[&OsStr], deadline: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run turbowish");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: all zeroes is a valid `rusage` (a C struct of integers).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not reaped yet (`child` is never
        // waited on); `status` and `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            // SAFETY: as above; waits for the killed child.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            panic!("turbowish {args:?} still runs after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let out = child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout);
    let err = child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr);
    out.and(err).expect("utf-8 output");
    drop(child); // reaped by `wait4` above
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout,
        stderr,
        wall,
        max_rss: usage.ru_maxrss as u64 * 1024,
    }
}

/// Asserts that `run` failed with one line on stderr that contains
/// `what`.
fn one_line_error(run: &Run, what: &str) {
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{:?}", run.stderr);
    assert!(run.stderr.contains(what), "{what:?} in {:?}", run.stderr);
}

#[test]
fn a_4_gib_bomb_is_refused_within_2_s_and_256_mb() {
    let dir = tempdir("bombs");
    let max = OsStr::new("--max-size");
    let trusted = (2 * BOMB).to_string();
    let cases: [(u64, &[&OsStr], &str); 3] = [
        // Refused on the header's word (and the flag to pass named).
        (BOMB, &[], "pass --max-size 4294967296"),
        // Admitted by the flag: refused at the first bad table.
        (BOMB, &[max, OsStr::new(&trusted)], "snapshot is corrupt"),
        // A header that understates the size: cut there.
        (format::MIN_LIMIT, &[], "snapshot is corrupt"),
    ];
    for (raw_len, flags, what) in cases {
        for (name, file) in bombs(&Snapshot::default(), raw_len) {
            let path = dir.join(format!("{name}-{raw_len}.twsnap"));
            std::fs::write(&path, &file).unwrap();
            let mut args = vec![OsStr::new("summary"), path.as_os_str()];
            args.extend_from_slice(flags);
            let run = turbowish(&args, Duration::from_secs(30));
            println!(
                "{name} {raw_len} {flags:?}: {:?}, {} MB: {}",
                run.wall,
                run.max_rss >> 20,
                run.stderr.trim_end()
            );
            one_line_error(&run, what);
            assert!(run.wall < Duration::from_secs(2), "{name}: {:?}", run.wall);
            assert!(run.max_rss < 256 << 20, "{name}: {} MB", run.max_rss >> 20);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fifo_is_refused_in_one_line() {
    let dir = tempdir("fifo");
    let path = dir.join("pipe.twsnap");
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let run = turbowish(
        &[OsStr::new("summary"), path.as_os_str()],
        Duration::from_secs(10),
    );
    one_line_error(&run, "it is a FIFO (named pipe), not a regular file");
    // The library too, on a thread of its own in case it blocks.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || tx.send(read_file(&p).map(|_| ())));
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("read_file blocks");
    assert!(matches!(result, Err(Error::NotAFile(_))), "{result:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 800,000 blocks laid out with one stride, one size, one stack:
/// the tables compress hundreds of times, so the default refuses them and
/// the flag admits them.
#[test]
fn the_flag_admits_a_large_regular_snapshot_that_the_default_refuses() {
    let s = Snapshot {
        blocks: (0..800_000u64)
            .map(|i| Block {
                addr: 0x5555_0000_0000 + 48 * i,
                size: 40,
                ..Block::default()
            })
            .collect(),
        ..Snapshot::default()
    };
    let dir = tempdir("regular");
    let path = dir.join("regular.twsnap");
    let size = write_file(&s, &path).unwrap();
    let refused = turbowish(
        &[OsStr::new("summary"), path.as_os_str()],
        Duration::from_secs(60),
    );
    one_line_error(&refused, "if you trust the file, pass --max-size");
    let limit = refused.stderr.trim_end().rsplit(' ').next().unwrap();
    println!("{size} bytes: {}", refused.stderr.trim_end());
    let admitted = turbowish(
        &[
            OsStr::new("summary"),
            path.as_os_str(),
            OsStr::new("--max-size"),
            OsStr::new(limit),
            OsStr::new("--json"),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(admitted.code, Some(0), "{}", admitted.stderr);
    assert!(admitted.stdout.contains("800000"), "{}", admitted.stdout);
    // The library likewise.
    assert!(matches!(read_file(&path), Err(Error::TooLarge { .. })));
    let options = ReadOptions {
        max_size: Some(limit.parse().unwrap()),
    };
    assert_eq!(read_file_with(&path, &options).unwrap(), s);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("turbowish-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
