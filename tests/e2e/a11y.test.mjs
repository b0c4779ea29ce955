// SPDX-License-Identifier: Apache-2.0
// Accessibility of the edge's pages: axe-core (lib/axe.mjs) in headless Debian Chromium.
//
// Each page of the edge is reached as a user reaches it (signup through the e-mailed link, 2FA
// enrolment with codes from oathtool, a third-party client's consent, sign out, reset, sign in
// with the code step; error states by wrong input) and checked at 1280x800 and 390x844, light
// and dark: axe's serious and critical violations, plus what axe does not measure: no sideways
// scrolling, no vertical scrolling when the content fits, 44 px tap targets on the phone, input
// borders at 3:1 against the card, a 3:1 focus ring on every button. Every problem of every
// page is listed at the end. Screenshots: E2E_TMP/a11y-*.png.
//
// Environment (set by ./run): E2E_BASE_URL, E2E_EDGE_LOG, E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL,
// E2E_AUTHD_TARGET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import {
  BASE, EDGE_LOG, TMP, AUTHCTL, TARGET, sleep, authctl, oathtool, Authenticator, launchChromium,
} from './lib/util.mjs';

// The check itself: a page with a critical violation (an unlabelled field) and a serious one
// (text at 1.6:1) must fail with both named; the same page fixed must pass.
test('checkA11y fails on serious and critical violations, passes a clean page', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html lang="en"><head><title>bad</title></head><body>'
      + '<main><h1>Bad</h1><input type="text" name="x">'
      + '<p style="color:#ccc;background:#fff">faint</p></main></body></html>');
    await assert.rejects(checkA11y(page, 'bad page'), (e) => {
      assert.match(e.message, /bad page .*2 serious\/critical/);
      assert.match(e.message, /\[critical\] label:/);
      assert.match(e.message, /\[serious\] color-contrast:/);
      return true;
    });
    await page.setContent('<!doctype html><html lang="en"><head><title>good</title></head>'
      + '<body><main><h1>Good</h1><label for="x">Name</label><input id="x" type="text">'
      + '<p style="color:#333;background:#fff">readable</p></main></body></html>');
    await checkA11y(page, 'good page');
  } finally {
    await browser.close();
  }
});

// ---- every page of the edge ------------------------------------------------------------------

const EMAIL = 'a11y@example.com';
const PASSWORD = 'a long enough password for a11y';
const SIZES = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }];
const SCHEMES = ['light', 'dark'];
const CONSENT = { id: 'a11y-consent', secret: 'a11y-consent-secret-0123456789abc',
  cb: 'https://a11y.example/cb' };

// As in journey.test.mjs: the oldest TOTP step authd still accepts that is newer than the last
// one used (each step is accepted once); waits for the next step only when all are used.

// The newest link of this kind the console mailer logged (polled, bounded).
async function mailedLink(kind) {
  const re = new RegExp(`(http://[^\\s"]+/auth/${kind}/[A-Za-z0-9_.-]+)`, 'g');
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = fs.readFileSync(EDGE_LOG, 'utf8').match(re);
    if (found) return found[found.length - 1];
    await sleep(100);
  }
  assert.fail(`no ${kind} link in ${EDGE_LOG}`);
}

