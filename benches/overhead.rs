//! What TurboWish costs a service-like program, next to plain `System`,
//! jemalloc and dhat.
//!
//! One allocation-heavy workload (a 2-worker tokio runtime running 64 tasks
//! that build and drop vectors, strings, hash maps and byte buffers of 16 B to
//! 64 KiB, keep some of them across rounds and migrate between workers) is
//! timed under these global allocators:
//!
//! | variant          | allocator                                               |
//! |------------------|---------------------------------------------------------|
//! | `system`         | `std::alloc::System` (the baseline of every ratio)      |
//! | `tw-off`         | `TurboWish::system()`, `TURBOWISH_STACK=off`            |
//! | `tw-fp`          | `TurboWish::system()`, `TURBOWISH_STACK=fp`, depth 32   |
//! | `tw-sampled`     | `TurboWish::system()`, `TURBOWISH_STACK=sampled` (optional, below) |
//! | `jemalloc`       | `tikv_jemallocator::Jemalloc` (the second baseline)     |
//! | `tw-jemalloc`    | `TurboWish::new(Jemalloc)`, `TURBOWISH_STACK=off`       |
//! | `tw-jemalloc-fp` | `TurboWish::new(Jemalloc)`, `TURBOWISH_STACK=fp`        |
//! | `dhat`           | `dhat::Alloc` with a heap `Profiler` running            |
//!
//! The global allocator is fixed per binary, so this binary's allocator
//! forwards to one of them, chosen once at the first allocation from
//! `TW_BENCH_ALLOC` (`common/dispatch.rs`). Every variant runs in a child
//! process (this same executable, re-run with the variant's environment); the
//! child first checks that it runs the allocator and stack mode it was asked
//! for (dispatch rule 2), builds the runtime, runs the workload once untimed
//! (so malloc arenas, TurboWish's table and dhat's maps reach their steady
//! size), then times `iters` runs and prints the time. Process start-up is
//! never measured. The dispatch itself (one load and branch) is paid by every
//! variant, the baselines included.
//!
//! A variant marked optional runs only if this build of TurboWish knows its
//! stack mode: `sampled` is checked by name against TurboWish's settings, so
//! the row appears as soon as the mode exists; until then TurboWish warns
//! and the bench prints `overhead: skipping tw-sampled: ...` instead of a
//! figure (dispatch rule 3).
//!
//! Run: `cargo bench -p turbowish --bench overhead` (under 5 minutes on
//! 2 cores shared with other builds; dhat takes half of it).
//! `cargo bench -p turbowish --bench overhead -- --test` (or
//! `cargo test -p turbowish --bench overhead`) runs each variant once on
//! a tiny workload, in seconds, with the same checks, and checks that the
//! tracking allocators saw the work.
//!
//! Output: first criterion's usual per-variant time per workload run
//! (`overhead/system` and so on). Then, because the machine may be noisy, an
//! interleaved comparison: several rounds each run every variant back to
//! back in rotating order, and each variant's time is divided by the `system`
//! time of the same round, and the rows over jemalloc also by the `jemalloc`
//! time of the same round (what TurboWish adds to jemalloc). The table gives
//! the median of those ratios with the min-max range; 1.00 means no overhead,
//! 1.25 means the workload took 25% longer. Then the median time per run, and
//! the time each allocation (with its free) adds on average over the row's
//! baseline, from the median times and the allocation count: the figure to
//! multiply by your own service's allocation rate. Below it, figures the
//! tracking allocators counted about the workload (allocations per run, table
//! and peak sizes).

