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

/// `steps`, named; more than `2 * ENDS + 1` keep their first and last
/// [`ENDS`], the rest one [`StepRow::Elided`].
pub fn step_rows(a: &Analysis, holders: &Holders, steps: &[Step]) -> Vec<StepRow> {
    let row = |s: &Step| row(a, holders, s);
    if steps.len() <= 2 * ENDS + 1 {
        return steps.iter().map(row).collect();
    }
    let (head, rest) = steps.split_at(ENDS);
    let (middle, tail) = rest.split_at(rest.len() - ENDS);
    let elided = StepRow::Elided {
        elided: middle.len() as u64,
        via: middle
            .last()
            .map_or_else(String::new, |s| via_name(a.snapshot(), s.via)),
    };
    (head.iter().map(row))
        .chain(std::iter::once(elided))
        .chain(tail.iter().map(row))
        .collect()
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
