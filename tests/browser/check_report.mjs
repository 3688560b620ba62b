// Opens `loglake report --html` in headless Chromium (Debian's) and checks what a person would see:
//   node tests/browser/check_report.mjs REPORT.html SCREENSHOT.png PANELS [DAY TOP_PATH_REQUESTS ["HOUR PATH REQUESTS"]]
// Every one of the PANELS reports has a panel whose chart drew shapes with a size (laid out, not
// only present in the markup) and no "No rows" note; every time chart has gridlines and value
// labels on its axis, every chart a tooltip per value; a table sorts by a clicked column (both
// ways) and a long one pages; the page has its Content-Security-Policy; the range picker's DAY
// shows that day's panels in place of the whole range's, its top path with the TOP_PATH_REQUESTS
// that `loglake query top_paths --from DAY --to DAY` gives, and a tap on the HOUR of that day shows
// its top PATH with the REQUESTS `loglake query top_paths_by_hour` gives; it logs no console error or warning,
// throws nothing and requests nothing but itself (it must open offline); it loads in under a
// second; the full-page screenshot is taken, non-trivial and of bounded size.
// playwright-core comes from PLAYWRIGHT_DIR (scripts/test installs it there from npm); it drives
// the system's Chromium, never a downloaded one.
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import path from 'node:path';

const [html, screenshot, expectedPanels, day, dayTopRequests, hourTop] = process.argv.slice(2);
if (!html || !screenshot || !expectedPanels) {
  console.error('usage: check_report.mjs REPORT.html SCREENSHOT.png PANELS');
  process.exit(2);
}
const require = createRequire(path.resolve(process.env.PLAYWRIGHT_DIR ?? '.') + '/');
const { chromium } = require('playwright-core');

