// Drives the dashboard's person page and exports in Debian's Chromium
// through playwright-core: from a kick-out's record view and from a review
// item to the person's field timeline and links, and the queue's export
// link following the filters.
//
//   node tests/browser/person.mjs URL USER PASSWORD SCREENSHOT_DIR
//
// Environment: CS_KICKOUT (a kick-out with a person id), CS_PERSON (its
// person), CS_ENTRIES (how many timeline rows that person has),
// CS_CHROMIUM (default /usr/bin/chromium).
// Run by pkg/dashboard's TestPersonPageInBrowser.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, user, password, shots] = process.argv.slice(2);
if (!url || !user || !password || !shots) {
  console.error('usage: node person.mjs URL USER PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
const kickout = process.env.CS_KICKOUT;
const person = process.env.CS_PERSON;
const entries = Number(process.env.CS_ENTRIES);
const executablePath = process.env.CS_CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(shots, { recursive: true });

const step = (msg) => console.log(`[browser] ${msg}`);
const check = (ok, msg) => { if (!ok) throw new Error(msg); };

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let pageErrors = 0;
try {
  const context = await browser.newContext({
    httpCredentials: { username: user, password },
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => { pageErrors++; console.log(`[page error] ${e.message}`); });
  page.on('console', (m) => { if (m.type() === 'error') console.log(`[console] ${m.text()}`); });

  step(`open kick-out ${kickout}`);
  await page.goto(`${url}/#/kickout/${encodeURIComponent(kickout)}`);
  await page.waitForSelector('body[data-ready="true"]');
  const link = page.locator('#record a.person-link');
  await link.waitFor();
  check((await link.textContent()) === person, `the record's person link is ${await link.textContent()}, want ${person}`);

  step(`follow it to person ${person}`);
  await link.click();
  await page.locator('#timeline tbody tr.entry').first().waitFor();
  const rows = await page.locator('#timeline tbody tr.entry').count();
  check(rows === entries, `the timeline has ${rows} row(s), want ${entries}`);
  const timeline = await page.textContent('#timeline');
  for (const want of ['sent to online', 'echo suppressed', 'kicked out (rules.invalid_value)', '+12173840199']) {
    check(timeline.includes(want), `the timeline lacks ${JSON.stringify(want)}`);
  }
  const links = await page.textContent('#person-links');
  for (const want of ['offline', 'OFF-01012', 'online', 'web-0412']) check(links.includes(want), `the links lack ${want}`);
  const household = await page.textContent('#person-household');
  check(household.includes('hh-5f0c2a9e41d7b3c8a6e1f024'), `the person's household is ${JSON.stringify(household)}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(shots, 'person.png'), fullPage: true });

  step('from a review item to its person');
  await page.click('#tab-review');
  const card = page.locator('#reviews .review').first();
  await card.waitFor();
  await card.locator('a.person-link').click();
  await page.locator('#timeline tbody tr.entry').first().waitFor();
  check((await page.textContent('#timeline')).includes('held for review (offline)'), 'the review person timeline lacks the held change');

  step('the export link follows the filters');
  await page.goto(`${url}/#/queue`);
  await page.locator('#kickouts tbody tr.row').first().waitFor();
  const listed = page.waitForResponse((r) => r.url().includes('/api/kickouts?') && r.url().includes('status=resolved'));
  await page.selectOption('#f-status', 'resolved');
  await listed;
  // The link is set when the page has drawn the answer, a moment after it
  // arrived: wait for it (bounded), then check.
  await page.waitForFunction(() => (document.querySelector('#export-kickouts')?.getAttribute('href') || '').includes('status=resolved'),
    null, { timeout: 10000 }).catch(() => {});
  const href = await page.getAttribute('#export-kickouts', 'href');
  check(href.includes('status=resolved'), `export link ${href} does not carry the status filter`);
  const csv = await page.request.get(url + href);
  check(csv.ok() && csv.headers()['content-type'].startsWith('text/csv'), `export: ${csv.status()} ${csv.headers()['content-type']}`);
  const lines = (await csv.text()).trim().split('\n');
  check(lines.length === 2 && lines[1].includes('resolved'), `export of the resolved kick-outs: ${lines.join(' | ')}`);

  if (pageErrors) throw new Error(`${pageErrors} JavaScript error(s) on the page`);
  console.log(JSON.stringify({ person, rows }));
} finally {
  await browser.close();
}
