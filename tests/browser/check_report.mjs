// Opens `loglake report --html` in headless Chromium (Debian's) and checks what a person would see:
//   node tests/browser/check_report.mjs REPORT.html SCREENSHOT.png PANELS
// Every one of the PANELS reports has a panel whose chart drew shapes with a size (laid out, not
// only present in the markup) and no "No rows" note; the page logs no console error or warning,
// throws nothing and requests nothing but itself (it must open offline); it loads in under a
// second; the full-page screenshot is taken, non-trivial and of bounded size.
// playwright-core comes from PLAYWRIGHT_DIR (scripts/test installs it there from npm); it drives
// the system's Chromium, never a downloaded one.
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import path from 'node:path';

const [html, screenshot, expectedPanels] = process.argv.slice(2);
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

  const panels = await page.$$eval('section.panel', (sections) => sections.map((section) => {
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

  await page.screenshot({ path: screenshot, fullPage: true });
  const { width, height } = await page.evaluate(() => ({
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  }));
  // On a phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const phoneWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (phoneWidth > 390) failures.push(`${phoneWidth} px wide on a 390 px phone`);
  // The reader's dark theme: a dark page.
  await page.emulateMedia({ colorScheme: 'dark' });
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (background !== 'rgb(23, 25, 35)') failures.push(`dark theme background ${background}`);

  const bytes = statSync(screenshot).size;
  if (bytes < 20_000 || bytes > 20_000_000) failures.push(`screenshot of ${bytes} bytes`);
  if (width > 1440 || height > 20_000) failures.push(`page of ${width}x${height} px`);
  console.log(`report ${path.basename(html)}: ${panels.length} panels with charts, ` +
    `loaded in ${loadMs.toFixed(0)} ms, page ${width}x${height} px, screenshot ${bytes} bytes`);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  process.exit(1);
}
