//! The sections of the report, each rendered from what the analysis
//! computed: totals, findings, tables of tasks and sites, the comparison.

use super::html::{Cell, Table, bytes, count, escape};
use crate::analysis::Analysis;
use crate::analysis::bloat::{self, BLOATED};
use crate::analysis::census;
use crate::analysis::diff::{Comparison, GroupBy};
use crate::analysis::leaks;
use crate::analysis::resident::Split;
use crate::analysis::sites::NO_STACK;
use crate::analysis::tasks::kind::shown_kind;
use crate::analysis::waits::Reason;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt::Write;

/// How many names a finding lists.
const NAMED: usize = 5;

/// The cards of the snapshot's totals.
pub fn totals(a: &Analysis) -> String {
    let s = a.snapshot();
    let tasks = census::tasks(s);
    let cards = [
        (bytes(census::live_bytes(s)), "live bytes"),
        (count(s.blocks.len() as u64), "live blocks"),
        (count(tasks.total), "tasks"),
        (count(tasks.pending), "pending tasks"),
        (count(a.spawn_sites().len() as u64), "spawn sites"),
        (count(a.sites().len() as u64), "allocation sites"),
        (count(s.edges.len() as u64), "pointers"),
        (count(census::roots(s).total), "roots"),
    ];
    let mut h = String::from("<div class=\"cards\">");
    for (value, key) in cards.into_iter().chain(resident_cards(s)) {
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"v\">{value}</div><div class=\"k\">{key}</div></div>"
        );
    }
    h.push_str("</div>\n");
    h
}

/// Where the resident memory went, as `summary` splits it; none when
/// not recorded.
fn resident_cards(s: &crate::Snapshot) -> Vec<(String, &'static str)> {
    let Some(split) = Split::of(&s.capture) else {
        return Vec::new();
    };
    let retained =
        (split.allocator.as_ref()).map_or_else(|| "unknown".to_owned(), |r| bytes(r.total()));
    vec![
        (bytes(split.resident), "resident"),
        (retained, "allocator retained"),
        (bytes(split.own.total()), "TurboWish's own"),
        (bytes(split.rest), "rest of resident"),
    ]
}

