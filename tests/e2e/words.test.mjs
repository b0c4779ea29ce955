// SPDX-License-Identifier: Apache-2.0
// Issue 14, "say the numbers", in a real browser at desktop (1280x800) and phone (390x844)
// sizes: the password rule on the set-password pages (in words and as minlength, and in the
// error), "Resend the e-mail" on the check-your-e-mail pages, the signed-out notice, the lockout
// page's wait, theme.title on the form and each page's own <title>; axe-core (lib/axe.mjs) on
// every page visited.
//
// It starts an authd and an edge of its own (so that its theme, its mail lockout and the mails
// it sends touch nobody else's test) from AUTHD_BUILD_DIR, and stops them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import { BUILD, sleep, launchChromium } from './lib/util.mjs';

const PASSWORD = 'a long enough password for words';
const TITLE = 'Acme Sign-in';
const BRAND = 'Acme';
const SIZES = [{ name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 }];

const env = { dir: null, base: null, target: null, authd: null, edge: null };
const children = new Set();

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function startChild(file, args, log) {
  const out = fs.openSync(log, 'a');
  const [cmd, argv] = fs.existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', ['--pdeathsig', 'TERM', '--', file, ...args]]
    : [file, args];
  const child = spawn(cmd, argv, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

async function portFile(file, child) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8').trim();
      if (/^\d+$/.test(text)) return Number(text);
    }
    assert.ok(child.exitCode === null && child.signalCode === null, `${file}: server exited`);
    await sleep(50);
  }
  assert.fail(`no port in ${file} after 30 s`);
}

const edgeLog = () => fs.readFileSync(path.join(env.dir, 'edge.log'), 'utf8');

before(async () => {
  assert.ok(BUILD, 'run me through tests/e2e/run (AUTHD_BUILD_DIR)');
  env.dir = fs.mkdtempSync(path.join(process.env.E2E_TMP || os.tmpdir(), 'words-'));
  env.authd = startChild(path.join(BUILD, 'authd', 'authd'), ['--listen', '127.0.0.1:0',
    '--data-dir', path.join(env.dir, 'data'), '--port-file', path.join(env.dir, 'authd.port'),
    '--argon2-memory', '1024', '--argon2-iterations', '1'], path.join(env.dir, 'authd.log'));
  env.target = `127.0.0.1:${await portFile(path.join(env.dir, 'authd.port'), env.authd)}`;
  // The theme goes in before the edge starts: its first page reads it, no cache to wait out.
  execFileSync(path.join(BUILD, 'ctl', 'authctl'), ['--authd', env.target, 'apply', '-f', '-'],
    { input: `resourceType: AuthConfig\nid: app\ntheme:\n  title: ${TITLE}\n  brand: ${BRAND}\n`,
      encoding: 'utf8', timeout: 30000 });
  env.edge = startChild(path.join(BUILD, 'edge', 'authd-edge'), ['--listen', '127.0.0.1:0',
    '--authd', env.target, '--port-file', path.join(env.dir, 'edge.port'),
    '--mail-provider', 'console'], path.join(env.dir, 'edge.log'));
  env.base = `http://127.0.0.1:${await portFile(path.join(env.dir, 'edge.port'), env.edge)}`;
}, { timeout: 90000 });

after(async () => {
  await stopChild(env.edge);
  await stopChild(env.authd);
  if (env.dir) {
    fs.rmSync(path.join(env.dir, 'data'), { recursive: true, force: true });
    fs.rmSync(path.join(env.dir, 'data.dev-totp.key'), { force: true });
  }
});

// The newest link of a kind ("signup/confirm", "reset-password") the console mailer logged for
// to, from its link= key (polled, bounded); n: how many such mails must be there first.
async function mailLink(kind, to, n = 1) {
  const re = new RegExp(`event=mail .*to=${to.replace(/[.+]/g, '\\$&')} .* link=(http://\\S+/auth/${kind}/[A-Za-z0-9_.-]+)`);
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = edgeLog().split('\n').map((l) => l.match(re)).filter(Boolean);
    if (found.length >= n) return found[found.length - 1][1];
    await sleep(100);
  }
  assert.fail(`no ${kind} mail #${n} to ${to} in ${env.dir}/edge.log`);
}

