//! `turbowish leaks` on a real snapshot: a block lost to `mem::forget`, and
//! a zombie future held by a stored waker.

mod common;

use common::{scrub_stack, turbowish, turbowish_json};
use std::sync::Mutex;
use std::task::{Poll, Waker};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

const FORGOTTEN: usize = 12_345;

#[inline(never)]
fn forget_a_block() {
    std::mem::forget(std::hint::black_box(vec![3u8; FORGOTTEN]));
}

#[test]
fn leaks_names_the_forgotten_block_and_the_zombie_holder() {
    // On a thread of its own, which is gone by the snapshot: no stale copy
    // of the pointer can stay in a scanned stack.
    std::thread::spawn(forget_a_block).join().unwrap();
    scrub_stack();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let line = line!() + 3;
    rt.block_on(async {
        WAKERS.lock().unwrap().reserve(8);
        let h = turbowish::spawn(std::future::poll_fn(|cx| {
            WAKERS.lock().unwrap().push(cx.waker().clone());
            Poll::Ready(())
        }));
        h.await.unwrap();
    });
    let path = std::env::temp_dir().join(format!("tw-leaks-{}.twsnap", std::process::id()));
    turbowish::snapshot_to(&path).unwrap();
    let v = turbowish_json(&[
        "leaks".as_ref(),
        "--json".as_ref(),
        "--top".as_ref(),
        "0".as_ref(),
        path.as_os_str(),
    ]);
    let forgotten = v["unreachable"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bytes"] == FORGOTTEN)
        .unwrap_or_else(|| {
            let held_by = turbowish(&[
                "retainers".as_ref(),
                "--site".as_ref(),
                "forget_a_block".as_ref(),
                path.as_os_str(),
            ]);
            panic!(
                "the forgotten block is unreachable: {v:#}\nbut it is held:\n{}{}",
                String::from_utf8_lossy(&held_by.stdout),
                String::from_utf8_lossy(&held_by.stderr)
            )
        });
    std::fs::remove_file(&path).unwrap();
    assert!(
        forgotten["site"]
            .as_str()
            .unwrap()
            .contains("forget_a_block"),
        "{forgotten}"
    );

    let zombies = v["zombies"].as_array().unwrap();
    let zombie = zombies
        .iter()
        .find(|z| z["spawned_at"] == format!("tests/leaks_real.rs:{line}"))
        .unwrap_or_else(|| panic!("the zombie is listed: {v:#}"));
    assert_eq!(zombie["state"], "completed");
    let holders: Vec<&str> = zombie["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    // The waker registry's buffer, allocated by the `reserve` above.
    assert!(
        holders.iter().any(|h| h.contains("leaks_real.rs")),
        "{holders:?}"
    );
    drop(WAKERS.lock().unwrap().drain(..));
}
