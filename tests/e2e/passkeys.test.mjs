// SPDX-License-Identifier: Apache-2.0
// Passkeys and security keys (issue 15) in headless Debian Chromium with its virtual
// authenticator (the DevTools protocol's WebAuthn domain through a CDP session: an internal
// CTAP2 authenticator with resident keys and user verification): a user adds a passkey on the
// settings page (the first key turns two-factor on and shows recovery codes), signs in with the
// password and the key as the second factor, then with the passkey alone ("Sign in with a
// passkey", the resident key), and on an edge whose origin the AuthConfig does not name the
// browser's registration is refused by authd with a visible error. The pages are checked with
// axe (lib/axe.mjs).
//
// WebAuthn needs a secure context and a valid RP ID: the test starts two edges of its own on the
// shared authd, served as http://localhost:<port> (rpId "localhost"), and sets
// AuthConfig.webauthn for the first one only; the AuthConfig is put back afterwards.
//
// Environment (set by ./run): E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL, E2E_AUTHD_TARGET,
// AUTHD_BUILD_DIR.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { checkA11y } from './lib/axe.mjs';
import { TMP, BUILD, TARGET, sleep, authctl, launchChromium } from './lib/util.mjs';

const PASSWORD = 'a long enough password for passkeys';
const children = new Set();

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// An edge on the shared authd whose public URL is http://localhost:<port>; its origin.
async function startEdge(name) {
  const edge = path.join(BUILD, 'edge', 'authd-edge');
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const portFile = path.join(TMP, `passkeys-${name}-${attempt}.port`);
    const out = fs.openSync(path.join(TMP, `passkeys-${name}.log`), 'a');
    const [cmd, argv] = fs.existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'TERM', '--', edge]]
      : [edge, []];
    const child = spawn(cmd, [...argv, '--listen', `127.0.0.1:${port}`, '--authd', TARGET,
      '--base-url', `http://localhost:${port}`, '--port-file', portFile,
      '--mail-provider', 'console'], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    children.add(child);
    const deadline = Date.now() + 30000;
    let got = null;
    while (Date.now() < deadline && got === null) {
      if (fs.existsSync(portFile)) {
        const text = fs.readFileSync(portFile, 'utf8').trim();
        if (/^\d+$/.test(text)) got = Number(text);
      }
      if (got === null && (child.exitCode !== null || child.signalCode !== null)) break;
      if (got === null) await sleep(50);
    }
    if (got === port) return { child, origin: `http://localhost:${port}` };
    await stopChild(child); // the port was taken meanwhile: another one
  }
  assert.fail(`edge ${name} did not start`);
}

let browser = null;
const edges = [];
let saved = null;

after(async () => {
  if (browser) await browser.close();
  for (const e of edges) await stopChild(e.child);
  if (saved !== null) authctl(['apply', '-f', '-'], `[${saved}]`);
});

// Clicks and waits for the page it leads to.
async function go(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  assert.ok(resp, `${selector}: no navigation`);
  return resp;
}

