//! Plain-text tables with aligned columns.

use super::color::heading;

/// Which side a column's cells are aligned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Numbers.
    Right,
    /// Words.
    Left,
}

/// Renders `header` and `rows` indented by two spaces, with two spaces
/// between columns, each column as wide as its widest cell; trailing spaces
/// are trimmed.
pub fn render<const N: usize>(
    header: [&str; N],
    align: [Align; N],
    rows: &[[String; N]],
) -> String {
    let mut width = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.map(String::from);
    let mut out = String::new();
    for (i, row) in std::iter::once(&header).chain(rows).enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(width)
            .zip(align)
            .map(|((cell, w), a)| match a {
                Align::Right => format!("{cell:>w$}"),
                Align::Left => format!("{cell:<w$}"),
            })
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
}
