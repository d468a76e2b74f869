//! The server as a child process, driven as a user would drive it: start it,
//! read its address, ask it for snapshots with SIGUSR1, stop it. Used by the
//! `demo` example, this crate's tests and the workspace's end-to-end tests
//! (the top-level `tests/`).

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server process. Dropping it kills the process, so a failing
/// test or an interrupted demo never leaves one behind.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    dir: PathBuf,
    snapshots: u32,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `command` (a `turbowish-kv` server, or anything that prints
    /// `listening on ADDR` first) with `TURBOWISH_DIR` set to `dir`, and
    /// waits for its address. Its standard error is collected (see
    /// [`stderr`](Self::stderr)); its standard input is a pipe this value
    /// holds, so the server stops when it is closed.
    pub fn start(mut command: Command, dir: &Path) -> io::Result<ServerProcess> {
        let mut child = command
            .env("TURBOWISH_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stderr.take() {
            collect_lines(pipe, stderr.clone());
        }
        let stdin = child.stdin.take();
        let mut server = ServerProcess {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: dir.to_owned(),
            snapshots: 0,
            stderr,
        };
        let stdout = server.child.stdout.take();
        server.addr = read_address(stdout).map_err(|e| {
            let said = server.stderr().join("\n");
            io::Error::new(e.kind(), format!("{e}; the server said:\n{said}"))
        })?;
        Ok(server)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server writes snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lines the server wrote on standard error so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends SIGUSR1 and waits until the snapshot it asks for,
    /// `turbowish-<pid>-<n>.twsnap`, appears (the capture writes it under
    /// another name and renames it, so once it appears it is complete).
    pub fn snapshot(&mut self, timeout: Duration) -> io::Result<PathBuf> {
        let seq = self.snapshots + 1;
        let path = self
            .dir
            .join(format!("turbowish-{}-{seq}.twsnap", self.pid()));
        send_signal(self.pid(), libc::SIGUSR1)?;
        let deadline = Instant::now() + timeout;
        while !path.exists() {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "the server exited ({status}) before writing {}",
                    path.display()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no {} after {timeout:?}", path.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.snapshots = seq;
        Ok(path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> io::Result<()> {
        send_signal(self.pid(), libc::SIGTERM)
    }

    /// Closes the server's standard input, which asks it to stop, and waits
    /// for it to exit (killing it after `timeout`).
    pub fn stop(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.wait(timeout)
    }

    /// Waits up to `timeout` for the server to exit; kills it if it does not.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server did not exit within {timeout:?}; killed it"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `listening on ADDR` from the server's first line of output, giving
/// up after [`START_TIMEOUT`].
fn read_address(stdout: Option<impl Read + Send + 'static>) -> io::Result<SocketAddr> {
    let stdout = stdout.ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
        // Keep the pipe open, so the server never writes into a closed one.
        let _ = io::copy(&mut reader, &mut io::sink());
    });
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server printed no address"))??;
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected `listening on ADDR`, got {line:?}"),
            )
        })
}

/// Collects the lines of `pipe` into `into`, on a thread of its own.
fn collect_lines(pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if let Ok(mut lines) = into.lock() {
                lines.push(line);
            }
        }
    });
}

/// Sends signal `sig` to process `pid`.
pub fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `kill` reads no memory of ours; `pid` is positive, so it names
    // one process, never a group or every process.
    match unsafe { libc::kill(pid, sig) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// A new, empty directory `name` under `base` (emptied if it existed).
pub fn fresh_dir(base: &Path, name: &str) -> io::Result<PathBuf> {
    let dir = base.join(name);
    let context = |what: &str, e: io::Error| {
        io::Error::new(e.kind(), format!("cannot {what} {}: {e}", dir.display()))
    };
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context("empty", e)),
    }
    std::fs::create_dir_all(&dir).map_err(|e| context("create", e))?;
    Ok(dir)
}