// Clicks and waits for the page it leads to (whatever its status: error pages are checked too).
async function go(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${selector}: no navigation`);
  return resp;
}

// Layout the axe rules do not see, measured in the page: horizontal scrolling, vertical scrolling
// when the content fits, tap targets, input borders against the card, the buttons' focus ring.
function layoutProblems(phone) {
  const out = [];
  // Any CSS colour (rgb(), oklch()...) to sRGB through a 1x1 canvas, then WCAG's luminance.
  const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  const lum = (c) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';
    ctx.fillStyle = c;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b] = [...ctx.getImageData(0, 0, 1, 1).data].map((x) => x / 255);
    const lin = (v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)];
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const visible = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  };
  const name = (e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''} "${
    (e.textContent || e.getAttribute('name') || '').trim().slice(0, 40)}"`;
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth)
    out.push(`scrolls sideways: ${doc.scrollWidth} px wide in a ${window.innerWidth} px window`);
  const main = document.querySelector('main');
  // The card's lowest drawn child (a <script> or a hidden element may come last in the markup).
  let last = null;
  for (const e of main ? main.children : []) {
    if (e.getClientRects().length === 0) continue;
    if (!last || e.getBoundingClientRect().bottom >= last.getBoundingClientRect().bottom) last = e;
  }
  if (last) {
    const cs = getComputedStyle(main);
    // The card's own margin counts as content (the desktop card sits 3rem above the bottom).
    const bottom = last.getBoundingClientRect().bottom + window.scrollY
      + parseFloat(getComputedStyle(last).marginBottom)
      + parseFloat(cs.paddingBottom) + parseFloat(cs.borderBottomWidth)
      + parseFloat(cs.marginBottom);
    if (bottom <= window.innerHeight && doc.scrollHeight > window.innerHeight)
      out.push(`scrolls although its content fits: content ends at ${Math.ceil(bottom)} px, `
        + `the page is ${doc.scrollHeight} px in a ${window.innerHeight} px window`);
  }
  const card = getComputedStyle(main || document.body).backgroundColor;
  for (const e of document.querySelectorAll('input:not([type=hidden]), button, main a, header a')) {
    if (!visible(e)) continue;
    let r = e.getBoundingClientRect();
    const box = e.type === 'checkbox' || e.type === 'radio';
    if (box) { // its label is part of the target (a tap on it ticks the box)
      for (const l of e.labels || []) {
        const q = l.getBoundingClientRect();
        const [x, y] = [Math.min(r.left, q.left), Math.min(r.top, q.top)];
        r = { left: x, top: y, width: Math.max(r.right, q.right) - x,
          height: Math.max(r.bottom, q.bottom) - y,
          right: Math.max(r.right, q.right), bottom: Math.max(r.bottom, q.bottom) };
      }
    }
    // WCAG 2.5.5's exception: a link inside a sentence is as tall as its line.
    const inline = e.tagName === 'A' && e.parentElement
      && e.parentElement.textContent.trim() !== e.textContent.trim();
    if (phone && !inline && (r.height < 44 || r.width < 44))
      out.push(`tap target ${name(e)} is ${Math.round(r.width)}x${Math.round(r.height)} px (< 44)`);
    if (e.tagName === 'INPUT' && !box) { // a box's look is the browser's own
      const s = getComputedStyle(e);
      const q = ratio(s.borderTopColor, card);
      if (q < 3) out.push(`input ${name(e)} border ${s.borderTopColor} on ${card}: ${q.toFixed(2)}:1 (< 3)`);
    }
  }
  return out;
}

// Focus ring: Tab to each button, its outline must be drawn (>= 2 px) at 3:1 against the card.
async function focusProblems(page) {
  const out = [];
  const n = await page.locator('button').count();
  if (n === 0) return out;
  await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return { done: true };
      if (e.tagName !== 'BUTTON') return { skip: true };
      const s = getComputedStyle(e);
      const card = getComputedStyle(document.querySelector('main') || document.body).backgroundColor;
      return { label: e.textContent.trim(), style: s.outlineStyle, width: parseFloat(s.outlineWidth),
        color: s.outlineColor, card };
    });
    if (f.done) break;
    if (f.skip) continue;
    const q = await page.evaluate(([a, b]) => {
      const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
      const lum = (c) => { // as in layoutProblems
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = '#000';
        ctx.fillStyle = c;
        ctx.fillRect(0, 0, 1, 1);
        const [r, g, bl] = [...ctx.getImageData(0, 0, 1, 1).data].map((x) => x / 255);
        const lin = (v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(bl);
      };
      const [x, y] = [lum(a), lum(b)];
      return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    }, [f.color, f.card]);
    if (f.style === 'none' || f.width < 2 || q < 3)
      out.push(`focus ring of button "${f.label}": ${f.style} ${f.width}px ${f.color} on ${f.card} (${q.toFixed(2)}:1)`);
  }
  return out;
}

