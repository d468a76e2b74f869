//! The report's inline style sheet and script: no fonts, images or
//! scripts from elsewhere (the page's Content-Security-Policy forbids
//! them).

/// The style sheet: system fonts, cards for the totals, striped tables.
pub const CSS: &str = r#"
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --accent:#0969da;
        --warn:#9a6700; --warnbg:#fff8c5; --bad:#d1242f; --badbg:#ffebe9; --okbg:#dafbe1; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background: #24292f; color: #fff; padding: 18px 32px; }
header.top h1 { margin: 0; font-size: 22px; font-weight: 600; }
header.top p { margin: 4px 0 0; color: #d0d7de; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 32px 48px; }
nav.toc { margin: 12px 0 4px; }
nav.toc a { color: var(--accent); margin-right: 16px; text-decoration: none; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
ul.findings { list-style: none; padding: 0; margin: 0; }
ul.findings > li { border-radius: 6px; padding: 8px 12px; margin: 6px 0; border: 1px solid var(--line); }
ul.findings > li.ok { background: var(--okbg); }
ul.findings > li.warn { background: var(--warnbg); }
ul.findings > li.bad { background: var(--badbg); }
ul.findings li ul { margin: 4px 0 0; padding-left: 20px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; cursor: pointer; user-select: none; white-space: nowrap; }
th:hover { background: #eaeef2; }
th[aria-sort=ascending]::after { content: " \25B2"; font-size: 10px; }
th[aria-sort=descending]::after { content: " \25BC"; font-size: 10px; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.grew { color: var(--bad); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
.muted { color: var(--muted); }
.flame { border: 1px solid var(--line); border-radius: 6px; padding: 4px; overflow-x: auto; }
.flame svg { width: 100%; height: auto; display: block; }
.flame #search, .flame #unzoom, .flame #matched { display: none; }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; }
"#;

/// The script: sorts a table by the column whose heading is clicked
/// (numbers by their `data-v` value, text alphabetically), once
/// descending, again ascending.
pub const JS: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var row = th.parentNode, col = Array.prototype.indexOf.call(row.children, th);
    var body = th.closest("table").tBodies[0];
    var desc = th.getAttribute("aria-sort") !== "descending";
    var key = function (tr) {
      var td = tr.cells[col], v = td.getAttribute("data-v");
      return v === null ? td.textContent.toLowerCase() : Number(v);
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
    rows.forEach(function (tr) { body.appendChild(tr); });
    Array.prototype.forEach.call(row.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", desc ? "descending" : "ascending");
  });
});
"#;
