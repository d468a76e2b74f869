//! `testing` without TurboWish as the global allocator: every check fails
//! saying how to fix it, rather than finding nothing and passing.

mod common;

use common::panic_message;
use turbowish::testing::{Heap, leak_check_blocking};

#[test]
fn checks_say_turbowish_is_not_the_global_allocator() {
    let error = Heap::try_take().unwrap_err().to_string();
    assert!(
        error.contains("not this binary's global allocator"),
        "{error}"
    );
    assert!(error.contains("#[global_allocator]"), "{error}");
    let message = panic_message(|| {
        drop(leak_check_blocking(async {
            std::mem::forget(vec![1u8; 10])
        }))
    });
    assert!(
        message.contains("not this binary's global allocator"),
        "{message}"
    );
}
