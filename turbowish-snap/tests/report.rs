//! `turbowish report` on hand-built snapshots: a self-contained page with
//! every name escaped, cut tables, the diff; and the page in headless
//! Chromium (tests/browser/report.mjs), whose screenshot is kept as a CI
//! artifact in `target/ci-artifacts/report.png`.

#![cfg(feature = "cli")]

mod export_fixture;

use export_fixture::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The report of `args` (after `report`), written to a file; its text.
fn report(dir: &Path, args: &[&str]) -> (PathBuf, String) {
    let out = dir.join("report.html");
    let mut all = vec!["report"];
    all.extend(args);
    all.extend(["-o", out.to_str().unwrap()]);
    let said = ok(&all);
    assert!(
        said.starts_with("wrote "),
        "one line about the file: {said}"
    );
    assert!(said.contains("a self-contained HTML report"), "{said}");
    let html = std::fs::read_to_string(&out).unwrap();
    (out, html)
}

fn pair(name: &str) -> (PathBuf, String, String) {
    let dir = temp_dir(name);
    let a = write_snap(&dir, "turbowish-4242-1.twsnap", &service());
    let b = write_snap(&dir, "turbowish-4242-2.twsnap", &service_later());
    (dir, a, b)
}

#[test]
fn names_from_the_file_are_escaped_and_nothing_is_fetched() {
    let (dir, a, _) = pair("escaped");
    let (_, html) = report(&dir, &[&a]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script>alert"), "a name became markup");
    let escaped = "svc::Evil&lt;&amp;[u8; 8]&gt;&amp;&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(
        html.contains(escaped),
        "the tasks table shows the name, escaped"
    );
    assert_eq!(
        html.matches("<script").count(),
        1,
        "one inline script, ours"
    );
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for fetch in ["src=", "href=\"http", "url(http", "@import", "@font-face"] {
        assert!(!html.contains(fetch), "{fetch}");
    }
    assert!(
        !html.contains("onload="),
        "no call to inferno's absent script"
    );
    assert!(
        !html.contains("ecmascript"),
        "no remains of inferno's script"
    );
    // Figures: the spawn site that retains most is named, with its bytes.
    assert!(html.contains("<td><code>src/main.rs:10</code></td>"));
    assert!(
        html.contains("<td class=\"num\" data-v=\"4608\""),
        "task 1 retains 4,608 bytes"
    );
    assert!(
        html.contains("Live bytes by allocation stack"),
        "the flame graph's title"
    );
}

#[test]
fn long_tables_are_cut_and_say_so() {
    let (dir, a, _) = pair("cut");
    let (_, html) = report(&dir, &[&a, "--rows", "1"]);
    assert!(
        html.contains("Showing the first 1 of 2 rows"),
        "tasks and spawn sites"
    );
    assert!(
        html.contains("Showing the first 1 of 4 rows"),
        "allocation sites"
    );
}

#[test]
fn two_snapshots_add_what_changed() {
    let (dir, a, b) = pair("diff");
    let (_, html) = report(&dir, &[&a, &b]);
    assert!(html.contains("What changed since A"));
    let growth = 8192 - 1024 + 48 - 32;
    let shown = format!("+{:.2} KiB", growth as f64 / 1024.0);
    assert!(html.contains(&shown), "net growth {shown}");
    assert!(
        html.contains("Growth from A to B: live bytes"),
        "the differential flame graph"
    );
    let mut other = service_later();
    other.process.pid = 1;
    let other = write_snap(&dir, "other.twsnap", &other);
    let out = turbowish(&["report", &a, &other, "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn an_unwritable_path_is_a_one_line_error() {
    let (dir, a, _) = pair("unwritable");
    let nowhere = dir.join("missing/report.html");
    let out = turbowish(&["report", &a, "-o", nowhere.to_str().unwrap()]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("turbowish: cannot write ") && err.contains("missing/report.html"));
}

/// Headless Chromium (Debian's `chromium`, driven by `playwright-core`
/// from tests/browser, both installed by `.ci/run`) loads the page from a
/// file:// URL: no console errors, no network requests, the top spawn
/// site shown, sorting works; the screenshot goes to
/// `target/ci-artifacts/report.png`. Set TURBOWISH_SKIP_BROWSER=1 to skip
/// this test where Chromium cannot be installed.
#[test]
fn the_page_renders_in_headless_chromium() {
    if std::env::var_os("TURBOWISH_SKIP_BROWSER").is_some() {
        eprintln!("skipped: TURBOWISH_SKIP_BROWSER is set");
        return;
    }
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists() && browser.join("node_modules/playwright-core").exists(),
        "needs {chromium} (apt-get install chromium) and playwright-core (npm ci --prefix \
         {}), as .ci/run installs them; or set TURBOWISH_SKIP_BROWSER=1",
        browser.display()
    );
    let (dir, a, b) = pair("browser");
    let (page, _) = report(&dir, &[&a, &b]);
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../ci-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(browser.join("report.mjs"))
        .args([page.as_os_str(), shot.as_os_str()])
        .arg("src/main.rs:20")
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("\"failures\":[]"), "{stdout}");
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}

#[test]
fn the_summary_shows_where_the_resident_memory_went_when_recorded() {
    let dir = temp_dir("resident");
    let mut snap = service();
    snap.capture.resident_bytes = 64 << 20;
    snap.capture.resident_anon_bytes = 60 << 20;
    snap.capture.own_table_bytes = 1 << 20;
    let with = write_snap(&dir, "turbowish-4242-1.twsnap", &snap);
    let (_, html) = report(&dir, &[&with]);
    assert!(html.contains("<div class=\"v\">64.0 MiB</div><div class=\"k\">resident</div>"));
    assert!(
        html.contains("<div class=\"v\">unknown</div><div class=\"k\">allocator retained</div>")
    );
    let without = write_snap(&dir, "turbowish-4242-2.twsnap", &service());
    let (_, html) = report(&dir, &[&without]);
    assert!(
        !html.contains("allocator retained"),
        "not recorded: no card"
    );
}
