//! `turbowish-kv`: the demo key-value server, with TurboWish linked in.
//!
//! ```sh
//! turbowish-kv --all-faults            # prints `listening on 127.0.0.1:PORT`
//! kill -USR1 <pid>                     # writes turbowish-<pid>-1.twsnap
//! ```
//!
//! It stops on SIGTERM, SIGINT or the end of its standard input (pass
//! `--ignore-stdin` to run it in the background with no input).

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;
use turbowish_alloc::TurboWish;
use turbowish_demo::{Faults, Options};

#[global_allocator]
static A: TurboWish = TurboWish::system();

/// A small key-value server over a line protocol (PING, GET, SET, DEL, SWAP,
/// SUBSCRIBE, PUBLISH, STATS, QUIT), with deliberate faults for TurboWish to
/// find.
///
/// Prints `listening on ADDR` as its first line. `kill -USR1 PID` (or
/// `turbowish snap PID`) writes a heap snapshot into TURBOWISH_DIR. Stops on
/// SIGTERM, SIGINT, or end of standard input.
#[derive(Debug, Parser)]
#[command(name = "turbowish-kv", version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Each connection also starts a task that waits forever, holding 64 KiB.
    #[arg(long)]
    leak_tasks: bool,
    /// Each closed connection leaves a finished task held by a stored Waker.
    #[arg(long)]
    zombie_wakers: bool,
    /// Each connection starts an audit task whose future holds a 32 KiB array.
    #[arg(long)]
    bloat: bool,
    /// A response cache that only grows, owned by one long-lived task.
    #[arg(long)]
    grow_cache: bool,
    /// Every write queues a job for compaction workers that nothing can ever wake.
    #[arg(long)]
    stuck_queue: bool,
    /// Every SWAP leaves two tasks deadlocked on two locks taken in opposite orders.
    #[arg(long)]
    lock_order: bool,
    /// All six faults.
    #[arg(long)]
    all_faults: bool,
    /// Keep running when standard input closes (stop with SIGTERM or SIGINT).
    #[arg(long)]
    ignore_stdin: bool,
}

impl Args {
    fn options(&self) -> Options {
        let faults = if self.all_faults {
            Faults::ALL
        } else {
            Faults {
                leak_tasks: self.leak_tasks,
                zombie_wakers: self.zombie_wakers,
                bloat: self.bloat,
                grow_cache: self.grow_cache,
                stuck_queue: self.stuck_queue,
                lock_order: self.lock_order,
            }
        };
        Options {
            addr: self.addr,
            faults,
            stop_on_stdin_eof: !self.ignore_stdin,
        }
    }
}

fn main() -> ExitCode {
    turbowish_alloc::install();
    let args = Args::parse();
    match turbowish_demo::server::run(&args.options()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turbowish-kv: {e}");
            ExitCode::from(2)
        }
    }
}
