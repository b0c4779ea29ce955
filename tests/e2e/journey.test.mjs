// SPDX-License-Identifier: Apache-2.0
// The whole two-factor journey in a real browser: headless Debian Chromium driven by
// playwright-core (no downloaded browser), against the authd and authd-edge that tests/e2e/run
// started. The authenticator app is made of outside tools: the QR code is read from a
// screenshot of the page with zbarimg, codes come from oathtool.
//
// Environment (set by ./run): E2E_BASE_URL, E2E_EDGE_LOG (the edge's log, where the console
// mailer writes the e-mails), E2E_TMP (screenshots go there), E2E_CHROMIUM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  BASE, EDGE_LOG, TMP, sleep, oathtool, Authenticator, launchPersistent,
} from './lib/util.mjs';

const EMAIL = 'journey@example.com';
const PASSWORD = 'a long enough password for the journey';

// The newest signup-confirmation link the console mailer logged (polled, bounded).
async function confirmationLink() {
  const re = /(http:\/\/[^\s"]+\/auth\/signup\/confirm\/[A-Za-z0-9_.-]+)/g;
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = fs.readFileSync(EDGE_LOG, 'utf8').match(re);
    if (found) return found[found.length - 1];
    await sleep(100);
  }
  assert.fail(`no confirmation link in ${EDGE_LOG}`);
}

function mailSubjects(to) {
  return fs.readFileSync(EDGE_LOG, 'utf8').split('\n')
    .filter((l) => l.includes('event=mail ') && l.includes(`to=${to}`))
    .map((l) => (l.match(/subject=("(?:[^"\\]|\\.)*"|\S+)/) || [null, ''])[1])
    .map((v) => v.replace(/^"|"$/g, ''));
}

// Clicks a submit button (or link) and waits for the page it leads to; a 4xx/5xx answer fails
// with the request and the page's message.
async function go(page, selector, what) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${what}: no navigation`);
  if (resp.status() >= 400) {
    const msg = (await page.locator('main').innerText().catch(() => '')).replace(/\s+/g, ' ');
    assert.fail(`${what}: HTTP ${resp.status()} for ${resp.request().method()} ${resp.url()}: `
      + msg.slice(0, 300));
  }
  return resp;
}

async function signedInAs(page) {
  await page.goto(`${BASE}/`);
  const who = page.locator('text=Signed in as').locator('strong');
  return (await who.count()) ? (await who.textContent()).trim() : null;
}

test('signup, 2FA with an authenticator app, login with a code, 2FA off', { timeout: 180000 },
  async () => {
    assert.ok(BASE && EDGE_LOG && TMP, 'run me through tests/e2e/run');
    const profile = fs.mkdtempSync(path.join(TMP, 'chromium-profile-'));
    const context = await launchPersistent(profile, { viewport: { width: 1000, height: 1200 } });
    try {
      const page = context.pages()[0] || await context.newPage();
      page.setDefaultTimeout(10000);
      page.setDefaultNavigationTimeout(10000);

      // Sign up: the e-mail, then the link from the (console) e-mail, then the password.
      await page.goto(`${BASE}/auth/signup`);
      await page.fill('input[name="email"]', EMAIL);
      await go(page, 'button[type="submit"]', 'signup');
      await page.waitForSelector('text=/check your e-mail/i');
      const link = await confirmationLink();
      await page.goto(link);
      await page.fill('input[name="password"]', PASSWORD);
      await page.fill('input[name="password_confirmation"]', PASSWORD);
      await go(page, 'button[type="submit"]', 'set the password');
      assert.equal(page.url(), `${BASE}/`);
      assert.equal(await signedInAs(page), EMAIL, 'signed in after setting the password');

      // Turn on 2FA with the "app": a screenshot of the QR code, read by zbarimg.
      await page.goto(`${BASE}/auth/two-factor/enable`);
      await go(page, 'text=Enable using Authenticator app', 'open the QR code page');
      assert.equal(page.url(), `${BASE}/app/auth/two-factor/request`);
      const qrPng = path.join(TMP, 'qr-code.png');
      const qrPagePng = path.join(TMP, 'qr-page.png');
      await page.locator('#qr').screenshot({ path: qrPng });
      await page.screenshot({ path: qrPagePng, fullPage: true });
      console.log(`QR page screenshot: ${qrPagePng}`);
      const uri = execFileSync('zbarimg', ['--raw', '-q', qrPng],
        { encoding: 'utf8', timeout: 10000 }).trim();
      const u = new URL(uri);
      assert.equal(u.protocol, 'otpauth:');
      assert.equal(decodeURIComponent(u.pathname.replace(/^\/+/, '')), `authd:${EMAIL}`,
        `label of ${u.pathname}`);
      assert.equal(u.searchParams.get('issuer'), 'authd');
      const secret = u.searchParams.get('secret');
      assert.match(secret, /^[A-Z2-7]{32}$/);
      const shown = (await page.locator('#secret').textContent()).trim();
      assert.equal(shown.replace(/ /g, ''), secret, 'the typed-in key is the QR code\'s secret');
      const app = new Authenticator(secret);
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button:has-text("Verify and turn on")', 'confirm the first code');
      const codes = page.locator('#recovery-codes li code');
      await codes.first().waitFor();
      assert.equal(await codes.count(), 10, 'ten recovery codes');
      for (const c of await codes.allTextContents())
        assert.match(c, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
      await page.goto(`${BASE}/auth/two-factor`);
      await page.waitForSelector('text=Two-factor authentication is on');

      // Sign out, sign in: the password, then the TOTP step with a fresh code.
      await page.goto(`${BASE}/`);
      await go(page, 'button:has-text("Sign out")', 'sign out');
      assert.match(page.url(), /\/auth\/login/);
      assert.equal(await signedInAs(page), null, 'signed out');
      await page.goto(`${BASE}/auth/login`);
      await page.fill('input[name="email"]', EMAIL);
      await page.fill('input[name="password"]', PASSWORD);
      await go(page, 'button:has-text("Sign in")', 'sign in with the password');
      assert.equal(page.url(), `${BASE}/auth/two-factor/verify`, 'the TOTP step comes next');
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button:has-text("Verify")', 'the TOTP step');
      assert.equal(page.url(), `${BASE}/`);
      assert.equal(await signedInAs(page), EMAIL, 'signed in after the TOTP step');

      // Turn 2FA off with another fresh code.
      await page.goto(`${BASE}/auth/two-factor`);
      await go(page, 'text=Turn off two-factor authentication', 'open the disable page');
      assert.equal(page.url(), `${BASE}/auth/two-factor/disable`);
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button:has-text("Turn off")', 'turn 2FA off');
      assert.equal(page.url(), `${BASE}/auth/two-factor`);
      await page.waitForSelector('text=Two-factor authentication is off');
      await page.screenshot({ path: path.join(TMP, 'two-factor-off.png'), fullPage: true });

      const subjects = mailSubjects(EMAIL);
      assert.ok(subjects.includes('Two-factor authentication was enabled'), subjects.join(' | '));
      assert.ok(subjects.includes('Two-factor authentication was disabled'), subjects.join(' | '));
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
