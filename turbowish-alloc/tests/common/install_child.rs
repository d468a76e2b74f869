//! A child process that calls `turbowish_alloc::install()` under a chosen
//! environment, for tests of what `install` reads and writes.
//!
//! The child is this test binary again ([`rerun`]), running the file's
//! ignored `child` test (which calls [`child_main`]). It prints `READY` once
//! installed and then waits for its stdin to close; the parent signals it,
//! watches its stderr line by line, and ends it with [`Child::finish`].

use super::{PATIENCE, is_child, rerun};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Instant;
/// Every variable `install` and the allocator read.
const VARS: [&str; 10] = [
    "TURBOWISH_SIGNAL",
    "TURBOWISH_DIR",
    "TURBOWISH_TIMEOUT",
    "TURBOWISH_STACK",
    "TURBOWISH_DEPTH",
    "TURBOWISH_ON_GROWTH",
    "TURBOWISH_MIN_INTERVAL",
    "TURBOWISH_AT_PEAK",
    "TURBOWISH_AT_EXIT",
    "TURBOWISH_KEEP",
];

/// Set in a [`script_main`] child: handle `SIGTERM` before `install`.
pub const OWN_SIGTERM: &str = "TW_TEST_OWN_SIGTERM";

/// A child's body that follows commands, one a line on stdin, and returns
/// at its end: `grow MIB` holds MIB more MiB, `free` lets all of it go,
/// `leak MIB` leaks MIB MiB (still live at exit),
/// `fork` forks a child that calls `exit`, `termed` says whether its own
/// `SIGTERM` handler ran; each done, it says `did COMMAND` on stderr. With
/// [`OWN_SIGTERM`] set, it handles `SIGTERM` itself (before `install`).
pub fn script_main() {
    use std::sync::atomic::Ordering::Relaxed;
    static TERMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    extern "C" fn on_term(_: libc::c_int) {
        TERMED.store(true, Relaxed);
    }
    assert!(is_child("child"), "run only as a child");
    let own = std::env::var_os(OWN_SIGTERM).is_some();
    if own {
        let handler = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: installs a handler that only stores to an atomic.
        unsafe { libc::signal(libc::SIGTERM, handler) };
    }
    turbowish_alloc::install();
    println!("READY");
    let mut held: Vec<Vec<u8>> = Vec::new();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        match line.split_once(' ') {
            Some(("grow", mib)) => held.push(vec![0u8; mib.parse::<usize>().unwrap() << 20]),
            Some(("leak", mib)) => drop(vec![0u8; mib.parse::<usize>().unwrap() << 20].leak()),
            _ if line == "free" => held.clear(),
            _ if line == "fork" => fork_and_exit(),
            _ if line == "termed" => eprintln!("termed: {}", TERMED.load(Relaxed)),
            _ => panic!("unknown command {line:?}"),
        }
        eprintln!("did {line}");
    }
    if own {
        eprintln!(
            "own handler ran: {}",
            TERMED.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    std::hint::black_box(held);
}

/// Forks a child that calls `exit` (running `atexit` hooks), and reaps it.
fn fork_and_exit() {
    // SAFETY: the child only calls `exit`; the parent waits for it.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::exit(0);
        }
        assert!(pid > 0, "fork failed");
        libc::waitpid(pid, core::ptr::null_mut(), 0);
    }
}

/// The child's body: install under umask 022, hold some memory, say
/// `READY`, wait for stdin to close.
pub fn child_main() {
    assert!(is_child("child"), "run only as a child");
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o022) };
    turbowish_alloc::install();
    let held: Vec<Box<[u8]>> = (0..100)
        .map(|i| vec![i as u8; 100].into_boxed_slice())
        .collect();
    println!("READY");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::hint::black_box(held);
}

/// A running child.
pub struct Child {
    process: std::process::Child,
    stderr: Receiver<String>,
    /// Every stderr line read so far.
    lines: Vec<String>,
}

impl Child {
    /// Starts the child of the current test binary in `cwd`, with no
    /// TurboWish variables but `env` (and stacks off, for quick captures),
    /// and waits until it has installed.
    pub fn start(cwd: &Path, env: &[(&str, &OsStr)]) -> Child {
        let mut cmd = rerun("child");
        cmd.current_dir(cwd).stdin(Stdio::piped());
        for v in VARS {
            cmd.env_remove(v);
        }
        cmd.env("TURBOWISH_STACK", "off");
        cmd.envs(env.iter().copied());
        let mut process = cmd.spawn().unwrap();
        let stderr = lines_of(process.stderr.take().unwrap());
        let stdout = lines_of(process.stdout.take().unwrap());
        let mut child = Child {
            process,
            stderr,
            lines: Vec::new(),
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            match stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains("READY") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.process.kill();
                    panic!("the child never got ready: {:?}", child.drain())
                }
            }
        }
        child
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.process.id() as i32
    }

    /// Sends the child one command line (see [`script_main`]).
    pub fn send(&mut self, command: &str) {
        use std::io::Write;
        let stdin = self.process.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes the child's stdin, waits for it to end, and returns how it
    /// ended (its exit code, or the signal that ended it) and every line it
    /// wrote on stderr.
    pub fn end(mut self) -> (std::process::ExitStatus, Vec<String>) {
        drop(self.process.stdin.take());
        let status = self.process.wait().unwrap();
        (status, self.drain())
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        // SAFETY: signals our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Whether the child has a handler for `signal` (`SigCgt` in its
    /// `/proc/PID/status`).
    pub fn catches(&self, signal: i32) -> bool {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
            .unwrap();
        mask & (1 << (signal - 1)) != 0
    }

    /// Waits for the next stderr line that `wanted` accepts; `None` when the
    /// child closes stderr (it died) or after [`PATIENCE`].
    pub fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits for the report of one snapshot: `wrote ...` or a failure.
    pub fn wait_for_report(&mut self) -> String {
        let report = |l: &str| l.contains(": wrote ") || l.contains("snapshot failed");
        match self.wait_for(report) {
            Some(line) => line,
            None => panic!("no snapshot report; stderr so far: {:?}", self.lines),
        }
    }

    /// Closes the child's stdin, checks that it exits cleanly, and returns
    /// every line it wrote on stderr.
    pub fn finish(mut self) -> Vec<String> {
        drop(self.process.stdin.take());
        let status = self.process.wait().unwrap();
        let lines = self.drain();
        assert!(status.success(), "child failed ({status}): {lines:?}");
        lines
    }

    fn drain(&mut self) -> Vec<String> {
        while let Ok(line) = self.stderr.recv_timeout(PATIENCE) {
            self.lines.push(line);
        }
        std::mem::take(&mut self.lines)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The lines read from `stream` to its end, by a thread of their own (bytes
/// that are not UTF-8 show as U+FFFD).
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut stream = BufReader::new(stream);
        let mut line = Vec::new();
        while stream.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\n')
                .to_owned();
            // Reads on when nobody listens: a closed pipe would fail the
            // child's next write.
            let _ = tx.send(text);
            line.clear();
        }
    });
    rx
}