async function signIn(page, base, email) {
  await page.goto(`${base}/auth/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await go(page, 'form[action="/auth/login"] button[type="submit"]');
}

async function signOut(page, base) {
  await page.goto(`${base}/`);
  await go(page, 'button:text-is("Sign out")');
}

async function signedInAs(page, base) {
  await page.goto(`${base}/`);
  const who = page.locator('main strong').first();
  return (await who.count()) > 0 ? (await who.textContent()).trim() : null;
}

// A page with Chromium's virtual authenticator: internal (a platform authenticator, as a
// phone's or a laptop's), CTAP2, resident keys, user verification that always succeeds. The
// virtual authenticator answers a conditional request (the autofill) at once, as if the user had
// picked the passkey, so with noAutofill the page's browser says it has no conditional
// mediation, and the buttons are what signs in.
async function pageWithAuthenticator(context, { noAutofill = false } = {}) {
  const page = await context.newPage();
  if (noAutofill) {
    await page.addInitScript(() => {
      window.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
    });
  }
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { page, cdp, authenticatorId };
}

test('passkeys: add, second factor, passwordless, wrong origin refused', async () => {
  assert.ok(BUILD && TARGET && TMP, 'run through tests/e2e/run');
  const good = await startEdge('good');
  edges.push(good);
  const wrong = await startEdge('wrong');
  edges.push(wrong);
  saved = authctl(['-o', 'json', 'config', 'get']);
  const cfg = JSON.parse(saved);
  cfg.webauthn = { rpId: 'localhost', rpName: 'authd e2e', origins: [good.origin] };
  authctl(['apply', '-f', '-'], JSON.stringify([cfg]));

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, cdp, authenticatorId } = await pageWithAuthenticator(context,
    { noAutofill: true });
  const shot = (label) => page.screenshot({ path: path.join(TMP, `passkeys-${label}.png`),
    fullPage: true });
  const base = good.origin;

  // The edges reread the AuthConfig within 2 s: the sign-in page offers passkeys then.
  const deadline = Date.now() + 15000;
  for (;;) {
    await page.goto(`${base}/auth/login`);
    if (await page.locator('button:has-text("Sign in with a passkey")').isVisible()) break;
    assert.ok(Date.now() < deadline, 'the sign-in page never offered passkeys');
    await sleep(250);
  }
  assert.equal(await page.getAttribute('input[name="email"]', 'autocomplete'),
    'username webauthn');
  await checkA11y(page, 'sign-in page with passkeys');

  // ---- add a passkey ------------------------------------------------------------------------
  const email = 'passkey-e2e@example.com';
  authctl(['user', 'create', '--email', email, '--password-stdin'], `${PASSWORD}\n`);
  await signIn(page, base, email);
  assert.equal(page.url(), `${base}/`);
  await page.goto(`${base}/auth/two-factor`);
  await go(page, 'a:has-text("Passkeys and security keys")');
  assert.equal(page.url(), `${base}/auth/passkeys`);
  assert.match(await page.textContent('main'), /You have not added any passkey/);
  assert.equal(await page.locator('[data-passkey-unsupported]').isVisible(), false);
  await checkA11y(page, 'passkeys page, empty');
  await page.fill('input[name="name"]', 'Laptop');
  await go(page, 'button:has-text("Add a passkey or security key")');
  // The first key turned two-factor on: its recovery codes, once.
  await page.locator('#recovery-codes').waitFor();
  assert.match(await page.textContent('main'), /two-factor authentication is on/);
  await shot('recovery-codes');
  await page.check('input[name="saved"]');
  await go(page, 'button:has-text("Continue")');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true);
  assert.equal(credentials[0].rpId, 'localhost');
  await page.goto(`${base}/auth/passkeys`);
  const items = page.locator('#passkeys li');
  assert.equal(await items.count(), 1);
  assert.match(await items.first().textContent(), /Laptop\s*passkey[\s\S]*Added [\s\S]*last used never/);
  await shot('list');
  await checkA11y(page, 'passkeys page with a key');

  // ---- the key as the second factor ---------------------------------------------------------
  await signOut(page, base);
  await signIn(page, base, email);
  assert.equal(page.url(), `${base}/auth/two-factor/verify`);
  assert.equal(await page.locator('input[name="token"]').count(), 0, 'no app: no code field');
  await checkA11y(page, 'second factor with a passkey');
  await shot('second-factor');
  await go(page, 'button:has-text("Use your passkey or security key")');
  assert.equal(page.url(), `${base}/`);
  assert.equal(await signedInAs(page, base), email);
  const used = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0];
  assert.ok(used.signCount >= 1, `signCount ${used.signCount}`);

  // ---- passwordless, with the resident key ---------------------------------------------------
  await signOut(page, base);
  await page.goto(`${base}/auth/login`);
  await go(page, 'button:has-text("Sign in with a passkey")');
  assert.equal(page.url(), `${base}/`);
  assert.equal(await signedInAs(page, base), email);
  await page.goto(`${base}/auth/passkeys`);
  assert.doesNotMatch(await page.locator('#passkeys li').first().textContent(),
    /last used never/);

  // ---- the autofill (conditional mediation) ---------------------------------------------------
  // A page whose browser has conditional mediation, holding the same passkey: opening the
  // sign-in page lists it in the e-mail field's autofill; picking it (the virtual authenticator
  // does at once) signs in.
  await signOut(page, base);
  const auto = await pageWithAuthenticator(context);
  await auto.cdp.send('WebAuthn.addCredential', { authenticatorId: auto.authenticatorId,
    credential: (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0] });
  await Promise.all([auto.page.waitForURL(`${base}/`), auto.page.goto(`${base}/auth/login`)]);
  assert.equal(await auto.page.evaluate(
    () => PublicKeyCredential.isConditionalMediationAvailable()), true);
  assert.equal(await signedInAs(auto.page, base), email);
  await auto.page.close();

  // ---- an origin the AuthConfig does not name --------------------------------------------------
  const email2 = 'passkey-e2e-wrong@example.com';
  authctl(['user', 'create', '--email', email2, '--password-stdin'], `${PASSWORD}\n`);
  const other = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const w = await pageWithAuthenticator(other);
  await signIn(w.page, wrong.origin, email2);
  await w.page.goto(`${wrong.origin}/auth/passkeys`);
  await go(w.page, 'button:has-text("Add a passkey or security key")');
  const error = w.page.locator('.msg.error');
  await error.waitFor();
  assert.match(await error.textContent(), /Your passkey or security key was refused: .*origin/i);
  await w.page.screenshot({ path: path.join(TMP, 'passkeys-wrong-origin.png'), fullPage: true });
  await checkA11y(w.page, 'passkeys page, refused, phone');
  assert.equal(await w.page.locator('#passkeys li').count(), 0);
  await other.close();
  await context.close();
});
