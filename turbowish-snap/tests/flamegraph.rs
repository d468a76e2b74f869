//! `turbowish flamegraph` on hand-built snapshots: the folded stacks, their
//! totals against `summary`, `tasks` and `diff`, and SVGs that parse.

#![cfg(feature = "cli")]

mod export_fixture;

use export_fixture::*;
use turbowish_snap::Snapshot;

/// Folded lines as (frames, bytes...).
fn parse_folded(text: &str) -> Vec<(String, Vec<u64>)> {
    (text.lines())
        .map(|line| {
            let mut parts: Vec<&str> = line.rsplitn(3, ' ').collect();
            let mut counts = Vec::new();
            while let Some(n) = parts.first().and_then(|p| p.parse::<u64>().ok()) {
                counts.insert(0, n);
                parts.remove(0);
                if parts.len() == 1 {
                    break;
                }
            }
            let frames = parts.into_iter().rev().collect::<Vec<_>>().join(" ");
            (frames, counts)
        })
        .collect()
}

fn total(lines: &[(String, Vec<u64>)], column: usize) -> u64 {
    lines.iter().map(|(_, c)| c[column]).sum()
}

/// Sums the lines under the task frames of future type `future`.
fn under_task(lines: &[(String, Vec<u64>)], future: &str) -> u64 {
    (lines.iter())
        .filter(|(f, _)| {
            let frames: Vec<&str> = f.split(';').collect();
            frames[0].starts_with("spawned at src/main.rs:") && frames.get(1) == Some(&future)
        })
        .map(|(_, c)| c[0])
        .sum()
}

/// Sums the lines whose frames start with `prefix` frames.
fn under(lines: &[(String, Vec<u64>)], prefix: &str) -> u64 {
    (lines.iter())
        .filter(|(f, _)| f == prefix || f.starts_with(&format!("{prefix};")))
        .map(|(_, c)| c[0])
        .sum()
}

#[test]
fn folded_stacks_are_the_live_bytes_by_stack_outermost_frame_first() {
    let dir = temp_dir("folded");
    let file = write_snap(&dir, "a.twsnap", &service());
    let text = ok(&["flamegraph", &file, "--folded", "-o", "-"]);
    let evil = "svc::main;svc::evil";
    let expected = [
        "(no stack recorded) 24".to_owned(),
        "svc::main;<Conn as Future>::poll;Conn::read_buffer;Vec::with_capacity 5152".to_owned(),
        format!("{evil} 164"),
        "svc::main;svc::spawn_conn 768".to_owned(),
    ];
    let mut got: Vec<&str> = text.lines().collect();
    got.sort_unstable();
    assert_eq!(got, expected.iter().map(String::as_str).collect::<Vec<_>>());
    let summary = json(&["summary", &file, "--json"]);
    let live = summary["totals"]["live_bytes"].as_u64().unwrap();
    assert_eq!(total(&parse_folded(&text), 0), live);
}

#[test]
fn by_task_the_tasks_are_the_first_frames_and_sum_as_tasks_says() {
    let dir = temp_dir("by-task");
    let file = write_snap(&dir, "a.twsnap", &service());
    let tasks = json(&["tasks", &file, "--json", "--top", "0"]);
    let live = json(&["summary", &file, "--json"])["totals"]["live_bytes"].as_u64();
    for (flag, field) in [(None, "allocated"), (Some("--retained"), "retained")] {
        let mut args = vec!["flamegraph", &file, "--by", "task", "--folded", "-o", "-"];
        args.extend(flag);
        let lines = parse_folded(&ok(&args));
        assert_eq!(Some(total(&lines, 0)), live, "{field}: every byte once");
        for t in tasks["tasks"].as_array().unwrap() {
            let future = t["future_type"].as_str().unwrap().replace(';', ",");
            let want = t[field].as_u64().unwrap();
            assert_eq!(under_task(&lines, &future), want, "{field} {future}");
        }
    }
    let retained = parse_folded(&ok(&[
        "flamegraph",
        &file,
        "--by",
        "task",
        "--retained",
        "--folded",
        "-o",
        "-",
    ]));
    // The block both tasks point to, the static data and the stackless
    // block are no task's; the block nothing points to is unreachable.
    assert_eq!(under(&retained, "(no task)"), 100 + 64 + 24);
    assert_eq!(under(&retained, "(unreachable)"), 32);
}

#[test]
fn retained_bytes_by_stack_go_to_the_top_dominators_stack() {
    let dir = temp_dir("retained");
    let file = write_snap(&dir, "a.twsnap", &service());
    let text = ok(&["flamegraph", &file, "--retained", "--folded", "-o", "-"]);
    let mut got: Vec<&str> = text.lines().collect();
    got.sort_unstable();
    // Task storages (allocated at spawn_conn) retain their buffers; the
    // shared block and static data hold themselves.
    let evil = "svc::main;svc::evil";
    let expected = [
        "(no stack recorded) 24".to_owned(),
        "(unreachable);svc::main;<Conn as Future>::poll;Conn::read_buffer;Vec::with_capacity 32"
            .to_owned(),
        format!("{evil} 164"),
        format!("svc::main;svc::spawn_conn {}", 512 + 256 + 4096 + 1024),
    ];
    assert_eq!(got, expected.iter().map(String::as_str).collect::<Vec<_>>());
    let dominators = json(&["dominators", &file, "--json", "--top", "0"]);
    let unreachable = json(&["summary", &file, "--json"])["findings"]["unreachable_bytes"].as_u64();
    let top = dominators["retained"].as_u64().unwrap();
    assert_eq!(Some(total(&parse_folded(&text), 0) - top), unreachable);
}

