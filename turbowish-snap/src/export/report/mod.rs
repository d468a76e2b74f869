//! A one-file HTML report of a snapshot, or of what grew between two: what
//! a person opens without installing anything.
//!
//! # Rules
//!
//! 1. **Self-contained**: inline style sheet and script ([`assets`]), the
//!    flame graph as inline SVG, no fonts, images or scripts from
//!    elsewhere; the page's Content-Security-Policy forbids every fetch, so
//!    it renders the same offline and attached to a bug report.
//! 2. **Every name from the file is escaped** ([`html::escape`]); the flame
//!    graph's names are escaped by its SVG writer.
//! 3. **Bounded**: each table is cut to [`Options::rows`] rows and says
//!    how many it left out; the flame graph drops frames narrower than a
//!    tenth of a pixel. At a million blocks the page stays a few MB.
//! 4. **Figures are the commands'**: totals as `summary`, findings as
//!    `summary`'s (details in `leaks`, `waits`, `bloat`), tables as
//!    `tasks --sort retained`, `summary`'s spawn sites, `sites`, and with
//!    two snapshots `diff` (by spawn site and by allocation site) and the
//!    differential flame graph of `flamegraph A B`.

pub mod assets;
pub mod html;
mod sections;

use super::flame::{self, Style};
use super::folded::{self, View};
use crate::analysis::Analysis;
use crate::analysis::diff::Comparison;
use crate::analysis::sites::estimate::SiteWeights;
use html::escape;
use std::io::{self, Write};

/// How much the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The most rows each table shows (rule 3).
    pub rows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { rows: 500 }
    }
}

/// Writes the report of `later` to `out`; with `earlier` (a snapshot of
/// the same process taken before), also what changed since it.
pub fn write(
    later: &Analysis,
    earlier: Option<&Analysis>,
    options: Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    let a = later;
    let mut page = String::with_capacity(1 << 20);
    head(a, earlier.is_some(), &mut page);
    section(&mut page, "summary", "Summary", &sections::totals(a));
    section(&mut page, "findings", "Findings", &sections::findings(a));
    if let Some(e) = earlier {
        let body = sections::diff(&Comparison::new(e, a), options.rows);
        section(&mut page, "diff", "What changed since A", &body);
    }
    section(&mut page, "flame", "Flame graph", &flame_graph(a, earlier));
    section(
        &mut page,
        "spawn-sites",
        "Spawn sites",
        &sections::spawn_sites(a, options.rows),
    );
    section(
        &mut page,
        "tasks",
        "Tasks",
        &sections::tasks(a, options.rows),
    );
    section(
        &mut page,
        "sites",
        "Allocation sites",
        &sections::sites(a, options.rows),
    );
    page.push_str(
        "<footer>Written by TurboWish. Click a column's heading to sort the table by it.</footer>\n\
         </main>\n<script>",
    );
    page.push_str(assets::JS);
    page.push_str("</script>\n</body>\n</html>\n");
    out.write_all(page.as_bytes())
}

/// The document's head and the page's header.
fn head(a: &Analysis, diff: bool, page: &mut String) {
    let s = a.snapshot();
    let exe = s.string(s.process.exe);
    let program = exe
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("a process");
    let title = format!("TurboWish report: {program} (pid {})", s.process.pid);
    let what = match diff {
        true => format!(
            "Snapshot B, #{}, compared with snapshot A, taken earlier",
            s.process.sequence
        ),
        false => format!("Snapshot #{}", s.process.sequence),
    };
    let sampled = match SiteWeights::of(s).sampled_every() {
        Some(mean) => format!(
            " Stacks were sampled (every {} on average): figures by allocation site are estimates.",
            html::bytes(mean)
        ),
        None => String::new(),
    };
    page.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    );
    page.push_str(&format!("<title>{}</title>\n<style>", escape(&title)));
    page.push_str(assets::CSS);
    page.push_str("</style>\n</head>\n<body>\n<header class=\"top\">");
    page.push_str(&format!(
        "<h1>{}</h1><p>{}; <code>{}</code>.{}</p></header>\n<main>\n",
        escape(&title),
        escape(&what),
        escape(exe),
        escape(&sampled)
    ));
    let mut toc = vec![("summary", "Summary"), ("findings", "Findings")];
    if diff {
        toc.push(("diff", "What changed"));
    }
    toc.extend([
        ("flame", "Flame graph"),
        ("spawn-sites", "Spawn sites"),
        ("tasks", "Tasks"),
        ("sites", "Allocation sites"),
    ]);
    page.push_str("<nav class=\"toc\">");
    for (id, name) in toc {
        page.push_str(&format!("<a href=\"#{id}\">{name}</a>"));
    }
    page.push_str("</nav>\n");
}

/// A section `id` headed `heading`, holding `body` (HTML).
fn section(page: &mut String, id: &str, heading: &str, body: &str) {
    page.push_str(&format!(
        "<section id=\"{id}\"><h2>{heading}</h2>\n{body}</section>\n"
    ));
}

/// The flame graph of live bytes by stack, or of growth with `earlier`,
/// as inline SVG (its XML declaration and DOCTYPE cut off).
fn flame_graph(a: &Analysis, earlier: Option<&Analysis>) -> String {
    let view = View::default();
    let later = folded::fold(a, view);
    let style = Style {
        inline: true,
        ..Style::default()
    };
    let mut svg = Vec::new();
    let drawn = match earlier {
        None => flame::svg(&later, view, &style, &mut svg),
        Some(e) => flame::differential_svg(&folded::fold(e, view), &later, view, &style, &mut svg),
    };
    let note = "<p class=\"muted\">Hover over a frame for its name and bytes. \
                <code>turbowish flamegraph</code> writes an interactive one (search, zoom).</p>\n";
    match drawn {
        Ok(()) => {
            let svg = String::from_utf8_lossy(&svg);
            let start = svg.find("<svg").unwrap_or(0);
            format!(
                "{note}<div class=\"flame\">{}</div>\n",
                without_script(&svg[start..])
            )
        }
        Err(e) => format!("<p class=\"muted\">{}</p>\n", escape(&e.to_string())),
    }
}

/// inferno's static SVG without what is left of its script: the settings
/// it declares and the `onload` call to the code it left out.
fn without_script(svg: &str) -> String {
    let svg = svg.replacen(" onload=\"init(evt)\"", "", 1);
    let Some(start) = svg.find("<script") else {
        return svg;
    };
    match svg[start..].find("</script>") {
        Some(len) => format!(
            "{}{}",
            &svg[..start],
            &svg[start + len + "</script>".len()..]
        ),
        None => svg,
    }
}
