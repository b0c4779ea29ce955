// SPDX-License-Identifier: Apache-2.0
// A user whose codes come by webhook (transport "sms"), in headless Debian Chromium at desktop
// (1280x800) and phone (390x844) size: enrols by choosing SMS among the operator's transports,
// signs in with the code the webhook got (and "Send again"), resets the password from the
// e-mailed link with a code sent to the phone, makes new recovery codes and turns two-factor off,
// each with the code sent for that step. Every page says where the code went ("to your phone by
// SMS") and never "authenticator app", and passes the axe-core check (lib/axe.mjs).
//
// The AuthConfig gets a webhook (a receiver in this process), twoFactor.transports, a 15 s TOTP
// period and room for more deliveries; the saved AuthConfig is put back at the end (finally).
//
// Environment (set by ./run): E2E_BASE_URL, E2E_EDGE_LOG, E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL,
// E2E_AUTHD_TARGET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import { BASE, EDGE_LOG, TMP, sleep, authctl, launchChromium } from './lib/util.mjs';

const SIZES = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }];
const PERIOD = 15; // the TOTP period this test configures: fewer seconds waiting for a new step
const PASSWORD = 'a long enough password for sms';
const NEW_PASSWORD = 'another long password for sms';
const WORDS = 'to your phone by SMS';

// The webhook receiver: every body it got, parsed.
function receiver() {
  const calls = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      calls.push(JSON.parse(body));
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
    });
  });
  return { calls, server };
}

// The newest link of this kind the console mailer logged after `after` of them (bounded poll).
async function mailedLink(kind, after) {
  const re = new RegExp(`(http://[^\\s"]+/auth/${kind}/[A-Za-z0-9_.-]+)`, 'g');
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = fs.readFileSync(EDGE_LOG, 'utf8').match(re) || [];
    if (found.length > after) return found[found.length - 1];
    await sleep(100);
  }
  assert.fail(`no new ${kind} link in ${EDGE_LOG}`);
}

function linkCount(kind) {
  const re = new RegExp(`http://[^\\s"]+/auth/${kind}/[A-Za-z0-9_.-]+`, 'g');
  return (fs.readFileSync(EDGE_LOG, 'utf8').match(re) || []).length;
}

// Clicks and waits for the page it leads to.
async function go(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${selector}: no navigation`);
  return resp;
}

test('a user whose codes come by SMS webhook, at both sizes', async () => {
  const hook = receiver();
  await new Promise((resolve) => hook.server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${hook.server.address().port}/sms`;
  const saved = JSON.parse(authctl(['config', 'get', '-o', 'json']));
  const edgeOffers = async (want) => { // the edge rereads the AuthConfig within seconds
    const deadline = Date.now() + 20000;
    for (;;) {
      const cfg = JSON.parse(authctl(['config', 'get', '-o', 'json']));
      const tf = cfg.twoFactor || {};
      if (want ? (tf.webhook || {}).endpoint === endpoint : (tf.webhook || {}).endpoint !== endpoint)
        return;
      assert.ok(Date.now() < deadline, 'the AuthConfig did not change');
      await sleep(200);
    }
  };
  const browser = await launchChromium();
  try {
    const tf = saved.twoFactor || {};
    authctl(['apply', '-f', '-'], JSON.stringify([{
      ...saved,
      twoFactor: { ...tf, period: PERIOD, validPastTokensCount: 1, transports: ['sms', 'voice'],
        webhook: { endpoint, timeout: 3000 } },
      lockout: { ...(saved.lockout || {}),
        delivery: { account: { freeFailures: 100 }, address: { freeFailures: 100 } } },
    }]));
    await edgeOffers(true);
    for (const size of SIZES)
      await journey(browser, hook.calls, size);
  } finally {
    await browser.close();
    authctl(['apply', '-f', '-'], JSON.stringify([saved]));
    await edgeOffers(false);
    hook.server.close();
  }
});

