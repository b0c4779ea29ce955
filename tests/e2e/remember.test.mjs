// SPDX-License-Identifier: Apache-2.0
// "Don't ask again on this browser for N days" (remembered browsers, authd/device.h) in headless
// Debian Chromium, at 1280x800 and 390x844: a user with 2FA ticks the box at the code step, gets
// the HttpOnly asid_device cookie, signs in again with the password alone, sees the browser on
// the two-factor settings page and revokes it (the code is asked again), remembers it again and
// signs out everywhere (the code is asked again). Every page shown is checked with axe
// (lib/axe.mjs). The AuthConfig is changed for the test and put back afterwards (the servers are
// shared with the other files).
//
// Environment (set by ./run): E2E_BASE_URL, E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL, E2E_AUTHD_TARGET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import { BASE, TMP, sleep, authctl, oathtool, Authenticator, launchChromium } from './lib/util.mjs';

const DAYS = 7;
const PASSWORD = 'a long enough password to remember';
const SIZES = [{ name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 }];

// Clicks and waits for the page it leads to.
async function go(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${selector}: no navigation`);
  return resp;
}

async function signIn(page, email) {
  await page.goto(`${BASE}/auth/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await go(page, 'button[type="submit"]');
}

async function signOut(page, everywhere) {
  await page.goto(`${BASE}/`);
  await go(page, `button:text-is("${everywhere ? 'Sign out everywhere' : 'Sign out'}")`);
}

// The code step, once the edge's copy of the AuthConfig shows the box (it rereads the config on
// a page within its refresh interval: reloaded until then, bounded).
async function codeStepWithBox(page) {
  const deadline = Date.now() + 15000;
  for (;;) {
    if (await page.locator('input[name="remember"]').count() > 0) return;
    assert.ok(Date.now() < deadline, 'the code step never showed "Don\'t ask again"');
    await sleep(250);
    await page.reload();
  }
}

test('remember this browser: skip, list, revoke, sign out everywhere', async () => {
  const saved = authctl(['-o', 'json', 'config', 'get']);
  const cfg = JSON.parse(saved);
  // Keep every other field; a twoFactor block that was absent gets the default past-step count
  // (a present block without it would mean 0).
  cfg.twoFactor = { validPastTokensCount: 1, ...(cfg.twoFactor || {}),
    rememberBrowserDays: DAYS };
  authctl(['apply', '-f', '-'], JSON.stringify([cfg]));
  const browser = await launchChromium();
  try {
    for (const size of SIZES) {
      const email = `remember-${size.name}@example.com`;
      authctl(['user', 'create', '--email', email, '--password-stdin'], `${PASSWORD}\n`);
      const context = await browser.newContext({ viewport: { width: size.width,
        height: size.height } });
      const page = await context.newPage();
      const check = async (label) => {
        await page.screenshot({ path: path.join(TMP, `remember-${size.name}-${label}.png`),
          fullPage: true });
        await checkA11y(page, `${label}, ${size.name}`);
      };

      // Turn 2FA on (QR page, code from oathtool), then sign out.
      await signIn(page, email);
      assert.equal(page.url(), `${BASE}/`);
      await page.goto(`${BASE}/auth/two-factor/enable`);
      await go(page, 'text=Enable using Authenticator app');
      const secret = (await page.locator('#secret').textContent()).replace(/\s+/g, '');
      const app = new Authenticator(secret);
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button[type="submit"]');
      await page.locator('#recovery-codes').waitFor();
      await signOut(page, false);

      // The code step offers the box; ticked with a right code, the browser is remembered.
      await signIn(page, email);
      assert.equal(page.url(), `${BASE}/auth/two-factor/verify`);
      await codeStepWithBox(page);
      assert.match(await page.locator('label[for="remember"]').textContent(),
        new RegExp(`Don't ask again on this browser for ${DAYS} days`));
      await check('code step with the box');
      await page.check('input[name="remember"]');
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button:has-text("Verify")');
      assert.equal(page.url(), `${BASE}/`);
      const cookie = (await context.cookies()).find((c) => c.name === 'asid_device');
      assert.ok(cookie, 'no asid_device cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      const left = cookie.expires - Date.now() / 1000;
      assert.ok(left > DAYS * 86400 - 120 && left <= DAYS * 86400 + 5, `expires in ${left} s`);
      // The page's scripts cannot read it.
      assert.equal(await page.evaluate(() => document.cookie.includes('asid_device')), false);
      await check('home with sign out everywhere');

      // Signed out and in again: the password alone.
      await signOut(page, false);
      await signIn(page, email);
      assert.equal(page.url(), `${BASE}/`, 'the code step was not skipped');

      // Listed on the settings page; revoked there, the code is asked again.
      await page.goto(`${BASE}/auth/two-factor`);
      const list = page.locator('#devices li');
      assert.equal(await list.count(), 1);
      assert.match(await list.first().textContent(), /Chrome on Linux[\s\S]*Added [\s\S]*last used/);
      await check('settings with a remembered browser');
      await go(page, '#devices button:has-text("Revoke")');
      assert.equal(page.url(), `${BASE}/auth/two-factor`);
      assert.match(await page.textContent('main'), /No browser is remembered/);
      await check('settings after revoking');
      await signOut(page, false);
      await signIn(page, email);
      assert.equal(page.url(), `${BASE}/auth/two-factor/verify`, 'revoked, yet not asked');

      // Remembered again, then "Sign out everywhere" forgets it too.
      await page.check('input[name="remember"]');
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button:has-text("Verify")');
      assert.equal(page.url(), `${BASE}/`);
      await signOut(page, true);
      await check('signed out everywhere');
      await signIn(page, email);
      assert.equal(page.url(), `${BASE}/auth/two-factor/verify`, 'signed out everywhere, yet '
        + 'not asked');
      await context.close();
    }
  } finally {
    await browser.close();
    authctl(['apply', '-f', '-'], `[${saved}]`);
  }
});
