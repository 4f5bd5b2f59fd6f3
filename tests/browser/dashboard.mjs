// Drives the contactsync kick-out dashboard in Debian's Chromium through
// playwright-core, as a data manager would: open the queue, find a kick-out,
// open it, fix its payload, resubmit it, approve a held change, and take
// screenshots along the way.
//
//   node tests/browser/dashboard.mjs URL USER PASSWORD SCREENSHOT_DIR
//
// Environment: CS_SEARCH (what to search, default web-2041), CS_FIX_FIND and
// CS_FIX_REPLACE (the fix applied to the payload), CS_CHROMIUM (default
// /usr/bin/chromium), CS_SKIP_REVIEW (set: do not approve a review item).
// Run by pkg/dashboard's browser test (see pkg/dashboard/dashboardtest).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, user, password, shots] = process.argv.slice(2);
if (!url || !user || !password || !shots) {
  console.error('usage: node dashboard.mjs URL USER PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
const search = process.env.CS_SEARCH || 'web-2041';
const find = process.env.CS_FIX_FIND || 'jane.doe@example,org';
const replace = process.env.CS_FIX_REPLACE || 'jane.doe@example.org';
const executablePath = process.env.CS_CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(shots, { recursive: true });

const step = (msg) => console.log(`[browser] ${msg}`);
const shot = async (page, name) => {
  const file = path.join(shots, name);
  // From the top, so the sticky header sits where it belongs in a full-page shot,
  // without the transient toasts.
  await page.evaluate(() => { window.scrollTo(0, 0); document.querySelectorAll('.toast').forEach((t) => t.remove()); });
  await page.screenshot({ path: file, fullPage: true });
  step(`screenshot ${file}`);
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // The machine has no network but loopback: keep Chromium from calling home.
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

  step(`open ${url}`);
  await page.goto(url + '/#/queue');
  await page.waitForSelector('body[data-ready="true"]');
  await page.locator('#groups .group').first().waitFor();
  await page.locator('#kickouts tbody tr.row').first().waitFor();
  await shot(page, 'queue.png');

  step(`search for ${search}`);
  const listed = page.waitForResponse((r) => r.url().includes('/api/kickouts?') && r.url().includes('q='));
  await page.fill('#search', search);
  await page.press('#search', 'Enter');
  const res = await listed;
  const found = await res.json();
  if (!found.items.length) throw new Error(`no kick-out found for ${search}`);
  const id = found.items[0].id;
  await page.locator(`#kickouts tbody tr.row[data-id="${id}"]`).waitFor();

  step(`open kick-out ${id}`);
  await page.locator(`#kickouts tbody tr.row[data-id="${id}"]`).click();
  await page.waitForSelector('#edit');
  const original = await page.inputValue('#edit');
  if (!original.includes(find)) throw new Error(`the payload of ${id} does not contain ${JSON.stringify(find)}`);
  await page.fill('#edit', original.replace(find, replace));
  await shot(page, 'record.png');

  step('fix and resubmit');
  await page.click('#resubmit');
  await page.click('#dialog-ok');
  await page.waitForSelector('#replay-done');
  const done = await page.textContent('#replay-done');
  if (!done.includes('Fixed and resubmitted')) throw new Error(`unexpected replay status: ${done}`);
  await shot(page, 'record-resubmitted.png');

  let reviewID = null;
  if (!process.env.CS_SKIP_REVIEW) {
    step('approve a held change');
    await page.click('#tab-review');
    const card = page.locator('#reviews .review.pending').first();
    await card.waitFor();
    reviewID = await card.getAttribute('data-id');
    await card.locator('input').fill('Confirmed with the donor by phone');
    await card.locator('button.approve').click();
    await page.locator(`#reviews .review.approved[data-id="${reviewID}"]`).waitFor();
    await shot(page, 'review.png');
  }

  step('read the audit log');
  await page.click('#tab-audit');
  await page.locator('#audit tbody tr', { hasText: 'Fixed & resubmitted' }).first().waitFor();
  if (reviewID) await page.locator('#audit tbody tr', { hasText: 'Approved' }).first().waitFor();
  await shot(page, 'audit.png');

  if (pageErrors) throw new Error(`${pageErrors} JavaScript error(s) on the page`);
  console.log(JSON.stringify({ kickout: id, review: reviewID }));
} finally {
  await browser.close();
}
