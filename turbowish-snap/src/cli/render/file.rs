//! Where a command that writes a file (`flamegraph`, `report`) puts it:
//! the path given with `-o`, or stdout for `-o -`.
//!
//! A file is written beside its final path and renamed into place when
//! complete, so a failed run never leaves a half-written file under the
//! name asked for; an unwritable path is one line naming it.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes what `write` produces to `path`, or to `stdout` when `path` is
/// `-`.
pub fn write_output(
    path: &Path,
    stdout: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    if path == Path::new("-") {
        return write(stdout);
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let partial = path.with_file_name(format!(
        ".{}.partial-{}",
        name.as_deref().unwrap_or("output"),
        std::process::id()
    ));
    let cannot = || format!("cannot write {}", path.display());
    let result = (|| {
        let mut file = BufWriter::new(File::create(&partial).with_context(cannot)?);
        write(&mut file)?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .with_context(cannot)?;
        std::fs::rename(&partial, path).with_context(cannot)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