async function journey(browser, calls, size) {
  const email = `sms-${size.name}@example.com`;
  authctl(['user', 'create', '--email', email, '--password-stdin'], `${PASSWORD}\n`);
  const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const shot = (name) => page.screenshot({ path: path.join(TMP, `webhook-${size.name}-${name}.png`),
    fullPage: true });
  const check = async (name) => {
    await checkA11y(page, `${name}, ${size.name}`);
    await shot(name);
  };
  // The page of a code step: says where the code went, never the app, and offers "Send again".
  const codePage = async (name) => {
    const text = await page.locator('main').innerText();
    assert.ok(!/authenticator app/i.test(text), `${name}: speaks of an app:\n${text}`);
    assert.ok(text.includes(WORDS), `${name}: no "${WORDS}":\n${text}`);
    assert.equal(await page.locator('form:has(input[name="resend"]) button').count(), 1,
      `${name}: no "Send again"`);
    await check(name);
  };
  // The code the webhook got for this page. A delivery finds no unused step when two codes
  // were just used (each step is accepted once): then "Send again" once the next step begins.
  const codeFor = async (name, before) => {
    const deadline = Date.now() + (2 * PERIOD + 10) * 1000;
    for (;;) {
      if (calls.length > before) {
        const body = calls[calls.length - 1];
        assert.equal(body.transport, 'sms');
        assert.equal(body.user.email, email);
        assert.match(body.token, /^\d{6}$/);
        return body.token;
      }
      assert.ok(Date.now() < deadline, `${name}: the webhook got no code`);
      if ((await page.content()).includes('We could not send the code')) {
        const left = PERIOD - ((Date.now() / 1000) % PERIOD);
        await sleep(left * 1000 + 200);
        await go(page, 'form:has(input[name="resend"]) button');
      } else {
        await sleep(100);
      }
    }
  };
  const signIn = async (password) => {
    await page.goto(`${BASE}/auth/login`);
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', password);
    let before = calls.length;
    await go(page, 'form[action="/auth/login"] button[type="submit"]');
    assert.equal(new URL(page.url()).pathname, '/auth/two-factor/verify');
    let code = await codeFor('verify', before);
    await codePage('verify');
    // "Send again": another delivery, and the page still speaks of SMS.
    before = calls.length;
    await go(page, 'form:has(input[name="resend"]) button');
    code = await codeFor('verify, sent again', before);
    await codePage('verify, sent again');
    await page.fill('input[name="token"]', code);
    await go(page, 'form[action="/auth/two-factor/verify"] button[type="submit"]:has-text("Verify")');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.ok((await page.content()).includes(email), 'signed in');
  };
  const signOut = async () => {
    await page.goto(`${BASE}/`);
    await go(page, 'form[action="/auth/logout"] button');
  };
  try {
    // Sign in (no second factor yet) and enrol: the operator's transports are choices.
    await page.goto(`${BASE}/auth/login`);
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', PASSWORD);
    await go(page, 'form[action="/auth/login"] button[type="submit"]');
    // The edge rereads the AuthConfig within seconds: until then the page has no choices.
    const deadline = Date.now() + 20000;
    for (;;) {
      await page.goto(`${BASE}/auth/two-factor/enable`);
      if (await page.locator('input[type="radio"][name="transport"]').count() === 2) break;
      assert.ok(Date.now() < deadline, 'the enable page never offered the transports');
      await sleep(250);
    }
    assert.equal(await page.locator('input[type="text"][name="transport"]').count(), 0);
    await check('enable');
    await page.check('input[type="radio"][value="sms"]');
    let before = calls.length;
    await go(page, 'form[action="/auth/two-factor/enable"] button[type="submit"]');
    const enrol = await codeFor('enrol', before);
    await check('enrol code');
    await page.fill('input[name="token"]', enrol);
    await go(page, 'form[action="/app/auth/two-factor/confirm"] button[type="submit"]');
    assert.ok(await page.locator('#recovery-codes').count(), 'recovery codes shown');
    await signOut();

    await signIn(PASSWORD);
    await signOut();

    // Password reset from the e-mailed link: the page sends the code to the phone.
    const links = linkCount('reset-password');
    await page.goto(`${BASE}/auth/forgot-password`);
    await page.fill('input[name="email"]', email);
    await go(page, 'form[action="/auth/forgot-password"] button[type="submit"]');
    const link = await mailedLink('reset-password', links);
    before = calls.length;
    await page.goto(link);
    const resetCode = await codeFor('reset', before);
    await codePage('reset');
    await page.fill('input[name="password"]', NEW_PASSWORD);
    await page.fill('input[name="password_confirmation"]', NEW_PASSWORD);
    await page.fill('input[name="token"]', resetCode);
    await go(page, 'form:has(input[name="password"]) button[type="submit"]');
    assert.equal(new URL(page.url()).pathname, '/auth/login');

    await signIn(NEW_PASSWORD);

    // New recovery codes: the settings page links to a page that sends the code.
    await page.goto(`${BASE}/auth/two-factor`);
    assert.ok(!/authenticator app/i.test(await page.locator('main').innerText()));
    await check('settings');
    before = calls.length;
    await go(page, 'a[href="/auth/two-factor/recovery-codes"]');
    const regen = await codeFor('new recovery codes', before);
    await codePage('new recovery codes');
    await page.fill('input[name="token"]', regen);
    await go(page, 'form:has(input[name="token"]) button[type="submit"]');
    assert.ok(await page.locator('#recovery-codes').count(), 'new recovery codes shown');

    // Turning two-factor off: the code for that step too.
    before = calls.length;
    await page.goto(`${BASE}/auth/two-factor/disable`);
    const off = await codeFor('turn off', before);
    await codePage('turn off');
    await page.fill('input[name="token"]', off);
    await go(page, 'form:has(input[name="token"]) button[type="submit"]');
    assert.equal(new URL(page.url()).pathname, '/auth/two-factor');
    assert.ok((await page.content()).includes('Two-factor authentication is off'));
  } catch (e) {
    await shot('failed').catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
}
