//! HTML pieces of the report: escaping, quantities, and sortable tables.
//!
//! Every string that comes from a snapshot goes through [`escape`] (rule 3
//! of the export layer): the page's markup is only what this module and
//! its callers write.

use std::fmt::Write;

/// `text` escaped for HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `bytes` in binary units with three significant digits (`1.50 MiB`).
pub fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ if value >= 100.0 => format!("{value:.0} {}", UNITS[unit]),
        _ if value >= 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.2} {}", UNITS[unit]),
    }
}

/// `bytes`, signed: `+1.50 MiB`, `-24 B`.
pub fn signed_bytes(delta: i64) -> String {
    let sign = if delta < 0 { "-" } else { "+" };
    format!("{sign}{}", self::bytes(delta.unsigned_abs()))
}

/// A count with thousands separators (`1,234,567`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One cell of a [`Table`].
#[derive(Debug, Clone)]
pub enum Cell {
    /// Text from the file or the report, escaped when written.
    Text(String),
    /// Text in a fixed-width font (code locations, types).
    Code(String),
    /// Bytes: shown in binary units, sorted by value.
    Bytes(u64),
    /// A signed byte change.
    Delta(i64),
    /// A count.
    Count(u64),
}

/// A table the page's script sorts by clicking a column's heading.
#[derive(Debug, Clone)]
pub struct Table {
    /// Column headings.
    pub columns: Vec<&'static str>,
    /// The rows shown.
    pub rows: Vec<Vec<Cell>>,
    /// How many rows there were before cutting to `rows`.
    pub total: usize,
}

impl Table {
    /// A table of `columns` holding `rows`, cut to `limit` rows.
    pub fn new(
        columns: Vec<&'static str>,
        rows: impl Iterator<Item = Vec<Cell>>,
        limit: usize,
    ) -> Table {
        let mut total = 0;
        let mut shown = Vec::new();
        for row in rows {
            if total < limit {
                shown.push(row);
            }
            total += 1;
        }
        Table {
            columns,
            rows: shown,
            total,
        }
    }

    /// The table as HTML, with a note when rows were cut; `empty` when
    /// there are none.
    pub fn html(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("<p class=\"muted\">{}</p>\n", escape(empty));
        }
        let mut h = String::from("<div class=\"scroll\"><table class=\"sortable\"><thead><tr>");
        for c in &self.columns {
            let _ = write!(h, "<th title=\"Sort\">{}</th>", escape(c));
        }
        h.push_str("</tr></thead><tbody>\n");
        for row in &self.rows {
            h.push_str("<tr>");
            for cell in row {
                cell_html(&mut h, cell);
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></div>\n");
        if self.total > self.rows.len() {
            let _ = writeln!(
                h,
                "<p class=\"muted cut\">Showing the first {} of {} rows; the \
                 command line lists them all.</p>",
                count(self.rows.len() as u64),
                count(self.total as u64)
            );
        }
        h
    }
}

fn cell_html(h: &mut String, cell: &Cell) {
    let _ = match cell {
        Cell::Text(t) => write!(h, "<td>{}</td>", escape(t)),
        Cell::Code(t) => write!(h, "<td><code>{}</code></td>", escape(t)),
        Cell::Bytes(b) => write!(
            h,
            "<td class=\"num\" data-v=\"{b}\" title=\"{} bytes\">{}</td>",
            count(*b),
            bytes(*b)
        ),
        Cell::Delta(d) => {
            let class = if *d > 0 { "num grew" } else { "num" };
            write!(
                h,
                "<td class=\"{class}\" data-v=\"{d}\">{}</td>",
                signed_bytes(*d)
            )
        }
        Cell::Count(n) => write!(h, "<td class=\"num\" data-v=\"{n}\">{}</td>", count(*n)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_quantities_readable() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(300 << 20), "300 MiB");
        assert_eq!(signed_bytes(-24), "-24 B");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn long_tables_are_cut_and_say_so() {
        let rows = (0..5).map(|i| vec![Cell::Count(i)]);
        let t = Table::new(vec!["n"], rows, 2);
        let h = t.html("none");
        assert_eq!(h.matches("<tr>").count(), 3, "heading and two rows");
        assert!(h.contains("Showing the first 2 of 5 rows"));
    }
}
