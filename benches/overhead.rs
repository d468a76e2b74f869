//! What TurboWish costs a service-like program, next to plain `System` and to
//! dhat.
//!
//! One allocation-heavy workload (a 2-worker tokio runtime running 64 tasks
//! that build and drop vectors, strings, hash maps and byte buffers of 16 B to
//! 64 KiB, keep some of them across rounds and migrate between workers) is
//! timed under four global allocators:
//!
//! | variant  | allocator                                        |
//! |----------|--------------------------------------------------|
//! | `system` | `std::alloc::System` (the baseline)              |
//! | `tw-off` | `TurboWish`, `TURBOWISH_STACK=off`               |
//! | `tw-fp`  | `TurboWish`, `TURBOWISH_STACK=fp`, depth 32      |
//! | `dhat`   | `dhat::Alloc` with a heap `Profiler` running     |
//!
//! The global allocator is fixed per binary, so this binary's allocator
//! (`Dispatch`) forwards to one of them, chosen once at the first allocation
//! from `TW_BENCH_ALLOC`. Every variant runs in a child process (this same
//! executable, re-run with the variant's environment); the child builds the
//! runtime, runs the workload once untimed (so malloc arenas, TurboWish's
//! table and dhat's maps reach their steady size), then times `iters` runs and
//! prints the time. Process start-up is never measured. The dispatch itself
//! (one load and branch) is paid by all four variants, the baseline included.
//!
//! Run: `cargo bench -p turbowish --bench overhead` (about 3 minutes on
//! 2 cores). `cargo bench -p turbowish --bench overhead -- --test` (or
//! `cargo test -p turbowish --bench overhead`) runs each variant once on
//! a tiny workload, in seconds, and checks that the child really used the
//! allocator it was asked for and that the tracking allocators saw the work.
//!
//! Output: first criterion's usual per-variant time per workload run
//! (`overhead/system` and so on). Then, because the machine may be noisy, an
//! interleaved comparison: several rounds each run all four variants back to
//! back in rotating order, and each variant's time is divided by the `system`
//! time of the same round. The table gives the median of those ratios with the
//! min-max range; 1.00 means no overhead, 1.25 means the workload took 25%
//! longer. Then the median time per run, and the time each allocation (with
//! its free) adds on average, from the median times and the allocation count:
//! the figure to multiply by your own service's allocation rate. Below it,
//! figures the tracking allocators counted about the workload (allocations
//! per run, table and peak sizes).

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};
use turbowish::{StackMode, TurboWish};

// ---------------------------------------------------------------------------
// The dispatching global allocator.

/// Which allocator this process uses. `Unset` only until the first allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Unset = 0,
    System = 1,
    TurboWish = 2,
    Dhat = 3,
}

/// The mode, as a `Mode` discriminant. Written once (possibly by two threads
/// racing to the first allocation, which compute the same value).
static MODE: AtomicU8 = AtomicU8::new(Mode::Unset as u8);
static TURBOWISH: TurboWish = TurboWish::system();
static DHAT: dhat::Alloc = dhat::Alloc;

/// Forwards every call to the allocator named by `TW_BENCH_ALLOC`
/// (`system`, the default; `turbowish`; `dhat`).
struct Dispatch;

#[global_allocator]
static ALLOC: Dispatch = Dispatch;

#[inline(always)]
fn mode() -> Mode {
    match MODE.load(Relaxed) {
        1 => Mode::System,
        2 => Mode::TurboWish,
        3 => Mode::Dhat,
        _ => choose_mode(),
    }
}

/// Reads `TW_BENCH_ALLOC` with `libc::getenv`: `std::env` takes a lock and
/// allocates, neither of which an allocator may do.
#[cold]
fn choose_mode() -> Mode {
    // SAFETY: the name is NUL-terminated; getenv neither allocates nor locks
    // in glibc, and nothing in this program calls setenv.
    let p = unsafe { libc::getenv(c"TW_BENCH_ALLOC".as_ptr()) };
    let value = if p.is_null() {
        &b""[..]
    } else {
        // SAFETY: getenv returned a NUL-terminated string in the environment.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes()
    };
    let m = match value {
        b"turbowish" => Mode::TurboWish,
        b"dhat" => Mode::Dhat,
        _ => Mode::System, // the child rejects unknown names (`check_mode`)
    };
    MODE.store(m as u8, Relaxed);
    m
}