async function go(page, selector, what, okStatus = (s) => s < 400) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${what}: no navigation`);
  assert.ok(okStatus(resp.status()), `${what}: HTTP ${resp.status()} ${resp.url()}: `
    + (await page.locator('main').innerText().catch(() => '')).slice(0, 300));
  return resp;
}

// Every page: its own <title>, theme.title on the card, no serious axe violation.
async function checkPage(page, heading, label) {
  assert.equal(await page.title(), `${heading} \u2014 ${TITLE}`, `${label}: <title>`);
  assert.equal((await page.locator('main .form-title').textContent()).trim(), TITLE);
  assert.equal((await page.locator('main h1').textContent()).trim(), heading);
  await checkA11y(page, label);
}

// The new-password fields state authd's rule (8, authd/password.h) in words and as minlength.
async function checkRule(page, label) {
  for (const name of ['password', 'password_confirmation'])
    assert.equal(await page.locator(`input[name="${name}"]`).getAttribute('minlength'), '8',
      `${label}: minlength on ${name}`);
  const hint = page.locator('#f-password-rule');
  assert.equal((await hint.textContent()).trim(), 'At least 8 characters.');
  assert.ok(await hint.isVisible(), `${label}: the rule is visible`);
  assert.equal(await page.locator('input[name="password"]').getAttribute('aria-describedby'),
    'f-password-rule');
}

// A too-short password: the browser refuses it (minlength); with the attribute gone, authd
// refuses it and the page says the rule.
async function shortPasswordRefused(page, label, submit) {
  await page.fill('input[name="password"]', 'short');
  await page.fill('input[name="password_confirmation"]', 'short');
  assert.equal(await page.locator('input[name="password"]')
    .evaluate((el) => el.validity.tooShort), true, `${label}: the browser sees it too short`);
  await page.evaluate(() => {
    for (const el of document.querySelectorAll('input[minlength]')) el.removeAttribute('minlength');
  });
  await go(page, submit, `${label}: short password`, (s) => s === 400);
  await page.locator('.msg.error', { hasText: 'use at least 8 characters' }).waitFor();
}

for (const size of SIZES) {
  test(`words at ${size.name} size (${size.width}x${size.height})`, { timeout: 240000 },
    async () => {
      const browser = await launchChromium();
      const email = `words-${size.name}@example.com`;
      try {
        const context = await browser.newContext({ viewport: { width: size.width,
          height: size.height } });
        const page = await context.newPage();
        page.setDefaultTimeout(15000);
        page.setDefaultNavigationTimeout(15000);
        const at = (what) => `${what}, ${size.name}`;

        // Sign up; the check-your-e-mail page offers to send the mail again.
        await page.goto(`${env.base}/auth/signup`);
        await checkPage(page, 'Create an account', at('signup'));
        await page.fill('input[name="email"]', email);
        await go(page, 'button[type="submit"]', at('signup'));
        await checkPage(page, 'Check your e-mail', at('signup sent'));
        const first = await mailLink('signup/confirm', email);
        await go(page, 'button:has-text("Resend the e-mail")', at('resend signup'));
        await page.locator('.msg.info', { hasText: 'We sent the e-mail again.' }).waitFor();
        await checkPage(page, 'Check your e-mail', at('signup resent'));
        const link = await mailLink('signup/confirm', email, 2);
        assert.notEqual(link, first, 'a new link');
        const mail = edgeLog().split('\n').filter((l) => l.includes(`link=${link}`))[0];
        assert.ok(mail.includes('expires in 24 hours.'), mail); // authd's --signup-ttl default
        assert.ok(!mail.includes('{link}') && mail.split(' body=')[1].includes(link), mail);

        // Choose a password: the rule is on the page; a short one is refused with the rule.
        await page.goto(link);
        await checkPage(page, 'Choose a password', at('choose password'));
        await checkRule(page, at('choose password'));
        await shortPasswordRefused(page, at('choose password'), 'button[type="submit"]');
        await checkPage(page, 'Choose a password', at('choose password refused'));
        await page.fill('input[name="password"]', PASSWORD);
        await page.fill('input[name="password_confirmation"]', PASSWORD);
        await go(page, 'button[type="submit"]', at('set the password'));

        // Change password (signed in): the rule again.
        await page.goto(`${env.base}/auth/password`);
        await checkPage(page, 'Change password', at('change password'));
        await checkRule(page, at('change password'));

        // Sign out: the sign-in page says so.
        await page.goto(`${env.base}/`);
        await go(page, 'button:has-text("Sign out")', at('sign out'));
        await page.locator('.msg.info', { hasText: 'You are signed out.' }).waitFor();
        await checkPage(page, 'Sign in', at('signed out'));

        // Forgot password: resend, then the reset page states the rule.
        await page.goto(`${env.base}/auth/forgot-password`);
        await checkPage(page, 'Forgot your password?', at('forgot'));
        await page.fill('input[name="email"]', email);
        await go(page, 'button[type="submit"]', at('forgot'));
        await checkPage(page, 'Check your e-mail', at('reset sent'));
        await go(page, 'button:has-text("Resend the e-mail")', at('resend reset'));
        await page.locator('.msg.info', { hasText: 'We sent the e-mail again.' }).waitFor();
        const reset = await mailLink('reset-password', email, 2);
        await page.goto(reset);
        await checkPage(page, 'Choose a new password', at('reset'));
        await checkRule(page, at('reset'));
        await shortPasswordRefused(page, at('reset'), 'button[type="submit"]');

        // Asking again and again for mails: the lockout page says how long to wait, with the
        // seconds Retry-After carries (authd's mail lock: 5 mails, then 60 s and more).
        await page.goto(`${env.base}/auth/forgot-password`);
        let resp;
        for (let i = 0; i < 8; i++) {
          await page.fill('input[name="email"]', `lock-${size.name}@example.com`);
          resp = await go(page, 'button[type="submit"]', at('forgot again'),
            (s) => s === 200 || s === 429);
          if (resp.status() === 429) break;
          await page.goto(`${env.base}/auth/forgot-password`);
        }
        assert.equal(resp.status(), 429);
        const ra = Number((await resp.allHeaders())['retry-after']);
        assert.ok(ra > 0, 'Retry-After');
        const wait = ra < 120 ? `${ra} second${ra === 1 ? '' : 's'}`
          : `${Math.ceil(ra / 60)} minutes`;
        await page.locator('.msg.error', { hasText: `Try again in ${wait}.` }).waitFor();
        await checkPage(page, 'Forgot your password?', at('mail lockout'));
        await context.close();
      } finally {
        await browser.close();
      }
    });
}
