//! `turbowish retainers` on long chains from a real snapshot: a
//! `std::collections::LinkedList` of 10,000 nodes and a chain of 30,000
//! boxes, each held by a static. Paths thousands of links deep must come out
//! fast, in little memory, with their middle elided.
//!
//! Each command runs as a child under resource limits (address space, CPU
//! time, output file size), so a regression fails the test instead of
//! exhausting the machine; its peak RSS comes from `wait4`.

mod common;

use std::collections::LinkedList;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const LIST_NODES: u64 = 10_000;
const CHAIN_LINKS: u64 = 30_000;

static LIST: Mutex<LinkedList<u64>> = Mutex::new(LinkedList::new());

/// One box of a singly linked chain.
struct Link {
    _next: Option<Box<Link>>,
    _value: u64,
}

static CHAIN: Mutex<Option<Box<Link>>> = Mutex::new(None);

/// The push site of the list's nodes. Elements are small numbers, never
/// taken for pointers.
#[inline(never)]
fn fill_list() {
    let mut list = LIST.lock().unwrap();
    for i in 0..LIST_NODES {
        list.push_back(std::hint::black_box(i));
    }
}

/// The allocation site of the chain's boxes.
#[inline(never)]
fn grow_chain() {
    let mut head = None;
    for i in 0..CHAIN_LINKS {
        head = Some(Box::new(Link {
            _next: head,
            _value: std::hint::black_box(i),
        }));
    }
    *CHAIN.lock().unwrap() = head;
}

/// What one child run cost, and printed.
struct Run {
    wall: Duration,
    max_rss: u64,
    stdout: String,
}

/// Runs `turbowish` with `args` to completion under limits of 2 GiB of
/// address space, 60 s of CPU and 256 MiB of output, reaping it with `wait4`
/// for its peak RSS.
fn run_limited(args: &[&OsStr], out: &Path) -> Run {
    let mut cmd = Command::new(common::bins::turbowish());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::inherit());
    // SAFETY: the closure runs in the child between fork and exec; it only
    // calls `setrlimit`, which is async-signal-safe, on plain structs.
    unsafe {
        cmd.pre_exec(|| {
            for (resource, limit) in [
                (libc::RLIMIT_AS, 2u64 << 30),
                (libc::RLIMIT_CPU, 60),
                (libc::RLIMIT_FSIZE, 256 << 20),
            ] {
                let l = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(resource, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a C struct of integers; all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our unreaped child (`Child::wait` is never
        // called); `status` and `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "wait4: {err}");
    }
    let wall = started.elapsed();
    drop(child);
    let stdout = std::fs::read(out).unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "turbowish {args:?} failed (wait status {status:#x}) after {wall:?}, {} bytes out",
        stdout.len()
    );
    Run {
        wall,
        // Linux gives it in KiB.
        max_rss: usage.ru_maxrss as u64 * 1024,
        stdout: String::from_utf8(stdout).unwrap(),
    }
}

/// Runs `retainers FILE --site SITE` (and `extra`), checking its cost.
fn retainers(file: &Path, site: &str, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec!["retainers".as_ref(), file.as_os_str()];
    args.extend(
        ["--site", site]
            .into_iter()
            .chain(extra.iter().copied())
            .map(OsStr::new),
    );
    let out = file.with_extension(format!("{site}{}.out", extra.len()));
    let r = run_limited(&args, &out);
    std::fs::remove_file(&out).unwrap();
    println!(
        "retainers --site {site} {extra:?}: {:?}, peak RSS {:.1} MiB, {} bytes out",
        r.wall,
        r.max_rss as f64 / f64::from(1 << 20),
        r.stdout.len()
    );
    assert!(r.wall < Duration::from_secs(2), "took {:?}", r.wall);
    assert!(r.max_rss < 200 << 20, "peak RSS {} MiB", r.max_rss >> 20);
    r
}

/// The `steps` of JSON path `i`.
fn steps(v: &serde_json::Value, i: usize) -> &Vec<serde_json::Value> {
    v["paths"][i]["steps"].as_array().expect("steps")
}

#[test]
fn long_lists_and_chains_print_elided_paths_fast_and_small() {
    fill_list();
    grow_chain();
    let file =
        std::env::temp_dir().join(format!("tw-retainers-list-{}.twsnap", std::process::id()));
    turbowish::snapshot_to(&file).unwrap();

    let text = retainers(&file, "fill_list", &[]).stdout;
    println!("{text}");
    assert!(text.starts_with("10000 blocks"), "{text}");
    assert!(
        text.contains("\n  [static] static retainers_list::LIST\n"),
        "the static is the root: {text}"
    );
    assert!(text.contains(" more links, all through a block"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&retainers(&file, "fill_list", &["--json"]).stdout).unwrap();
    let s = steps(&json, 0);
    assert_eq!(s[0]["via"], "static", "{s:?}");
    assert!(
        s.iter().any(|step| step["elided"].as_u64() > Some(1000)),
        "{s:?}"
    );

    let text = retainers(&file, "grow_chain", &[]).stdout;
    assert!(text.len() < 64 << 10, "{} bytes", text.len());
    assert!(
        text.contains("\n  [static] static retainers_list::CHAIN\n"),
        "{text}"
    );
    let json = retainers(&file, "grow_chain", &["--json"]).stdout;
    assert!(json.len() < 64 << 10, "{} bytes", json.len());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let elided: u64 = steps(&json, 0)
        .iter()
        .filter_map(|s| s["elided"].as_u64())
        .sum();
    assert!(
        elided > CHAIN_LINKS - 100,
        "the deepest path comes first: {json:#}"
    );
    std::fs::remove_file(&file).unwrap();
}