// SAFETY: each method passes its arguments unchanged to one allocator and
// returns its result unchanged. The mode is fixed before the first block is
// allocated and never changes, so every block is freed or resized by the
// allocator that made it.
unsafe impl GlobalAlloc for Dispatch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe {
            match mode() {
                Mode::TurboWish => TURBOWISH.alloc(layout),
                Mode::Dhat => DHAT.alloc(layout),
                _ => System.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe {
            match mode() {
                Mode::TurboWish => TURBOWISH.alloc_zeroed(layout),
                Mode::Dhat => DHAT.alloc_zeroed(layout),
                _ => System.alloc_zeroed(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (the mode never changes).
        unsafe {
            match mode() {
                Mode::TurboWish => TURBOWISH.dealloc(ptr, layout),
                Mode::Dhat => DHAT.dealloc(ptr, layout),
                _ => System.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from the same allocator (the mode never changes).
        unsafe {
            match mode() {
                Mode::TurboWish => TURBOWISH.realloc(ptr, layout, new_size),
                Mode::Dhat => DHAT.realloc(ptr, layout, new_size),
                _ => System.realloc(ptr, layout, new_size),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The workload.

/// How much work one run does.
#[derive(Debug, Clone, Copy)]
struct Workload {
    tasks: u64,
    rounds: u64,
}

/// About 100 ms per run under `System` on a 2-core machine.
const FULL: Workload = Workload {
    tasks: 64,
    rounds: 300,
};
/// For test mode: just enough to exercise every path.
const TINY: Workload = Workload {
    tasks: 4,
    rounds: 8,
};
/// Buffers each task keeps across rounds, like a per-connection cache.
const KEPT: usize = 16;
/// Rounds between yields, so tasks move between workers and free there.
const YIELD_EVERY: u64 = 4;

/// xorshift64: cheap and deterministic, so every variant does the same work.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

impl Workload {
    /// Runs all tasks to completion on the current runtime.
    async fn run(self) -> u64 {
        let handles: Vec<_> = (0..self.tasks)
            .map(|id| tokio::spawn(task(id, self.rounds)))
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum = sum.wrapping_add(h.await.unwrap_or_else(|e| panic!("task failed: {e}")));
        }
        black_box(sum)
    }
}

async fn task(id: u64, rounds: u64) -> u64 {
    let mut rng = Rng::new(id + 1);
    let mut kept: VecDeque<Box<[u8]>> = VecDeque::with_capacity(KEPT);
    let mut sum = 0u64;
    for round in 0..rounds {
        sum = sum.wrapping_add(one_round(&mut rng, &mut kept, id, round));
        if round % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
    }
    sum
}

/// One request's worth of allocations; returns a checksum so none is elided.
fn one_round(rng: &mut Rng, kept: &mut VecDeque<Box<[u8]>>, id: u64, round: u64) -> u64 {
    let numbers = filled_vec(rng);
    let text = build_string(rng, id, round);
    let map = build_map(rng, id);
    let grown = grow_by_push(rng);
    let buf = mixed_buffer(rng);
    // XOR for the random words: a sum would overflow (and panic in debug).
    let sum = numbers.iter().fold(0, |a, x| a ^ x)
        ^ text.len() as u64
        ^ map.values().map(|s| s.len() as u64).sum::<u64>()
        ^ grown.len() as u64
        ^ u64::from(buf[buf.len() - 1]);
    // Keep some buffers for a while: they are freed rounds later, often by
    // the other worker.
    if kept.len() == KEPT {
        kept.pop_front();
    }
    if rng.next().is_multiple_of(2) {
        kept.push_back(buf);
    }
    black_box((numbers, text, map, grown));
    sum
}

fn filled_vec(rng: &mut Rng) -> Vec<u64> {
    let len = rng.range(1, 512) as usize;
    (0..len as u64).map(|i| i ^ rng.next()).collect()
}

fn build_string(rng: &mut Rng, id: u64, round: u64) -> String {
    let mut s = format!("GET /users/{id}/items/{round}?q={:x}", rng.next());
    for _ in 0..rng.range(0, 8) {
        s.push_str("&tag=");
        s.push_str(&rng.next().to_string());
    }
    black_box(s)
}

fn build_map(rng: &mut Rng, id: u64) -> HashMap<u64, String> {
    let n = rng.range(24, 64);
    let mut map = HashMap::new();
    for _ in 0..n {
        let key = rng.next();
        map.insert(key, format!("user-{id}-{key:x}"));
    }
    map
}

/// A `Vec` grown one push at a time: a chain of `realloc`s.
fn grow_by_push(rng: &mut Rng) -> Vec<u32> {
    let mut v = Vec::new();
    for i in 0..rng.range(8, 2048) {
        v.push(i as u32);
    }
    v
}

/// 16 B to 64 KiB, log-uniform, every byte written.
fn mixed_buffer(rng: &mut Rng) -> Box<[u8]> {
    let bits = rng.range(4, 16);
    let len = (1u64 << bits) + rng.range(0, 1 << bits);
    vec![(len as u8) | 1; len as usize].into_boxed_slice()
}

// ---------------------------------------------------------------------------
// The child: runs the workload under one allocator and reports.

/// Set (to anything) in a child's environment.
const CHILD_VAR: &str = "TW_BENCH_CHILD";

fn child_main() {
    if let Err(e) = run_child() {
        eprintln!("overhead child ({:?}): {e}", mode());
        std::process::exit(1);
    }
}

fn run_child() -> Result<(), String> {
    let iters: u64 = env_parse("TW_BENCH_ITERS")?;
    let work = if env_parse::<u8>("TW_BENCH_TINY")? == 1 {
        TINY
    } else {
        FULL
    };
    check_mode()?;
    // Testing mode tracks every block like a normal profile (same allocator
    // path) but writes no dhat-heap.json on drop.
    let _profiler = (mode() == Mode::Dhat).then(|| dhat::Profiler::builder().testing().build());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| format!("building the runtime: {e}"))?;
    rt.block_on(work.run()); // warm-up, untimed
    let before = Counts::now();
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(work.run());
    }
    let elapsed = start.elapsed();
    let after = Counts::now();
    println!("elapsed_ns {}", elapsed.as_nanos());
    println!("info {}", after.describe(&before, iters, elapsed)?);
    if let Some(n) = after.blocks_since(&before) {
        println!("allocs_per_run {}", n / iters.max(1));
    }
    Ok(())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<T, String> {
    let v = std::env::var(name).map_err(|e| format!("{name}: {e}"))?;
    v.parse().map_err(|_| format!("{name}={v:?} is not valid"))
}

/// Fails unless the allocator and TurboWish settings are those requested.
fn check_mode() -> Result<(), String> {
    let want = std::env::var("TW_BENCH_ALLOC").unwrap_or_default();
    let got = mode();
    let expected = match want.as_str() {
        "system" => Mode::System,
        "turbowish" => Mode::TurboWish,
        "dhat" => Mode::Dhat,
        other => return Err(format!("unknown TW_BENCH_ALLOC={other:?}")),
    };
    if got != expected {
        return Err(format!("asked for {want}, dispatching to {got:?}"));
    }
    if got == Mode::TurboWish {
        let stack = turbowish::settings().stack;
        let asked = std::env::var("TURBOWISH_STACK").unwrap_or_default();
        let ok = matches!(
            (asked.as_str(), stack),
            ("off", StackMode::Off) | ("fp", StackMode::FramePointer)
        );
        if !ok {
            return Err(format!("TURBOWISH_STACK={asked:?} but mode is {stack:?}"));
        }
    }
    Ok(())
}

/// What the tracking allocator counted, when there is one.
enum Counts {
    None,
    TurboWish(turbowish::Stats),
    Dhat(dhat::HeapStats),
}

impl Counts {
    fn now() -> Self {
        match mode() {
            Mode::TurboWish => Counts::TurboWish(turbowish::stats()),
            Mode::Dhat => Counts::Dhat(dhat::HeapStats::get()),
            _ => Counts::None,
        }
    }

    /// Blocks allocated between `before` and now, if this allocator counts.
    fn blocks_since(&self, before: &Counts) -> Option<u64> {
        match (before, self) {
            (Counts::TurboWish(b), Counts::TurboWish(a)) => Some(a.total_blocks - b.total_blocks),
            (Counts::Dhat(b), Counts::Dhat(a)) => Some(a.total_blocks - b.total_blocks),
            _ => None,
        }
    }

    /// One line about the timed runs; fails if nothing was tracked.
    fn describe(&self, before: &Counts, iters: u64, elapsed: Duration) -> Result<String, String> {
        let (blocks, extra) = match (before, self) {
            (Counts::TurboWish(b), Counts::TurboWish(a)) => (
                a.total_blocks - b.total_blocks,
                format!(
                    "table {} KiB, peak live {} MiB, {} stacks",
                    a.table_bytes >> 10,
                    a.peak_live_bytes >> 20,
                    a.stacks
                ),
            ),
            (Counts::Dhat(b), Counts::Dhat(a)) => (
                a.total_blocks - b.total_blocks,
                format!("peak {} blocks, {} MiB", a.max_blocks, a.max_bytes >> 20),
            ),
            _ => return Ok(String::new()),
        };
        if blocks == 0 {
            return Err("the allocator tracked no allocation".into());
        }
        let per_sec = blocks as f64 / elapsed.as_secs_f64() / 1e6;
        let per_run = blocks / iters.max(1);
        Ok(format!(
            "{per_run} allocs/run, {per_sec:.1} M allocs/s; {extra}"
        ))
    }
}

// ---------------------------------------------------------------------------
// The parent: criterion, then the interleaved comparison.

struct Variant {
    name: &'static str,
    alloc: &'static str,
    stack: &'static str,
    /// Criterion's measurement time. A dhat run takes seconds, so it gets
    /// more: one or two runs per sample (criterion warns when it is one).
    measure_secs: u64,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "system",
        alloc: "system",
        stack: "off",
        measure_secs: 5,
    },
    Variant {
        name: "tw-off",
        alloc: "turbowish",
        stack: "off",
        measure_secs: 5,
    },
    Variant {
        name: "tw-fp",
        alloc: "turbowish",
        stack: "fp",
        measure_secs: 5,
    },
    Variant {
        name: "dhat",
        alloc: "dhat",
        stack: "off",
        measure_secs: 30,
    },
];

/// Interleaved rounds, and timed workload runs per child in each.
const ROUNDS: usize = 7;
const RUNS_PER_CHILD: u64 = 2;

/// What one child reported.
struct Report {
    elapsed: Duration,
    info: String,
    /// Allocations per workload run, from the tracking allocators.
    allocs: Option<u64>,
}

/// Runs `v` in a child process for `iters` timed workload runs.
fn run_variant(v: &Variant, iters: u64, tiny: bool) -> Report {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find this executable to re-run it: {e}"));
    let out = Command::new(exe)
        .env(CHILD_VAR, "1")
        .env("TW_BENCH_ALLOC", v.alloc)
        .env("TURBOWISH_STACK", v.stack)
        .env_remove("TURBOWISH_DEPTH")
        .env("TW_BENCH_ITERS", iters.to_string())
        .env("TW_BENCH_TINY", if tiny { "1" } else { "0" })
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start the {} child: {e}", v.name));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "the {} child failed ({}):\n{}{}",
            v.name,
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_report(&stdout)
        .unwrap_or_else(|| panic!("the {} child printed no time:\n{stdout}", v.name))
}

fn parse_report(stdout: &str) -> Option<Report> {
    let nanos = stdout.lines().find_map(|l| l.strip_prefix("elapsed_ns "))?;
    let info = stdout.lines().find_map(|l| l.strip_prefix("info "));
    let allocs = stdout
        .lines()
        .find_map(|l| l.strip_prefix("allocs_per_run "));
    Some(Report {
        elapsed: Duration::from_nanos(nanos.trim().parse().ok()?),
        info: info.unwrap_or("").to_owned(),
        allocs: allocs.and_then(|a| a.trim().parse().ok()),
    })
}

fn bench_variants(group: &mut BenchmarkGroup<'_, WallTime>, tiny: bool) {
    for v in &VARIANTS {
        group.measurement_time(Duration::from_secs(v.measure_secs));
        group.bench_function(v.name, |b| {
            b.iter_custom(|iters| run_variant(v, iters, tiny).elapsed)
        });
    }
}

/// Runs every variant once per round, in rotating order, and prints each
/// variant's time as a ratio to the same round's `system` time.
fn interleaved() {
    let n = VARIANTS.len();
    let mut ratios = vec![Vec::with_capacity(ROUNDS); n];
    let mut times = vec![Vec::with_capacity(ROUNDS); n];
    let mut infos = vec![String::new(); n];
    let mut allocs = None;
    for round in 0..ROUNDS {
        let mut elapsed = vec![Duration::ZERO; n];
        for k in 0..n {
            let i = (round + k) % n;
            let r = run_variant(&VARIANTS[i], RUNS_PER_CHILD, false);
            elapsed[i] = r.elapsed / RUNS_PER_CHILD as u32;
            infos[i] = r.info;
            allocs = allocs.or(r.allocs);
        }
        for i in 0..n {
            ratios[i].push(elapsed[i].as_secs_f64() / elapsed[0].as_secs_f64());
            times[i].push(elapsed[i].as_secs_f64() * 1e3);
        }
    }
    print_table(&mut ratios, &mut times, &infos, allocs);
}

fn print_table(
    ratios: &mut [Vec<f64>],
    times: &mut [Vec<f64>],
    infos: &[String],
    allocs: Option<u64>,
) {
    println!(
        "\nallocator overhead, ratio to System (median of {ROUNDS} interleaved rounds, \
         {RUNS_PER_CHILD} runs each)"
    );
    let (system_ms, _, _) = summary(&mut times[0].clone());
    for (i, v) in VARIANTS.iter().enumerate() {
        let (med, lo, hi) = summary(&mut ratios[i]);
        let (ms, _, _) = summary(&mut times[i]);
        let range = if i == 0 {
            String::new()
        } else {
            format!("({}-{})", ratio(lo), ratio(hi))
        };
        // What each allocation (with its free) costs on top of System: the
        // figure that carries over to workloads with other allocation rates.
        let extra = match allocs {
            Some(n) if i > 0 && n > 0 => {
                format!(
                    "  {:+.0} ns per allocation",
                    (ms - system_ms) * 1e6 / n as f64
                )
            }
            _ => String::new(),
        };
        println!(
            "  {:<7} {:>5}  {range:<13} {ms:7.1} ms/run{extra}",
            v.name,
            ratio(med)
        );
    }
    for (v, info) in VARIANTS.iter().zip(infos) {
        if !info.is_empty() {
            println!("  {:<7} {info}", v.name);
        }
    }
}

/// Median, min and max (sorts in place).
fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

/// Two decimals below 10x, one above, like "1.07" and "12.4".
fn ratio(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// Criterion's own rule: `--test`, or no `--bench` (as `cargo test` runs us).
fn test_mode(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--test") || !has("--bench")
}

fn main() {
    if std::env::var_os(CHILD_VAR).is_some() {
        return child_main();
    }
    let args: Vec<String> = std::env::args().collect();
    let tiny = test_mode(&args);
    let listing = args.iter().any(|a| a == "--list");
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("overhead");
        // Every sample is a process: equal-sized samples keep the count low.
        group.sampling_mode(SamplingMode::Flat);
        bench_variants(&mut group, tiny);
        group.finish();
    }
    c.final_summary();
    if !tiny && !listing {
        interleaved();
    }
}