// The names of the fields marked aria-invalid, each checked to point (aria-describedby) at a
// visible error box; a problem string when one does not.
async function invalidFields(page) {
  return page.evaluate(() => [...document.querySelectorAll('[aria-invalid="true"]')].map((e) => {
    const box = document.getElementById(e.getAttribute('aria-describedby') || '');
    const ok = box && box.classList.contains('error') && box.textContent.trim() !== '';
    return ok ? e.name : `${e.name} (aria-describedby names no error box)`;
  }));
}

// How a button looks: background and text colour, from the page's computed styles.
async function buttonLook(page, text) {
  return page.locator('button', { hasText: text }).first().evaluate((e) => {
    const s = getComputedStyle(e);
    return { bg: s.backgroundColor, fg: s.color };
  });
}

const rgba = (c) => (c.match(/[\d.]+/g) || []).map(Number);

// Every size and colour scheme of the page as it is now; problems are collected, not thrown,
// so that one run lists every page's.
async function checkPage(page, label, problems, seen, { invalid = [], secondary = [], danger = [] } = {}) {
  seen.push(label);
  const marked = await invalidFields(page);
  if (JSON.stringify(marked) !== JSON.stringify(invalid))
    problems.push(`${label}: fields marked aria-invalid: [${marked}], expected [${invalid}]`);
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    for (const colorScheme of SCHEMES) {
      await page.emulateMedia({ colorScheme });
      const where = `${label} (${size.name}, ${colorScheme})`;
      try {
        await checkA11y(page, where);
      } catch (e) {
        problems.push(e.message);
      }
      for (const p of await page.evaluate(layoutProblems, size.name === 'phone'))
        problems.push(`${where}: ${p}`);
      if (size.name === 'desktop') { // neither the ring nor the colours depend on the width
        for (const p of await focusProblems(page))
          problems.push(`${where}: ${p}`);
        const primary = await page.locator('button:not(.secondary):not(.danger)').count()
          ? await page.locator('button:not(.secondary):not(.danger)').first()
            .evaluate((e) => getComputedStyle(e).backgroundColor) : null;
        for (const text of secondary) {
          const look = await buttonLook(page, text);
          if (rgba(look.bg)[3] !== 0) // a way out has no fill, unlike the primary action
            problems.push(`${where}: "${text}" does not look secondary: background ${look.bg}`);
        }
        for (const text of danger) {
          const [r, g, b] = rgba((await buttonLook(page, text)).bg);
          if (!(r > g + 60 && r > b + 60) || (await buttonLook(page, text)).bg === primary)
            problems.push(`${where}: "${text}" does not look dangerous: background rgb(${r}, ${g}, ${b})`);
        }
      }
    }
  }
  await page.screenshot({ path: path.join(TMP, `a11y-${label.replace(/[^a-z0-9]+/gi, '-')}.png`),
    fullPage: true });
}

