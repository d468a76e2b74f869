//! Where a command that writes a file (`export`, `flamegraph`, `report`)
//! puts it:
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
/// `-`; the size of the file written (0 for stdout).
pub fn write_output(
    path: &Path,
    stdout: &mut dyn Write,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<u64> {
    if path == Path::new("-") {
        write(stdout)?;
        return Ok(0);
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
        let file = (file.into_inner())
            .map_err(|e| e.into_error())
            .with_context(cannot)?;
        let size = file.metadata().with_context(cannot)?.len();
        std::fs::rename(&partial, path).with_context(cannot)?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// What a command that wrote a file prints after it (nothing for `-o -`):
/// one line, or with `--json` this object.
#[derive(Debug, serde::Serialize)]
pub struct Written {
    /// The format written.
    pub format: &'static str,
    /// The path written.
    pub output: String,
    /// The file's size.
    pub bytes: u64,
}

impl Written {
    /// The file at `path` of `bytes` bytes, in `format`.
    pub fn new(format: &'static str, path: &Path, bytes: u64) -> Written {
        let output = path.display().to_string();
        Written {
            format,
            output,
            bytes,
        }
    }

    /// `wrote PATH: WHAT, SIZE`.
    pub fn line(&self, what: &str) -> String {
        let size = super::units::bytes(self.bytes);
        format!("wrote {}: {what}, {size}\n", self.output)
    }
}

/// The fields of [`Written`] in `--json`, for `--help` (a macro, so that
/// `concat!` can put it into a command's help text).
macro_rules! written_fields {
    () => {
        "JSON output (--json) is one object about the file written (nothing is printed with -o -):
  format  the format written
  output  the file written
  bytes   the file's size"
    };
}
pub(crate) use written_fields;
