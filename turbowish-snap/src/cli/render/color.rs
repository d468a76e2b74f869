//! Colors in text reports: on a terminal only, never with `--no-color` or
//! `NO_COLOR` set, and forced by `CLICOLOR_FORCE` (the conventions of
//! <https://no-color.org> and <https://bixense.com/clicolors/>).
//!
//! Colors only stress what the plain text already says (headings, findings
//! that need a look): piped output and `--json` never carry escapes.

use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

const HEADING: Style = Style::new().bold();
const ALERT: Style = AnsiColor::Red.on_default().bold();

/// Decides once, at startup, whether reports are colored.
pub fn init(no_color: bool) {
    ENABLED.store(
        wanted(no_color, std::io::stdout().is_terminal()),
        Ordering::Relaxed,
    );
}

fn wanted(no_color: bool, terminal: bool) -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if no_color || set("NO_COLOR") {
        return false;
    }
    set("CLICOLOR_FORCE") || terminal
}

fn paint(style: Style, text: &str) -> String {
    if ENABLED.load(Ordering::Relaxed) && !text.is_empty() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// A heading or a table's header.
pub fn heading(text: &str) -> String {
    paint(HEADING, text)
}

/// A finding: in alert colors when there are `n > 0` of what it counts
/// (leaks, zombies), plain otherwise.
pub fn flagged(n: u64, text: &str) -> String {
    match n {
        0 => text.to_owned(),
        _ => paint(ALERT, text),
    }
}
