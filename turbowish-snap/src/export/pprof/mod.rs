//! A snapshot as a pprof heap profile (`profile.proto`, gzipped), for
//! `go tool pprof`, Pyroscope, Parca and the other tools that read it.
//!
//! # Rules
//!
//! 1. **Sample types** are `inuse_objects`/count, `inuse_space`/bytes
//!    (the default) and `retained_space`/bytes, as Go's heap profiles name
//!    the first two. The period is `space`/bytes, like Go's: 1 when every
//!    block has its stack, else the snapshot's stack sample mean.
//! 2. **One sample per distinct stack and label set**, never one per
//!    block: a million blocks make a profile as large as their distinct
//!    stacks and tasks. Labels: `spawn_site` (as
//!    [`Analysis::spawned_at`] names it), `task_state`, `future_type`,
//!    `type` (the block's, from a typed walk), and `task_id` only with
//!    [`Options::task_ids`] (one value per task hurts fleet backends).
//! 3. **A location is a frame**: its address, its module's mapping, and
//!    one line per function there, inlined ones first (pprof's order, and
//!    the snapshot's). The lines above the one that names the allocation
//!    site ([`site_line`](crate::analysis::sites::frames::site_line): the
//!    allocator, and the standard library's and other machinery's
//!    functions the program called to allocate) are left out, so flat
//!    figures land on the site `sites` names, as a Go heap profile's land
//!    on the code that allocated rather than in its runtime. A function's
//!    `name` is shortened as `sites` shortens it (pprof's own shortening
//!    of `<T as Trait>::call` leaves `::call`), its `system_name` whole.
//! 4. **Blocks without a stack are never dropped**: they sit under one
//!    synthetic location, [`NO_STACK`] (or [`NOT_SAMPLED`] when stacks were
//!    sampled).
//! 5. **`retained_space` is per task root.** Each task's retained bytes
//!    (`tasks`' `retained`) are on one sample at its storage block's
//!    allocation stack, with the task's own labels and no in-use values;
//!    every other sample has 0. Summed by `spawn_site` it gives the spawn
//!    sites' retained bytes of `summary` and `tasks`. It is not added to
//!    `inuse_space`: retained bytes are live bytes counted again.
//! 6. **Sampled stacks** (`Capture::stack_sample_bytes`): `inuse_*` stay
//!    exact, every block counted once at its stack or under
//!    [`NOT_SAMPLED`], so totals equal `summary`'s and label sums equal
//!    `tasks`' ([`estimate`](crate::analysis::sites::estimate) rule 4).
//!    The profile then also has [`ESTIMATED`], and its default is
//!    `inuse_space_estimate`: each sampled block weighed
//!    by the inverse of its chance to be sampled, stack-less blocks 0
//!    (`estimate` rules 1 and 2), summed unrounded and rounded once per
//!    sample; by stack they are `sites`' estimates.
//! 7. **A diff is B - A**: blocks born after A count +1 and their bytes,
//!    blocks freed by B -1 and minus theirs, a surviving block whose size
//!    changed minus its A size and plus its B size; each task's retained
//!    bytes count plus in B and minus in A. Samples that sum to zero are
//!    left out. `inuse_space` then sums to B's live bytes minus A's (the
//!    net of `diff`), and `-diff_base` reads it as a delta.
//! 8. **A block's labels are its task's**: the task whose tag it carries,
//!    looked up in its snapshot, then in the other of a diff (as `diff`
//!    does); `spawn_site` is `(outside tasks)` for blocks allocated
//!    outside tasks and `(ended tasks)` for a tag no task row has.

#[allow(missing_docs, clippy::all)]
pub mod profile;
mod samples;
mod tables;

use crate::analysis::Analysis;
use crate::analysis::diff::Comparison;
use crate::model::Snapshot;
use profile::{Profile, ValueType};
use samples::{Samples, sample_types};
use std::io::Write;
use tables::Tables;

/// The function name of the location of blocks without a stack (rule 4).
pub const NO_STACK: &str = "[no stack recorded]";

/// The function name of the location of blocks whose stack was not
/// sampled (rule 4).
pub const NOT_SAMPLED: &str = "[stack not sampled]";

/// The sample types added when stacks were sampled (rule 6).
pub const ESTIMATED: [(&str, &str); 2] = [
    ("inuse_objects_estimate", "count"),
    ("inuse_space_estimate", "bytes"),
];

/// What a profile holds beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Label each sample with its task's id (`task_id`).
    pub task_ids: bool,
}

