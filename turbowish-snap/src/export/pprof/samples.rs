//! Samples: blocks and task roots summed by (stack, labels), then written
//! as pprof samples, one per distinct stack and label set (rules 2 to 8
//! of [`pprof`](super)).

use super::profile::{Label, Sample};
use super::tables::Tables;
use super::{ESTIMATED, NO_STACK, NOT_SAMPLED, Options};
use crate::analysis::Analysis;
use crate::analysis::sites::estimate::{SiteWeights, Weight};
use crate::model::{BlockIndex, StackIndex, StringIndex, TaskIndex};
use std::collections::HashMap;

/// Which snapshot of a pair: 0 for A (or the only one), 1 for B.
pub(super) type Side = usize;

/// Whose labels a sample carries (rule 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Owner {
    /// Allocated outside any task (tag 0).
    Outside,
    /// A tag no task row of either snapshot has (the tag, with
    /// `--task-ids`, else 0).
    Ended(u64),
    /// Task `.1` of snapshot `.0`.
    Task(Side, TaskIndex),
}

/// What a sample is summed by before it is named: its snapshot, stack,
/// type and owner.
type Key = (Side, StackIndex, StringIndex, Owner);

/// What a sample is summed by once named: its location ids and its labels'
/// `(key, value)` string indices.
type Named = (Vec<u64>, Vec<(i64, i64)>);

/// A sample's values being summed; estimates unrounded (rule 6).
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    objects: i64,
    space: i64,
    retained: i64,
    est_objects: f64,
    est_space: f64,
}

impl Sum {
    fn add(&mut self, other: &Sum) {
        self.objects = self.objects.saturating_add(other.objects);
        self.space = self.space.saturating_add(other.space);
        self.retained = self.retained.saturating_add(other.retained);
        self.est_objects += other.est_objects;
        self.est_space += other.est_space;
    }

    /// The values in sample-type order; estimates rounded once, and only
    /// when the profile has them.
    fn values(&self, estimated: bool) -> Vec<i64> {
        let mut v = vec![self.objects, self.space, self.retained];
        if estimated {
            v.extend([
                self.est_objects.round() as i64,
                self.est_space.round() as i64,
            ]);
        }
        v
    }
}

/// `n` as a sample value, negated for `sign < 0`, saturating.
fn signed(n: u64, sign: i64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(sign)
}

/// Blocks and task roots of one or two snapshots, summed by [`Key`].
#[derive(Debug)]
pub(super) struct Samples<'x, 'a> {
    sides: Vec<&'x Analysis<'a>>,
    options: Options,
    sums: HashMap<Key, Sum>,
}

impl<'x, 'a> Samples<'x, 'a> {
    /// No samples yet, of the snapshots `sides` (A, or A and B).
    pub(super) fn new(sides: Vec<&'x Analysis<'a>>, options: Options) -> Self {
        Samples {
            sides,
            options,
            sums: HashMap::new(),
        }
    }

    /// Whether any snapshot's stacks were sampled: the profile then has
    /// the estimate sample types (rule 6).
    pub(super) fn estimated(&self) -> bool {
        (self.sides.iter()).any(|a| a.snapshot().capture.stack_sample_bytes != 0)
    }

    /// The task whose tag block `b` of snapshot `side` carries: looked up
    /// in its snapshot, then in the other (rule 8).
    fn owner(&self, side: Side, tag: u64) -> Owner {
        let found = (self.sides.iter().enumerate())
            .cycle()
            .skip(side)
            .take(self.sides.len())
            .find_map(|(s, a)| a.task_of_tag(tag).map(|t| Owner::Task(s, t)));
        match found {
            Some(owner) => owner,
            None if tag == 0 => Owner::Outside,
            None => Owner::Ended(if self.options.task_ids { tag } else { 0 }),
        }
    }

    /// Adds block `b` of snapshot `side`, as one block (`sign` 1) or one
    /// fewer (-1) (rules 2, 6 and 7).
    pub(super) fn block(&mut self, side: Side, b: BlockIndex, sign: i64) {
        let snap = self.sides[side].snapshot();
        let block = snap.block(b);
        let weight = match SiteWeights::of(snap).weight(block) {
            Weight::Exact => 1.0,
            Weight::Estimate(k) => k,
            Weight::Left => 0.0,
        } * sign as f64;
        let sum = Sum {
            objects: sign,
            space: signed(block.size, sign),
            retained: 0,
            est_objects: weight,
            est_space: weight * block.size as f64,
        };
        let key = (
            side,
            block.stack,
            block.type_name,
            self.owner(side, block.task),
        );
        self.sums.entry(key).or_default().add(&sum);
    }