test('every page: axe (serious, critical), layout, tap targets, focus; 2 sizes, light and dark',
  { timeout: 300000 }, async () => {
    assert.ok(BASE && EDGE_LOG && TMP && AUTHCTL && TARGET, 'run me through tests/e2e/run');
    authctl(['apply', '-f', '-'], `
- resourceType: Client
  id: ${CONSENT.id}
  secret: ${CONSENT.secret}
  grant_types: [authorization_code]
  auth: {authorization_code: {redirect_uri: "${CONSENT.cb}"}}
`);
    // Remembered browsers on (the code step's box, the settings page's list); put back after.
    const saved = JSON.parse(authctl(['config', 'get', '-o', 'json']));
    // (A twoFactor block present says its validPastTokensCount, 0 included; absent, authd's
    // default of one past step, which the Authenticator above counts on.)
    authctl(['apply', '-f', '-'], JSON.stringify([{ ...saved,
      twoFactor: { validPastTokensCount: 1, ...(saved.twoFactor || {}), rememberBrowserDays: 30 } }]));
    let restored = false;
    const problems = [];
    const seen = [];
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(10000);
      page.setDefaultNavigationTimeout(10000);
      const check = (label, expect) => checkPage(page, label, problems, seen, expect);

      await page.goto(`${BASE}/`);
      await check('home, signed out');
      await page.goto(`${BASE}/nowhere`);
      await check('error page (404)');
      await page.goto(`${BASE}/auth/authorize?response_type=code&client_id=nobody`
        + '&redirect_uri=https%3A%2F%2Fnowhere.example%2Fcb');
      await check('sign-in request refused');
      await page.goto(`${BASE}/auth/end-session?id_token_hint=not-a-token`);
      await check('sign-out request refused');

      // Sign up: the form, check your e-mail, the link's set-password page (with an error).
      await page.goto(`${BASE}/auth/signup`);
      await check('signup');
      await page.fill('input[name="email"]', EMAIL);
      await go(page, 'button[type="submit"]');
      await check('signup: check your e-mail');
      await page.goto(await mailedLink('signup/confirm'));
      await check('signup: set the password');
      await page.fill('input[name="password"]', PASSWORD);
      await page.fill('input[name="password_confirmation"]', `${PASSWORD} not the same`);
      await go(page, 'button[type="submit"]');
      await check('signup: set the password, in error',
        { invalid: ['password', 'password_confirmation'] });
      await page.fill('input[name="password"]', PASSWORD);
      await page.fill('input[name="password_confirmation"]', PASSWORD);
      await go(page, 'button[type="submit"]');
      assert.equal(page.url(), `${BASE}/`, 'signed in after setting the password');
      await check('home, signed in');
      // "Sign out everywhere" from a page whose session has ended meanwhile (signed out in
      // another tab): refused, and said so; then sign in again.
      const tab = await context.newPage();
      await tab.goto(`${BASE}/`);
      await go(tab, 'button:has-text("Sign out")');
      await tab.close();
      await go(page, 'button:has-text("Sign out everywhere")');
      await page.locator('text=Not signed out everywhere').first().waitFor();
      await check('sign out everywhere refused, session ended');
      await page.goto(`${BASE}/auth/login`);
      await page.fill('input[name="email"]', EMAIL);
      await page.fill('input[name="password"]', PASSWORD);
      await go(page, 'button:has-text("Sign in")');
      assert.equal(page.url(), `${BASE}/`, 'signed in again');

      await page.goto(`${BASE}/auth/password`);
      await check('change password');
      await page.fill('input[name="current_password"]', 'not the password at all');
      await page.fill('input[name="password"]', `${PASSWORD} 2`);
      await page.fill('input[name="password_confirmation"]', `${PASSWORD} 2`);
      await go(page, 'button[type="submit"]');
      await check('change password, in error', { invalid: ['current_password'] });

      // Two-factor: settings, the choice, the QR page (and a wrong code), the recovery codes.
      await page.goto(`${BASE}/auth/two-factor`);
      await check('two-factor settings, off');
      await page.goto(`${BASE}/auth/two-factor/enable`);
      await check('two-factor: enable, the choice');
      await go(page, 'text=Enable using Authenticator app');
      await check('two-factor: QR page');
      const secret = (await page.locator('#secret').textContent()).replace(/\s+/g, '');
      const app = new Authenticator(secret);
      await page.fill('input[name="token"]', '000000');
      await go(page, 'button[type="submit"]');
      await check('two-factor: QR page, wrong code', { invalid: ['token'] });
      await page.fill('input[name="token"]', await app.fresh());
      await go(page, 'button[type="submit"]');
      await page.locator('#recovery-codes').waitFor();
      await check('two-factor: recovery codes');
      // Continue without "I have saved these codes" (the browser's own check set aside).
      await page.locator('form[action$="/recovery-codes/saved"]').evaluate((f) => {
        f.noValidate = true;
      });
      await go(page, 'button:has-text("Continue")');
      await page.locator('#recovery-codes').waitFor();
      await check('two-factor: recovery codes, Continue without "saved"', { invalid: ['saved'] });
      await page.goto(`${BASE}/auth/two-factor`);
      await check('two-factor settings, on');
      await page.fill('input[name="token"]', '000000');
      await go(page, 'button:has-text("Generate new recovery codes")');
      await check('two-factor: new recovery codes, wrong code', { invalid: ['token'] });
      await page.goto(`${BASE}/auth/two-factor/disable`);
      await check('two-factor: turn off', { danger: ['Turn off'] });
      await page.fill('input[name="token"]', '000000');
      await go(page, 'button[type="submit"]');
      await check('two-factor: turn off, wrong code',
        { invalid: ['token'], danger: ['Turn off'] });
      await page.goto(`${BASE}/auth/two-factor/disable?recovery=1`);
      await check('two-factor: turn off with a recovery code');

      // OAuth: the consent page of a third-party client; then sign out through end-session.
      await page.goto(`${BASE}/auth/authorize?response_type=code&client_id=${CONSENT.id}`
        + `&redirect_uri=${encodeURIComponent(CONSENT.cb)}&scope=openid%20email&state=s1&nonce=n1`);
      await page.locator('#consent-client').waitFor();
      await check('consent', { secondary: ['Deny'] });
      await page.goto(`${BASE}/auth/end-session`);
      await check('sign out?');
      await go(page, 'button:has-text("Sign out")');
      await check('signed out');
      await page.goto(`${BASE}/auth/login?signed_out=1`);
      await page.locator('text=You are signed out').first().waitFor();
      await check('login, "You are signed out"');

      // Password reset: the request, check your e-mail, the link's page, an invalid link.
      await page.goto(`${BASE}/auth/forgot-password`);
      await check('forgot password');
      await page.fill('input[name="email"]', EMAIL);
      await go(page, 'button[type="submit"]');
      await check('forgot password: check your e-mail');
      await page.goto(await mailedLink('reset-password'));
      await check('reset: set a new password (with the code)');
      await page.goto(`${BASE}/auth/reset-password/not-a-valid-link`);
      await check('reset: link not valid');

      // Sign in: the form, a wrong password, then the code step (and a wrong code).
      await page.goto(`${BASE}/auth/login`);
      await check('login');
      await page.fill('input[name="email"]', EMAIL);
      await page.fill('input[name="password"]', 'not the password at all');
      await go(page, 'button[type="submit"]');
      await check('login, wrong password', { invalid: ['email', 'password'] });
      await page.fill('input[name="email"]', EMAIL);
      await page.fill('input[name="password"]', PASSWORD);
      await go(page, 'button[type="submit"]');
      assert.equal(page.url(), `${BASE}/auth/two-factor/verify`);
      // The edge rereads the AuthConfig within seconds; long passed by now, but bounded anyway.
      for (const deadline = Date.now() + 20000; !(await page.locator('#remember').count());) {
        assert.ok(Date.now() < deadline, 'no "Don\'t ask again" box on the code step');
        await sleep(200);
        await page.reload();
      }
      await check('two-factor code step', { secondary: ['Cancel and sign out'] });
      await page.fill('input[name="token"]', '000000');
      await go(page, 'button:has-text("Verify")');
      await check('two-factor code step, wrong code',
        { invalid: ['token'], secondary: ['Cancel and sign out'] });
      await page.goto(`${BASE}/auth/two-factor/verify?recovery=1`);
      await check('two-factor code step, recovery code');
      await page.goto(`${BASE}/auth/two-factor/verify`);
      await page.fill('input[name="token"]', await app.fresh());
      await page.check('#remember');
      await go(page, 'button:has-text("Verify")');
      assert.equal(page.url(), `${BASE}/`);
      await page.goto(`${BASE}/auth/two-factor`);
      await page.locator('#devices').waitFor();
      await check('two-factor settings, a remembered browser');
      await go(page, 'button:has-text("Forget all")');
      await page.goto(`${BASE}/auth/password`);
      await page.fill('input[name="current_password"]', PASSWORD);
      await page.fill('input[name="password"]', `${PASSWORD} changed`);
      await page.fill('input[name="password_confirmation"]', `${PASSWORD} changed`);
      await go(page, 'button[type="submit"]');
      await check('password changed');

      // Back to the AuthConfig as it was, seen by the edge (the list is empty: the section
      // shows only while remembering is on).
      authctl(['apply', '-f', '-'], JSON.stringify([saved]));
      restored = true;
      for (const deadline = Date.now() + 20000; ;) {
        await page.goto(`${BASE}/auth/two-factor`);
        if (!(await page.locator('text=Remembered browsers').count())) break;
        assert.ok(Date.now() < deadline, 'the edge kept rememberBrowserDays');
        await sleep(200);
      }
      await context.close();
    } finally {
      await browser.close();
      if (!restored)
        authctl(['apply', '-f', '-'], JSON.stringify([saved]));
    }
    console.log(`checked ${seen.length} pages: ${seen.join('; ')}`);
    assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
  });