#[test]
fn the_svg_is_xml_with_names_escaped_and_a_title() {
    let dir = temp_dir("svg");
    let file = write_snap(&dir, "a.twsnap", &service());
    for extra in [&[][..], &["--retained"]] {
        let out = dir.join("live.svg");
        let mut args = vec![
            "flamegraph",
            &file,
            "--by",
            "task",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let said = ok(&args);
        let want = format!("wrote {}: an SVG flame graph, ", out.display());
        assert!(said.starts_with(&want), "one line about the file: {said}");
        assert_eq!(said.lines().count(), 1, "{said}");
        let svg = std::fs::read_to_string(&out).unwrap();
        let doc = parse_xml(&svg);
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        let title = if extra.is_empty() {
            "Live bytes by task (spawn site, future type) and allocation stack"
        } else {
            "Retained bytes by task (spawn site, future type) and allocation stack"
        };
        assert!(texts.contains(&title), "{title}");
        let evil = texts
            .iter()
            .any(|t| t.contains("<script>alert(1)</script>"));
        assert!(evil, "the hostile name is text, escaped, not markup");
        assert!(
            !doc.descendants()
                .any(|n| n.has_tag_name("script") && n.text().is_some_and(|t| t.contains("alert")))
        );
    }
}

#[test]
fn two_snapshots_draw_the_growth_diff_reports() {
    let dir = temp_dir("diff");
    let a = write_snap(&dir, "turbowish-4242-1.twsnap", &service());
    let b = write_snap(&dir, "turbowish-4242-2.twsnap", &service_later());
    let lines = parse_folded(&ok(&["flamegraph", &a, &b, "--folded", "-o", "-"]));
    assert!(lines.iter().all(|(_, c)| c.len() == 2), "{lines:?}");
    let diff = json(&["diff", &a, &b, "--json"]);
    let t = &diff["totals"];
    let net = |x: &str, y: &str| t[x].as_u64().unwrap() as i64 - t[y].as_u64().unwrap() as i64;
    let growth = total(&lines, 1) as i64 - total(&lines, 0) as i64;
    assert_eq!(growth, net("live_bytes_b", "live_bytes_a"));
    assert_eq!(growth, net("born_bytes", "freed_bytes"));
    assert_eq!(growth, 8192 - 1024 + 48 - 32);
    let out = dir.join("growth.svg");
    ok(&["flamegraph", &a, &b, "-o", out.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = parse_xml(&svg);
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Growth from A to B: live bytes")),
        "{texts:?}"
    );
}

#[test]
fn sampled_stacks_give_estimates_and_say_so() {
    let dir = temp_dir("sampled");
    let mut snap = service();
    snap.capture.stack_sample_bytes = 1024;
    let file = write_snap(&dir, "a.twsnap", &snap);
    let lines = parse_folded(&ok(&["flamegraph", &file, "--folded", "-o", "-"]));
    let sites = json(&["sites", &file, "--json", "--top", "0"]);
    let estimated: u64 = (sites["sites"].as_array().unwrap().iter())
        .map(|s| s["bytes"].as_u64().unwrap())
        .sum();
    let folded = total(&lines, 0);
    assert!(
        folded.abs_diff(estimated) <= lines.len() as u64,
        "{folded} vs {estimated}"
    );
    assert!(
        !lines.iter().any(|(f, _)| f == "(no stack recorded)"),
        "not sampled: counted nowhere"
    );
    let out = dir.join("live.svg");
    ok(&["flamegraph", &file, "-o", out.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("estimated from stacks sampled every 1024 bytes"));
}

fn one_line_error(args: &[&str]) -> String {
    let out = turbowish(args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("turbowish: "), "{err}");
    err
}

#[test]
fn unwritable_paths_empty_heaps_and_strangers_are_one_line_errors() {
    let dir = temp_dir("errors");
    let file = write_snap(&dir, "a.twsnap", &service());
    let nowhere = dir.join("no/such/dir/live.svg");
    let err = one_line_error(&["flamegraph", &file, "-o", nowhere.to_str().unwrap()]);
    assert!(
        err.contains("cannot write") && err.contains("no/such/dir/live.svg"),
        "{err}"
    );
    let empty = write_snap(&dir, "empty.twsnap", &Snapshot::default());
    let err = one_line_error(&["flamegraph", &empty, "-o", "-"]);
    assert!(err.contains("nothing to draw"), "{err}");
    let mut other = service_later();
    other.process.pid = 1;
    let other = write_snap(&dir, "other.twsnap", &other);
    let err = one_line_error(&["flamegraph", &file, &other, "-o", "-"]);
    assert!(err.contains("--force"), "{err}");
    let out = dir.join("forced.svg");
    ok(&[
        "flamegraph",
        &file,
        &other,
        "--force",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        !std::fs::read_dir(&dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".partial-")
        }),
        "no partial file left behind"
    );
}
