//! What the task wrapper ([`turbowish::traced`]) adds to every poll.
//!
//! # The workload
//!
//! A ping-pong: two futures on a single-threaded executor that wake each
//! other in turn, so that every poll of either is one pass of the ball and
//! the run is nothing but polls and wake-ups. It runs on two executors:
//!
//! | executor    | the two futures                                          |
//! |-------------|----------------------------------------------------------|
//! | `localpool` | `futures::executor::LocalPool`; two hand-written futures sharing a turn counter, each waking the other with `wake_by_ref` (no allocation, no atomic read-modify-write of its own: the cheapest poll an executor can make, so the wrapper's share is as large as it gets) |
//! | `tokio`     | a tokio `current_thread` runtime; two spawned tasks bouncing a number through two `tokio::sync::mpsc` channels of capacity 1 (a realistic poll) |
//!
//! Each run is [`FULL_POLLS`] (about one million) polls. Every variant runs
//! twice: `plain`, the futures spawned as they are, and `traced`, each
//! wrapped in [`turbowish::traced`] (tokio: spawned with
//! [`turbowish::spawn`], which is `tokio::spawn(traced(f))`). The
//! futures are wrapped in a counting future in both variants (inside the
//! traced wrapper), which counts every poll exactly; the per-poll figures
//! divide by that count, not by the nominal one. This binary's global
//! allocator is [`TurboWish`] in both variants, so the difference between
//! them is the wrapper alone: registering the task when it is made, and on
//! each poll setting the thread's task context and updating the task's
//! registry row (phase, poll count, coarse clock read).
//!
//! A run is timed from just after the two futures are spawned until both
//! have completed; building the executor is not timed.
//!
//! # What is printed
//!
//! First criterion's usual estimates, one benchmark per executor and
//! variant (`poll/localpool-plain` and so on), each iteration being one whole
//! run of about a million polls (so `time` in ms reads as ns per poll, and
//! `thrpt` is polls per second). Because criterion measures the variants one
//! after the other, and a shared machine drifts, the comparison is then taken
//! from [`ROUNDS`] interleaved rounds, each running plain and traced back to
//! back on both executors (the order alternating between rounds). The summary
//! table gives, per executor, the median over the rounds (with the min-max
//! range) of: ns per poll plain and traced, the ratio traced/plain of the same
//! round, and the nanoseconds the wrapper added per poll, `traced - plain` of
//! the same round. The target: at most 50 ns added per poll.
//!
//! Before anything is timed each variant is run once with checks on: the
//! traced variant must show, from inside the last poll, exactly one task in
//! [`turbowish::tasks`] being polled, with as many polls as counted;
//! the plain variant none.
//!
//! # Running
//!
//! `cargo bench -p turbowish --bench poll` (about 30 seconds on two
//! cores once built). `cargo test -p turbowish --bench poll` (or
//! `cargo bench ... -- --test`) runs every variant once on [`TEST_POLLS`]
//! polls, with the checks on, and prints the table from one round (its
//! figures are not meaningful: the crate is not optimized under `cargo
//! test`), in about a second.

use criterion::{Criterion, SamplingMode, Throughput};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use turbowish::{TaskState, TurboWish, traced};

#[global_allocator]
static A: TurboWish = TurboWish::system();

/// Polls per run (the two futures together).
const FULL_POLLS: u64 = 1_000_000;
/// Polls per run in test mode.
const TEST_POLLS: u64 = 10_000;
/// Interleaved rounds (full run).
const ROUNDS: usize = 21;
/// The target for what the wrapper adds per poll.
const TARGET_NS: f64 = 50.0;

// ---------------------------------------------------------------------------
// Counting polls.

/// Polls of the two futures of the current run.
static POLLS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Counts the polls of `inner` in `POLLS[who]` and, when `check` is set,
/// checks from inside its last poll that the traced wrapper is (or is not)
/// around it.
struct Counted<F> {
    inner: F,
    who: usize,
    check: Option<Wrap>,
}

impl<F> Counted<F> {
    fn new(inner: F, who: usize, check: Option<Wrap>) -> Self {
        Counted { inner, who, check }
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is pinned structurally: it is never moved out of a
        // pinned `Counted`, and is dropped in place. The other fields are
        // `Copy` and only read.
        let this = unsafe { self.get_unchecked_mut() };
        // One thread polls both futures: a plain load and store (no locked
        // instruction) is exact, and costs both variants the same.
        let n = POLLS[this.who].load(Relaxed) + 1;
        POLLS[this.who].store(n, Relaxed);
        // SAFETY: see above; `inner` is pinned because `self` is.
        let result = unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        if result.is_ready()
            && let Some(wrap) = this.check
        {
            check_wrapper(wrap, n);
        }
        result
    }
}

/// Fails unless the task registry agrees with `wrap`, from inside a poll
/// that is the `polls`-th of its future.
fn check_wrapper(wrap: Wrap, polls: u64) {
    let running: Vec<_> = turbowish::tasks()
        .into_iter()
        .filter(|t| t.state == TaskState::Running)
        .collect();
    match wrap {
        Wrap::Plain => assert!(
            running.is_empty(),
            "plain futures, but the registry shows a traced task being polled: {running:?}"
        ),
        Wrap::Traced => {
            assert_eq!(running.len(), 1, "traced tasks being polled: {running:?}");
            assert_eq!(
                running[0].polls, polls,
                "the wrapper counted other polls than the counting future"
            );
            assert_ne!(turbowish::current_task(), 0, "no task context set");
        }
    }
}

