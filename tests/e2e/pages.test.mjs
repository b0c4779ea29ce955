// SPDX-License-Identifier: Apache-2.0
// The pages that keep people from locking themselves out (issue 14 §2), in a real browser at
// desktop (1280x800) and phone (390x844) sizes: the QR page (the QR code read by zbarimg, the
// "Open in authenticator app" otpauth:// link, "Can't scan?" with the key, its Copy button and
// the OTP parameters; a wrong code keeps the QR code and the key) and the recovery-codes page
// (a numbered list whose codes are never broken across lines, Copy to the clipboard, Download
// as a file, Print with the print stylesheet, Continue only once "I have saved these codes" is
// checked). Every page is checked with axe-core (lib/axe.mjs) in light and dark mode.
//
// Environment (set by ./run): E2E_BASE_URL, E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL,
// E2E_AUTHD_TARGET. Users are made with authctl; each size has its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import { BASE, TMP, AUTHCTL, TARGET, authctl, Authenticator, launchChromium } from './lib/util.mjs';

const PASSWORD = 'a long enough password for the pages';
const CODE_RE = /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/;

// Clicks and waits for the page it leads to; returns the response (any status).
async function submit(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${selector}: no navigation`);
  return resp;
}

// axe-core on the page as it is, in light and in dark mode.
async function a11y(page, label) {
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await checkA11y(page, `${label}, ${colorScheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

// Nothing on the page is wider than the window (no sideways scrolling).
async function noSidewaysScroll(page, label) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `${label}: page is ${scroll}px wide in a ${width}px window`);
}

// Decodes the QR code on the page with zbarimg (from a screenshot of #qr).
function readQr(file) {
  return execFileSync('zbarimg', ['--raw', '-q', file], { encoding: 'utf8', timeout: 10000 })
    .trim();
}

async function clipboard(page) {
  return page.evaluate(() => navigator.clipboard.readText());
}

