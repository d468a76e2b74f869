//! Flame graphs as SVG, drawn by `inferno` from [`folded`] stacks.
//!
//! # Rules
//!
//! 1. **One snapshot**: a frame's width is its bytes as [`folded`] weighs
//!    them; the title says what they are (live or retained, by stack or by
//!    task) and, when stacks were sampled, that they are estimates.
//! 2. **Two snapshots**: a differential flame graph of growth (inferno's):
//!    widths are B's bytes, and each frame is red where it grew from A to
//!    B, blue where it shrank, by how much. The lines' B minus A sums to
//!    `diff`'s `live_bytes_b - live_bytes_a` (`born_bytes -
//!    freed_bytes`): exactly, unless stacks were sampled.
//! 3. **Nothing to draw is an error** ([`Error::Empty`]), not an empty
//!    picture.
//! 4. Interactive by default (inferno's search and zoom script);
//!    [`Style::inline`] makes a static SVG, with each frame's name and
//!    bytes as its tooltip, to sit inside an HTML page.

use super::folded::{self, Folded, Levels, View, Weigh};
use inferno::flamegraph::{self, Options, Palette, color::BasicPalette};
use std::fmt;
use std::io::{self, Write};

/// Why a flame graph was not drawn.
#[derive(Debug)]
pub enum Error {
    /// There are no bytes to draw (rule 3).
    Empty,
    /// Writing it failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => write!(f, "nothing to draw: no live bytes in the chosen view"),
            Error::Io(e) => write!(f, "cannot write the flame graph: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Empty => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// How the SVG looks.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// The title; [`title`] when `None`.
    pub title: Option<String>,
    /// Static, for an HTML page (rule 4).
    pub inline: bool,
    /// Width in pixels (inferno's default, 1200, when `None`).
    pub width: Option<usize>,
}

/// What the frames of `view` weigh, as a title (rule 1); `estimated` is
/// the stack sample's mean in bytes, when the weights are estimates.
pub fn title(view: View, estimated: Option<u64>) -> String {
    let what = match view.weigh {
        Weigh::Live => "Live bytes",
        Weigh::Retained => "Retained bytes",
    };
    let by = match view.levels {
        Levels::Stacks => "by allocation stack",
        Levels::Tasks => "by task (spawn site, future type) and allocation stack",
    };
    match estimated {
        Some(mean) => format!("{what} {by}, estimated from stacks sampled every {mean} bytes"),
        None => format!("{what} {by}"),
    }
}

/// Draws `folded` as a flame graph of `view` to `out` (rule 1).
pub fn svg(folded: &Folded, view: View, style: &Style, out: &mut dyn Write) -> Result<(), Error> {
    if folded.total() == 0 {
        return Err(Error::Empty);
    }
    let title = (style.title.clone()).unwrap_or_else(|| title(view, folded.estimated));
    let lines = folded.lines.iter().map(|(f, b)| format!("{f} {b}"));
    draw(lines.collect(), options(title, style), out)
}

/// Draws the growth from `a` to `b`, two foldings of `view`, as a
/// differential flame graph to `out` (rule 2).
pub fn differential_svg(
    a: &Folded,
    b: &Folded,
    view: View,
    style: &Style,
    out: &mut dyn Write,
) -> Result<(), Error> {
    if b.total() == 0 {
        return Err(Error::Empty);
    }
    let title = style.title.clone().unwrap_or_else(|| {
        let estimated = a.estimated.or(b.estimated);
        format!(
            "Growth from A to B: {}",
            lowercase_first(&title(view, estimated))
        )
    });
    let lines = (folded::differential(a, b).into_iter()).map(|(f, x, y)| format!("{f} {x} {y}"));
    let mut options = options(title, style);
    options.subtitle = Some("width: bytes in B; red: grew since A, blue: shrank".to_owned());
    draw(lines.collect(), options, out)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// inferno's options for a memory flame graph with `title`.
fn options(title: String, style: &Style) -> Options<'static> {
    let mut o = Options::default();
    o.title = title;
    o.count_name = "bytes".to_owned();
    o.name_type = "Frame:".to_owned();
    o.colors = Palette::Basic(BasicPalette::Mem);
    o.hash = true; // a frame's color depends on its name only
    o.deterministic = true;
    o.no_javascript = style.inline;
    o.image_width = style.width;
    o
}

fn draw(lines: Vec<String>, mut options: Options, out: &mut dyn Write) -> Result<(), Error> {
    let lines = lines.iter().map(String::as_str);
    flamegraph::from_lines(&mut options, lines, out)?;
    Ok(())
}