// ---------------------------------------------------------------------------
// The workloads.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exec {
    LocalPool,
    Tokio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrap {
    Plain,
    Traced,
}

const EXECS: [Exec; 2] = [Exec::LocalPool, Exec::Tokio];

impl Exec {
    fn name(self) -> &'static str {
        match self {
            Exec::LocalPool => "localpool",
            Exec::Tokio => "tokio",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Exec::LocalPool => "futures LocalPool, wake_by_ref",
            Exec::Tokio => "tokio current_thread, mpsc(1)",
        }
    }
}

impl Wrap {
    fn name(self) -> &'static str {
        match self {
            Wrap::Plain => "plain",
            Wrap::Traced => "traced",
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Run {
    elapsed: Duration,
    polls: u64,
}

impl Run {
    fn ns_per_poll(self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.polls as f64
    }
}

/// What the executors need, made once.
struct Executors {
    tokio: tokio::runtime::Runtime,
}

impl Executors {
    fn new() -> Self {
        Executors {
            tokio: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap_or_else(|e| panic!("building the tokio runtime: {e}")),
        }
    }

    /// Runs the ping-pong for about `polls` polls.
    fn run(&self, exec: Exec, wrap: Wrap, polls: u64, check: bool) -> Run {
        for p in &POLLS {
            p.store(0, Relaxed);
        }
        let check = check.then_some(wrap);
        let elapsed = match exec {
            Exec::LocalPool => local_pool(wrap, polls, check),
            Exec::Tokio => self.tokio(wrap, polls, check),
        };
        let polls = POLLS[0].load(Relaxed) + POLLS[1].load(Relaxed);
        assert!(polls > 0, "nothing was polled");
        Run { elapsed, polls }
    }

    fn tokio(&self, wrap: Wrap, polls: u64, check: Option<Wrap>) -> Duration {
        // Each round trip is one poll of each task.
        let rounds = polls / 2;
        self.tokio.block_on(async move {
            let (to_b, mut from_a) = tokio::sync::mpsc::channel::<u64>(1);
            let (to_a, mut from_b) = tokio::sync::mpsc::channel::<u64>(1);
            let a = Counted::new(
                async move {
                    let mut v = 0;
                    for _ in 0..rounds {
                        to_b.send(v).await.expect("b is gone");
                        v = from_b.recv().await.expect("b is gone");
                    }
                    assert_eq!(v, rounds);
                },
                0,
                check,
            );
            let b = Counted::new(
                async move {
                    while let Some(v) = from_a.recv().await {
                        to_a.send(v + 1).await.expect("a is gone");
                    }
                },
                1,
                check,
            );
            let (ha, hb) = match wrap {
                Wrap::Plain => (tokio::spawn(a), tokio::spawn(b)),
                Wrap::Traced => (turbowish::spawn(a), turbowish::spawn(b)),
            };
            // Nothing has run yet: the tasks start when this future waits.
            let started = Instant::now();
            ha.await.expect("task a failed");
            hb.await.expect("task b failed");
            started.elapsed()
        })
    }
}

/// The state two [`Player`]s share.
struct Court {
    /// Passes made; even: player 0 to play, odd: player 1.
    turn: Cell<u64>,
    /// Passes to make.
    limit: u64,
    wakers: [RefCell<Option<Waker>>; 2],
}

/// One side of the `localpool` ping-pong: each poll makes one pass when it
/// is its turn, wakes the other side and waits.
struct Player {
    court: Rc<Court>,
    me: usize,
}

impl Future for Player {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let court = &*self.court;
        let wake_other = || {
            if let Some(w) = &*court.wakers[1 - self.me].borrow() {
                w.wake_by_ref();
            }
        };
        let turn = court.turn.get();
        if turn >= court.limit {
            wake_other(); // so that it sees the end too
            return Poll::Ready(());
        }
        if turn % 2 == self.me as u64 {
            court.turn.set(turn + 1);
            wake_other();
        }
        let mut mine = court.wakers[self.me].borrow_mut();
        if !mine.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *mine = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

fn local_pool(wrap: Wrap, polls: u64, check: Option<Wrap>) -> Duration {
    let court = Rc::new(Court {
        turn: Cell::new(0),
        // Each player's last poll makes no pass.
        limit: polls.saturating_sub(2),
        wakers: Default::default(),
    });
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    for me in 0..2 {
        let player = Counted::new(
            Player {
                court: court.clone(),
                me,
            },
            me,
            check,
        );
        let spawned = match wrap {
            Wrap::Plain => spawner.spawn_local(player),
            Wrap::Traced => spawner.spawn_local(traced(player)),
        };
        spawned.unwrap_or_else(|e| panic!("spawning: {e}"));
    }
    let started = Instant::now();
    pool.run();
    let elapsed = started.elapsed();
    assert_eq!(court.turn.get(), court.limit, "the ping-pong stopped early");
    elapsed
}

// ---------------------------------------------------------------------------
// The interleaved comparison and the summary.

/// Per-round figures of one executor.
#[derive(Default)]
struct Series {
    plain_ns: Vec<f64>,
    traced_ns: Vec<f64>,
    ratio: Vec<f64>,
    added_ns: Vec<f64>,
    plain_polls: u64,
    traced_polls: u64,
}

fn interleaved(ex: &Executors, rounds: usize, polls: u64, tiny: bool) -> Vec<Series> {
    let mut out: Vec<Series> = EXECS.iter().map(|_| Series::default()).collect();
    for round in 0..rounds {
        for (e, &exec) in EXECS.iter().enumerate() {
            let run = |wrap| ex.run(exec, wrap, polls, tiny);
            let (plain, traced) = if round % 2 == 0 {
                let p = run(Wrap::Plain);
                (p, run(Wrap::Traced))
            } else {
                let t = run(Wrap::Traced);
                (run(Wrap::Plain), t)
            };
            let s = &mut out[e];
            let (p, t) = (plain.ns_per_poll(), traced.ns_per_poll());
            s.plain_ns.push(p);
            s.traced_ns.push(t);
            s.ratio.push(t / p);
            s.added_ns.push(t - p);
            s.plain_polls = plain.polls;
            s.traced_polls = traced.polls;
        }
    }
    out
}

/// Median, min and max (sorts in place).
fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

/// `/proc/loadavg`'s 1, 5 and 15 minute figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn print_summary(series: &mut [Series], rounds: usize, polls: u64, tiny: bool) {
    println!();
    println!(
        "turbowish-alloc poll benchmark: what the task wrapper adds per poll{}",
        if tiny {
            " (TEST MODE: tiny runs, unoptimized, figures not meaningful)"
        } else {
            ""
        }
    );
    println!(
        "two futures ping-ponging, {polls} polls per run; median (min-max) of {rounds} \
         interleaved round(s), plain and traced back to back; global allocator TurboWish in both"
    );
    println!("load average at the end: {}", load_average());
    println!();
    println!(
        "{:<10} {:<31} {:>22} {:>22} {:>19} {:>24}  {:<14} verdict",
        "executor",
        "workload",
        "plain ns/poll",
        "traced ns/poll",
        "traced/plain",
        "added ns/poll",
        "target"
    );
    for (exec, s) in EXECS.iter().zip(series.iter_mut()) {
        let (p, p_lo, p_hi) = summary(&mut s.plain_ns);
        let (t, t_lo, t_hi) = summary(&mut s.traced_ns);
        let (r, r_lo, r_hi) = summary(&mut s.ratio);
        let (a, a_lo, a_hi) = summary(&mut s.added_ns);
        println!(
            "{:<10} {:<31} {:>22} {:>22} {:>19} {:>24}  {:<14} {}",
            exec.name(),
            exec.describe(),
            format!("{p:.1} ({p_lo:.1}-{p_hi:.1})"),
            format!("{t:.1} ({t_lo:.1}-{t_hi:.1})"),
            format!("{r:.2}x ({r_lo:.2}-{r_hi:.2})"),
            format!("{a:+.1} ({a_lo:+.1}..{a_hi:+.1})"),
            format!("<= {TARGET_NS:.0} ns"),
            match (tiny, a <= TARGET_NS) {
                (true, _) => "-",
                (false, true) => "met",
                (false, false) => "MISSED",
            }
        );
    }
    println!();
    for (exec, s) in EXECS.iter().zip(series.iter()) {
        println!(
            "  {}: {} polls per plain run, {} per traced run (counted)",
            exec.name(),
            s.plain_polls,
            s.traced_polls
        );
    }
    println!(
        "  added ns/poll = traced ns/poll - plain ns/poll of the same round; \
         ratio likewise per round"
    );
}

// ---------------------------------------------------------------------------

/// Criterion's own rule: `--test`, or no `--bench` (as `cargo test` runs us).
fn test_mode(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--test") || !has("--bench")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tiny = test_mode(&args);
    let listing = args.iter().any(|a| a == "--list");
    let polls = if tiny { TEST_POLLS } else { FULL_POLLS };
    let ex = Executors::new();

    if !listing && !tiny {
        // Checks on, untimed: also warms the executors and the registry.
        for exec in EXECS {
            for wrap in [Wrap::Plain, Wrap::Traced] {
                ex.run(exec, wrap, polls, true);
            }
        }
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("poll");
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(polls));
        for exec in EXECS {
            for wrap in [Wrap::Plain, Wrap::Traced] {
                let name = format!("{}-{}", exec.name(), wrap.name());
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| ex.run(exec, wrap, polls, tiny).elapsed)
                            .sum()
                    })
                });
            }
        }
        group.finish();
    }
    c.final_summary();

    if !listing {
        let rounds = if tiny { 1 } else { ROUNDS };
        let mut series = interleaved(&ex, rounds, polls, tiny);
        print_summary(&mut series, rounds, polls, tiny);
    }
}