/// Why a profile could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Writing (or compressing) it failed.
    Io(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "cannot write the profile: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// The heap profile of `a`'s snapshot.
///
/// ```
/// use turbowish_snap::{Block, Snapshot};
/// use turbowish_snap::analysis::Analysis;
/// use turbowish_snap::export::pprof::{Options, heap};
///
/// let mut snap = Snapshot::default();
/// snap.blocks.push(Block { addr: 0x1000, size: 64, ..Block::default() });
/// let profile = heap(&Analysis::new(&snap), Options::default());
/// assert_eq!(profile.sample[0].value, [1, 64, 0]);
/// ```
pub fn heap(a: &Analysis, options: Options) -> Profile {
    let mut samples = Samples::new(vec![a], options);
    for b in a.snapshot().block_indices() {
        samples.block(0, b, 1);
    }
    for row in a.task_rows() {
        samples.task_root(0, row.task, row.retained, 1);
    }
    let snap = a.snapshot();
    let mut profile = build(samples, &[snap]);
    profile.time_nanos = clamp(snap.process.time_ns);
    profile
}

/// The difference B - A of the heap profiles of `b`'s snapshot and `a`'s,
/// a later one of the same process (not checked here: see
/// [`check_pair`](crate::analysis::diff::check_pair)); rule 7.
pub fn diff(a: &Analysis, b: &Analysis, options: Options) -> Profile {
    let pair = Comparison::new(a, b);
    let m = pair.blocks();
    let mut samples = Samples::new(vec![a, b], options);
    for &i in &m.freed {
        samples.block(0, i, -1);
    }
    for &j in &m.born {
        samples.block(1, j, 1);
    }
    let (sa, sb) = (a.snapshot(), b.snapshot());
    for &(i, j) in m.surviving.iter() {
        if sa.block(i).size != sb.block(j).size {
            samples.block(0, i, -1);
            samples.block(1, j, 1);
        }
    }
    for (side, x, sign) in [(0, a, -1), (1, b, 1)] {
        for row in x.task_rows() {
            samples.task_root(side, row.task, row.retained, sign);
        }
    }
    let mut profile = build(samples, &[sa, sb]);
    profile.time_nanos = clamp(sb.process.time_ns);
    profile.duration_nanos = clamp(sb.process.time_ns.saturating_sub(sa.process.time_ns));
    profile
}

/// `n` as a profile's signed field, saturating.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The profile of `samples`, whose snapshots are `snaps` (A, or A and B).
fn build(samples: Samples, snaps: &[&Snapshot]) -> Profile {
    let mut tables = Tables::new();
    for snap in snaps {
        tables.add_mappings(snap);
    }
    let estimated = samples.estimated();
    let mut profile = Profile {
        sample: samples.finish(&mut tables),
        ..Profile::default()
    };
    for (kind, unit) in sample_types(estimated) {
        let value = ValueType {
            r#type: tables.string(kind),
            unit: tables.string(unit),
        };
        profile.sample_type.push(value);
    }
    // Rule 6: by stack, only the estimate says where a sampled heap is.
    let default = if estimated {
        ESTIMATED[1].0
    } else {
        "inuse_space"
    };
    profile.default_sample_type = tables.string(default);
    profile.period_type = Some(ValueType {
        r#type: tables.string("space"),
        unit: tables.string("bytes"),
    });
    let last = snaps[snaps.len() - 1];
    profile.period = clamp(last.capture.stack_sample_bytes.max(1));
    profile.comment = comments(snaps, estimated)
        .iter()
        .map(|c| tables.string(c))
        .collect();
    profile.mapping = std::mem::take(&mut tables.mappings);
    profile.function = std::mem::take(&mut tables.functions);
    profile.location = std::mem::take(&mut tables.locations);
    profile.string_table = tables.into_strings();
    profile
}

/// What the profile is of, for its comments.
fn comments(snaps: &[&Snapshot], estimated: bool) -> Vec<String> {
    let name = |s: &Snapshot| {
        let p = &s.process;
        format!("{} pid {} snapshot #{}", s.string(p.exe), p.pid, p.sequence)
    };
    let mut lines = match snaps {
        [a, b] => vec![format!("turbowish: {} minus {}", name(b), name(a))],
        _ => snaps
            .iter()
            .map(|s| format!("turbowish: {}", name(s)))
            .collect(),
    };
    if estimated {
        lines.push(
            "stacks were sampled: inuse_* are exact, *_estimate estimate each stack's blocks"
                .to_owned(),
        );
    }
    lines
}

/// Writes `profile` to `out`, gzipped as pprof files are.
pub fn write(profile: &Profile, out: impl Write) -> Result<(), Error> {
    use prost::Message;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    gz.finish()?.flush()?;
    Ok(())
}
