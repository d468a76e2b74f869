//! tokio's drivers, named by what they wait for (rule 11 of
//! [`waits`](super)): a wake path that starts in the I/O driver says "the
//! I/O driver (socket readiness)", not a chain of the runtime's blocks.
//!
//! A block is a driver's when, in its allocation stack read innermost
//! first (skipping the allocator and the standard library), the first of
//! tokio's functions that belongs to a module of its runtime or signal
//! handling is the I/O driver's (`tokio::runtime::io`), the timer's
//! (`tokio::runtime::time`) or the signal driver's (`tokio::signal`,
//! `tokio::runtime::signal`): an I/O registration, the timer wheel's
//! levels, the signal registry. tokio's helpers (`tokio::util`,
//! `tokio::sync`) are read past; any other module of the runtime (the
//! scheduler growing a run queue while the driver wakes a task) is not a
//! driver, nor is a block whose first such function is the program's.

use super::super::sites::frames::is_machinery_symbol;
use super::super::tasks::runtime::is_tokio;
use crate::model::{Snapshot, StackIndex};

/// One of tokio's drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Driver {
    /// The I/O driver: sockets, pipes, anything registered with epoll.
    Io,
    /// The timer: `sleep`, `interval`, `timeout`.
    Timer,
    /// The signal driver: `tokio::signal`.
    Signal,
}

impl Driver {
    /// What reports call it: "the I/O driver (socket readiness)", "the
    /// timer", "the signal driver".
    pub fn name(self) -> &'static str {
        match self {
            Driver::Io => "the I/O driver (socket readiness)",
            Driver::Timer => "the timer",
            Driver::Signal => "the signal driver",
        }
    }
}

/// The driver that allocated blocks with stack `stack`, if one did.
pub fn driver_of_stack(snap: &Snapshot, stack: StackIndex) -> Option<Driver> {
    let symbols = (snap.stack(stack).iter())
        .filter_map(|f| snap.frames.get(f.index()))
        .flat_map(|f| &f.symbols);
    for sym in symbols {
        let file = sym.file.map_or("", |f| snap.string(f));
        if is_tokio(snap, sym, file) {
            match module(snap.string(sym.function), file) {
                Module::Driver(d) => return Some(d),
                Module::Runtime => return None,
                Module::Other => {}
            }
        } else if !is_machinery_symbol(snap, sym) {
            return None;
        }
    }
    None
}

/// Which part of tokio a function of it is.
enum Module {
    Driver(Driver),
    Runtime,
    Other,
}

/// The part of tokio `function` (defined in `file`) is, by its path, else
/// by its source file.
fn module(function: &str, file: &str) -> Module {
    let path = function.trim_start_matches('<');
    let (runtime, signal) = match path.starts_with("tokio::") {
        true => (
            path.strip_prefix("tokio::runtime::"),
            path.strip_prefix("tokio::signal::"),
        ),
        false => {
            let after = |p: &str| file.find(p).map(|at| &file[at + p.len()..]);
            (after("/src/runtime/"), after("/src/signal/"))
        }
    };
    if signal.is_some() {
        return Module::Driver(Driver::Signal);
    }
    let Some(rest) = runtime else {
        return Module::Other;
    };
    match rest.split([':', '/', '.']).next().unwrap_or("") {
        "io" => Module::Driver(Driver::Io),
        "time" => Module::Driver(Driver::Timer),
        "signal" => Module::Driver(Driver::Signal),
        _ => Module::Runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Frame, FrameIndex, Symbol};

    /// A stack of `symbols` (function, file), innermost first, each its
    /// own frame.
    fn stack_of(symbols: &[(&str, &str)]) -> (Snapshot, StackIndex) {
        let mut s = Snapshot::default();
        for (i, &(function, file)) in symbols.iter().enumerate() {
            s.strings.extend([function.to_owned(), file.to_owned()]);
            let at = |k: usize| crate::model::StringIndex::new((s.strings.len() - k) as u32);
            let sym = Symbol {
                function: at(2),
                file: Some(at(1)).filter(|_| !file.is_empty()),
                line: 1,
            };
            s.frames.push(Frame {
                addr: 0x10 * (i as u64 + 1),
                symbols: vec![sym],
                ..Frame::default()
            });
        }
        s.stacks
            .push((0..symbols.len() as u32).map(FrameIndex::new).collect());
        (s, StackIndex::new(1))
    }

    const TOKIO: &str = "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1";

    fn driver(symbols: &[(&str, &str)]) -> Option<Driver> {
        let (s, stack) = stack_of(symbols);
        driver_of_stack(&s, stack)
    }

    #[test]
    fn the_first_runtime_module_of_tokio_names_the_driver() {
        let alloc = (
            "alloc::alloc::alloc",
            "/rustc/abc/library/alloc/src/alloc.rs",
        );
        let slab = ("tokio::util::slab::Slab<T>::new", "");
        let main = ("svc::main", "/h/svc/src/main.rs");
        let io = (
            "tokio::runtime::io::registration_set::RegistrationSet::allocate",
            "",
        );
        assert_eq!(driver(&[alloc, slab, io, main]), Some(Driver::Io));
        let signal = ("<tokio::signal::registry::Globals as Default>::default", "");
        assert_eq!(driver(&[alloc, signal, main]), Some(Driver::Signal));
        // Inlined without a name of tokio's path: by its source file.
        let wheel = (
            "Level::new",
            &*format!("{TOKIO}/src/runtime/time/wheel/level.rs"),
        );
        assert_eq!(driver(&[alloc, wheel, main]), Some(Driver::Timer));
        // The scheduler's queue, grown while the I/O driver wakes a task.
        let inject = ("tokio::runtime::scheduler::inject::Inject<T>::push", "");
        assert_eq!(driver(&[alloc, inject, io, main]), None);
        // The program's block, allocated in a task polled by the runtime.
        assert_eq!(driver(&[alloc, main, io]), None);
        assert_eq!(driver(&[]), None);
        assert_eq!(Driver::Io.name(), "the I/O driver (socket readiness)");
    }
}