// The pages of a user whose codes come by webhook (twoFactor.transports, a receiver on
// loopback): the transports as choices, "Enter the code we sent you", the settings page and its
// new-codes page, turning off, the reset link's page, the code step (and a wrong code, "Send
// again"). Only the enrolment spends a code: the rest are checked, not finished. The AuthConfig
// is put back after, seen by the edge through a second user's enable page.
test('the pages of a user whose codes come by webhook', { timeout: 180000 }, async () => {
  assert.ok(BASE && EDGE_LOG && AUTHCTL && TARGET, 'run me through tests/e2e/run');
  const HOOK_EMAIL = 'a11y-hook@example.com';
  const OTHER_EMAIL = 'a11y-other@example.com';
  const calls = [];
  const hook = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/elsewhere') { // another origin's link to ours
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><a id="go" href="${BASE}/auth/two-factor/disable">go</a>`);
      return;
    }
    if (req.method !== 'POST') { // the browser's own asks there (a favicon) are no webhook calls
      res.writeHead(404);
      res.end();
      return;
    }
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      try { calls.push(JSON.parse(body)); } catch { calls.push({}); }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${hook.address().port}/sms`;
  // The code of the webhook call after the first n (polled, bounded).
  const codeAfter = async (n) => {
    for (const deadline = Date.now() + 10000; calls.length <= n;) {
      assert.ok(Date.now() < deadline, 'the webhook was not called');
      await sleep(50);
    }
    return calls[calls.length - 1].token;
  };
  const saved = JSON.parse(authctl(['config', 'get', '-o', 'json']));
  authctl(['apply', '-f', '-'], JSON.stringify([{ ...saved, twoFactor: {
    validPastTokensCount: 1, ...(saved.twoFactor || {}), transports: ['sms', 'voice'],
    webhook: { endpoint: hookUrl, timeout: 3000 } } }]));
  for (const email of [HOOK_EMAIL, OTHER_EMAIL])
    authctl(['user', 'create', '--email', email, '--password-stdin'], `${PASSWORD}\n`);
  const problems = [];
  const seen = [];
  const browser = await launchChromium();
  const signIn = async (page, email) => {
    await page.goto(`${BASE}/auth/login`);
    await page.fill('input[name="email"]', email);
    await page.fill('input[name="password"]', PASSWORD);
    await go(page, 'button:has-text("Sign in")');
  };
  // The enable page as the edge sees the AuthConfig now: reloaded until it offers the choices
  // (want) or not (bounded: the edge rereads the AuthConfig within seconds).
  const enablePage = async (page, want) => {
    for (const deadline = Date.now() + 20000; ;) {
      await page.goto(`${BASE}/auth/two-factor/enable`);
      if (!!(await page.locator('fieldset.choices').count()) === want) return;
      assert.ok(Date.now() < deadline, `the enable page ${want ? 'never offered' : 'kept'} choices`);
      await sleep(200);
    }
  };
  let restored = false;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.setDefaultNavigationTimeout(10000);
    const check = (label, expect) => checkPage(page, label, problems, seen, expect);
    await signIn(page, HOOK_EMAIL);
    assert.equal(page.url(), `${BASE}/`);
    await enablePage(page, true);
    await check('webhook: enable, transports as choices');
    let n = calls.length;
    await go(page, 'button:has-text("Send codes to me instead")');
    await check('webhook: enter the code we sent you');
    await page.fill('input[name="token"]', await codeAfter(n));
    await go(page, 'button:has-text("Verify and turn on")');
    await page.locator('#recovery-codes').waitFor();
    assert.equal(calls[calls.length - 1].transport, 'sms');
    await page.goto(`${BASE}/auth/two-factor`);
    await check('webhook: settings, on');
    await page.goto(`${BASE}/auth/two-factor/recovery-codes`);
    await check('webhook: new recovery codes');
    await page.goto(`${BASE}/auth/two-factor/disable`);
    await check('webhook: turn off', { danger: ['Turn off'] });
    // Reached from another site, the page sends nothing and offers "Send me a code".
    n = calls.length;
    await page.goto(hookUrl.replace('/sms', '/elsewhere'));
    await go(page, '#go');
    await page.locator('button:has-text("Send me a code")').first().waitFor();
    assert.equal(calls.length, n, 'a code was sent on a navigation from another site');
    await check('webhook: turn off, reached from another site', { danger: ['Turn off'] });
    await page.goto(`${BASE}/auth/forgot-password`);
    await page.fill('input[name="email"]', HOOK_EMAIL);
    await go(page, 'button[type="submit"]');
    await page.goto(await mailedLink('reset-password'));
    await check('webhook: reset, a code sent');
    await page.goto(`${BASE}/auth/end-session`);
    await go(page, 'button:has-text("Sign out")');
    await signIn(page, HOOK_EMAIL);
    assert.equal(page.url(), `${BASE}/auth/two-factor/verify`);
    await check('webhook: code step', { secondary: ['Cancel and sign out', 'Send again'] });
    await page.fill('input[name="token"]', '000000');
    await go(page, 'button:has-text("Verify")');
    await check('webhook: code step, wrong code',
      { invalid: ['token'], secondary: ['Cancel and sign out', 'Send again'] });
    await go(page, 'button:has-text("Send again")');
    await check('webhook: code step after Send again',
      { secondary: ['Cancel and sign out', 'Send again'] });
    await context.close();

    // A webhook nobody answers (a port just closed): "We could not send the code".
    const dead = http.createServer();
    await new Promise((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${dead.address().port}/sms`;
    await new Promise((resolve) => dead.close(resolve));
    authctl(['apply', '-f', '-'], JSON.stringify([{ ...saved, twoFactor: {
      validPastTokensCount: 1, ...(saved.twoFactor || {}), transports: ['voice'],
      webhook: { endpoint: deadUrl, timeout: 3000 } } }]));
    const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page2 = await other.newPage();
    page2.setDefaultTimeout(10000);
    page2.setDefaultNavigationTimeout(10000);
    await signIn(page2, OTHER_EMAIL);
    for (const deadline = Date.now() + 20000; ;) { // until the edge offers only "voice"
      await page2.goto(`${BASE}/auth/two-factor/enable`);
      if (await page2.locator('input[name="transport"]').count() === 1) break;
      assert.ok(Date.now() < deadline, 'the edge kept the old transports');
      await sleep(200);
    }
    await go(page2, 'button:has-text("Send codes to me instead")');
    await page2.locator('text=We could not send the code').first().waitFor();
    await checkPage(page2, 'webhook: we could not send the code', problems, seen);

    authctl(['apply', '-f', '-'], JSON.stringify([saved]));
    restored = true;
    await enablePage(page2, false);
    await other.close();
  } finally {
    await browser.close();
    if (!restored)
      authctl(['apply', '-f', '-'], JSON.stringify([saved]));
    hook.close();
  }
  console.log(`checked ${seen.length} pages: ${seen.join('; ')}`);
  assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
});

// A theme that sets only the accent (README, "Theming"): a dark blue (unreadable as link text
// on the dark card, and under the default dark --accent-fg) and a bright yellow (unreadable as
// link text on the white card, and under white --accent-fg). Each is served from loopback as
// theme.styleUrl, then every check above runs on pages with links and a button, both sizes, both
// schemes. The AuthConfig is put back as it was (and the edge seen to drop the theme).
test('a theme that sets only --accent stays readable in light and dark', { timeout: 180000 },
  async () => {
    assert.ok(BASE && AUTHCTL && TARGET, 'run me through tests/e2e/run');
    const ACCENTS = { '/dark.css': ['#1a3d8f', 'rgb(26, 61, 143)'],
      '/bright.css': ['#f5c400', 'rgb(245, 196, 0)'] };
    const server = http.createServer((req, res) => {
      const a = ACCENTS[req.url];
      res.writeHead(a ? 200 : 404, { 'Content-Type': 'text/css' });
      res.end(a ? `:root { --accent: ${a[0]}; }\n` : '');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${server.address().port}`;
    const saved = JSON.parse(authctl(['config', 'get', '-o', 'json']));
    // The edge reads the AuthConfig again within seconds: wait (bounded) until a page shows it.
    const edgeShows = async (styleUrl) => {
      const deadline = Date.now() + 20000;
      for (;;) {
        const html = await (await fetch(`${BASE}/auth/login`)).text();
        if (styleUrl ? html.includes(styleUrl) : !html.includes(origin)) return;
        assert.ok(Date.now() < deadline, `the edge did not show theme ${styleUrl || '(none)'}`);
        await sleep(200);
      }
    };
    const problems = [];
    const seen = [];
    const browser = await launchChromium();
    try {
      for (const [file, [accent, rgb]] of Object.entries(ACCENTS)) {
        const styleUrl = `${origin}${file}`;
        authctl(['apply', '-f', '-'],
          JSON.stringify([{ ...saved, theme: { ...(saved.theme || {}), styleUrl } }]));
        await edgeShows(styleUrl);
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        page.setDefaultTimeout(10000);
        await page.goto(`${BASE}/auth/login`);
        for (const colorScheme of SCHEMES) {
          await page.emulateMedia({ colorScheme });
          const bg = await page.locator('button[type="submit"]').evaluate(
            (e) => getComputedStyle(e).backgroundColor);
          assert.equal(bg, rgb, `the theme's accent ${accent} is on the button (${colorScheme})`);
        }
        await checkPage(page, `login, accent ${accent} only`, problems, seen);
        await page.goto(`${BASE}/`);
        await checkPage(page, `home, accent ${accent} only`, problems, seen);
        await page.goto(`${BASE}/nowhere`);
        await checkPage(page, `404, accent ${accent} only`, problems, seen);
        await page.close();
      }
    } finally {
      await browser.close();
      authctl(['apply', '-f', '-'], JSON.stringify([saved]));
      await edgeShows(null);
      server.close();
    }
    assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
  });
