//! `turbowish`: take TurboWish heap snapshots and tell what is in them.
//!
//! Exits 0 on success and 2 on any error, with one line on stderr.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse(); // usage errors exit 2, --help exits 0
    match cli::run(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing left to say.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turbowish: {}", cli::one_line(&e));
            ExitCode::from(2)
        }
    }
}
