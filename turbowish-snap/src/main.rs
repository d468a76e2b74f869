//! `turbowish`: take TurboWish heap snapshots and tell what is in them.
//!
//! Exits 0 on success and 2 on any error, with one line on stderr. All of
//! it is in the library: [`turbowish_snap::cli`].

fn main() -> std::process::ExitCode {
    turbowish_snap::cli::main()
}