/// One finding: its severity (`ok`, `warn`, `bad`), its sentence (HTML),
/// and the names it lists (escaped here).
fn finding(h: &mut String, class: &str, sentence: &str, names: &[String]) {
    let _ = write!(h, "<li class=\"{class}\">{sentence}");
    if !names.is_empty() {
        h.push_str("<ul>");
        for n in names {
            let _ = write!(h, "<li><code>{}</code></li>", escape(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("</li>\n");
}

/// `counts` as `name (n)` lines, most first, at most [`NAMED`].
fn most<'s>(counts: impl Iterator<Item = &'s str>) -> Vec<String> {
    let mut by: HashMap<&str, u64> = HashMap::new();
    for name in counts {
        *by.entry(name).or_default() += 1;
    }
    let mut by: Vec<(&str, u64)> = by.into_iter().collect();
    by.sort_by_key(|&(name, n)| (Reverse(n), name));
    (by.into_iter().take(NAMED))
        .map(|(name, n)| format!("{name} ({n} tasks)"))
        .collect()
}

/// The findings: unreachable blocks, zombies, stuck tasks, bloat.
pub fn findings(a: &Analysis) -> String {
    let s = a.snapshot();
    let mut h = String::from("<ul class=\"findings\">\n");
    let (blocks, unreachable) = a.unreachable_total();
    let sites: Vec<String> = (a.unreachable_sites().iter().take(NAMED))
        .map(|x| {
            format!(
                "{} ({})",
                x.label.as_deref().unwrap_or(NO_STACK),
                bytes(x.bytes)
            )
        })
        .collect();
    let class = if blocks == 0 { "ok" } else { "bad" };
    let sentence = format!(
        "<b>{} unreachable blocks</b> ({}): no root reaches them (leaked, or held \
         where the scan cannot see). <span class=\"muted\">turbowish leaks</span>",
        count(blocks),
        bytes(unreachable)
    );
    finding(&mut h, class, &sentence, &sites);

    let zombies = leaks::zombies(s);
    let class = if zombies.is_empty() { "ok" } else { "warn" };
    let sentence = format!(
        "<b>{} zombie tasks</b>: finished futures whose storage something still \
         holds (a JoinHandle, a stored Waker). <span class=\"muted\">turbowish leaks</span>",
        count(zombies.len() as u64)
    );
    let names = most(zombies.iter().map(|z| a.spawned_at(z.task)));
    finding(&mut h, class, &sentence, &names);

    let stuck = a.waits().stuck();
    let (mut cycle, mut behind, mut no_waker) = (0, 0, 0);
    for x in stuck {
        match x.reason {
            Reason::Cycle(_) => cycle += 1,
            Reason::Behind(_) => behind += 1,
            Reason::NoWaker => no_waker += 1,
        }
    }
    let class = if stuck.is_empty() { "ok" } else { "bad" };
    let sentence = format!(
        "<b>{} stuck tasks</b>: pending, and nothing that can run can wake them \
         ({cycle} in deadlock cycles, {behind} behind other stuck tasks, {no_waker} \
         with no waker anywhere). <span class=\"muted\">turbowish waits</span>",
        count(stuck.len() as u64)
    );
    let names = most(stuck.iter().map(|x| a.spawned_at(x.task)));
    finding(&mut h, class, &sentence, &names);

    let bloated = bloat::bloated_tasks(s, BLOATED);
    let groups: Vec<String> = (bloat::futures(a).into_iter())
        .filter(|g| g.future_size >= BLOATED)
        .take(NAMED)
        .map(|g| {
            let ty = s.string(g.future_type);
            format!(
                "{} at {} ({} tasks)",
                bytes(g.future_size),
                g.spawned_at,
                g.tasks
            ) + &if ty.is_empty() {
                String::new()
            } else {
                format!(": {ty}")
            }
        })
        .collect();
    let class = if bloated == 0 { "ok" } else { "warn" };
    let sentence = format!(
        "<b>{} bloated futures</b> of {} or more. <span class=\"muted\">turbowish bloat</span>",
        count(bloated),
        bytes(BLOATED)
    );
    finding(&mut h, class, &sentence, &groups);

    let containers = bloat::containers(s);
    let unused: u64 = containers.iter().map(|c| c.unused_bytes).sum();
    let names: Vec<String> = (containers.iter().take(NAMED))
        .map(|c| {
            format!(
                "{} unused in {} blocks of {}",
                bytes(c.unused_bytes),
                c.blocks,
                s.string(c.type_name)
            )
        })
        .collect();
    let class = if unused == 0 { "ok" } else { "warn" };
    let sentence = format!("<b>{}</b> of unused container capacity.", bytes(unused));
    finding(&mut h, class, &sentence, &names);
    h.push_str("</ul>\n");
    h
}

/// The tasks, most retained bytes first, cut to `limit`.
pub fn tasks(a: &Analysis, limit: usize) -> String {
    let s = a.snapshot();
    let mut rows: Vec<_> = a.task_rows().iter().collect();
    rows.sort_by_key(|r| (Reverse(r.retained), Reverse(r.allocated), r.task));
    let rows = rows.into_iter().map(|r| {
        let t = s.task(r.task);
        vec![
            Cell::Count(t.id),
            Cell::Text(shown_kind(s, t).name().to_owned()),
            Cell::Text(t.state.name().to_owned()),
            Cell::Code(a.spawned_at(r.task).to_owned()),
            Cell::Code(s.string(t.future_type).to_owned()),
            Cell::Bytes(t.future_size),
            Cell::Bytes(r.retained),
            Cell::Bytes(r.allocated),
            Cell::Bytes(r.shared),
        ]
    });
    let columns = vec![
        "id",
        "kind",
        "state",
        "spawned at",
        "future type",
        "future size",
        "retained",
        "allocated",
        "shared",
    ];
    Table::new(columns, rows, limit).html("No tasks in this snapshot.")
}

/// The spawn sites, most retained bytes first, cut to `limit`.
pub fn spawn_sites(a: &Analysis, limit: usize) -> String {
    let rows = a.spawn_sites().iter().map(|x| {
        vec![
            Cell::Code(x.spawned_at.clone()),
            Cell::Count(x.tasks),
            Cell::Bytes(x.retained),
            Cell::Bytes(x.allocated),
        ]
    });
    let columns = vec!["spawned at", "tasks", "retained", "allocated"];
    Table::new(columns, rows, limit).html("No tasks in this snapshot.")
}

/// The allocation sites, most live bytes first, cut to `limit`.
pub fn sites(a: &Analysis, limit: usize) -> String {
    let rows = a.sites().iter().map(|x| {
        vec![
            Cell::Code(x.label.clone().unwrap_or_else(|| NO_STACK.to_owned())),
            Cell::Count(x.stacks.len() as u64),
            Cell::Count(x.blocks),
            Cell::Bytes(x.bytes),
        ]
    });
    let columns = vec!["allocation site", "stacks", "blocks", "bytes"];
    Table::new(columns, rows, limit).html("No live blocks in this snapshot.")
}

/// What changed from A to B: totals, spawn sites, allocation sites.
pub fn diff(c: &Comparison, limit: usize) -> String {
    let t = c.totals();
    let growth = t.live_bytes_b as i128 - t.live_bytes_a as i128;
    let sign = if growth < 0 { "-" } else { "+" };
    let cards = [
        (bytes(t.live_bytes_a), "live bytes in A".to_owned()),
        (bytes(t.live_bytes_b), "live bytes in B".to_owned()),
        (
            format!("{sign}{}", bytes(growth.unsigned_abs() as u64)),
            "net growth".to_owned(),
        ),
        (
            bytes(t.born_bytes),
            format!("born ({} blocks)", count(t.born_blocks)),
        ),
        (
            bytes(t.freed_bytes),
            format!("freed ({} blocks)", count(t.freed_blocks)),
        ),
        (count(t.new_tasks), "new tasks".to_owned()),
        (count(t.ended_tasks), "ended tasks".to_owned()),
    ];
    let mut h = String::from("<div class=\"cards\">");
    for (value, key) in cards {
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"v\">{value}</div><div class=\"k\">{key}</div></div>"
        );
    }
    h.push_str("</div>\n<h3>Spawn sites</h3>\n");
    let rows = c.spawn_sites().into_iter().map(|x| {
        vec![
            Cell::Code(x.spawned_at),
            Cell::Count(x.tasks_a),
            Cell::Count(x.tasks_b),
            Cell::Delta(x.retained_b as i64 - x.retained_a as i64),
            Cell::Bytes(x.retained_b),
            Cell::Count(x.new_tasks),
            Cell::Count(x.ended_tasks),
        ]
    });
    let columns = vec![
        "spawned at",
        "tasks in A",
        "tasks in B",
        "retained change",
        "retained in B",
        "new",
        "ended",
    ];
    h.push_str(&Table::new(columns, rows, limit).html("No tasks in either snapshot."));
    let estimated = match c.estimated(GroupBy::Site) {
        true => " <span class=\"muted\">(estimates: stacks were sampled)</span>",
        false => "",
    };
    let _ = writeln!(h, "<h3>Allocation sites{estimated}</h3>");
    let rows = c.groups(GroupBy::Site).into_iter().map(|(key, g)| {
        vec![
            Cell::Code(key),
            Cell::Delta(g.net()),
            Cell::Bytes(g.bytes_a),
            Cell::Bytes(g.bytes_b),
            Cell::Bytes(g.born_bytes),
            Cell::Bytes(g.freed_bytes),
        ]
    });
    let columns = vec![
        "allocation site",
        "net",
        "bytes in A",
        "bytes in B",
        "born",
        "freed",
    ];
    h.push_str(&Table::new(columns, rows, limit).html("Nothing was born or freed."));
    h
}
