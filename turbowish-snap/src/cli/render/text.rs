//! Strings from a snapshot made safe for a terminal.
//!
//! A snapshot's names (functions, files, types, task names, labels, panic
//! messages) come from the profiled program and may come from a stranger's
//! file. Printed raw, an ESC, BEL or CR would reach the terminal: clear the
//! screen, fake output, set the window title, write the clipboard (OSC 52).
//! Text reports therefore show every such character as an escape (`\x1b`,
//! `\u{202e}`), names longer than [`MAX_NAME`] characters are cut (a
//! 70,000-byte type name is noise on a terminal), and table cells are cut
//! to [`MAX_CELL`] characters. JSON output keeps every string whole and
//! raw: its encoder escapes control characters itself.

use crate::Snapshot;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest name a text report prints whole, in characters.
pub const MAX_NAME: usize = 1024;
/// Widest table cell, in characters; longer cells are cut in the middle.
pub const MAX_CELL: usize = 120;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, and
/// the bidirectional overrides and isolates that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as an escape: `\n`, `\r`, `\t`,
/// `\\xNN` for other ASCII controls, `\u{NNNN}` above.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes every string of `snap` that a text report may print, and cuts
/// it to [`MAX_NAME`] characters (see the module doc). Only strings that
/// change are copied.
pub fn escape_snapshot(snap: &mut Snapshot) {
    let strings = snap
        .strings
        .iter_mut()
        .chain(&mut snap.capture.typed_panics);
    for s in strings {
        let escaped = escape(s);
        let cut = match cut(&escaped, MAX_NAME) {
            Cow::Owned(cut) => Some(cut),
            Cow::Borrowed(_) => None,
        };
        if let Some(shown) = cut.or(match escaped {
            Cow::Owned(escaped) => Some(escaped),
            Cow::Borrowed(_) => None,
        }) {
            *s = shown;
        }
    }
}

/// `s` cut to at most `max` characters (at least 3), keeping its start and
/// end around a `…`: both ends of a path or a type name say the most.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    let max = max.max(3);
    let len = s.chars().count();
    if len <= max {
        return Cow::Borrowed(s);
    }
    let tail = (max - 1) / 2;
    let head = max - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(len - tail));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escape("plain::name"), "plain::name");
        assert_eq!(
            escape("a\x1b]52;c;aGk=\x07b\r\n\tc\u{7f}\u{9b}\u{202e}z"),
            "a\\x1b]52;c;aGk=\\x07b\\r\\n\\tc\\x7f\\u{9b}\\u{202e}z"
        );
    }

    #[test]
    fn long_text_is_cut_in_the_middle() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghijklmnop", 7), "abc…nop");
        assert_eq!(cut("ääääääääää", 5), "ää…ää");
        assert_eq!(cut(&"x".repeat(70_000), MAX_CELL).chars().count(), MAX_CELL);
    }

    #[test]
    fn every_string_of_a_snapshot_is_escaped() {
        let mut s = Snapshot::default();
        s.strings.push("evil\x1b[2J".into());
        s.capture.typed_panics.push("boom\x07".into());
        s.strings.push("y".repeat(5000));
        escape_snapshot(&mut s);
        assert_eq!(s.strings[1], "evil\\x1b[2J");
        assert_eq!(s.strings[2].chars().count(), MAX_NAME);
        assert_eq!(s.capture.typed_panics[0], "boom\\x07");
    }
}
