//! Failure messages: what the `turbowish` command prints about a snapshot,
//! run in-process through the CLI library, so a test log reads like a
//! session at the terminal.

use std::ffi::OsString;
use std::fmt::Write;
use std::path::Path;
use turbowish_snap::cli::{Cli, one_line, run};

/// `$ turbowish COMMAND FILE ARGS...` and its output, for a failure message.
pub(super) fn command(name: &str, file: &Path, args: &[&str]) -> String {
    let mut argv: Vec<OsString> = vec!["turbowish".into(), name.into()];
    argv.push(file.into());
    argv.extend(args.iter().map(OsString::from));
    argv.push("--no-color".into());
    let mut shown = format!("$ turbowish {name} {} {}\n", file.display(), args.join(" "));
    let output = match <Cli as clap::Parser>::try_parse_from(&argv) {
        Ok(cli) => {
            let mut out = Vec::new();
            match run(&cli, &mut out) {
                Ok(()) => String::from_utf8_lossy(&out).into_owned(),
                Err(e) => format!("turbowish: {}\n", one_line(&e)),
            }
        }
        Err(e) => format!("turbowish: {e}\n"),
    };
    for line in output.lines() {
        let _ = writeln!(shown, "  {line}");
    }
    shown
}