#[path = "common/dispatch.rs"]
mod dispatch;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
#[path = "common/rounds.rs"]
mod rounds;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use dispatch::Mode;
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn child_main() {
    if let Err(e) = dispatch::check_child() {
        e.exit("overhead child");
    }
    if let Err(e) = run_child() {
        eprintln!("overhead child ({:?}): {e}", dispatch::mode());
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
    // Testing mode tracks every block like a normal profile (same allocator
    // path) but writes no dhat-heap.json on drop.
    let _profiler =
        (dispatch::mode() == Mode::Dhat).then(|| dhat::Profiler::builder().testing().build());
    // The triggers' cost (README, Performance): armed only once installed.
    if std::env::var_os("TURBOWISH_ON_GROWTH").is_some() {
        turbowish::install();
    }
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

/// What the tracking allocator counted, when there is one.
enum Counts {
    None,
    TurboWish(turbowish::Stats),
    Dhat(dhat::HeapStats),
}

impl Counts {
    fn now() -> Self {
        match dispatch::mode() {
            m if m.tracks() => Counts::TurboWish(turbowish::stats()),
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
    /// `TW_BENCH_ALLOC` (see `common/dispatch.rs`).
    alloc: &'static str,
    /// `TURBOWISH_STACK` (ignored by the allocators that are not TurboWish).
    stack: &'static str,
    /// A second baseline, by name, that this row is also compared with.
    base: Option<&'static str>,
    /// Skipped, with a message, when this build of TurboWish does not know
    /// its stack mode (a mode the bench was written ahead of).
    optional: bool,
    /// Criterion's measurement time. A dhat run takes seconds, so it gets
    /// more: one or two runs per sample (criterion warns when it is one).
    measure_secs: u64,
}

impl Variant {
    const fn new(name: &'static str, alloc: &'static str, stack: &'static str) -> Variant {
        Variant {
            name,
            alloc,
            stack,
            base: None,
            optional: false,
            measure_secs: 3,
        }
    }

    const fn vs(mut self, base: &'static str) -> Variant {
        self.base = Some(base);
        self
    }

    const fn optional(mut self) -> Variant {
        self.optional = true;
        self
    }

    const fn measure_secs(mut self, secs: u64) -> Variant {
        self.measure_secs = secs;
        self
    }
}

/// The first is the baseline of every ratio.
const VARIANTS: [Variant; 8] = [
    Variant::new("system", "system", "off"),
    Variant::new("tw-off", "turbowish", "off"),
    Variant::new("tw-fp", "turbowish", "fp"),
    Variant::new("tw-sampled", "turbowish", "sampled").optional(),
    Variant::new("jemalloc", "jemalloc", "off"),
    Variant::new("tw-jemalloc", "turbowish-jemalloc", "off").vs("jemalloc"),
    Variant::new("tw-jemalloc-fp", "turbowish-jemalloc", "fp").vs("jemalloc"),
    Variant::new("dhat", "dhat", "off").measure_secs(30),
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

/// Runs `v` in a child process for `iters` timed workload runs. `Err` when
/// the child does not support the variant's stack mode, with the reason.
fn run_variant(v: &Variant, iters: u64, tiny: bool) -> Result<Report, String> {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find this executable to re-run it: {e}"));
    let mut cmd = Command::new(exe);
    dispatch::configure(&mut cmd, v.alloc, v.stack);
    let out = cmd
        .env("TW_BENCH_ITERS", iters.to_string())
        .env("TW_BENCH_TINY", if tiny { "1" } else { "0" })
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start the {} child: {e}", v.name));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(dispatch::UNSUPPORTED_EXIT) {
        return Err(stderr.trim().to_owned());
    }
    if !out.status.success() || dispatch::rejected_setting(&stderr).is_some() {
        panic!(
            "the {} child failed ({}):\n{stdout}{stderr}",
            v.name, out.status
        );
    }
    Ok(parse_report(&stdout)
        .unwrap_or_else(|| panic!("the {} child printed no time:\n{stdout}", v.name)))
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

/// The variants this build supports: an optional one whose stack mode is
/// unknown is left out, with a message (never a figure).
fn usable_variants() -> Vec<&'static Variant> {
    VARIANTS
        .iter()
        .filter(|v| {
            if !v.optional {
                return true;
            }
            let probe = run_variant(v, 1, true);
            if let Err(why) = &probe {
                println!("overhead: skipping {}: {why}", v.name);
            }
            probe.is_ok()
        })
        .collect()
}

fn bench_variants(group: &mut BenchmarkGroup<'_, WallTime>, variants: &[&Variant], tiny: bool) {
    for v in variants {
        group.measurement_time(Duration::from_secs(v.measure_secs));
        group.bench_function(v.name, |b| {
            b.iter_custom(|iters| {
                let report = run_variant(v, iters, tiny);
                report
                    .unwrap_or_else(|why| panic!("{}: {why}", v.name))
                    .elapsed
            })
        });
    }
}

/// Runs every variant once per round, in rotating order, and prints the
/// ratios to the baselines of the same round.
fn interleaved(variants: &[&Variant]) {
    let mut infos = vec![String::new(); variants.len()];
    let mut allocs = None;
    let ms = rounds::interleave(ROUNDS, variants.len(), |i| {
        let v = variants[i];
        let r =
            run_variant(v, RUNS_PER_CHILD, false).unwrap_or_else(|why| panic!("{}: {why}", v.name));
        infos[i] = r.info;
        allocs = allocs.or(r.allocs);
        r.elapsed.as_secs_f64() * 1e3 / RUNS_PER_CHILD as f64
    });
    print_table(variants, &ms, allocs);
    for (v, info) in variants.iter().zip(infos) {
        if !info.is_empty() {
            println!("  {:<14} {info}", v.name);
        }
    }
}

/// One row per variant: ms per run, the ratios, and what each allocation
/// (with its free) adds over the row's own baseline: the figure that
/// carries over to workloads with other allocation rates.
fn print_table(variants: &[&Variant], ms: &[Vec<f64>], allocs: Option<u64>) {
    let base_of = |name: &str| variants.iter().position(|v| v.name == name);
    let second = variants.iter().find_map(|v| v.base).unwrap_or("-");
    println!(
        "\nallocator overhead: ratio of the workload's time to the baselines' of the same \
         round (median and min-max of {ROUNDS} interleaved rounds, {RUNS_PER_CHILD} runs each)"
    );
    println!(
        "  {:<14} {:<18} {:<18} {:>8}  added per allocation",
        "variant",
        format!("vs {}", variants[0].name),
        format!("vs {second}"),
        "ms/run"
    );
    for (i, v) in variants.iter().enumerate() {
        let b = v.base.and_then(base_of);
        let vs_first = if i == 0 {
            String::new()
        } else {
            rounds::ratio_cell(&rounds::ratios(&ms[i], &ms[0]))
        };
        let vs_second = b.map_or(String::new(), |b| {
            rounds::ratio_cell(&rounds::ratios(&ms[i], &ms[b]))
        });
        let (med, _, _) = rounds::summary(&ms[i]);
        let b = b.unwrap_or(0);
        let added = match allocs {
            Some(n) if i != b && n > 0 => {
                let (base_ms, _, _) = rounds::summary(&ms[b]);
                let ns = (med - base_ms) * 1e6 / n as f64;
                format!("{ns:+.0} ns (vs {})", variants[b].name)
            }
            _ => String::new(),
        };
        println!(
            "  {:<14} {vs_first:<18} {vs_second:<18} {med:8.1}  {added}",
            v.name
        );
    }
}

fn main() {
    if std::env::var_os(dispatch::CHILD_VAR).is_some() {
        return child_main();
    }
    let args: Vec<String> = std::env::args().collect();
    let tiny = rounds::test_mode(&args);
    let listing = args.iter().any(|a| a == "--list");
    let variants: Vec<&Variant> = if listing {
        VARIANTS.iter().collect()
    } else {
        usable_variants()
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("overhead");
        // Every sample is a process: equal-sized samples keep the count low.
        group.sampling_mode(SamplingMode::Flat);
        bench_variants(&mut group, &variants, tiny);
        group.finish();
    }
    c.final_summary();
    if !tiny && !listing {
        interleaved(&variants);
    }
}
