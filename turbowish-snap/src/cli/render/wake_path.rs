//! The steps of a wake path as `waits` prints them: each holder named as
//! `retainers` names it (tokio's drivers by what they wait for), how it
//! points at the next step, and the middle of a long path elided.

use super::holder::Holders;
use crate::analysis::Analysis;
use crate::analysis::waits::path::{Holder, Step, Via};
use crate::{RootKind, Snapshot};
use serde::Serialize;

/// Steps shown at each end of a long path; the middle is elided.
pub const ENDS: usize = 5;

/// One step of a wake path, as printed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StepRow {
    /// A holder, and how it points at the next step.
    Held {
        /// Its name.
        holder: String,
        /// What it is: `static`, `thread-stack`, `thread-local`,
        /// `named-root`, `task`, `driver` or `block`.
        kind: &'static str,
        /// The task's id, for a task's future.
        #[serde(skip_serializing_if = "Option::is_none")]
        task: Option<u64>,
        /// How it points at the next step (the last: at the task).
        via: String,
        /// For a driver, how many of its entries in a row the path passes
        /// through (the I/O driver's registrations are a linked list),
        /// when more than one.
        #[serde(skip_serializing_if = "Option::is_none")]
        links: Option<u64>,
    },
    /// Steps left out of a long path's middle.
    Elided {
        /// How many.
        elided: u64,
        /// How the last of them points at the next step.
        #[serde(skip)]
        via: String,
    },
}

/// `steps`, named, a driver's entries in a row as one step; more than
/// `2 * ENDS + 1` keep their first and last [`ENDS`], the rest one
/// [`StepRow::Elided`].
pub fn step_rows(a: &Analysis, holders: &Holders, steps: &[Step]) -> Vec<StepRow> {
    let mut rows = runs(steps.iter().map(|s| row(a, holders, s)));
    if rows.len() <= 2 * ENDS + 1 {
        return rows;
    }
    let tail = rows.split_off(rows.len() - ENDS);
    let middle = rows.split_off(ENDS);
    let via = match middle.last() {
        Some(StepRow::Held { via, .. } | StepRow::Elided { via, .. }) => via.clone(),
        None => String::new(),
    };
    rows.push(StepRow::Elided {
        elided: middle.len() as u64,
        via,
    });
    rows.extend(tail);
    rows
}

/// `rows` with each run of one driver's entries merged into its last.
fn runs(rows: impl Iterator<Item = StepRow>) -> Vec<StepRow> {
    let mut out: Vec<StepRow> = Vec::new();
    for r in rows {
        if let (
            Some(StepRow::Held {
                holder,
                kind: "driver",
                via,
                links,
                ..
            }),
            StepRow::Held {
                holder: next,
                kind: "driver",
                via: next_via,
                ..
            },
        ) = (out.last_mut(), &r)
            && holder == next
        {
            *links = Some(links.unwrap_or(1) + 1);
            *via = next_via.clone();
            continue;
        }
        out.push(r);
    }
    out
}

fn row(a: &Analysis, holders: &Holders, step: &Step) -> StepRow {
    let snap = a.snapshot();
    let (kind, holder, task) = match step.holder {
        Holder::Root(r, label) => {
            let kind = match snap.roots[r as usize].kind {
                RootKind::Static => "static",
                RootKind::ThreadStack => "thread-stack",
                RootKind::ThreadLocal => "thread-local",
                RootKind::Named => "named-root",
                RootKind::Task => "task",
            };
            (kind, holders.root(r, label).1, None)
        }
        Holder::Task(t, _) => ("task", holders.task(Some(t)), Some(snap.task(t).id)),
        Holder::Block(b) => match a.driver(b) {
            Some(d) => ("driver", d.name().to_owned(), None),
            None => ("block", holders.block(b), None),
        },
    };
    StepRow::Held {
        holder,
        kind,
        task,
        via: via_name(snap, step.via),
        links: None,
    }
}

/// `waker`, `waiter`, `join-handle`, `field NAME` or `pointer`.
fn via_name(snap: &Snapshot, via: Via) -> String {
    match via {
        Via::Waker => "waker".to_owned(),
        Via::Waiter => "waiter".to_owned(),
        Via::JoinHandle => "join-handle".to_owned(),
        Via::Field(l) => match snap.string(l) {
            "" => "field".to_owned(),
            l => format!("field {l}"),
        },
        Via::Pointer => "pointer".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(holder: &str, kind: &'static str, via: &str) -> StepRow {
        StepRow::Held {
            holder: holder.to_owned(),
            kind,
            task: None,
            via: via.to_owned(),
            links: None,
        }
    }

    fn shape(rows: &[StepRow]) -> Vec<(String, Option<u64>, String)> {
        let one = |r: &StepRow| match r {
            StepRow::Held {
                holder, links, via, ..
            } => (holder.clone(), *links, via.clone()),
            StepRow::Elided { elided, via } => (format!("{elided} elided"), None, via.clone()),
        };
        rows.iter().map(one).collect()
    }

    #[test]
    fn a_run_of_one_drivers_entries_is_one_step() {
        let io = "the I/O driver (socket readiness)";
        let rows = runs(
            [
                held("a block", "block", "pointer"),
                held(io, "driver", "pointer"),
                held(io, "driver", "pointer"),
                held(io, "driver", "waker"),
                held("the timer", "driver", "waiter"),
                held("b", "block", "pointer"),
                held("b", "block", "pointer"),
            ]
            .into_iter(),
        );
        let expected = [
            ("a block", None, "pointer"),
            (io, Some(3), "waker"),
            ("the timer", None, "waiter"),
            ("b", None, "pointer"),
            ("b", None, "pointer"),
        ];
        let expected: Vec<_> = (expected.iter())
            .map(|&(h, l, v)| (h.to_owned(), l, v.to_owned()))
            .collect();
        assert_eq!(shape(&rows), expected);
    }
}
