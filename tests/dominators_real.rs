//! `turbowish dominators` and `summary`'s biggest blocks on a real
//! snapshot: a linked list a static holds is one top block that retains
//! every node and buffer, its tree goes down the list, and a traced task's
//! future retains what only it holds.

mod common;

use common::list::{NODE_BUFFER, NODE_BYTES, list_bytes, make_list};

use common::{assert_refused, scrub_stack, turbowish, turbowish_json, wait_until_parked};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use turbowish::{TracedExt, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const NODES: usize = 100;
const TASK_BUFFER: usize = 64 * 1024;

/// Runs `turbowish dominators --json ARGS FILE`.
fn dominators(file: &Path, args: &[&str]) -> Value {
    let mut all: Vec<&OsStr> = vec!["dominators".as_ref(), "--json".as_ref()];
    all.extend(args.iter().map(OsStr::new));
    all.push(file.as_os_str());
    turbowish_json(&all)
}

/// Takes a snapshot with a traced task parked holding its buffer; returns
/// the file, the task's id and what stops it.
fn snapshot(rt: &tokio::runtime::Runtime) -> (PathBuf, u64, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = async move {
        let buffer = vec![1u8; TASK_BUFFER];
        scrub_stack();
        let _ = stopped.await;
        drop(buffer);
    };
    let _enter = rt.enter();
    let handle = task.named("holder").spawn();
    let id: u64 = handle.id().to_string().parse().unwrap();
    drop(handle);
    wait_until_parked(1, |t| t.name == "holder");
    let path = std::env::temp_dir().join(format!("tw-dominators-{}.twsnap", std::process::id()));
    turbowish::snapshot_to(&path).unwrap();
    (path, id, stop)
}

#[test]
fn the_biggest_blocks_and_what_they_retain() {
    // Before the runtime's threads exist: no stale copy of a node's address
    // can be left in their stacks (see the README's limits). On a thread of
    // its own, so in a malloc arena of its own: memory this thread used and
    // freed before (glibc's free-list links in it) cannot lie under the list
    // and reappear, pointing into a node, in a runtime block's
    // uninitialised bytes.
    std::thread::spawn(|| make_list(NODES)).join().unwrap();
    scrub_stack();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let (file, id, stop) = snapshot(&rt);
    let node_bytes = NODE_BYTES as u64;

    // summary: the list's head is a top block, held by the static, and
    // retains every node and buffer.
    let summary = turbowish_json(&[
        "summary".as_ref(),
        "--json".as_ref(),
        "--top".as_ref(),
        "0".as_ref(),
        file.as_os_str(),
    ]);
    let tops = summary["top_dominators"].as_array().unwrap();
    let head = (tops.iter())
        .find(|d| {
            d["held_by"]
                .as_str()
                .unwrap()
                .ends_with("common::list::LIST")
        })
        .unwrap_or_else(|| panic!("no top block held by LIST: {tops:#?}"));
    let listed: Vec<&Value> = (tops.iter())
        .filter(|d| d["site"].as_str().is_some_and(|s| s.contains("make_list")))
        .collect();
    assert_eq!(head["retained_blocks"], 2 * NODES as u64, "{listed:#?}");
    assert_eq!(head["retained"], NODES as u64 * node_bytes, "{head:#}");
    assert!(
        head["site"].as_str().unwrap().contains("make_list"),
        "{head:#}"
    );
    let nodes_listed = (tops.iter())
        .filter(|d| d["site"].as_str().is_some_and(|s| s.contains("make_list")))
        .count();
    assert_eq!(
        nodes_listed, 1,
        "the list's other nodes are inside its head"
    );

    // dominators below the head: the next node (the rest of the list) first,
    // then the head's own buffer.
    let address = head["address"].as_str().unwrap();
    let v = dominators(&file, &["--block", address, "--depth", "2"]);
    let children = v["children"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{v:#}");
    assert_eq!(children[0]["retained_blocks"], 2 * NODES as u64 - 2);
    assert_eq!(children[1]["retained"], NODE_BUFFER as u64);
    assert_eq!(children[0]["children"].as_array().unwrap().len(), 2);
    assert_eq!(children[0]["children"][0]["children"], Value::Array(vec![]));
    assert_eq!(children[0]["children"][0]["omitted"]["children"], 2);

    // A task's future retains its buffer, named as the task.
    let v = dominators(&file, &["--task", &id.to_string()]);
    assert_eq!(v["block"]["task"]["id"], id, "{v:#}");
    assert!(
        (v["block"]["name"].as_str().unwrap()).starts_with("the future of task"),
        "{v:#}"
    );
    assert_eq!(v["children"][0]["retained"], TASK_BUFFER as u64, "{v:#}");
    assert!(v["retained"].as_u64().unwrap() >= TASK_BUFFER as u64);

    // As text, as the README shows it.
    let args = [
        "dominators".as_ref(),
        "--depth".as_ref(),
        "2".as_ref(),
        "--top".as_ref(),
        "3".as_ref(),
        file.as_os_str(),
    ];
    let text = String::from_utf8(turbowish(&args).stdout).unwrap();
    println!("{text}");
    assert!(
        text.contains("held by static dominators_real::common::list::LIST"),
        "{text}"
    );

    // Choices that match nothing are one-line errors with exit status 2.
    for (args, message) in [
        (vec!["--task", "999999"], "no task with id 999999"),
        (vec!["--block", "0x10"], "no live block at or containing"),
    ] {
        assert_refused("dominators", &args, &file, message);
    }
    std::fs::remove_file(&file).unwrap();
    let _ = stop.send(());
    assert_eq!(
        list_bytes(),
        NODES * NODE_BUFFER,
        "the list outlived the snapshot"
    );
}