for (const size of [{ name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 }]) {
  test(`QR and recovery-codes pages at ${size.name} size (${size.width}x${size.height})`,
    { timeout: 180000 }, async () => {
      assert.ok(BASE && TMP && AUTHCTL && TARGET, 'run me through tests/e2e/run');
      const email = `pages-${size.name}@example.com`;
      authctl(['user', 'create', '--email', email, '--password-stdin'], `${PASSWORD}\n`);
      const browser = await launchChromium();
      try {
        const context = await browser.newContext({
          viewport: { width: size.width, height: size.height },
          acceptDownloads: true,
        });
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
        const page = await context.newPage();
        page.setDefaultTimeout(10000);
        page.setDefaultNavigationTimeout(10000);
        const shot = (name) => path.join(TMP, `pages-${size.name}-${name}.png`);

        await page.goto(`${BASE}/auth/login`);
        await page.fill('input[name="email"]', email);
        await page.fill('input[name="password"]', PASSWORD);
        let resp = await submit(page, 'button:has-text("Sign in")');
        assert.equal(resp.status(), 200);
        assert.equal(page.url(), `${BASE}/`);

        // ---- the QR page ----
        await page.goto(`${BASE}/auth/two-factor/enable`);
        resp = await submit(page, 'text=Enable using Authenticator app');
        assert.equal(resp.status(), 200);
        await page.locator('#qr').screenshot({ path: shot('qr') });
        const uri = readQr(shot('qr'));
        const secret = new URL(uri).searchParams.get('secret');
        assert.match(secret, /^[A-Z2-7]{32}$/);
        await page.screenshot({ path: shot('qr-page'), fullPage: true });
        await a11y(page, `QR page, ${size.name}`);
        await noSidewaysScroll(page, `QR page, ${size.name}`);

        // A tap on a phone adds the account: the link is the QR code's URI.
        const link = page.locator('#otpauth-link');
        assert.ok(await link.isVisible(), 'the "Open in authenticator app" link is shown');
        assert.equal((await link.textContent()).trim(), 'Open in authenticator app');
        assert.equal(await link.getAttribute('href'), uri);

        // "Can't scan?" opens on the key (grouped, selectable), its Copy button, the parameters.
        const key = page.locator('#secret');
        assert.equal(await key.isVisible(), false, 'the key waits in the closed details');
        await page.click('summary:has-text("Can\'t scan?")');
        assert.ok(await key.isVisible());
        const shown = (await key.innerText()).trim();
        assert.match(shown, /^[A-Z2-7]{4}( [A-Z2-7]{4}){7}$/);
        assert.equal(shown.replace(/ /g, ''), secret);
        const params = await page.locator('dl.otp-params').innerText();
        for (const want of [/Algorithm\s+SHA1/, /Digits\s+6/, /Period\s+30 seconds/])
          assert.match(params, want);
        const copyKey = page.locator('button:has-text("Copy key")');
        assert.ok(await copyKey.isVisible(), 'pages.js shows the Copy key button');
        await copyKey.click();
        await page.locator('#secret-status:has-text("Copied")').waitFor();
        assert.equal(await clipboard(page), secret);
        await page.screenshot({ path: shot('qr-page-details'), fullPage: true });
        await a11y(page, `QR page with "Can't scan?" open, ${size.name}`);
        await noSidewaysScroll(page, `QR page with details, ${size.name}`);

        // A wrong code keeps the QR code (the same URI) and the key on the page.
        const app = new Authenticator(secret);
        await page.fill('input[name="token"]', app.wrong());
        resp = await submit(page, 'button:has-text("Verify and turn on")');
        assert.equal(resp.status(), 401);
        assert.ok(await page.locator('.msg.error').isVisible());
        await page.locator('#qr').screenshot({ path: shot('qr-again') });
        assert.equal(readQr(shot('qr-again')), uri, 'the same QR code after a wrong code');
        assert.equal((await key.textContent()).replace(/\s/g, ''), secret);
        assert.equal(await page.locator('#otpauth-link').getAttribute('href'), uri);
        await a11y(page, `QR page after a wrong code, ${size.name}`);

        // ---- the recovery-codes page ----
        await page.fill('input[name="token"]', await app.fresh());
        resp = await submit(page, 'button:has-text("Verify and turn on")');
        assert.equal(resp.status(), 200);
        const codeEls = page.locator('#recovery-codes li code');
        assert.equal(await codeEls.count(), 10);
        const codes = (await codeEls.allTextContents()).map((c) => c.trim());
        for (const c of codes)
          assert.match(c, CODE_RE);
        await page.screenshot({ path: shot('codes'), fullPage: true });
        await a11y(page, `recovery codes, ${size.name}`);
        await noSidewaysScroll(page, `recovery codes, ${size.name}`);

        // Numbered, and each code on one line inside the card: one box per code element, no
        // taller than one line, within the list's width.
        assert.equal(await page.locator('#recovery-codes').evaluate((el) =>
          `${el.tagName} ${getComputedStyle(el).listStyleType}`), 'OL decimal');
        const boxes = await codeEls.evaluateAll((els) => els.map((el) => {
          const rects = el.getClientRects();
          const li = el.closest('li').getBoundingClientRect();
          const card = el.closest('main').getBoundingClientRect();
          const lineHeight = parseFloat(getComputedStyle(el.closest('li')).lineHeight);
          return { n: rects.length, h: rects[0].height, top: rects[0].top, right: rects[0].right,
            liH: li.height, lineHeight, cardRight: card.right };
        }));
        for (const [i, b] of boxes.entries()) {
          assert.equal(b.n, 1, `code ${i + 1} is broken across ${b.n} lines`);
          assert.ok(b.liH < 1.5 * b.lineHeight, `item ${i + 1} is ${b.liH}px high (one line is `
            + `${b.lineHeight}px)`);
          assert.ok(b.right <= b.cardRight, `code ${i + 1} sticks out of the card`);
          if (i > 0)
            assert.ok(b.top > boxes[i - 1].top, `code ${i + 1} is not below code ${i}`);
        }

        // Copy puts the codes on the clipboard, one per line.
        const copy = page.locator('button:has-text("Copy")').first();
        assert.ok(await copy.isVisible(), 'pages.js shows the Copy button');
        await copy.click();
        await page.locator('#codes-status:has-text("Copied")').waitFor();
        assert.equal(await clipboard(page), codes.map((c) => `${c}\n`).join(''));

        // Download arrives as a file, one code per line.
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.click('button:has-text("Download")'),
        ]);
        assert.equal(download.suggestedFilename(), 'recovery-codes.txt');
        const file = path.join(TMP, `pages-${size.name}-codes.txt`);
        await download.saveAs(file);
        const text = fs.readFileSync(file, 'utf8');
        fs.rmSync(file, { force: true }); // recovery codes: never kept
        assert.equal(text, codes.map((c) => `${c}\n`).join(''));
        assert.equal(page.url(), `${BASE}/app/auth/two-factor/confirm`, 'still on the page');

        // Print: the button opens the browser's dialog (stubbed here); the print stylesheet
        // leaves the codes and drops every control.
        const print = page.locator('button:has-text("Print")');
        assert.ok(await print.isVisible(), 'pages.js shows the Print button');
        await page.evaluate(() => { window.print = () => { window.printed = true; }; });
        await print.click();
        assert.equal(await page.evaluate(() => window.printed), true);
        await page.emulateMedia({ media: 'print' });
        assert.ok(await codeEls.first().isVisible());
        for (const sel of ['button', 'form', 'header.top'])
          assert.equal(await page.locator(sel).first().isVisible(), false, `${sel} is printed`);
        await page.emulateMedia({ media: 'screen' });

        // Continue is a button that needs "I have saved these codes".
        const cont = page.locator('button:has-text("Continue")');
        assert.equal(await cont.evaluate((el) => el.tagName), 'BUTTON');
        assert.equal(await page.locator('a:has-text("Continue")').count(), 0);
        await cont.click();
        assert.equal(page.url(), `${BASE}/app/auth/two-factor/confirm`,
          'Continue without the box stays on the page');
        assert.equal(await page.locator('#f-saved').evaluate((el) => el.validity.valueMissing),
          true);
        await page.check('#f-saved');
        resp = await submit(page, 'button:has-text("Continue")');
        assert.equal(resp.status(), 200);
        assert.equal(page.url(), `${BASE}/auth/two-factor`);
        await page.waitForSelector('text=Two-factor authentication is on');

        // Without JavaScript (pages.js not loaded): new codes, no Copy or Print button shown,
        // Download still a file, the checkbox still required.
        await context.route('**/auth/static/pages.js', (route) => route.abort());
        await page.goto(`${BASE}/auth/two-factor`);
        await page.fill('input[name="token"]', await app.fresh());
        resp = await submit(page, 'button:has-text("Generate new recovery codes")');
        assert.equal(resp.status(), 200);
        const newCodes = (await codeEls.allTextContents()).map((c) => c.trim());
        assert.equal(newCodes.length, 10);
        assert.equal(await page.locator('button:has-text("Copy")').isVisible(), false);
        assert.equal(await page.locator('button:has-text("Print")').isVisible(), false);
        await page.screenshot({ path: shot('codes-no-js'), fullPage: true });
        await a11y(page, `new recovery codes without JavaScript, ${size.name}`);
        const [again] = await Promise.all([
          page.waitForEvent('download'),
          page.click('button:has-text("Download")'),
        ]);
        const file2 = path.join(TMP, `pages-${size.name}-codes2.txt`);
        await again.saveAs(file2);
        const text2 = fs.readFileSync(file2, 'utf8');
        fs.rmSync(file2, { force: true });
        assert.equal(text2, newCodes.map((c) => `${c}\n`).join(''));
        await page.check('#f-saved');
        resp = await submit(page, 'button:has-text("Continue")');
        assert.equal(page.url(), `${BASE}/auth/two-factor`);
        await context.close();
      } finally {
        await browser.close();
      }
    });
}