const failures = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  // The closed network of CI: no background connections, no sandbox as root.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      failures.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  const url = 'file://' + path.resolve(html);
  page.on('request', (request) => {
    if (request.url() !== url) failures.push(`requested ${request.url()}`);
  });

  const started = performance.now();
  await page.goto(url, { waitUntil: 'load' });
  const loadMs = performance.now() - started;
  if (loadMs > 1000) failures.push(`took ${loadMs.toFixed(0)} ms to load`);

  const panels = await page.$$eval('.period.first section.panel', (sections) => sections.map((section) => {
    const drawn = [...section.querySelectorAll('svg rect, svg polyline, svg path, svg line')]
      .filter((shape) => {
        const box = shape.getBoundingClientRect();
        return box.width > 0 || box.height > 0;
      });
    const svg = section.querySelector('svg')?.getBoundingClientRect();
    return {
      id: section.id,
      shapes: drawn.length,
      chartArea: svg ? svg.width * svg.height : 0,
      empty: section.querySelector('.empty') !== null,
    };
  }));
  if (panels.length !== Number(expectedPanels)) {
    failures.push(`${panels.length} panels, expected ${expectedPanels}`);
  }
  for (const panel of panels) {
    if (panel.empty || panel.shapes === 0 || panel.chartArea < 100 * 50) {
      failures.push(`panel ${panel.id}: ${JSON.stringify(panel)}`);
    }
  }

  // Axes and tooltips: every time chart has gridlines and tick labels, every chart titles.
  const charts = await page.$$eval('.period.first section.panel svg.chart', (svgs) => svgs.map((svg) => ({
    panel: svg.closest('section').id,
    time: svg.getAttribute('aria-label').endsWith('over time'),
    grid: svg.querySelectorAll('line.grid').length,
    tips: svg.querySelectorAll('title').length,
  })));
  for (const chart of charts) {
    if ((chart.time && chart.grid < 2) || chart.tips === 0) {
      failures.push(`chart without axes or tooltips: ${JSON.stringify(chart)}`);
    }
  }
  const policy = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.content)
    .catch(() => '');
  if (!policy.startsWith("default-src 'none'")) failures.push(`policy: ${policy}`);

  // Sorting: a click on a numeric header orders the rows by it, a second click the other way.
  const sorted = await page.evaluate(() => {
    const table = [...document.querySelectorAll('.period.first table.data')]
      .find((t) => t.tBodies[0].rows.length > 3 && t.querySelector('td.n'));
    if (!table) return null;
    const column = [...table.tBodies[0].rows[0].cells].findIndex((c) => c.classList.contains('n'));
    const values = () => [...table.tBodies[0].rows].map((r) => Number(r.cells[column].dataset.v));
    const header = table.tHead.rows[0].cells[column];
    header.click();
    const down = values();
    header.click();
    const up = values();
    const ordered = (v, sign) => v.every((x, i) => i === 0 || sign * (x - v[i - 1]) >= 0);
    return { panel: table.closest('section').id, down: ordered(down, -1), up: ordered(up, 1) };
  });
  if (!sorted || !sorted.down || !sorted.up) failures.push(`sorting: ${JSON.stringify(sorted)}`);

  // Paging: a long table shows 25 rows, and 25 more at a click.
  const paged = await page.evaluate(() => {
    const table = [...document.querySelectorAll('.period.first table.data')]
      .find((t) => t.tBodies[0].rows.length > 25);
    if (!table) return { none: true };
    const visible = () => [...table.tBodies[0].rows].filter((r) => !r.hidden).length;
    const before = visible();
    table.nextElementSibling.click();
    return { total: table.tBodies[0].rows.length, before, after: visible() };
  });
  if (!paged.none && (paged.before !== 25 || paged.after !== Math.min(50, paged.total))) {
    failures.push(`paging: ${JSON.stringify(paged)}`);
  }

  // The range picker: the day's link shows that day in place of the whole range.
  if (day) {
    await page.click(`nav.periods a[href="#d-${day}"]`);
    const shown = await page.evaluate((day) => {
      const visible = (element) => element && getComputedStyle(element).display !== 'none';
      const top = document.querySelector(`#d-${day}-top_paths td.n`);
      return {
        day: visible(document.getElementById(`d-${day}`)),
        whole: visible(document.querySelector('.period.first')),
        topRequests: top ? Number(top.dataset.v) : null,
      };
    }, day);
    if (!shown.day || shown.whole || shown.topRequests !== Number(dayTopRequests)) {
      failures.push(`range picker, ${day}: ${JSON.stringify(shown)}, expected ${dayTopRequests}`);
    }
    // Its first hour drills down: tapped, its top paths show under the chart, the first one
    // with the requests `loglake query top_paths_by_hour` gives.
    if (hourTop) {
      const [hour, topPath, topRequests] = hourTop.split(' ');
      const target = `${day} ${hour.padStart(2, '0')}:00: `;
      const hits = page.locator(`#d-${day}-traffic_by_hour rect.hit`);
      const at = await hits.evaluateAll((rects, target) =>
        rects.findIndex((r) => r.textContent.startsWith(target)), target);
      let detail = null;
      if (at >= 0) {
        await hits.nth(at).click();
        detail = await page.locator(`#d-${day}-traffic_by_hour pre.detail`).textContent();
      }
      const lines = detail ? detail.split('\n') : [];
      const expected = `${topPath}: ${Number(topRequests).toLocaleString('en-US')}`;
      if (!lines[0]?.startsWith(target) || lines[1] !== expected) {
        failures.push(`hour drill-down ${target}: ${JSON.stringify(detail)}, expected ${expected}`);
      }
    }
    await page.goto(url, { waitUntil: 'load' });
  }

  await page.screenshot({ path: screenshot, fullPage: true });
  const { width, height } = await page.evaluate(() => ({
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  }));
  // README.md's pictures (SCREENSHOTS_DIR=docs): the top of the page on a desktop and a phone.
  const pictures = process.env.SCREENSHOTS_DIR;
  if (pictures) await page.screenshot({ path: path.join(pictures, 'report-desktop.png') });
  // On a phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  if (pictures) await page.screenshot({ path: path.join(pictures, 'report-phone.png') });
  const phoneWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (phoneWidth > 390) failures.push(`${phoneWidth} px wide on a 390 px phone`);
  // The reader's dark theme: a dark page.
  await page.emulateMedia({ colorScheme: 'dark' });
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (background !== 'rgb(23, 25, 35)') failures.push(`dark theme background ${background}`);

  const bytes = statSync(screenshot).size;
  if (bytes < 20_000 || bytes > 20_000_000) failures.push(`screenshot of ${bytes} bytes`);
  if (width > 1440 || height > 20_000) failures.push(`page of ${width}x${height} px`);
  console.log(`report ${path.basename(html)}: ${panels.length} panels with charts ` +
    `(${charts.length} charts with axes and tooltips, tables sort and page), ` +
    `loaded in ${loadMs.toFixed(0)} ms, page ${width}x${height} px, screenshot ${bytes} bytes`);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  process.exit(1);
}
