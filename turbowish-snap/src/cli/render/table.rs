//! Plain-text tables with aligned columns.

use super::color::heading;
use super::text::{MAX_CELL, cut};
use std::borrow::Cow;

/// Which side a column's cells are aligned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Numbers.
    Right,
    /// Words.
    Left,
}

/// Renders `header` and `rows` indented by two spaces, with two spaces
/// between columns, each column as wide as its widest cell; cells wider than
/// [`MAX_CELL`] characters are cut in the middle; trailing spaces are
/// trimmed.
pub fn render<const N: usize>(
    header: [&str; N],
    align: [Align; N],
    rows: &[[String; N]],
) -> String {
    let rows: Vec<[Cow<'_, str>; N]> = rows
        .iter()
        .map(|row| std::array::from_fn(|i| cut(&row[i], MAX_CELL)))
        .collect();
    let header = header.map(Cow::Borrowed);
    let mut width = [0; N];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in std::iter::once(&header).chain(&rows).enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(width)
            .zip(align)
            .map(|((cell, w), a)| pad(cell, w, a))
            .collect();
        let line = cells.join("  ");
        let line = line.trim_end();
        out.push_str("  ");
        // Padded first: escapes would count as width.
        out.push_str(&if i == 0 {
            heading(line)
        } else {
            line.to_owned()
        });
        out.push('\n');
    }
    out
}

/// `cell` padded with spaces to `width` characters. By hand: `format!`'s
/// width argument panics above 65,535.
fn pad(cell: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(cell.chars().count()));
    match align {
        Align::Right => fill + cell,
        Align::Left => format!("{cell}{fill}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_are_trimmed() {
        let rows = [
            ["1.0 KiB".to_owned(), "main".to_owned()],
            ["12 B".to_owned(), String::new()],
        ];
        let text = render(["bytes", "name"], [Align::Right, Align::Left], &rows);
        assert_eq!(text, "    bytes  name\n  1.0 KiB  main\n     12 B\n");
    }

    #[test]
    fn cells_of_70000_characters_are_cut() {
        let rows = [["1".to_owned(), "x".repeat(70_000)]];
        let text = render(["n", "name"], [Align::Right, Align::Left], &rows);
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert_eq!(widest, 2 + 1 + 2 + MAX_CELL);
        assert!(text.contains('…'));
    }
}
