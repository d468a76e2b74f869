// Loads a TurboWish HTML report in headless Chromium from a file:// URL
// and checks what a person would see: no console errors, no network
// requests, the expected text, a working sort; saves a screenshot.
//
// usage: node report.mjs REPORT.html SCREENSHOT.png EXPECTED_TEXT
// Prints one JSON line with what it found; exits 1 when a check fails.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [report, screenshot, expected] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "turbowish-chromium-"));
const failures = [];
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  const requests = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  const url = pathToFileURL(resolve(report)).href;
  page.on("request", (r) => { if (r.url() !== url) requests.push(r.url()); });
  await page.goto(url, { waitUntil: "load" });
  const text = await page.evaluate(() => document.body.innerText);
  if (!text.includes(expected)) failures.push(`the page does not show ${JSON.stringify(expected)}`);
  // Sort the tasks table by id: once descending, again ascending.
  const ids = () => page.$$eval("#tasks tbody tr", (rows) => rows.map((r) => Number(r.cells[0].dataset.v)));
  const heading = page.locator("#tasks th", { hasText: /^id$/ });
  await heading.click();
  const down = await ids();
  await heading.click();
  const up = await ids();
  const sorted = (xs, cmp) => xs.every((x, i) => i === 0 || cmp(xs[i - 1], x));
  if (down.length < 2 || !sorted(down, (a, b) => a >= b) || !sorted(up, (a, b) => a <= b)) {
    failures.push(`sorting by id failed: ${down} then ${up}`);
  }
  const svg = await page.locator(".flame > svg").count();
  if (svg !== 1) failures.push(`expected one inline flame graph, found ${svg}`);
  await page.locator("#tasks th", { hasText: /^retained$/ }).click();
  await page.screenshot({ path: screenshot, fullPage: true });
  if (errors.length) failures.push(`console errors: ${errors.join(" | ")}`);
  if (requests.length) failures.push(`network requests: ${requests.join(" ")}`);
  console.log(JSON.stringify({ failures, errors, requests, rows: down.length }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failures.length ? 1 : 0);