    /// Adds what task `t` of snapshot `side` retains (negated for `sign`
    /// -1), at its storage block's stack with its own labels (rule 5).
    pub(super) fn task_root(&mut self, side: Side, t: TaskIndex, retained: u64, sign: i64) {
        let snap = self.sides[side].snapshot();
        let Some(storage) = snap.task(t).storage else {
            return;
        };
        if retained == 0 {
            return;
        }
        let block = snap.block(storage);
        let sum = Sum {
            retained: signed(retained, sign),
            ..Sum::default()
        };
        let key = (side, block.stack, block.type_name, Owner::Task(side, t));
        self.sums.entry(key).or_default().add(&sum);
    }

    /// The samples, named: one per distinct stack and label set, those
    /// whose values are all zero left out (rule 7), heaviest first.
    pub(super) fn finish(self, tables: &mut Tables) -> Vec<Sample> {
        let estimated = self.estimated();
        let mut stacks: HashMap<(Side, StackIndex), Vec<u64>> = HashMap::new();
        let mut labels: HashMap<(Owner, StringIndex, Side), Vec<Label>> = HashMap::new();
        let mut named: HashMap<Named, Sum> = HashMap::new();
        // In key order, so that tables and samples come out the same on
        // every run.
        let mut sums: Vec<(&Key, &Sum)> = self.sums.iter().collect();
        sums.sort_unstable_by_key(|&(key, _)| *key);
        for ((side, stack, type_name, owner), sum) in sums {
            let locations = (stacks.entry((*side, *stack)))
                .or_insert_with(|| self.locations(tables, *side, *stack));
            let labels = (labels.entry((*owner, *type_name, *side)))
                .or_insert_with(|| self.labels(tables, *side, *owner, *type_name));
            let label_key = labels.iter().map(|l| (l.key, l.str)).collect();
            (named.entry((locations.clone(), label_key)).or_default()).add(sum);
        }
        let mut samples: Vec<Sample> = (named.into_iter())
            .map(|((location_id, labels), sum)| Sample {
                location_id,
                value: sum.values(estimated),
                label: (labels.into_iter())
                    .map(|(key, str)| Label {
                        key,
                        str,
                        ..Label::default()
                    })
                    .collect(),
            })
            .filter(|s| s.value.iter().any(|&v| v != 0))
            .collect();
        // Heaviest first; ties in a fixed order, so one snapshot always
        // makes the same file.
        samples.sort_by_cached_key(|s| {
            let labels: Vec<(i64, i64)> = s.label.iter().map(|l| (l.key, l.str)).collect();
            let weight = std::cmp::Reverse(s.value[1].unsigned_abs());
            (weight, s.value.clone(), s.location_id.clone(), labels)
        });
        samples
    }

    /// The locations of `stack` of snapshot `side`, or the synthetic one
    /// of blocks without a stack (rule 4).
    fn locations(&self, tables: &mut Tables, side: Side, stack: StackIndex) -> Vec<u64> {
        let snap = self.sides[side].snapshot();
        let ids = tables.stack(snap, stack);
        if !ids.is_empty() {
            return ids;
        }
        match snap.capture.stack_sample_bytes {
            0 => vec![tables.synthetic(NO_STACK)],
            _ => vec![tables.synthetic(NOT_SAMPLED)],
        }
    }

    /// The labels of a sample of snapshot `side` owned by `owner`, of
    /// type `type_name` (rule 8), sorted by key.
    fn labels(
        &self,
        tables: &mut Tables,
        side: Side,
        owner: Owner,
        type_name: StringIndex,
    ) -> Vec<Label> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let type_name = self.sides[side].snapshot().string(type_name);
        if !type_name.is_empty() {
            pairs.push(("type", type_name.to_owned()));
        }
        match owner {
            Owner::Outside => pairs.push(("spawn_site", "(outside tasks)".to_owned())),
            Owner::Ended(tag) => {
                pairs.push(("spawn_site", "(ended tasks)".to_owned()));
                if tag != 0 {
                    pairs.push(("task_id", tag.to_string()));
                }
            }
            Owner::Task(s, t) => self.task_labels(s, t, &mut pairs),
        }
        pairs.sort();
        (pairs.into_iter())
            .map(|(key, value)| Label {
                key: tables.string(key),
                str: tables.string(&value),
                ..Label::default()
            })
            .collect()
    }

    /// The labels of task `t` of snapshot `side`.
    fn task_labels(&self, side: Side, t: TaskIndex, pairs: &mut Vec<(&str, String)>) {
        let a = self.sides[side];
        let task = a.snapshot().task(t);
        pairs.push(("spawn_site", a.spawned_at(t).to_owned()));
        pairs.push(("task_state", task.state.name().to_owned()));
        let future = a.snapshot().string(task.future_type);
        if !future.is_empty() {
            pairs.push(("future_type", future.to_owned()));
        }
        if self.options.task_ids {
            pairs.push(("task_id", task.id.to_string()));
        }
    }
}

/// The sample types of a profile, in value order: `(type, unit)`.
pub(super) fn sample_types(estimated: bool) -> Vec<(&'static str, &'static str)> {
    let mut types = vec![
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
        ("retained_space", "bytes"),
    ];
    if estimated {
        types.extend(ESTIMATED);
    }
    types
}
