// Drives the "who is this?" screen of the contactsync dashboard in Debian's
// Chromium through playwright-core: the queue row names the person, a
// match.ambiguous kick-out shows the record beside its candidate field by
// field in words, and a data manager decides "same person" on one kick-out
// and "a different person" on another.
//
//   node tests/browser/decisions.mjs URL USER PASSWORD SCREENSHOT_DIR
//
// Environment: CS_SAME and CS_DIFFERENT (the kick-out ids to decide),
// CS_NAME (the name the queue row shows), CS_WORDS (comma-separated phrases
// the comparison must say), CS_CHROMIUM (default /usr/bin/chromium).
// Run by pkg/app's TestDashboardDecidesAmbiguousMatch.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, user, password, shots] = process.argv.slice(2);
if (!url || !user || !password || !shots) {
  console.error('usage: node decisions.mjs URL USER PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
const same = process.env.CS_SAME;
const different = process.env.CS_DIFFERENT;
const name = process.env.CS_NAME || '';
const words = (process.env.CS_WORDS || '').split(',').filter(Boolean);
const executablePath = process.env.CS_CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(shots, { recursive: true });

const step = (msg) => console.log(`[browser] ${msg}`);
const shot = async (page, file) => {
  await page.evaluate(() => { window.scrollTo(0, 0); document.querySelectorAll('.toast').forEach((t) => t.remove()); });
  await page.screenshot({ path: path.join(shots, file), fullPage: true });
  step(`screenshot ${file}`);
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let pageErrors = 0;
try {
  const context = await browser.newContext({ httpCredentials: { username: user, password }, viewport: { width: 1360, height: 900 },
    locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => { pageErrors++; console.log(`[page error] ${e.message}`); });
  page.on('console', (m) => { if (m.type() === 'error') console.log(`[console] ${m.text()}`); });

  step('the queue names the person');
  await page.goto(url + '/#/queue');
  await page.waitForSelector('body[data-ready="true"]');
  const row = page.locator(`#kickouts tbody tr.row[data-id="${same}"]`);
  await row.waitFor();
  const rowText = await row.textContent();
  if (name && !rowText.includes(name)) throw new Error(`the queue row of ${same} does not name ${name}: ${rowText}`);

  step(`open ${same}: the record beside its candidate`);
  await row.click();
  await page.locator('#decide .candidate table tbody tr').first().waitFor();
  const text = await page.textContent('#decide');
  for (const w of words) if (!text.includes(w)) throw new Error(`the comparison does not say "${w}": ${text}`);
  if (/[+-]\d+\.\d\dtf/.test(text)) throw new Error(`the comparison shows weights: ${text}`);
  await shot(page, 'decide.png');

  step('same person');
  await page.locator('#decide .decide-same').first().click();
  await page.fill('#dialog-input', 'Same donor: confirmed by phone');
  await page.click('#dialog-ok');
  await page.waitForSelector('#replay-done');

  step(`open ${different}: a different person`);
  await page.goto(url + '/#/kickout/' + encodeURIComponent(different));
  await page.locator('#decide #decide-different').waitFor();
  await page.click('#decide #decide-different');
  await page.fill('#dialog-input', 'Another Anna Adams');
  await page.click('#dialog-ok');
  await page.waitForSelector('#replay-done');
  await shot(page, 'decided.png');

  if (pageErrors) throw new Error(`${pageErrors} JavaScript error(s) on the page`);
} finally {
  await browser.close();
}
