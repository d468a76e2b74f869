//! `turbowish retainers` on a real snapshot: a block kept by a `static` is
//! named by the static, a typed task value by its task and field path, a
//! zombie future by what holds its waker; bad choices are one-line errors.

mod common;

use common::{assert_refused, scrub_stack, turbowish, turbowish_json};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use turbowish::{Trace, TracedExt, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Holds the buffer `keep_in_static` makes, for the rest of the process.
static KEPT_BY_STATIC: Mutex<Option<Vec<u8>>> = Mutex::new(None);

static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

#[derive(Trace)]
struct Sessions {
    names: Vec<String>,
}

#[inline(never)]
fn keep_in_static() {
    *KEPT_BY_STATIC.lock().unwrap() = Some(std::hint::black_box(vec![1u8; 23_456]));
}

#[inline(never)]
fn session_name(i: usize) -> String {
    format!("session-{i:04}-{}", "x".repeat(40))
}

/// Takes one snapshot of this process with: a static's buffer, a task whose
/// typed value holds 50 session names, and a zombie future held by a
/// waker. Returns the file and the zombie's task id.
fn snapshot() -> (PathBuf, u64) {
    keep_in_static();
    scrub_stack();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sessions = Arc::new(Sessions {
        names: (0..50).map(session_name).collect(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let _enter = rt.enter();
    let owner = async move {
        let _ = stopped.await;
    }
    .named("owner")
    .root(sessions)
    .spawn();
    let zombie = rt.block_on(async {
        WAKERS.lock().unwrap().reserve(8);
        let h = turbowish::spawn(std::future::poll_fn(|cx| {
            WAKERS.lock().unwrap().push(cx.waker().clone());
            Poll::Ready(())
        }));
        // Traced tasks on tokio carry tokio's task id.
        let id: u64 = h.id().to_string().parse().unwrap();
        h.await.unwrap();
        id
    });
    assert!(
        turbowish::tasks().iter().any(|t| t.id == zombie),
        "the zombie is traced"
    );
    let path = std::env::temp_dir().join(format!("tw-retainers-{}.twsnap", std::process::id()));
    turbowish::snapshot_to(&path).unwrap();
    stop.send(()).unwrap();
    rt.block_on(owner).unwrap();
    drop(WAKERS.lock().unwrap().drain(..));
    (path, zombie)
}

fn retainers(file: &Path, args: &[&str]) -> Value {
    let mut all: Vec<&OsStr> = vec!["retainers".as_ref(), "--json".as_ref()];
    all.extend(args.iter().map(|a| OsStr::new(*a)));
    all.push(file.as_os_str());
    turbowish_json(&all)
}

fn steps(path: &Value) -> Vec<(String, String)> {
    path["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["via"].as_str().unwrap().to_owned(),
                s["holder"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn retaining_paths_name_statics_fields_and_waker_holders() {
    let (file, zombie_id) = snapshot();

    // The static's buffer: one step from the static, named by its symbol.
    let v = retainers(&file, &["--site", "keep_in_static"]);
    assert_eq!(v["selected"]["blocks"], 1, "{v:#}");
    assert_eq!(v["selected"]["bytes"], 23_456, "{v:#}");
    let s = steps(&v["paths"][0]);
    assert_eq!(s[0].0, "static", "{s:?}");
    assert!(
        s[0].1.ends_with("retainers_real::KEPT_BY_STATIC"),
        "the static is named: {s:?}"
    );
    assert_eq!(s.len(), 2, "static -> the buffer: {s:?}");
    assert!(s[1].1.contains("keep_in_static"), "{s:?}");

    // As text, as the README shows it.
    let text = turbowish(&[
        "retainers".as_ref(),
        "--site".as_ref(),
        "keep_in_static".as_ref(),
        file.as_os_str(),
    ]);
    let text = String::from_utf8(text.stdout).unwrap();
    println!("{text}");
    assert!(
        text.contains("\n  [static] static retainers_real::KEPT_BY_STATIC\n    [pointer] a block of 22.9 KiB from retainers_real::keep_in_static"),
        "{text}"
    );

    // The session names: held by the owner task's typed value, through the
    // `names` field, all 50 on one path.
    let v = retainers(&file, &["--site", "session_name"]);
    assert_eq!(v["selected"]["blocks"], 50, "{v:#}");
    let path = &v["paths"][0];
    assert_eq!(path["blocks"], 50, "{v:#}");
    let s = steps(path);
    assert_eq!(s[0].0, "task", "{s:?}");
    assert!(s[0].1.contains("\"owner\""), "{s:?}");
    let vias: Vec<&str> = s.iter().map(|(via, _)| via.as_str()).collect();
    assert_eq!(
        vias,
        ["task", "future", "task value", "field names", "field []"],
        "the task, its shared value and the field path: {s:?}"
    );
    assert!(
        s[1].1.contains(", of type retainers_real::"),
        "the future step names the future's type: {s:?}"
    );

    // The zombie's future: held through the waker registry's buffer, which
    // `static WAKERS` holds.
    let v = retainers(&file, &["--task", &zombie_id.to_string()]);
    let s = steps(&v["paths"][0]);
    assert!(
        s[0].1.ends_with("retainers_real::WAKERS"),
        "the waker registry holds the zombie: {s:?}"
    );
    assert!(
        s.last().unwrap().1.starts_with("the future of task"),
        "{s:?}"
    );

    // Choices that match nothing are one-line errors with exit status 2.
    for (args, message) in [
        (vec!["--task", "999999"], "no task with id 999999"),
        (vec!["--site", "no_such_function_anywhere"], "no live block"),
        (vec!["--block", "0x10"], "no live block at or containing"),
    ] {
        assert_refused("retainers", &args, &file, message);
    }
    std::fs::remove_file(&file).unwrap();
}
